"""One test per implemented dataset key: a fixture written in the key's on-disk format loads into Samples with the
expected frames, masks, tokens and labels, and the collated batch runs through the tiny model."""

import numpy as np
import pytest

from tests.data import fixtures as fx
from tests.data.helpers import check_sample, forward, mask_of
from unipixel.data.mixture import build_dataset
from unipixel.data.templates import IMAGE_QUERY_PROMPTS, SEG, SEG_ANSWERS

REFER = {
    "refcoco": ("unc", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refcoco+": ("unc", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refcocog": ("umd", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refclef": ("unc", "lisa/refer_seg/images/saiapr_tc-12"),
}
REF_TO_ANN = {0: 10, 1: 11, 2: 12, 3: 13, 4: 13}


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize("key", list(REFER))
def test_refer(tmp_path, processor, tiny_model, key):
    split_by, image_dir = REFER[key]
    info = fx.write_refer(tmp_path, key, split_by, image_dir)
    ds = build_dataset(key, root=str(tmp_path))
    assert ds.name == key and len(ds) == info["train_images"]
    samples = [ds[i] for i in range(len(ds))]
    by_id = {s.id: s for s in samples}
    first = by_id["1"]  # image 1: three sentences over two objects -> three turns
    assert first.frames.shape == (1, fx.H, fx.W, 3) and first.seg_masks.shape == (3, 1, fx.H, fx.W)
    assert first.data_type == "seg_image" and first.as_video
    users = [t["content"] for t in first.conversation if t["role"] == "user"]
    answers = [t["content"] for t in first.conversation if t["role"] == "assistant"]
    assert len(users) == 3 and all(a in SEG_ANSWERS for a in answers)
    for k, ref_id in enumerate(first.meta["ref_ids"]):  # masks follow the <|seg|> order
        want = info["masks"][REF_TO_ANN[ref_id]]
        assert iou(mask_of(first, k), want) > (0.999 if ref_id == 1 else 0.8)
    assert any("man on the left" in u and "The man" not in u and "left." not in u for u in users)  # normalised
    assert np.array_equal(mask_of(by_id["2"], 0), info["masks"][12])  # list-counts RLE
    for s in samples:
        check_sample(s, processor)
    out = forward(tiny_model, processor, samples)
    assert out.mask_loss > 0

    val = build_dataset(key, root=str(tmp_path), split="val")
    assert len(val) == info["val_sentences"]
    s = val[0]
    assert s.conversation == [{"role": "user", "content": "Please segment the dog in this image."}]
    assert s.seg_masks is None and s.meta["gt_masks"].shape == (1, 1, fx.H, fx.W)
    assert s.meta["gt_boxes"].tolist() == [[10, 20, 40, 46]]
    assert len(build_dataset(key, root=str(tmp_path), split="testA")) == 1


def test_reason_seg(tmp_path, processor, tiny_model):
    info = fx.write_reason_seg(tmp_path)
    ds = build_dataset("reason_seg", root=str(tmp_path))
    assert len(ds) == info["train_samples"] and ds.stats["explanatory_missing"] == 1
    samples = {s.id: s for s in (ds[i] for i in range(len(ds)))}
    assert set(samples) == {"a_0", "a_1", "b_0", "a_exp"}
    a0 = samples["a_0"]
    assert a0.conversation[0]["content"].startswith("What would you sit on? ")
    target = mask_of(a0, 0)
    assert target[30, 30] and not target[15, 15], "ignore is background in training"
    assert not target[5:9, 50:60].any(), "flag shapes are dropped"
    exp = samples["a_exp"]
    assert exp.conversation[1]["content"].endswith(f"{SEG}. The chair, because it has a seat.")
    b0 = samples["b_0"]
    assert "lamp" in b0.conversation[0]["content"] and "the the lamp" not in b0.conversation[0]["content"]
    for s in samples.values():
        check_sample(s, processor)
    out = forward(tiny_model, processor, [a0, exp])
    assert out.mask_loss > 0

    val = build_dataset("reason_seg", root=str(tmp_path), split="val")
    s = val[0]
    assert s.conversation[0]["content"] == "Which object gives light? Please provide the segmentation mask."
    gt, ignore, labels = s.meta["gt_masks"][0, 0], s.meta["ignore_masks"][0, 0], s.meta["label_map"][0]
    assert ignore[15, 15] and not gt[15, 15] and labels[15, 15] == -1 and labels[30, 30] == 1
    assert not (gt & ignore).any()


@pytest.mark.parametrize("key", list(fx.SEMANTIC))
def test_semantic(tmp_path, processor, tiny_model, key):
    values = fx.write_semantic(tmp_path, key)["values"]
    ds = build_dataset(key, root=str(tmp_path))
    assert len(ds) == 2
    samples = [ds[i] for i in range(2)]
    columns = {values[0]: slice(0, 16), values[1]: slice(16, 32), values[2]: slice(32, 48), values[3]: slice(48, 64)}
    for s in samples:
        # every fixture holds two queryable classes (sky, person) and two ignored ids
        assert sorted(s.meta["queries"]) == ["person", "sky"] and s.seg_masks.shape == (2, 1, fx.H, fx.W)
        for k, class_id in enumerate(s.meta["class_ids"]):
            want = np.zeros((fx.H, fx.W), bool)
            want[:, columns[class_id]] = True
            assert np.array_equal(mask_of(s, k), want)
            assert s.meta["queries"][k] in s.conversation[2 * k]["content"]
        check_sample(s, processor)
    out = forward(tiny_model, processor, samples[:1])
    assert out.mask_loss > 0


@pytest.mark.parametrize("key", list(fx.PARTS))
def test_parts(tmp_path, processor, tiny_model, key):
    info = fx.write_parts(tmp_path, key)
    ds = build_dataset(key, root=str(tmp_path))
    assert len(ds) == 2
    s = ds.get_sample(0)
    assert s.seg_masks.shape == (3, 1, fx.H, fx.W)  # dog, dog:leg (two instances merged), bow string
    queries = s.meta["queries"]
    assert "dog" in queries and "bow string" in queries or "string of the bow" in queries
    leg = [k for k, q in enumerate(queries) if q in ("dog leg", "leg of the dog")]
    assert len(leg) == 1
    area = mask_of(s, leg[0]).sum()
    assert abs(area - info["leg_area"]) <= 40  # the union of both legs (polygon rasterisation adds edge pixels)
    check_sample(s, processor)
    other = ds.get_sample(1)
    assert other.meta["queries"] in (["bow string"], ["string of the bow"])
    out = forward(tiny_model, processor, [s, other])
    assert out.mask_loss > 0
    template = [t for t in IMAGE_QUERY_PROMPTS if t.split("{}")[0] in s.conversation[0]["content"]]
    assert template, "questions come from the image query pool"


def test_llava(tmp_path, processor, tiny_model):
    fx.write_llava(tmp_path)
    ds = build_dataset("llava_instruct_665k_videogpt_plus_576k", root=str(tmp_path))
    assert ds.data_types == ["multimodal", "multimodal", "text"]
    image, video, text = (ds[i] for i in range(3))
    assert not image.as_video and image.frames.shape == (1, fx.H, fx.W, 3) and image.data_type == "multimodal"
    assert image.conversation[0] == {"role": "user", "content": "What colour is the bus?"}
    assert [t["role"] for t in image.conversation] == ["user", "assistant"] * 2
    # 20 frames at 10 fps = 2 s -> 4 frames at 2 fps, uniform: 0, 6, 13, 19 (frame t has grey level 10 t)
    assert video.as_video and video.frames.shape == (4, fx.H, fx.W, 3)
    assert video.meta["frame_indices"] == [0, 6, 13, 19]
    assert np.allclose(video.frames[:, 20, 30, 0], [0, 60, 130, 190], atol=4)
    assert video.conversation[0]["content"] == "What happens in the video?"
    assert text.frames is None and text.data_type == "text"
    items = [check_sample(s, processor) for s in (image, video, text)]
    assert "pixel_values" in items[0] and "pixel_values_videos" in items[1]
    out = forward(tiny_model, processor, [image, video, text])
    assert out.get("mask_loss") is None


def test_processor_attached_returns_model_inputs(tmp_path, processor):
    fx.write_reason_seg(tmp_path)
    ds = build_dataset("reason_seg", root=str(tmp_path), processor=processor)
    item = ds[0]
    assert {"input_ids", "labels", "pixel_values_videos", "sam2_frames", "seg_masks", "meta"} <= set(item)
    val = build_dataset("reason_seg", root=str(tmp_path), split="val", processor=processor)
    item = val[0]  # evaluation: an open user turn, generation prompt appended, GT in meta
    text = processor.tokenizer.decode(item["input_ids"][-5:].tolist())
    assert text.endswith("<|im_start|>assistant\n") and "seg_masks" not in item
    assert item["meta"]["gt_masks"].shape == (1, 1, fx.H, fx.W)


def test_samples_are_deterministic_by_seed(tmp_path):
    fx.write_refer(tmp_path)
    a = build_dataset("refcoco", root=str(tmp_path), seed=3)[0]
    b = build_dataset("refcoco", root=str(tmp_path), seed=3)[0]
    assert a.conversation == b.conversation and np.array_equal(a.seg_masks, b.seg_masks)
    convs = set()
    for seed in range(8):
        convs.add(str(build_dataset("refcoco", root=str(tmp_path), seed=seed)[0].conversation))
    assert len(convs) > 1
