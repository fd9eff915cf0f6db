"""Bad inputs: every error names dataset, sample id and file; training replaces broken or over-long samples within a
counted, logged budget; strict (evaluation) mode raises."""

import json
import logging
import pickle

import numpy as np
import pytest

from tests.data import fixtures as fx
from unipixel.data.errors import DataError
from unipixel.data.masks import encode_rle
from unipixel.data.mixture import build_dataset

LLAVA = "llava_instruct_665k_videogpt_plus_576k"


def test_missing_image_strict_and_replaced(tmp_path, caplog):
    fx.write_refer(tmp_path)
    (tmp_path / "lisa/refer_seg/images/mscoco/images/train2014/COCO_train2014_000000000002.jpg").unlink()
    val = build_dataset("refcoco", root=str(tmp_path), split="val")
    with pytest.raises(DataError, match=r"\[refcoco\] sample 3_4: image file not found.*000000000002\.jpg"):
        val[0]
    train = build_dataset("refcoco", root=str(tmp_path))
    ids = [r["id"] for r in train.index]
    with caplog.at_level(logging.WARNING):
        sample = train[ids.index("2")]  # image 2 is gone: replaced by the other image's sample
    assert sample.id == "1" and train.stats["broken"] == 1
    assert "000000000002.jpg" in caplog.text and "broken so far: 1" in caplog.text
    tight = build_dataset("refcoco", root=str(tmp_path), max_broken=0)
    with pytest.raises(RuntimeError, match="exceed max_broken=0"):
        tight[ids.index("2")]


def test_corrupt_video_row(tmp_path):
    fx.write_llava(tmp_path)
    (tmp_path / "videogpt_plus/clips/v1.mp4").write_bytes(b"not a video at all" * 100)
    ds = build_dataset(LLAVA, root=str(tmp_path), strict=True)
    with pytest.raises(DataError, match=rf"\[{LLAVA}\] sample vid-1: cannot decode video.*v1\.mp4"):
        ds[1]
    lenient = build_dataset(LLAVA, root=str(tmp_path))
    assert lenient[1].id == "img-1" and lenient.stats["broken"] == 1  # same data type (multimodal) replaces it


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("just a string", "expected an object"),
        ({"id": "x", "image": "a.jpg"}, "no `conversations` list"),
        ({"id": "x", "conversations": [{"from": "bot", "value": "hi"}]}, "turn 0 is not"),
        ({"id": "x", "conversations": [{"from": "human", "value": "<image>\nhi"}]}, "unexpected <image>"),
        ({"id": "x", "image": "a.jpg", "video": "b.mp4", "conversations": []}, "no `conversations`"),
    ],
)
def test_malformed_json_rows(tmp_path, row, match):
    fx.write_llava(tmp_path, extra_rows=[row])
    ds = build_dataset(LLAVA, root=str(tmp_path), strict=True)
    with pytest.raises(DataError, match=match) as err:
        ds[3]
    assert err.value.path.name == "llava_v1_5_mix665k_with_videogpt_plus_576k.json"
    assert "malformed row 3" in str(err.value)


def test_malformed_json_file(tmp_path):
    fx.write_llava(tmp_path)
    path = tmp_path / "general/llava_v1_5_mix665k_with_videogpt_plus_576k.json"
    path.write_text(path.read_text()[:-40])
    with pytest.raises(DataError, match=rf"\[{LLAVA}\].*malformed JSON.*llava_v1_5_mix665k"):
        len(build_dataset(LLAVA, root=str(tmp_path)))


def _rewrite_instances(root, edit):
    path = root / "lisa/refer_seg/refcoco/instances.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("size", "match"),
    [
        ((480, 640), r"mask is stored at 480 x 640 \(H x W\) but its frame is 48 x 64 \(file"),
        ((64, 48), r"mask is stored at 64 x 48 \(H x W\) but its frame is 48 x 64 \(height and width swapped\)"),
    ],
)
def test_mask_stored_at_another_size(tmp_path, caplog, size, match):
    """A mask whose stored size differs from its image is never stretched: strict mode names instances.json and the
    annotation id, training replaces the sample within the logged budget."""
    fx.write_refer(tmp_path)
    wrong = np.zeros(size, bool)
    wrong[5:20, 5:20] = True

    def edit(data):
        for ann in data["annotations"][2:]:  # ann 12 (image 2's train ref) and 13 (the val refs)
            ann["segmentation"] = encode_rle(wrong)

    _rewrite_instances(tmp_path, edit)
    val = build_dataset("refcoco", root=str(tmp_path), split="val")
    with pytest.raises(DataError, match=r"\[refcoco\] sample 3_4: annotation 13 \(ref 3\): " + match) as err:
        val[0]
    assert err.value.path.name == "instances.json"
    train = build_dataset("refcoco", root=str(tmp_path))
    ids = [r["id"] for r in train.index]
    with caplog.at_level(logging.WARNING):
        assert train[ids.index("2")].id == "1"
    assert train.stats["broken"] == 1 and "annotation 12 (ref 2)" in caplog.text and "broken so far: 1" in caplog.text


def test_empty_annotation_names_its_id(tmp_path):
    fx.write_refer(tmp_path)
    _rewrite_instances(tmp_path, lambda d: d["annotations"][3].update(segmentation=[[1, 1, 2, 2]]))  # < 3 points
    val = build_dataset("refcoco", root=str(tmp_path), split="val")
    with pytest.raises(DataError, match=r"sample 3_4: annotation 13 \(ref 3\): the segmentation is empty") as err:
        val[0]
    assert err.value.path.name == "instances.json"


def test_mask_vanishing_at_sam_size(tmp_path, processor):
    fx.write_refer(tmp_path)
    image = tmp_path / "lisa/refer_seg/images/mscoco/images/train2014/COCO_train2014_000000000002.jpg"
    fx.write_image(image, height=480, width=640)
    dot = np.zeros((480, 640), bool)
    dot[3, 7] = True  # present at frame size, missed by nearest sampling at 128 x 128

    def edit(data):
        data["annotations"][2]["segmentation"] = encode_rle(dot)  # ann 12, the train ref of image 2

    _rewrite_instances(tmp_path, edit)
    ds = build_dataset("refcoco", root=str(tmp_path), processor=processor, strict=True)
    ids = [r["id"] for r in ds.index]
    assert ds.get_sample(ids.index("2")).seg_masks.sum() == 1
    with pytest.raises(DataError, match=r"sample 2: objects \[0\] have empty masks after resizing to the SAM 2"):
        ds[ids.index("2")]


def test_object_id_without_mask(tmp_path):
    fx.write_refer(tmp_path)
    _rewrite_instances(tmp_path, lambda d: d["annotations"].pop(3))  # ann 13 disappears
    val = build_dataset("refcoco", root=str(tmp_path), split="val")
    with pytest.raises(DataError, match=r"sample 3_4: ref 3: annotation 13 is not in instances.json") as err:
        val[0]
    assert err.value.path.name == "instances.json"


def test_ref_pickle_that_runs_code_is_refused(tmp_path):
    fx.write_refer(tmp_path)

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    (tmp_path / "lisa/refer_seg/refcoco/refs(unc).p").write_bytes(pickle.dumps([Evil()], protocol=2))
    with pytest.raises(DataError, match=r"cannot unpickle refs: refusing to load global \w+\.exec.*refs\(unc\)\.p"):
        len(build_dataset("refcoco", root=str(tmp_path)))


def test_label_map_without_classes(tmp_path):
    fx.write_semantic(tmp_path, "ade20k", num_images=1)
    fx.write_png(tmp_path / "lisa/ade20k/annotations/training/img_000.png", np.zeros((fx.H, fx.W), np.uint8))
    ds = build_dataset("ade20k", root=str(tmp_path), strict=True)
    with pytest.raises(DataError, match=r"\[ade20k\] sample img_000: no labelled class.*img_000\.png"):
        ds[0]


def test_word_and_token_limits_resample(tmp_path, processor, caplog):
    rows = [
        {"id": f"t{i}", "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": answer}]}
        for i, answer in enumerate(["one two three four five six", "short answer"])
    ]
    fx.write_llava(tmp_path, extra_rows=rows)
    ds = build_dataset(LLAVA, root=str(tmp_path), max_num_words=3)
    with caplog.at_level(logging.WARNING):
        assert ds[3].id == "t1"  # t0 has 6 words: resampled among the text rows
    assert ds.stats["too_long"] >= 1 and "too_long so far" in caplog.text
    assert "t0" in caplog.text and "6 words" in caplog.text
    strict = build_dataset(LLAVA, root=str(tmp_path), max_num_words=3, strict=True)
    with pytest.raises(DataError, match="6 words in an answer > max_num_words 3"):
        strict[3]
    by_tokens = build_dataset(LLAVA, root=str(tmp_path), max_num_tokens=36, processor=processor)
    item = by_tokens[3]
    assert len(item["input_ids"]) <= 36 and by_tokens.stats["too_long"] >= 1
    impossible = build_dataset(LLAVA, root=str(tmp_path), max_num_words=0, max_resample=3)
    with pytest.raises(DataError, match=r"sample t\d: no usable sample after 4 attempts.*last: \d+ words") as err:
        impossible[3]
    assert err.value.path is not None  # names the last sample's file
    assert "summary" not in impossible.summary() and "too_long=4" in impossible.summary()
