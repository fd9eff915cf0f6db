"""Evaluation-only loaders: VideoRefer-Bench-Q (single- and multi-frame masks), VideoRefer-Bench-D, PixelQA (point /
box / mix prompts, two-round flow) and MVBench; fixtures in the release formats."""

import json

import numpy as np
import pytest
import torch

from tests.data import video_fixtures as vf
from tests.data.fixtures import H, W
from unipixel.data.errors import DataError
from unipixel.data.mixture import build_dataset
from unipixel.data.processor import model_inputs
from unipixel.data.region import temporal_groups
from unipixel.data.sampling import center_point, mask_box, sample_annotated
from unipixel.data.templates import MEM, MEMORY_PROMPTS, REF, SEG
from unipixel.data.videorefer import pixelqa_second_turn


def eval_forward(model, processor, samples):
    """Forward of evaluation samples (no supervised tokens): checks that the inputs are consistent."""
    batch = processor.collate([processor(s) for s in samples])
    inputs = {k: v for k, v in model_inputs(batch).items() if k not in ("labels", "seg_masks")}
    with torch.no_grad():
        out = model(**inputs)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("mask_mode", ["multi", "single"])
def test_videorefer_bench_q(tmp_path, processor, tiny_model, mask_mode):
    info = vf.write_videorefer_bench(tmp_path)
    ds = build_dataset("videorefer_bench_q", root=str(tmp_path), mask_mode=mask_mode)
    s0, s1 = ds[0], ds[1]
    clip = s0.meta["frame_indices"]
    assert len(clip) == 16 and 9 in clip and set(clip) <= set(range(2, 22)), "16 of the annotated frames, 9 forced"
    assert clip == sample_annotated(range(2, 22), 16, force=9).tolist()
    pos = s0.meta["prompt_frame"]
    assert clip[pos] == 9 and s0.meta["llm_frame_index"] == list(range(16))
    assert np.array_equal(s0.meta["gt_masks"][0], info["tracks"][0][clip])
    if mask_mode == "multi":
        assert np.array_equal(s0.refer_masks, s0.meta["gt_masks"])
    else:
        assert s0.refer_masks[0, pos].any() and not np.delete(s0.refer_masks[0], pos, axis=0).any()
    user = s0.conversation[0]["content"]
    assert user.endswith(
        "\nWhat is [0] doing?\nOptions:\n(A) Sliding\n(B) Jumping\n(C) Sleeping\n(D) Eating\n"
        "Please only give the best option."
    )
    assert user.count(MEM) == sum(len(g) for g in temporal_groups(s0.refer_masks))
    assert s0.conversation[1] == {"role": "assistant", "content": "The best option is (", "open": True, "train": False}
    assert s0.meta["answer"] == "A" and s0.meta["task"] == "Basic Questions" and s0.meta["pixel_budget"] == (100, 144)
    assert s1.meta["object_ids"] == [1, 0] and s1.meta["answer"] == "B"
    assert "How do [1] and [0] move relative to each other?" in s1.conversation[0]["content"]
    item = processor(s0)
    text = processor.tokenizer.decode(item["input_ids"][-16:].tolist())
    assert text.endswith("<|im_start|>assistant\nThe best option is (")
    eval_forward(tiny_model, processor, [s0, s1])


def test_videorefer_bench_d(tmp_path, processor, tiny_model):
    vf.write_videorefer_bench(tmp_path)
    ds = build_dataset("videorefer_bench_d", root=str(tmp_path), mask_mode="single")
    s = ds[0]
    assert s.frames.shape == (16, H, W, 3) and 5 in s.meta["frame_indices"]
    assert len(s.conversation) == 1
    assert s.conversation[0]["content"].endswith(
        f"[0]: <{2 * (s.meta['prompt_frame'] // 2) + 1}>-<{2 * (s.meta['prompt_frame'] // 2) + 2}> {MEM}\n"
        "Please give a detailed description of the highlighted object [0] in the video."
    )
    assert s.meta["caption"] == "A box slides to the right." and s.meta["pixel_budget"] == (128, 256)
    eval_forward(tiny_model, processor, [s])


@pytest.mark.parametrize("mode", ["point", "box", "mix"])
def test_pixelqa(tmp_path, processor, tiny_model, mode):
    info = vf.write_videorefer_bench(tmp_path)
    ds = build_dataset("pixelqa", root=str(tmp_path), prompt_mode=mode)
    s = ds[1]  # two objects
    user, answer = s.conversation[0]["content"], s.conversation[1]["content"]
    assert user == MEMORY_PROMPTS[0].format(
        f"How do [1] {REF} and [0] {REF} move relative to each other?\nOptions:\n(A) Apart\n(B) Together."
    )
    assert answer == f"[1] {SEG} [0] {SEG}" and s.conversation[1]["train"] is False
    pos = s.meta["prompt_frame"]
    kinds = s.meta["prompt_kinds"]
    if mode == "mix":
        assert sorted(kinds) == ["box", "point"]
        assert kinds == ds[1].meta["prompt_kinds"], "deterministic for a seed"
    else:
        assert kinds == [mode, mode]
    for o, obj in enumerate((1, 0)):
        row = s.ref_prompts[o]
        assert row[5] == pos
        mask = info["tracks"][obj][s.meta["frame_indices"][pos]]
        if kinds[o] == "point":
            assert row[0] == 0 and np.array_equal(row[1:3], center_point(mask))
        else:
            assert row[0] == 1 and np.array_equal(row[1:5], mask_box(mask))
    assert np.array_equal(s.seg_masks, s.meta["gt_masks"]) and s.seg_masks.shape == (2, 16, H, W)
    # pass 2: the memory prefix from the (object, temporal group) entries the pass-1 masks fill
    presence = np.zeros((2, 8), bool)
    presence[0, :3] = presence[1, 5] = True
    conv = pixelqa_second_turn(s, presence)
    assert conv[0]["content"].count(MEM) == 4 and conv[0]["content"].endswith(
        "How do [1] and [0] move relative to each other?\nOptions:\n(A) Apart\n(B) Together\n"
        "Please only give the best option."
    )
    assert "[0]: <11>-<12> <|mem|>\n" in conv[0]["content"] and conv[1]["open"]
    # the two-round flow of the model runs on these inputs
    item = processor(s)
    assert item["ref_prompts"].shape == (2, 6) and item["sam2_frames"].shape[0] == 16
    tiny_model.eval()
    first = {k: v for k, v in model_inputs(processor.collate([item])).items() if k not in ("labels", "seg_masks")}
    first.pop("sam2_frames")

    def second(presence):
        sample = type(s)(s.id, s.dataset, s.frames, pixelqa_second_turn(s, presence), meta=s.meta)
        inputs = model_inputs(processor.collate([processor(sample)]))
        return {k: v for k, v in inputs.items() if k not in ("labels", "seg_masks", "sam2_frames", "refer_mask")}

    masks, answer = tiny_model.two_round(
        first, second, item["sam2_frames"], item["video_grid_thw"], frame_size=(H, W), max_new_tokens=2
    )
    assert masks.shape == (2, 16, H, W)


def test_mvbench(tmp_path, processor, tiny_model):
    vf.write_mvbench(tmp_path)
    ds = build_dataset("mvbench", root=str(tmp_path), tasks=["Episodic Reasoning", "Action Antonym"], strict=True)
    assert len(ds) == 3
    episode, video = ds[0], ds[1]
    assert episode.meta["task"] == "Episodic Reasoning" and episode.frames.shape[0] == 32
    assert episode.meta["answer"] == "B"
    # 50 frames at 10 fps = 5 s -> 10 frames at 2 fps, spread over the whole video
    assert video.meta["frame_indices"] == np.rint(np.linspace(0, 49, 10)).astype(int).tolist()
    assert video.conversation[0]["content"] == (
        "What happens?\nOptions:\n(A) Opening\n(B) Closing\n(C) Not sure\nPlease only give the best option."
    )
    assert video.conversation[1]["content"] == "Best Option: (" and video.conversation[1]["open"]
    assert video.meta["answer"] == "B" and video.data_type == "multimodal"
    with pytest.raises(DataError, match=r"\[mvbench\] sample action_antonym/1: malformed row 1.*action_antonym\.json"):
        ds[2]
    eval_forward(tiny_model, processor, [video])


def test_bench_bad_rows(tmp_path):
    vf.write_videorefer_bench(tmp_path)
    path = tmp_path / "videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json"
    rows = json.loads(path.read_text())
    rows[0]["frame_idx"] = "23"  # not an annotated frame of the object
    rows[1]["Answer"] = "??"
    path.write_text(json.dumps(rows))
    ds = build_dataset("videorefer_bench_q", root=str(tmp_path))
    with pytest.raises(DataError, match=r"sample 0: malformed row 0.*frame_idx 23 is not an annotated.*Bench-Q\.json"):
        ds[0]
    with pytest.raises(DataError, match=r"sample 1: malformed row 1.*cannot read an option letter"):
        ds[1]
    (tmp_path / "videorefer/VideoRefer-Bench/videos/DAVIS/JPEGImages/480p/boxes/00004.jpg").unlink()
    rows[0]["frame_idx"] = "9"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"sample 0: image file not found.*boxes/00004\.jpg"):
        build_dataset("pixelqa", root=str(tmp_path))[0]
