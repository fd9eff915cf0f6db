"""Region (`<|mem|>`), referring (`<|ref|>`) and memory-task loaders: VideoRefer-700K, Inst-IT, Osprey. Fixtures in
each release format -> Samples (memory prefix with one `<|mem|>` per object and temporal group, `refer_masks`,
`ref_prompts` with frame indices, `seg_masks` aligned with the "[ID] <|seg|>" answer) -> tiny model forward +
backward; bad inputs."""

import json
import re

import numpy as np
import pytest

from tests.data import video_fixtures as vf
from tests.data.fixtures import H, W
from tests.data.helpers import check_sample, forward
from unipixel.data.errors import DataError
from unipixel.data.mixture import build_dataset
from unipixel.data.region import temporal_groups
from unipixel.data.templates import MEM, MEMORY_PROMPTS, REF, REF_SHORT_CAPTION_PROMPTS, REGION_DETAIL_PROMPTS, SEG

PREFIX = re.compile(
    r"^Here is a video with (\d+) frames denoted as <1> to <\1>\. The highlighted regions are as follows:\n"
)


def by_id(ds):
    return {s.id: s for s in (ds[i] for i in range(len(ds)))}


def check_memory(sample, processor):
    """The prefix lists one `<|mem|>` per (object, temporal group) with pixels; the processor agrees."""
    user = sample.conversation[0]["content"]
    groups = temporal_groups(sample.refer_masks)
    assert user.count(MEM) == sum(len(g) for g in groups)
    for oid, g in zip(sample.meta["object_ids"], groups):
        line = f"[{oid}]: " + " ".join(f"<{2 * k + 1}>-<{2 * k + 2}> {MEM}" for k in g)
        if len(sample.frames) == 1:  # images: no frame tags (B16)
            line = f"[{oid}]: {MEM}\n"
        assert line in user, (line, user)
    item = check_sample(sample, processor)
    assert int((item["input_ids"] == processor.mem_token_id).sum()) == int(item["refer_mask"].flatten(2).any(-1).sum())
    return item


def in_pool(text, pool, fill):
    return text in {t.format(fill) for t in pool}


# ------------------------------------------------------------------------------------------------ VideoRefer
def test_videorefer_short_caption(tmp_path, processor, tiny_model):
    info = vf.write_videorefer(tmp_path)
    ds = build_dataset("videorefer_short_caption", root=str(tmp_path))
    assert len(ds) == 2 and ds.stats["skipped_ratio"] == 1
    s = by_id(ds)["sc0"]
    clip = s.meta["frame_indices"]
    assert s.frames.shape == (8, H, W, 3) and 7 in clip, "single-frame mode forces the annotated frame in"
    pos = clip.index(7)
    assert s.refer_masks.shape == (1, 8, H, W)
    assert np.array_equal(s.refer_masks[0, pos], info["tracks"][0][7])
    assert not np.delete(s.refer_masks[0], pos, axis=0).any(), "the mask exists on the annotated frame only"
    assert np.allclose(s.frames[:, 20, 30, 0], 10 * np.asarray(clip), atol=6)  # the right video frames
    user = s.conversation[0]["content"]
    assert PREFIX.match(user) and user.count(MEM) == 1
    k = s.meta["object_ids"][0]
    assert 0 <= k <= 15 and user.endswith(f"What is [{k}]?") and s.conversation[1]["content"] == "A red box."
    assert s.data_type == "region_video"
    for sample in by_id(ds).values():
        check_memory(sample, processor)
    out = forward(tiny_model, processor, [s])
    assert out.get("mask_loss") is None


def test_videorefer_detailed_caption(tmp_path, processor, tiny_model):
    info = vf.write_videorefer(tmp_path)
    samples = by_id(build_dataset("videorefer_detailed_caption", root=str(tmp_path)))
    multi, single = samples["dc0"], samples["dc1"]
    clip = multi.meta["frame_indices"]
    assert len(clip) == 8 and all(f % 2 == 0 for f in clip), "frames drawn from the annotated frames only"
    assert np.array_equal(multi.refer_masks[0], info["tracks"][0][clip])
    assert multi.conversation[0]["content"].count(MEM) == 4  # every pair of frames holds the object
    assert 11 in single.meta["frame_indices"]  # one annotated frame: single-frame mode
    for s in (multi, single):
        check_memory(s, processor)
    forward(tiny_model, processor, [multi, single])


def test_videorefer_qa(tmp_path, processor, tiny_model):
    info = vf.write_videorefer(tmp_path)
    ds = build_dataset("videorefer_qa", root=str(tmp_path))
    assert len(ds) == 3 and ds.stats["skipped_objects"] == 1  # the six-object row
    samples = by_id(ds)
    multi = samples["qa1"]
    user = multi.conversation[0]["content"]
    assert multi.meta["object_ids"] == [2, 0]
    assert user.index("[2]: ") < user.index("[0]: "), "prefix lines follow the annotation order"
    assert "There are 2 objects" not in user and "<object" not in user
    assert user.endswith("\nDo [2] and [0] move the same way?")
    assert multi.conversation[1]["content"] == "Yes, [2] and [0] both move right."
    clip = multi.meta["frame_indices"]
    for o, (obj, step, start) in enumerate(((2, 3, 0), (0, 2, 1))):
        for t, f in enumerate(clip):
            want = info["tracks"][obj][f] if (f - start) % step == 0 and f >= start else np.zeros((H, W), bool)
            assert np.array_equal(multi.refer_masks[o, t], want)
    for s in samples.values():
        check_memory(s, processor)
    forward(tiny_model, processor, [multi, samples["qa0"]])


def test_videorefer_short_caption_ref(tmp_path, processor, tiny_model):
    info = vf.write_videorefer(tmp_path)
    ds = build_dataset("videorefer_short_caption_ref", root=str(tmp_path), seed=1)
    assert len(ds) == 3, "no ratio filter for the referring data"
    assert sorted(ds.data_types) == ["ref_box", "ref_box", "ref_point"]  # floor(3 / 2) points, by seed
    assert ds.data_types == build_dataset("videorefer_short_caption_ref", root=str(tmp_path), seed=1).data_types
    for i in range(3):
        s = ds[i]
        kind, x1, y1, x2, y2, frame = s.ref_prompts[0]
        annotated = {"sc0": 7, "sc1": 15, "sc_low": 3}[s.id]
        obj = {"sc0": 0, "sc1": 1, "sc_low": 1}[s.id]
        assert s.meta["frame_indices"][int(frame)] == annotated, "the prompt sits on the annotated frame"
        mask = info["tracks"][obj][annotated]
        if s.data_type == "ref_point":
            assert kind == 0 and mask[int(y1), int(x1)]
        else:
            ys, xs = np.nonzero(mask)
            assert kind == 1 and abs(x1 - xs.min()) <= 2 and abs(y2 - ys.max()) <= 2  # jitter <= 10% of the side
        assert s.conversation[0]["content"].count(REF) == 1 and s.seg_masks is None
        item = check_sample(s, processor)
        assert item["ref_prompts"].shape == (1, 6)
    forward(tiny_model, processor, [ds[0], ds[1]])


def test_videorefer_qa_mem(tmp_path, processor, tiny_model):
    info = vf.write_videorefer(tmp_path)
    ds = build_dataset("videorefer_qa_mem", root=str(tmp_path))
    samples = by_id(ds)
    assert set(samples) == {"qa0", "qa1"} and ds.stats["skipped_frames"] == 1  # one annotated frame: left out
    s = samples["qa1"]
    user, answer = s.conversation[0]["content"], s.conversation[1]["content"]
    assert answer == f"[2] {SEG} [0] {SEG}"
    assert f"There are 2 objects in the video: [2] {REF} and [0] {REF}." in user
    assert re.search(r"\nOptions:\n\([ABCD]\) Yes, \[2\] and \[0\] both move right\.", user)
    assert any(user.startswith(t.split("{}")[0]) and user.endswith(t.split("{}")[-1]) for t in MEMORY_PROMPTS)
    clip = np.asarray(s.meta["frame_indices"])
    assert s.seg_masks.shape == (2, 8, H, W) and s.data_type in ("mem_point_video", "mem_box_video")
    assert s.seg_masks[0].any() and s.seg_masks[1].any()
    assert not s.seg_masks[0][[f % 3 != 0 for f in clip]].any(), "object [2] only on its annotated frames"
    for o, obj in enumerate((2, 0)):
        frame = int(s.ref_prompts[o, 5])
        assert s.seg_masks[o, frame].any(), "prompts sit on frames where the object is visible"
        assert np.array_equal(s.seg_masks[o, frame], info["tracks"][obj][clip[frame]])
    single = samples["qa0"]
    k = int(re.search(r"\[(\d+)\] " + re.escape(REF), single.conversation[0]["content"]).group(1))
    assert single.conversation[1]["content"] == f"[{k}] {SEG}"
    for x in samples.values():
        check_sample(x, processor)
    assert forward(tiny_model, processor, [s, single]).mask_loss > 0


def test_videorefer_bad_inputs(tmp_path):
    vf.write_videorefer(tmp_path)
    base = tmp_path / "videorefer/VideoRefer-700K"
    (base / "masks_qa/0.json").unlink()
    rows = json.loads((base / "videorefer-qa-75k-wo-masks.json").read_text())
    rows[2]["conversations"] = [{"from": "human", "value": "<video>\nhi"}]
    (base / "videorefer-qa-75k-wo-masks.json").write_text(json.dumps(rows))
    ds = build_dataset("videorefer_qa", root=str(tmp_path), strict=True)
    ids = [r["id"] for r in ds.index]
    with pytest.raises(DataError, match=r"\[videorefer_qa\] sample qa0: annotation file not found.*masks_qa/0\.json"):
        ds[ids.index("qa0")]
    with pytest.raises(DataError, match=r"sample qa_one: malformed row 2: `conversations`.*qa-75k-wo-masks\.json"):
        ds[ids.index("qa_one")]
    # an object whose RLE is empty on every sampled frame: no memory to inject
    masks = json.loads((base / "masks_detailed_caption/1.json").read_text())
    masks[0][0] = [vf.encode_rle(np.zeros((H, W), bool))]
    (base / "masks_detailed_caption/1.json").write_text(json.dumps(masks))
    dc = build_dataset("videorefer_detailed_caption", root=str(tmp_path), strict=True)
    with pytest.raises(
        DataError, match=r"sample dc1: objects \['\d+'\] have empty memory masks.*masks_detailed_caption/1"
    ):
        dc[1]
    (base / "videos/toy/clip.mp4").write_bytes(b"\x00" * 300)
    with pytest.raises(DataError, match=r"sample dc0: cannot decode video.*clip\.mp4"):
        dc[0]


# ------------------------------------------------------------------------------------------------ Inst-IT
def test_inst_it_video_qa_raw(tmp_path, processor, tiny_model):
    info = vf.write_inst_it(tmp_path)
    ds = build_dataset("inst_it_video_qa_raw", root=str(tmp_path), single_frame_prob=0.0)
    assert len(ds) == 2 and ds.stats["skipped_no_object"] == 1
    first, second = ds[0], ds[1]
    assert first.frames.shape == (4, H, W, 3) and first.meta["object_ids"] == ["1"]
    assert first.conversation[0]["content"].endswith("What does [1] do between <1> and <2>?"), "slips repaired"
    assert second.meta["object_ids"] == ["1", "2"] and second.refer_masks.shape == (2, 4, H, W)
    assert np.array_equal(second.refer_masks[1], info["tracks"]["2"])
    assert "[2]: <3>-<4> " + MEM in second.conversation[0]["content"]  # object 2 only in the second pair
    for s in (first, second):
        check_memory(s, processor)
    forward(tiny_model, processor, [first, second])
    single = build_dataset("inst_it_video_qa_raw", root=str(tmp_path), single_frame_prob=1.0)[1]
    kept = np.flatnonzero(single.refer_masks.reshape(2, 4, -1).any(-1).any(0))
    assert len(kept) == 1 and kept[0] in (2, 3) and single.meta["single_frame"] == kept[0]


def test_inst_it_video_qa_raw_mem(tmp_path, processor, tiny_model):
    info = vf.write_inst_it(tmp_path)
    ds = build_dataset("inst_it_video_qa_raw_mem", root=str(tmp_path))
    s = ds[1]
    user = s.conversation[0]["content"]
    assert f"Which appears later, [1] {REF} or [2] {REF}?" in user and user.count(REF) == 2
    assert s.conversation[1]["content"] == f"[1] {SEG} [2] {SEG}"
    assert np.array_equal(s.seg_masks[1], info["tracks"]["2"]) and s.ref_prompts[1, 5] in (2, 3)
    assert s.data_type in ("mem_point_video", "mem_box_video")
    first = ds[0]
    assert f"[1] {REF} do between <1> and <2>" in first.conversation[0]["content"]
    for x in (first, s):
        check_sample(x, processor)
    assert forward(tiny_model, processor, [first, s]).mask_loss > 0


def test_inst_it_image_short_caption_raw_ref(tmp_path, processor, tiny_model):
    info = vf.write_inst_it(tmp_path)
    ds = build_dataset("inst_it_image_short_caption_raw_ref", root=str(tmp_path), strict=True)
    assert [r["id"] for r in ds.index] == ["i1_1", "i1_3"]
    s = ds[0]
    assert s.frames.shape == (1, H, W, 3) and s.conversation[1]["content"] == "A red box."
    assert in_pool(s.conversation[0]["content"], REF_SHORT_CAPTION_PROMPTS, REF)
    kind, x1, y1, *_, frame = s.ref_prompts[0]
    assert frame == 0 and (kind == 1 or info["tracks"]["1"][0][int(y1), int(x1)])
    check_sample(s, processor)
    forward(tiny_model, processor, [s])
    with pytest.raises(DataError, match=r"sample i1_3: object 3 has no entry in `segmentations`.*image_51k_w_mask"):
        ds[1]


# ------------------------------------------------------------------------------------------------ Osprey
def test_osprey_conversation(tmp_path, processor, tiny_model):
    vf.write_osprey(tmp_path)
    ds = build_dataset("osprey_conversation", root=str(tmp_path))
    assert len(ds) == 1 and ds.stats["skipped_malformed"] == 2  # bare <region>, <region5> past the annotations
    s = ds[0]
    assert s.frames.shape == (1, H, W, 3) and s.data_type == "region_image" and s.refer_masks.shape == (2, 1, H, W)
    user = s.conversation[0]["content"]
    assert user == "Here is an image with the following highlighted regions:\n[2]: <|mem|>\n[1]: <|mem|>\nWhat is [2]?"
    assert s.conversation[2]["content"] == "Is [1] left of [2]?", "spelling slips repaired, no prefix after turn 1"
    assert s.refer_masks[0, 0, 25, 45] and not s.refer_masks[0, 0, 10, 10]  # region 2 (RLE)
    assert s.refer_masks[1, 0, 10, 10] and not s.refer_masks[1, 0, 25, 45]  # region 1 (polygon)
    check_memory(s, processor)
    forward(tiny_model, processor, [s])


def test_osprey_pos_neg_and_detail(tmp_path, processor, tiny_model):
    vf.write_osprey(tmp_path)
    pn = build_dataset("osprey_pos_neg", root=str(tmp_path))[0]
    assert pn.meta["path"].endswith("coco/imgs/000000000002.jpg"), "a prefixed file name falls back to its last part"
    assert pn.conversation[0]["content"].endswith("Is [1] a cat?")
    detail = build_dataset("osprey_detail_description", root=str(tmp_path))
    assert len(detail) == 1 and detail.stats["skipped_malformed"] == 1
    s = detail[0]
    assert in_pool(s.conversation[0]["content"].split("\n")[-1], REGION_DETAIL_PROMPTS, "[1]")
    assert in_pool(s.conversation[2]["content"], REGION_DETAIL_PROMPTS, "[2]")
    assert [s.conversation[1]["content"], s.conversation[3]["content"]] == ["A tall box.", "A small box."]
    for x in (pn, s):
        check_memory(x, processor)
    forward(tiny_model, processor, [pn, s])
