"""Toy data in the released formats: each file loads with plain json / pickle / pycocotools, every RLE decodes to
its frame size, masks agree with the pixels, absent objects have no mask, and the real samples' conventions hold."""

import json
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from unipixel.data.toy import COLOURS, SHAPES, davis_palette

from .conftest import REAL_SAMPLES, colour_word, load_rgb, nearest_colour


def _decode(rle, size) -> np.ndarray:
    assert isinstance(rle["counts"], str)  # JSON / SA-V convention: compressed counts as str
    assert list(rle["size"]) == list(size)
    return mask_utils.decode(rle).astype(bool)


def _centroid_x_y(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def _check_motion(text: str, track: list) -> None:
    """`track`: per-frame mask or None. Checks the motion words of a single-object expression."""
    present = [m is not None and m.any() for m in track]
    if "enters the scene" in text or "enter the scene" in text:
        assert not present[0] and present[-1], text
    if "leaves the scene" in text or "leave the scene" in text:
        assert present[0] and not present[-1], text
    visible = [m for m in track if m is not None and m.any()]
    (x0, y0), (x1, y1) = _centroid_x_y(visible[0]), _centroid_x_y(visible[-1])
    for word, ok in (("left", x1 < x0 - 2), ("right", x1 > x0 + 2), ("up", y1 < y0 - 2), ("down", y1 > y0 + 2)):
        if f"moving {word}" in text:
            assert ok, text
    if "stays still" in text:
        assert abs(x1 - x0) < 1 and abs(y1 - y0) < 1, text


# --------------------------------------------------------------------------------------------------------------
# images


@pytest.mark.parametrize("name,split_by", [("refcoco", "unc"), ("refcoco+", "unc"), ("refcocog", "umd")])
def test_refer_seg(toy_root, name, split_by):
    base = toy_root / "lisa/refer_seg"
    with open(base / name / f"refs({split_by}).p", "rb") as f:
        refs = pickle.load(f)  # plain pickle, as the refer API does
    assert refs and isinstance(refs, list)
    splits = {"unc": {"train", "val", "testA", "testB"}, "umd": {"train", "val", "test"}}[split_by]
    assert {r["split"] for r in refs} <= splits and "train" in {r["split"] for r in refs}
    coco = COCO(str(base / name / "instances.json"))
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == set(SHAPES)
    sent_ids = set()
    for ref in refs:
        assert set(ref) == {
            "sent_ids",
            "file_name",
            "ann_id",
            "ref_id",
            "image_id",
            "split",
            "sentences",
            "category_id",
        }
        assert ref["file_name"] == f"COCO_train2014_{ref['image_id']:012d}_{ref['ann_id']}.jpg"  # not a real file
        ann = coco.anns[ref["ann_id"]]
        img = coco.imgs[ref["image_id"]]
        assert ann["image_id"] == ref["image_id"] and ann["category_id"] == ref["category_id"]
        assert isinstance(ann["segmentation"], list) and isinstance(ann["segmentation"][0], list)  # polygons
        frame = load_rgb(base / "images/mscoco/images/train2014" / img["file_name"])
        assert frame.shape[:2] == (img["height"], img["width"])
        mask = coco.annToMask(ann).astype(bool)
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (x, y, w, h)
        assert ann["area"] == mask.sum()
        shape = coco.cats[ann["category_id"]]["name"]
        for s in ref["sentences"]:
            assert set(s) == {"tokens", "raw", "sent_id", "sent"}
            assert s["tokens"] == s["sent"].split() and s["raw"].lower() == s["sent"]
            assert s["sent_id"] not in sent_ids
            sent_ids.add(s["sent_id"])
            named = [w for w in s["tokens"] if w in SHAPES]
            assert named in ([], [shape]), s["sent"]
            if colour_word(s["sent"]):
                assert nearest_colour(frame, mask) == colour_word(s["sent"]), s["sent"]
        assert ref["sent_ids"] == [s["sent_id"] for s in ref["sentences"]]


def test_reason_seg(toy_root):
    base = toy_root / "lisa/reason_seg/ReasonSeg"
    for split in ("train", "val"):
        images = sorted((base / split).glob("*.jpg"))
        assert images and len(images) == len(list((base / split).glob("*.json")))
        for image in images:
            meta = json.loads(image.with_suffix(".json").read_text())
            assert list(meta) == ["text", "is_sentence", "shapes"]
            assert isinstance(meta["text"], list) and meta["text"] and isinstance(meta["is_sentence"], bool)
            if split == "val":
                assert len(meta["text"]) == 1
            if meta["is_sentence"]:
                assert all(t.endswith("?") for t in meta["text"])
            frame = load_rgb(image)
            target = np.zeros(frame.shape[:2], np.uint8)
            for shape in meta["shapes"]:
                assert shape["label"] in ("target", "ignore", "flag") and shape["labels"] == [shape["label"]]
                assert shape["image_name"] == image.name and shape["shape_type"] == "polygon"
                assert all(isinstance(v, float) for p in shape["points"] for v in p)
                if shape["label"] == "flag":
                    assert len(shape["points"]) == 2
                if shape["label"] == "target":  # rasterised the way the loaders do (cv2, int32 points)
                    cv2.fillPoly(target, np.array([shape["points"]], dtype=np.int32), 1)
            assert [s["label"] for s in meta["shapes"]].count("target") == 1
            assert nearest_colour(frame, target.astype(bool)) is not None
            inner = frame[cv2.erode(target, np.ones((5, 5), np.uint8)).astype(bool)].astype(float)
            assert np.ptp(inner.mean(0)) > 60  # a saturated shape, not the grey background
    explanatory = json.loads((base / "explanatory/train.json").read_text())
    for row in explanatory:
        assert list(row) == ["query", "outputs", "image", "json"]
        meta = json.loads((base / "train" / row["json"]).read_text())
        assert row["query"] == meta["text"][0] and (base / "train" / row["image"]).exists()


# --------------------------------------------------------------------------------------------------------------
# referring video segmentation


def _video_checks(frames_dir: Path, frames: list[str], exp: str, tracks: list[list]) -> None:
    """Every RLE decodes to the frame size; colour words match the pixels; motion words match the tracks."""
    images = [load_rgb(frames_dir / f"{n}.jpg") for n in frames]
    size = images[0].shape[:2]
    decoded = [[None if r is None else _decode(r, size) for r in track] for track in tracks]
    for track in decoded:
        assert len(track) == len(frames)
        assert any(m is not None for m in track)
        assert all(m is None or m.any() for m in track)  # absent = None, never an empty RLE
    if len(tracks) == 1:
        colour = colour_word(exp)
        if colour:
            for image, m in zip(images, decoded[0]):
                if m is not None:
                    assert nearest_colour(image, m) in (colour, None), exp
        _check_motion(exp, decoded[0])


def test_mevis(toy_root):
    for split in ("train", "valid_u"):
        meta = json.loads((toy_root / f"mevis/{split}/meta_expressions.json").read_text())["videos"]
        mask_dict = json.loads((toy_root / f"mevis/{split}/mask_dict.json").read_text())
        plural = 0
        for vid, video in meta.items():
            assert set(video) == {"frames", "expressions"}
            frames_dir = toy_root / f"mevis/{split}/JPEGImages/{vid}"
            assert sorted(p.stem for p in frames_dir.glob("*.jpg")) == video["frames"]
            for exp in video["expressions"].values():
                assert set(exp) == {"exp", "obj_id", "anno_id"}
                assert len(exp["obj_id"]) == len(exp["anno_id"]) >= 1
                assert all(isinstance(i, int) for i in exp["obj_id"] + exp["anno_id"])
                plural += len(exp["obj_id"]) > 1
                _video_checks(frames_dir, video["frames"], exp["exp"], [mask_dict[str(a)] for a in exp["anno_id"]])
        assert mask_dict


def test_revos(toy_root):
    mask_dict = json.loads((toy_root / "revos/mask_dict.json").read_text())
    foreground = json.loads((toy_root / "revos/mask_dict_foreground.json").read_text())
    reasoning = 0
    for split in ("train", "valid"):
        meta = json.loads((toy_root / f"revos/meta_expressions_{split}_.json").read_text())["videos"]
        for vid, video in meta.items():
            assert list(video) == ["expressions", "vid_id", "height", "width", "frames"]
            frames_dir = toy_root / "revos" / vid
            size = (video["height"], video["width"])
            fg = [_decode(r, size) for r in foreground[vid]["masks_rle"]]
            assert len(fg) == len(video["frames"])
            union = np.zeros((len(fg), *size), bool)
            for exp in video["expressions"].values():
                assert exp["type_id"] in (0, 1) and (exp["type_id"] == 1) == exp["exp"].endswith("?")
                reasoning += exp["type_id"]
                for a in exp["anno_id"]:
                    union |= np.stack(
                        [np.zeros(size, bool) if r is None else _decode(r, size) for r in mask_dict[str(a)]]
                    )
                if exp["obj_id"]:
                    _video_checks(frames_dir, video["frames"], exp["exp"], [mask_dict[str(a)] for a in exp["anno_id"]])
            assert not (union & ~np.stack(fg)).any()  # the foreground covers every annotated object
    assert reasoning > 0


def test_ref_youtube_vos(toy_root):
    train = json.loads((toy_root / "ref_youtube_vos/meta_expressions/train/meta_expressions.json").read_text())
    valid = json.loads((toy_root / "ref_youtube_vos/meta_expressions/valid/meta_expressions.json").read_text())
    mask_dict = pickle.load(open(toy_root / "ref_youtube_vos/mask_dict.pkl", "rb"))
    running = 0
    for vid, video in train["videos"].items():
        steps = {int(b) - int(a) for a, b in zip(video["frames"], video["frames"][1:])}
        assert steps == {5}
        for exp in video["expressions"].values():
            assert set(exp) == {"exp", "obj_id"} and isinstance(exp["obj_id"], str)
            track = mask_dict[str(running)]
            running += 1
            _video_checks(toy_root / f"ref_youtube_vos/train/JPEGImages/{vid}", video["frames"], exp["exp"], [track])
    assert running == len(mask_dict)
    for vid, video in valid["videos"].items():
        assert all(set(e) == {"exp"} for e in video["expressions"].values())  # valid: no obj_id, as released
        assert all((toy_root / f"ref_youtube_vos/valid/JPEGImages/{vid}/{n}.jpg").exists() for n in video["frames"])


def test_ref_davis17(toy_root):
    palette = davis_palette()
    assert palette[:15] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128]
    most = 0
    for split in ("train", "valid"):
        meta = json.loads((toy_root / f"ref_davis17/meta_expressions/{split}/meta_expressions.json").read_text())
        mask_dict = pickle.load(open(toy_root / f"ref_davis17/{split}/mask_dict.pkl", "rb"))
        assert list(meta["videos"]) == sorted(meta["videos"])
        running = 0
        for vid, video in meta["videos"].items():
            ids = list(video["expressions"])
            assert ids == [str(i) for i in range(len(ids))]
            most = max(most, len(ids))
            for exp in video["expressions"].values():
                track = mask_dict[str(running)]
                running += 1
                _video_checks(
                    toy_root / f"ref_davis17/DAVIS/JPEGImages/480p/{vid}", video["frames"], exp["exp"], [track]
                )
                for t, name in enumerate(video["frames"]):
                    png = Image.open(toy_root / f"ref_davis17/DAVIS/Annotations/480p/{vid}/{name}.png")
                    assert png.mode == "P" and png.getpalette()[:48] == palette[:48]
                    ids_map = np.asarray(png)
                    expected = np.zeros(ids_map.shape, bool) if track[t] is None else _decode(track[t], ids_map.shape)
                    assert ((ids_map == int(exp["obj_id"])) == expected).all()
        assert running == len(mask_dict)
    assert most >= 10  # string order of expression ids differs from file order ("10" < "2")


def test_ref_sav(toy_root):
    meta = json.loads((toy_root / "ref_sav/Ref-SAV-Min-Ratio-0.3.json").read_text())
    assert meta
    for vid, video in meta.items():
        assert video["video_path"].split("/", 1)[1].startswith("sav_train") and "manual" in video["anno_path"]
        anno = json.loads((toy_root / video["anno_path"]).read_text())
        assert anno["video_id"] == vid and isinstance(anno["video_height"], float)
        frames = _mp4_frames(toy_root / video["video_path"])
        assert len(frames) == anno["video_frame_count"]
        assert len(anno["masklet"]) == len(range(0, len(frames), 4))  # annotated every 4th frame (6 of 24 fps)
        size = (int(anno["video_height"]), int(anno["video_width"]))
        assert frames[0].shape[:2] == size
        for qid, obj in video["objects"].items():
            assert obj["video_id"] == vid and str(obj["obj_id"]) == qid and obj["formated"].endswith(".")
            track = [_decode(entry[int(qid)], size) for entry in anno["masklet"]]  # never None: zero-area RLEs
            assert all(m.any() for m in track if m.any()) and any(m.any() for m in track)
            if "enters the scene" in obj["formated"]:
                assert not track[0].any()
            for i, m in enumerate(track):
                if m.sum() > 60:
                    assert nearest_colour(frames[4 * i], m) in (colour_word(obj["formated"].split(".")[0]), None)
    valid = json.loads((toy_root / "ref_sav/valid/meta_expressions_valid.json").read_text())["videos"]
    mask_dict = json.loads((toy_root / "ref_sav/valid/mask_dict.json").read_text())
    for vid, video in valid.items():
        assert video["frames"] == [str(100000 + 4 * i) for i in range(len(video["frames"]))]
        for qid, exp in video["expressions"].items():
            assert exp["obj_id"] == [int(qid)] and exp["type_id"] == 0 and len(exp["anno_id"]) == 1
            track = mask_dict[str(exp["anno_id"][0])]
            assert len(track) == len(video["frames"]) and all(r is not None for r in track)
            image = load_rgb(toy_root / f"ref_sav/valid/videos/{vid}/{video['frames'][0]}.jpg")
            assert all(_decode(r, image.shape[:2]).shape == image.shape[:2] for r in track)


# --------------------------------------------------------------------------------------------------------------
# region understanding


def _mp4_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_videorefer_700k(toy_root):
    base = toy_root / "videorefer/VideoRefer-700K"
    cache = {}
    for kind, stem in (
        ("short_caption", "short-caption-500k"),
        ("detailed_caption", "detailed-caption-125k"),
        ("qa", "qa-75k"),
    ):
        rows = json.loads((base / f"videorefer-{stem}-wo-masks.json").read_text())
        assert rows and len(rows) == len(list((base / f"masks_{kind}").glob("*.json")))
        multi = 0
        for idx, row in enumerate(rows):
            assert list(row) == ["video", "conversations", "annotation", "id", "ratio"]
            human, gpt = row["conversations"]
            assert human["from"] == "human" and gpt["from"] == "gpt"
            assert human["value"].startswith("<video>\n")
            question = human["value"][len("<video>\n") :]
            assert "<video>" not in question and question.count("<region>") == len(row["annotation"])
            assert 1 <= len(row["annotation"]) <= 5 and 0 < row["ratio"] <= 1
            if "\n" in question:
                multi += 1
                intro = question.split("\n")[0]
                assert question.count("\n") == 1 and question.startswith("There")
                assert len(re.findall(r"<object\d+><region>", intro)) == len(row["annotation"])
            else:
                assert "<object" not in question + gpt["value"]
            if row["video"] not in cache:
                cache[row["video"]] = _mp4_frames(base / "videos" / row["video"])
            frames = cache[row["video"]]
            assert 8 <= len(frames) <= 12
            masks = json.loads((base / f"masks_{kind}/{idx}.json").read_text())
            union = sorted({int(k) for a in row["annotation"] for k in a})
            assert len(masks) == len(row["annotation"])
            if kind == "short_caption":
                assert len(union) == 1  # single-frame mode
            for obj_anno, obj_masks in zip(row["annotation"], masks):
                assert len(obj_masks) == len(union)
                for t, regions in zip(union, obj_masks):
                    assert len(regions) == 1 and (regions[0] is None) == (str(t) not in obj_anno)
                    assert 0 <= t < len(frames)
                    if regions[0] is not None:
                        m = _decode(regions[0], frames[t].shape[:2])
                        assert m.any()
                        if kind != "qa" and colour_word(gpt["value"]):
                            assert nearest_colour(frames[t], m) in (colour_word(gpt["value"]), None), gpt["value"]
        if kind == "qa":
            assert multi > 0


def test_videorefer_bench_q_and_pixelqa(toy_root):
    base = toy_root / "videorefer/VideoRefer-Bench"
    entries = json.loads((base / "VideoRefer-Bench-Q.json").read_text())
    assert entries
    for e in entries:
        assert list(e) == ["id", "video", "Question", "type", "options", "Answer", "frame_idx", "annotation"]
        assert isinstance(e["frame_idx"], str) and e["Answer"] in e["options"]
        assert [o[:4] for o in e["options"]] == [f"({c}) " for c in "ABCD"[: len(e["options"])]]
        assert "<region>" not in "".join(e["options"])
        assert e["Question"].count("<region>") == len(e["annotation"])
        folder = base / "videos" / e["video"]
        paths = sorted(folder.glob("*.jpg"), key=lambda p: int(re.sub(r"^\D*", "", p.stem)))
        for obj in e["annotation"]:
            assert e["frame_idx"] in obj  # the prompt frame shows every referred object (PixelQA)
            for t, value in obj.items():
                frame = load_rgb(paths[int(t)])
                m = _decode(value["segmentation"], frame.shape[:2])
                assert m.any()
        if e["Question"].startswith("What colour is"):
            obj = e["annotation"][0]
            frame = load_rgb(paths[int(e["frame_idx"])])
            seen = nearest_colour(frame, _decode(obj[e["frame_idx"]]["segmentation"], frame.shape[:2]))
            assert e["Answer"][4:].lower() == seen

    captions = json.loads((base / "VideoRefer-Bench-D.json").read_text())
    for c in captions:
        assert list(c) == ["id", "video", "caption", "frame_idx", "annotation"] and len(c["annotation"]) == 1
        frames = _mp4_frames(base / "videos/Panda-70M-part" / c["video"])
        same_clip = base / "videos/toy/JPEGImages" / Path(c["video"]).stem  # Bench-Q shows the same clips as frames
        assert len(frames) == len(list(same_clip.glob("*.jpg")))
        m = _decode(c["annotation"][0][c["frame_idx"]]["segmentation"], frames[0].shape[:2])
        assert nearest_colour(frames[int(c["frame_idx"])], m) in (colour_word(c["caption"]), None)


def test_mp4_decodes_with_decord(toy_root):
    decord = pytest.importorskip("decord")
    for path in sorted((toy_root / "videorefer/VideoRefer-700K/videos/toy").glob("*.mp4"))[:2]:
        reader = decord.VideoReader(str(path), num_threads=1)
        assert len(reader) == len(_mp4_frames(path))
        assert reader.get_batch([0, len(reader) - 1]).asnumpy().shape[0] == 2


def test_davis_palette_matches_the_real_sample():
    """An extra check against a real DAVIS-17 annotation (reference material outside the repository)."""
    path = REAL_SAMPLES / "davis17_palette_png/bike-packing/00000.png"
    if not path.exists():
        pytest.skip("shared real samples not available")
    real = Image.open(path)
    assert real.mode == "P" and real.getpalette()[:48] == davis_palette()[:48]


def test_rle_conventions_match_the_real_sav_sample(toy_root):
    path = REAL_SAMPLES / "ref_sav/sav_000001_manual.json"
    if not path.exists():
        pytest.skip("shared real samples not available")
    real = json.loads(path.read_text())["masklet"][0][0]
    ours = next(r for r in json.loads((toy_root / "mevis/train/mask_dict.json").read_text())["0"] if r)
    assert list(ours) == list(real) == ["size", "counts"]
    assert type(ours["counts"]) is type(real["counts"]) is str


def test_vocabulary_is_small_and_regular(toy_root):
    words = set()
    for path in (toy_root / "mevis/train/meta_expressions.json", toy_root / "mevis/valid_u/meta_expressions.json"):
        for video in json.loads(path.read_text())["videos"].values():
            for exp in video["expressions"].values():
                words |= set(exp["exp"].split())
    allowed = (
        set(COLOURS)
        | set(SHAPES)
        | {s + "s" for s in SHAPES}
        | {
            "the",
            "shape",
            "shapes",
            "small",
            "large",
            "moving",
            "left",
            "right",
            "up",
            "down",
            "that",
            "stays",
            "stay",
            "still",
            "enters",
            "enter",
            "leaves",
            "leave",
            "scene",
        }
    )
    assert words <= allowed, words - allowed
