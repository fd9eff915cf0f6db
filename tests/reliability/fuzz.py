"""A generated fuzz suite over the toy data of every dataset family: each case corrupts one family's files in one way
and checks what the loader makes of it, in strict mode (evaluation, or training with `strict=True`) and in lenient
training mode.

Outcome classes (the first three are what every case must end in):
    named error         a `DataError` naming the dataset, the file (inside the data root) and a locator: the sample
                        id, or the line / byte / row of a file-level fault
    logged replacement  lenient training: every index loads, the broken samples were replaced within the budget and
                        each replacement was logged with its file
    logged skip         index-time rows left out with a count and a log line (not used by any case at present)
    silent drop         no error, but fewer samples than the clean data gives and nothing logged
    accepted silently   no error, the same number of samples: the corruption went unnoticed
    read outside root   the loader opened a file outside the data root (traversal cases point at real files there)
    error without file  any other exception, or a `DataError` missing its file or locator

Run the whole matrix and print the table (families x outcome class):

    python -m tests.reliability.fuzz            # about a minute on 2 cores; exit status 1 when a case fails

`test_fuzz.py` runs a representative subset by default and the whole matrix with `-m slow`.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOOD = ("named error", "logged replacement", "logged skip")
BAD = ("silent drop", "accepted silently", "read outside root", "error without file")
OUTCOMES = GOOD + BAD
CORRUPTIONS = (
    "truncate",
    "wrong type",
    "missing key",
    "missing media",
    "zero-byte media",
    "truncated media",
    "bad RLE",
    "wrong-size mask",
    "non-UTF-8",
    "traversal",
    "hostile pickle",
)
MODES = ("strict", "lenient")


# ---------------------------------------------------------------------------------------------------- families
@dataclass
class Family:
    """One toy family: the folders it needs, the (key, split) read in each mode, and its corruptions."""

    name: str
    folders: tuple[str, ...]
    strict: tuple[str, str]
    lenient: tuple[str, str]
    corrupt: dict[str, Callable]  # corruption -> fn(root, outside, mode) -> description (None: not applicable)


def read_json(path: Path):
    return json.loads(path.read_text())


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data))


def cut_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def insert_bad_byte(path: Path) -> None:
    """A latin-1 byte inside the first string value of a JSON file (the file stays valid JSON apart from UTF-8)."""
    data = path.read_bytes()
    at = data.index(b'"', data.index(b":")) + 1
    path.write_bytes(data[:at] + b"\xff" + data[at:])


def bad_rle(rle: dict) -> dict:
    return {"size": rle["size"], "counts": rle["counts"][: max(1, len(rle["counts"]) // 2)] + "~~"}


def other_size_rle(height: int, width: int) -> dict:
    """A valid RLE at another size than `height x width` (height and width swapped when they differ)."""
    from unipixel.data.masks import encode_rle

    h, w = (width, height) if height != width else (height, width + 32)
    mask = np.zeros((h, w), bool)
    mask[h // 4 : h // 2, w // 4 : w // 2] = True
    return encode_rle(mask)


def relative_to(target: Path, start: Path) -> str:
    return os.path.relpath(target, start)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def hostile_pickle(path: Path, kind: str) -> None:
    if kind == "code":
        path.write_bytes(pickle.dumps({"0": Evil()}, protocol=2))
    else:  # 52 bytes that would allocate 100 MB: builtins.bytes(100000000)
        path.write_bytes(b"\x80\x02c__builtin__\nbytes\nq\x00J\x00\xe1\xf5\x05\x85q\x01Rq\x02.")


# ------------------------------------------------------------------------- refer_seg (RefCOCO)
def _refcoco_targets(root: Path):
    anno = root / "lisa/refer_seg/refcoco"
    refs = pickle.loads((anno / "refs(unc).p").read_bytes())
    first = {}
    for ref in refs:
        first.setdefault(ref["split"], ref)
    return anno, refs, [first["val"], first["train"]]


def _refcoco_instances(root, edit):
    """`edit(image, annotation)` for every annotation on the images of the first val and train refs (a training
    sample draws some of its image's objects, so each one must be broken for the sample to be)."""
    anno, refs, targets = _refcoco_targets(root)
    data = read_json(anno / "instances.json")
    images = {img["id"]: img for img in data["images"]}
    wanted = {ref["image_id"] for ref in targets}
    for ann in data["annotations"]:
        if ann["image_id"] in wanted:
            edit(images[ann["image_id"]], ann)
    write_json(anno / "instances.json", data)


def _refcoco_images(root):
    anno, refs, targets = _refcoco_targets(root)
    data = read_json(anno / "instances.json")
    names = {img["id"]: img["file_name"] for img in data["images"]}
    folder = root / "lisa/refer_seg/images/mscoco/images/train2014"
    return [folder / names[ref["image_id"]] for ref in targets]


def _refcoco(kind: str):
    def run(root: Path, outside: Path, mode: str):
        anno = root / "lisa/refer_seg/refcoco"
        if kind == "truncate":
            cut_half(anno / "instances.json")
            return "instances.json cut in half"
        if kind == "wrong type":
            _, refs, targets = _refcoco_targets(root)
            for ref in targets:
                ref["sentences"] = "a string"
            (anno / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
            return "refs(unc).p: `sentences` a string"
        if kind == "missing key":
            _refcoco_instances(root, lambda img, ann: ann.pop("segmentation"))
            return "instances.json: annotation without `segmentation`"
        if kind in ("missing media", "zero-byte media", "truncated media"):
            for path in _refcoco_images(root):
                {
                    "missing media": Path.unlink,
                    "zero-byte media": lambda p: p.write_bytes(b""),
                    "truncated media": cut_half,
                }[kind](path)
            return f"image: {kind}"
        if kind == "bad RLE":
            from unipixel.data.masks import encode_rle

            good = encode_rle(np.ones((160, 128), bool))
            _refcoco_instances(
                root, lambda img, ann: ann.update(segmentation=bad_rle({**good, "size": [img["height"], img["width"]]}))
            )
            return "instances.json: RLE counts cut"
        if kind == "wrong-size mask":
            _refcoco_instances(
                root, lambda img, ann: ann.update(segmentation=other_size_rle(img["height"], img["width"]))
            )
            return "instances.json: RLE at another size"
        if kind == "non-UTF-8":
            insert_bad_byte(anno / "instances.json")
            return "instances.json: a 0xff byte"
        if kind == "traversal":
            folder = root / "lisa/refer_seg/images/mscoco/images/train2014"
            _refcoco_instances(root, lambda img, ann: img.update(file_name=relative_to(outside / "image.jpg", folder)))
            return "instances.json: file_name ../../outside/image.jpg"
        if kind == "hostile pickle":
            hostile_pickle(anno / "refs(unc).p", "code")
            return "refs(unc).p calls os.system"
        return None

    return run


# ------------------------------------------------------------------------- reason_seg
def _reason_files(root: Path) -> list[Path]:
    base = root / "lisa/reason_seg/ReasonSeg"
    return [sorted((base / split).glob("*.json"))[0] for split in ("val", "train")]


def _reason(kind: str):
    def run(root: Path, outside: Path, mode: str):
        files = _reason_files(root)
        if kind == "truncate":
            for f in files:
                cut_half(f)
            return "annotation JSON cut in half"
        if kind in ("wrong type", "missing key"):
            for f in files:
                data = read_json(f)
                data.update(text=5) if kind == "wrong type" else data.pop("shapes")
                write_json(f, data)
            return "`text` an int" if kind == "wrong type" else "no `shapes`"
        if kind in ("missing media", "zero-byte media", "truncated media"):
            for f in files:
                image = f.with_suffix(".jpg")
                {
                    "missing media": Path.unlink,
                    "zero-byte media": lambda p: p.write_bytes(b""),
                    "truncated media": cut_half,
                }[kind](image)
            return f"image: {kind}"
        if kind == "non-UTF-8":
            for f in files:
                insert_bad_byte(f)
            return "annotation JSON: a 0xff byte"
        if kind == "traversal":
            if mode == "strict":
                return None  # evaluation splits read no path from an annotation file
            rows_file = root / "lisa/reason_seg/ReasonSeg/explanatory/train.json"
            rows = read_json(rows_file)
            split_dir = root / "lisa/reason_seg/ReasonSeg/train"
            rows[0]["image"] = relative_to(outside / "image.jpg", split_dir)
            rows[0]["json"] = relative_to(outside / "image.json", split_dir)
            write_json(rows_file, rows)
            return "explanatory row: image ../../outside/image.jpg"
        return None  # polygons carry no RLE or stored size; no pickle

    return run


# ------------------------------------------------------------------------- meta_expressions families (MeViS, ReVOS)
def _meta_family(name: str, meta: dict[str, str], masks: dict[str, str], frames: Callable, traversal: str):
    """MeViS-like layout: `meta[split]` / `masks[split]` files under root, `frames(root, split, vid)` frame folder."""

    def first_expression(root, split):
        data = read_json(root / meta[split])
        vid = next(iter(data["videos"]))
        eid = next(iter(data["videos"][vid]["expressions"]))
        return data, vid, eid

    def run_for(kind):
        def run(root: Path, outside: Path, mode: str):
            splits = list(meta)
            if kind == "truncate":
                for s in splits:
                    cut_half(root / meta[s])
                return "meta_expressions cut in half"
            if kind in ("wrong type", "missing key", "traversal"):
                for s in splits:
                    data, vid, eid = first_expression(root, s)
                    exp = data["videos"][vid]["expressions"][eid]
                    if kind == "wrong type":
                        exp["anno_id"] = {"id": 1}
                    elif kind == "missing key":
                        exp.pop("exp")
                    elif traversal == "video id":
                        folder = frames(root, s, vid)
                        target = relative_to(outside / "frames", folder.parent)
                        data["videos"] = {(target if v == vid else v): video for v, video in data["videos"].items()}
                        shutil.copytree(folder, outside / "frames", dirs_exist_ok=True)
                    else:
                        video = data["videos"][vid]
                        folder = frames(root, s, vid)
                        name = video["frames"][0]
                        shutil.copy(folder / f"{name}.jpg", outside / "frame.jpg")
                        video["frames"][0] = relative_to(outside / "frame", folder)
                    write_json(root / meta[s], data)
                return {"wrong type": "`anno_id` a dict", "missing key": "no `exp`", "traversal": f"{traversal} ../"}[
                    kind
                ]
            if kind in ("missing media", "zero-byte media", "truncated media"):
                for s in splits:
                    data, vid, _ = first_expression(root, s)
                    name = data["videos"][vid]["frames"][2]
                    path = frames(root, s, vid) / f"{name}.jpg"
                    {
                        "missing media": Path.unlink,
                        "zero-byte media": lambda p: p.write_bytes(b""),
                        "truncated media": cut_half,
                    }[kind](path)
                return f"frame: {kind}"
            if kind in ("bad RLE", "wrong-size mask"):
                for s in splits:
                    data, vid, eid = first_expression(root, s)
                    path = root / masks[s]
                    mask_dict = read_json(path)
                    for anno in data["videos"][vid]["expressions"][eid]["anno_id"]:
                        row = mask_dict[str(anno)]
                        t = next(i for i, r in enumerate(row) if r is not None)
                        h, w = row[t]["size"]
                        row[t] = bad_rle(row[t]) if kind == "bad RLE" else other_size_rle(h, w)
                    write_json(path, mask_dict)
                return "mask_dict RLE counts cut" if kind == "bad RLE" else "mask_dict RLE at another size"
            if kind == "non-UTF-8":
                for s in splits:
                    insert_bad_byte(root / meta[s])
                return "meta_expressions: a 0xff byte"
            return None  # no pickle

        return run

    return {k: run_for(k) for k in CORRUPTIONS}


# ------------------------------------------------------------------------- running-index families (R-YTVOS, R-DAVIS17)
def _running_family(meta: dict[str, str], pkl: dict[str, str], frames: Callable, pickle_kind: str):
    def run_for(kind):
        def run(root: Path, outside: Path, mode: str):
            splits = list(meta)
            if kind == "truncate":
                for s in splits:
                    cut_half(root / meta[s])
                return "meta_expressions cut in half"
            if kind == "hostile pickle":
                for s in splits:
                    hostile_pickle(root / pkl[s], pickle_kind)
                return "mask_dict.pkl " + ("calls os.system" if pickle_kind == "code" else "asks for bytes(10**8)")
            if kind in ("wrong type", "missing key", "traversal", "non-UTF-8"):
                for s in splits:
                    path = root / meta[s]
                    if kind == "non-UTF-8":
                        insert_bad_byte(path)
                        continue
                    data = read_json(path)
                    vid = next(iter(data["videos"]))
                    exp = next(iter(data["videos"][vid]["expressions"].values()))
                    if kind == "wrong type":
                        exp["exp"] = 5
                    elif kind == "missing key":
                        data["videos"][vid].pop("frames")
                    else:
                        folder = frames(root, s, vid)
                        target = relative_to(outside / "frames", folder.parent)
                        shutil.copytree(folder, outside / "frames", dirs_exist_ok=True)
                        data["videos"] = {(target if v == vid else v): video for v, video in data["videos"].items()}
                    write_json(path, data)
                return {
                    "wrong type": "`exp` an int",
                    "missing key": "video without `frames`",
                    "traversal": "video id ../",
                    "non-UTF-8": "meta_expressions: a 0xff byte",
                }[kind]
            if kind in ("missing media", "zero-byte media", "truncated media"):
                for s in splits:
                    data = read_json(root / meta[s])
                    vid = next(iter(data["videos"]))
                    name = data["videos"][vid]["frames"][1]
                    path = frames(root, s, vid) / f"{name}.jpg"
                    {
                        "missing media": Path.unlink,
                        "zero-byte media": lambda p: p.write_bytes(b""),
                        "truncated media": cut_half,
                    }[kind](path)
                return f"frame: {kind}"
            if kind in ("bad RLE", "wrong-size mask"):
                from unipixel.data.safe_pickle import safe_load

                for s in splits:
                    data = safe_load(root / pkl[s])
                    row = data["0"] if "0" in data else data[0]
                    t = next(i for i, r in enumerate(row) if r is not None)
                    rle = row[t]
                    h, w = rle["size"]
                    counts = rle["counts"]
                    as_bytes = isinstance(counts, bytes)
                    if kind == "bad RLE":
                        row[t] = bad_rle({"size": [h, w], "counts": counts.decode() if as_bytes else counts})
                    else:
                        row[t] = other_size_rle(h, w)
                    if as_bytes:
                        row[t]["counts"] = row[t]["counts"].encode()
                    (root / pkl[s]).write_bytes(pickle.dumps(data, protocol=2))
                return "mask_dict.pkl RLE counts cut" if kind == "bad RLE" else "mask_dict.pkl RLE at another size"
            return None

        return run

    return {k: run_for(k) for k in CORRUPTIONS}


# ------------------------------------------------------------------------- Ref-SAV (SA-V masklets)
SAV_META = "ref_sav/Ref-SAV-Min-Ratio-0.3.json"


def _sav(kind: str):
    def run(root: Path, outside: Path, mode: str):
        meta = read_json(root / SAV_META)
        vid = next(iter(meta))
        video = root / "sav" / meta[vid]["video_path"].split("/", 1)[1]
        anno = root / "sav" / meta[vid]["anno_path"].split("/", 1)[1]
        if kind == "truncate":
            cut_half(anno)
            return "*_manual.json cut in half"
        if kind == "wrong type":
            meta[vid]["objects"] = list(meta[vid]["objects"].values())
            write_json(root / SAV_META, meta)
            return "`objects` a list"
        if kind == "missing key":
            data = read_json(anno)
            data.pop("masklet")
            write_json(anno, data)
            return "*_manual.json without `masklet`"
        if kind in ("missing media", "zero-byte media", "truncated media"):
            {
                "missing media": Path.unlink,
                "zero-byte media": lambda p: p.write_bytes(b""),
                "truncated media": cut_half,
            }[kind](video)
            return f"video: {kind}"
        if kind in ("bad RLE", "wrong-size mask"):
            data = read_json(anno)
            for frame in data["masklet"]:
                for k, rle in enumerate(frame):
                    h, w = rle["size"]
                    frame[k] = bad_rle(rle) if kind == "bad RLE" else other_size_rle(h, w)
                break
            write_json(anno, data)
            return "masklet RLE counts cut" if kind == "bad RLE" else "masklet RLE at another size"
        if kind == "non-UTF-8":
            insert_bad_byte(root / SAV_META)
            return "Ref-SAV index: a 0xff byte"
        if kind == "traversal":
            shutil.copy(video, outside / "video.mp4")
            meta[vid]["video_path"] = "sav/" + relative_to(outside / "video.mp4", root / "sav")
            write_json(root / SAV_META, meta)
            return "video_path sav/../../outside/video.mp4"
        return None

    return run


# ------------------------------------------------------------------------- VideoRefer-700K
VR_ROWS = "videorefer/VideoRefer-700K/videorefer-short-caption-500k-wo-masks.json"
VR_MASKS = "videorefer/VideoRefer-700K/masks_short_caption"
VR_VIDEOS = "videorefer/VideoRefer-700K/videos"


def _videorefer(kind: str):
    def run(root: Path, outside: Path, mode: str):
        rows = read_json(root / VR_ROWS)
        video = root / VR_VIDEOS / rows[0]["video"]
        if kind == "truncate":
            cut_half(root / VR_ROWS)
            return "annotation rows cut in half"
        if kind in ("wrong type", "missing key", "traversal"):
            if kind == "wrong type":
                rows[0]["annotation"] = "a string"
            elif kind == "missing key":
                rows[0].pop("video")
            else:
                shutil.copy(video, outside / "video.mp4")
                rows[0]["video"] = relative_to(outside / "video.mp4", root / VR_VIDEOS)
            write_json(root / VR_ROWS, rows)
            return {
                "wrong type": "`annotation` a string",
                "missing key": "row without `video`",
                "traversal": "video ../",
            }[kind]
        if kind in ("missing media", "zero-byte media", "truncated media"):
            {
                "missing media": Path.unlink,
                "zero-byte media": lambda p: p.write_bytes(b""),
                "truncated media": cut_half,
            }[kind](video)
            return f"video: {kind}"
        if kind in ("bad RLE", "wrong-size mask"):
            path = root / VR_MASKS / "0.json"
            data = read_json(path)
            regions = data[0][0]
            h, w = regions[0]["size"]
            regions[0] = bad_rle(regions[0]) if kind == "bad RLE" else other_size_rle(h, w)
            write_json(path, data)
            return "mask file RLE counts cut" if kind == "bad RLE" else "mask file RLE at another size"
        if kind == "non-UTF-8":
            insert_bad_byte(root / VR_ROWS)
            return "annotation rows: a 0xff byte"
        return None

    return run


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "refer_seg",
            ("lisa/refer_seg/refcoco", "lisa/refer_seg/images"),
            ("refcoco", "val"),
            ("refcoco", "train"),
            {k: _refcoco(k) for k in CORRUPTIONS},
        ),
        Family(
            "reason_seg",
            ("lisa/reason_seg",),
            ("reason_seg", "val"),
            ("reason_seg", "train"),
            {k: _reason(k) for k in CORRUPTIONS},
        ),
        Family(
            "mevis",
            ("mevis",),
            ("mevis", "valid_u"),
            ("mevis", "train"),
            _meta_family(
                "mevis",
                {"valid_u": "mevis/valid_u/meta_expressions.json", "train": "mevis/train/meta_expressions.json"},
                {"valid_u": "mevis/valid_u/mask_dict.json", "train": "mevis/train/mask_dict.json"},
                lambda root, split, vid: root / "mevis" / split / "JPEGImages" / vid,
                "video id",
            ),
        ),
        Family(
            "revos",
            ("revos",),
            ("revos", "valid"),
            ("revos", "train"),
            _meta_family(
                "revos",
                {"valid": "revos/meta_expressions_valid_.json", "train": "revos/meta_expressions_train_.json"},
                {"valid": "revos/mask_dict.json", "train": "revos/mask_dict.json"},
                lambda root, split, vid: root / "revos" / vid,
                "frame name",
            ),
        ),
        Family(
            "ref_youtube_vos",
            ("ref_youtube_vos",),
            ("ref_youtube_vos", "train"),  # its valid split has no masks: strict mode reads train strictly
            ("ref_youtube_vos", "train"),
            _running_family(
                {"train": "ref_youtube_vos/meta_expressions/train/meta_expressions.json"},
                {"train": "ref_youtube_vos/mask_dict.pkl"},
                lambda root, split, vid: root / "ref_youtube_vos" / split / "JPEGImages" / vid,
                "code",
            ),
        ),
        Family(
            "ref_davis17",
            ("ref_davis17",),
            ("ref_davis17", "valid"),
            ("ref_davis17", "train"),
            _running_family(
                {
                    "valid": "ref_davis17/meta_expressions/valid/meta_expressions.json",
                    "train": "ref_davis17/meta_expressions/train/meta_expressions.json",
                },
                {"valid": "ref_davis17/valid/mask_dict.pkl", "train": "ref_davis17/train/mask_dict.pkl"},
                lambda root, split, vid: root / "ref_davis17/DAVIS/JPEGImages/480p" / vid,
                "bytes",
            ),
        ),
        Family(
            "ref_sav", ("ref_sav", "sav"), ("ref_sav", "train"), ("ref_sav", "train"), {k: _sav(k) for k in CORRUPTIONS}
        ),
        Family(
            "videorefer",
            ("videorefer/VideoRefer-700K",),
            ("videorefer_short_caption", "train"),
            ("videorefer_short_caption", "train"),
            {k: _videorefer(k) for k in CORRUPTIONS},
        ),
    )
}


# ---------------------------------------------------------------------------------------------------- watching reads
_WATCHED: list[str] = []
_SEEN: list[str] = []
_HOOKED = False


def _audit(event: str, args) -> None:
    if not _WATCHED or event not in ("open", "os.listdir", "os.scandir"):
        return
    path = args[0] if args else None
    if isinstance(path, (str, os.PathLike)):
        text = os.path.abspath(os.fspath(path))
        if any(text == w or text.startswith(w + os.sep) for w in _WATCHED):
            _SEEN.append(text)


def watch_reads() -> None:
    """Install (once per process) an audit hook that records Python-level opens and listings under watched folders,
    and route `VideoReader`'s opens (C decoders make no audit event) through the same record."""
    global _HOOKED
    if _HOOKED:
        return
    sys.addaudithook(_audit)
    from unipixel.data import io

    original = io.VideoReader._open

    def _open(self):
        _audit("open", (self.path,))
        return original(self)

    io.VideoReader._open = _open
    _HOOKED = True


# ---------------------------------------------------------------------------------------------------- running a case
@dataclass
class Result:
    family: str
    corruption: str
    mode: str
    description: str
    outcome: str
    detail: str


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def well_named(err, dataset: str, root: Path) -> str | None:
    """Why a `DataError` does not name enough (None when it names dataset, an in-root file and a locator)."""
    if err.dataset != dataset:
        return f"names dataset {err.dataset!r}, not {dataset!r}"
    if err.path is None:
        return "names no file"
    path = Path(os.path.normpath(os.path.abspath(err.path)))
    if not (path == root or root in path.parents):
        return f"names a file outside the data root: {path}"
    located = str(err.sample_id) not in ("-", "?", "", "None")
    located = located or any(w in err.msg for w in ("line ", "offset ", "row ", "byte "))
    if not located:
        return "names no sample, row or line"
    return None


def clean_lengths(template: Path) -> dict[tuple[str, str], int]:
    from unipixel.data.mixture import build_dataset

    out = {}
    for family in FAMILIES.values():
        for key, split in {family.strict, family.lenient}:
            out[(key, split)] = len(build_dataset(key, root=str(template), split=split))
    return out


def run_case(template: Path, work: Path, family: Family, corruption: str, mode: str, baseline: dict) -> Result | None:
    """Copy the family's toy files to `work/data`, corrupt them, load every sample and classify what happened;
    None when the corruption does not apply to this family and mode."""
    from unipixel.data.errors import DataError
    from unipixel.data.mixture import build_dataset

    root, outside = work / "data", work / "outside"
    if work.exists():
        shutil.rmtree(work)
    outside.mkdir(parents=True)
    for folder in family.folders:
        shutil.copytree(template / folder, root / folder)
    first_image = next(p for p in sorted(template.rglob("*.jpg")))
    shutil.copy(first_image, outside / "image.jpg")
    (outside / "image.json").write_text(json.dumps({"text": ["outside"], "shapes": []}))
    description = family.corrupt[corruption](root, outside, mode)
    if description is None:
        return None
    key, split = family.strict if mode == "strict" else family.lenient
    root = Path(os.path.normpath(os.path.abspath(root)))
    records = _Records()
    data_logger = logging.getLogger("unipixel.data")
    level = data_logger.level
    data_logger.setLevel(logging.WARNING)
    data_logger.addHandler(records)
    data_logger.propagate = False
    _WATCHED[:] = [os.path.abspath(outside)]
    _SEEN.clear()
    outcome, detail = None, ""
    try:
        ds = build_dataset(key, root=str(root), split=split, strict=(mode == "strict"))
        n = len(ds)
        for i in range(n):
            ds[i]
    except DataError as err:
        problem = well_named(err, ds.name if "ds" in locals() else key, root)
        outcome, detail = ("named error", str(err)) if problem is None else ("error without file", f"{problem}: {err}")
    except Exception as err:  # noqa: BLE001 - anything but a DataError names no file
        outcome, detail = "error without file", f"{type(err).__name__}: {err}"
    finally:
        _WATCHED.clear()
        data_logger.removeHandler(records)
        data_logger.setLevel(level)
        data_logger.propagate = True
    if outcome is None:
        counts = ds.counts() if hasattr(ds, "counts") else ds.stats
        logged = [m for m in records.messages if "replaced" in m and "(file: " in m]
        if counts.get("broken", 0) and logged:
            outcome, detail = "logged replacement", f"{counts['broken']} replaced; first: {logged[0]}"
        elif n < baseline[(key, split)]:
            skipped = any(k.startswith("skipped_") for k in counts) or any("left out" in m for m in records.messages)
            outcome = "logged skip" if skipped else "silent drop"
            detail = f"{n} of {baseline[(key, split)]} samples"
        else:
            outcome, detail = "accepted silently", f"all {n} samples loaded"
    if _SEEN:
        outcome, detail = "read outside root", f"opened {_SEEN[0]}"
    return Result(family.name, corruption, mode, description, outcome, detail[:400])


def all_cases() -> list[tuple[str, str, str]]:
    return [(f, c, m) for f in FAMILIES for c in CORRUPTIONS for m in MODES]


def fast_cases() -> list[tuple[str, str, str]]:
    """A representative subset for the default test run: every corruption kind and every family appears, in both
    modes (corruption k goes to family k mod 8, or the next family it applies to)."""
    names = list(FAMILIES)
    applies = {
        "bad RLE": ("refer_seg", "mevis", "revos", "ref_youtube_vos", "ref_davis17", "ref_sav", "videorefer"),
        "wrong-size mask": ("refer_seg", "mevis", "revos", "ref_youtube_vos", "ref_davis17", "ref_sav", "videorefer"),
        "hostile pickle": ("refer_seg", "ref_youtube_vos", "ref_davis17"),
        "traversal": tuple(n for n in names if n != "reason_seg"),  # reason_seg: training only, added below
    }
    out = []
    for k, corruption in enumerate(CORRUPTIONS):
        options = applies.get(corruption, names)
        family = next(names[(k + j) % len(names)] for j in range(len(names)) if names[(k + j) % len(names)] in options)
        out += [(family, corruption, mode) for mode in MODES]
    out += [("ref_davis17", "traversal", "strict"), ("reason_seg", "traversal", "lenient")]
    out += [("reason_seg", "missing media", "strict")]
    out += [("ref_sav", "wrong-size mask", "lenient"), ("ref_davis17", "hostile pickle", "strict")]
    return list(dict.fromkeys(out))


def table(results: list[Result]) -> str:
    """Markdown table: cases per family x outcome class, with a total row."""
    columns = [o for o in OUTCOMES if o != "logged skip" or any(r.outcome == o for r in results)]
    counts = Counter((r.family, r.outcome) for r in results)
    lines = ["| family | cases | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for family in FAMILIES:
        n = sum(v for (f, _), v in counts.items() if f == family)
        lines.append(f"| {family} | {n} | " + " | ".join(str(counts[(family, o)]) for o in columns) + " |")
    total = Counter(r.outcome for r in results)
    lines.append(f"| **all** | {len(results)} | " + " | ".join(str(total[o]) for o in columns) + " |")
    return "\n".join(lines)


def run_all(cases, template: Path, work: Path) -> list[Result]:
    watch_reads()
    baseline = clean_lengths(template)
    results = []
    for family, corruption, mode in cases:
        result = run_case(template, work, FAMILIES[family], corruption, mode, baseline)
        if result is not None:
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    from unipixel.data.toy import SMALL, make_toy_data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="only the default test run's representative subset")
    parser.add_argument("--cases", action="store_true", help="also list every case with its outcome")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "toy"
        make_toy_data(template, seed=0, **SMALL)
        results = run_all(fast_cases() if args.fast else all_cases(), template, Path(tmp) / "case")
    print(table(results))
    bad = [r for r in results if r.outcome in BAD]
    if args.cases or bad:
        print()
        for r in results if args.cases else bad:
            print(f"- {r.family} / {r.corruption} / {r.mode} ({r.description}): {r.outcome}: {r.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
