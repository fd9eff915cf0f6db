"""Referring / reasoning video object segmentation: ReVOS, MeViS, LV-VIS, Ref-YouTube-VOS, Ref-DAVIS17, Ref-SAV (keys
`revos`, `mevis`, `lvvis`, `ref_youtube_vos`, `ref_davis17`, `ref_sav`, `ref_sav_eval`). One sample per expression.

Files (relative to the data root; `{split}` is the dataset split):
    revos/meta_expressions_{split}_.json       {videos: {vid: {frames, expressions: {eid: {exp, obj_id[], anno_id[],
                                               type_id}}}}}; revos/mask_dict.json (anno_id -> per-frame RLE | None),
                                               revos/mask_dict_foreground.json (vid -> masks_rle[] or {masks_rle}),
                                               frames revos/{vid}/{frame}.jpg
    mevis/{train,valid_u,valid}/meta_expressions.json (same schema), mask_dict.json (train, valid_u), frames
                                               mevis/{split}/JPEGImages/{vid}/{frame}.jpg
    lvvis/meta_expressions.json + mask_dict.json (train only), frames lvvis/train/JPEGImages; exp "a_b" -> "a b"
    ref_sav/valid/meta_expressions_valid.json + mask_dict.json, frames ref_sav/valid/videos/{vid}/{frame}.jpg
    ref_youtube_vos/meta_expressions/{split}/meta_expressions.json (train: {exp, obj_id "1"}; valid: {exp} only),
                                               ref_youtube_vos/mask_dict.pkl (train), frames
                                               ref_youtube_vos/{split}/JPEGImages/{vid}/{frame}.jpg
    ref_davis17/meta_expressions/{split}/meta_expressions.json, ref_davis17/{split}/mask_dict.pkl, frames (and palette
                                               PNG annotations) under ref_davis17/DAVIS/{JPEGImages,Annotations}/480p
    ref_sav/Ref-SAV-Min-Ratio-0.3.json         {vid: {video_path, anno_path, objects: {obj_id: {formated}}}}; SA-V
                                               MP4 and *_manual.json (`masklet`: one RLE list per 4th video frame)
                                               under sav/

`mask_dict.pkl` is keyed by a running expression counter (B10). `mask_order="json"` (the default) counts videos and
expressions in the JSON's own order: how the training loader (and the toy generator) number them. `mask_order=
"sorted"` counts videos sorted by name and expression ids sorted as strings ("10" < "2"), the upstream Ref-DAVIS17
evaluator's convention. `mask_source="png"` (Ref-DAVIS17) ignores the pickle and reads the DAVIS palette PNGs through
each expression's `obj_id`, which needs no ordering assumption; use it to check a pickle (the tests do).

Sample conventions (every video-segmentation loader, see `VideoSegDataset`):
- training: `sample_frames` (8) random frames shared by the LLM and SAM 2; one user/assistant turn; `seg_masks`
  `(1, T, H, W)` (multi-object expressions are the union); the object may be absent from every sampled frame, but an
  expression whose target has no pixels anywhere in the video is a broken sample.
- evaluation (split != train): `frames` holds EVERY frame of the video (SAM 2 propagates over all of them), the user
  turn only (fixed evaluation wording), and `meta` holds
    llm_frame_index  positions in `frames` shown to the LLM (`llm_frames` = 16 uniform, first and last included);
                     `PixelProcessor` builds the LLM inputs from these frames and the SAM 2 inputs from all of them;
                     `region.llm_view(sample)` gives a copy holding the LLM frames only
    gt_masks         `(1, T, H, W)` bool on all frames (absent for splits without masks: MeViS valid, R-YTVOS valid)
    frame_names      file stems of `frames` (prediction PNGs go to `{vid}/{exp_id}/{frame}.png`)
    vid, exp_id, query, kind, frame_indices (positions in the video's frame list), path
    revos only: type_id (0 referring, 1 reasoning), foreground_masks `(T, H, W)` (union of the video's objects, for R)
  With `sam_all_frames=False` the evaluation sample holds only the LLM frames (the CLI protocol).
"""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import load_json
from .masks import MaskSizeError, decode_index_masks, decode_region_frames, decode_sav, rle_area, sav_visibility
from .masks import _is_polygon as is_polygon
from .processor import Sample
from .region import evaluation_only
from .safe_pickle import safe_load
from .sampling import uniform_indices
from .templates import check_answer_style, seg_question, styled_seg_answer

logger = logging.getLogger(__name__)


class VideoSegDataset(BaseDataset):
    """Shared clip / conversation / evaluation logic of the video segmentation loaders.

    Subclasses implement `load_index()` (records with `id`, `file`, `query`, `kind`, optional `answer`, `error`) and
    the three hooks `open_clip(record)`, `decode_frames(record, reader, idx)` and `target_masks(record, idx, H, W)`.

    Args:
        llm_frames: frames shown to the LLM at evaluation (uniform over the video, first and last included).
        sam_all_frames: at evaluation, put every frame of the video in the sample (for SAM 2); False keeps only the LLM
            frames.
        eval_only: build evaluation samples whatever the split label (single-split benchmarks such as Ref-SAV eval).
        answer_style: training answers of referring (`kind: query`) samples: `template` (the release's answer pool)
            or `echo` (the expression repeated, `templates.echo_answer`); other kinds always use the pool.
        echo_colour_last: colour words that an `echo` answer moves to its end (`templates.echo_answer`).
        **kwargs: `BaseDataset` arguments.
    """

    data_type = "seg_video"
    allow_empty_masks = True

    def __init__(
        self,
        llm_frames: int = 16,
        sam_all_frames: bool = True,
        eval_only: bool = False,
        answer_style: str = "template",
        echo_colour_last: tuple[str, ...] | list[str] = (),
        **kwargs,
    ):
        self.answer_style = check_answer_style(answer_style, ("template", "echo"))
        self.echo_colour_last = tuple(echo_colour_last)
        strict = kwargs.pop("strict", None)
        super().__init__(strict=strict, **kwargs)
        self.llm_frames, self.sam_all_frames, self.eval_only = llm_frames, sam_all_frames, eval_only
        if eval_only:
            evaluation_only(self, strict)

    # ------------------------------------------------------------------ hooks
    def open_clip(self, record: dict):
        """`(reader, number of clip frames)`; the default reads the record's frame files."""
        reader = self.open_video(record["frames"], record["id"])
        return reader, reader.num_frames

    def decode_frames(self, record: dict, reader, idx: np.ndarray) -> np.ndarray:
        return reader.get(idx)

    def target_masks(self, record: dict, idx: np.ndarray, height: int, width: int) -> np.ndarray | None:
        """`(T, H, W)` bool target on the clip positions `idx`, or None when the split has no masks."""
        raise NotImplementedError

    def check_target(self, record: dict) -> None:
        """Training only: raise `DataError` when the target has no pixels on any frame (cheap, no decoding)."""

    @staticmethod
    def typed(records: list[dict]) -> list[dict]:
        """Set each record's sampler group: `seg_image` for one-frame clips, else `seg_video`."""
        for rec in records:
            frames = rec.get("frames")
            rec["data_type"] = "seg_image" if frames is not None and len(frames) == 1 else "seg_video"
        return records

    # ------------------------------------------------------------------ clip
    def clip_indices(self, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(clip positions to decode, positions among them shown to the LLM)."""
        if self.training:
            idx = self.frame_indices(num_frames, rng)
            return np.asarray(idx, dtype=np.int64), np.arange(len(idx))
        llm = uniform_indices(num_frames, self.llm_frames)
        if self.sam_all_frames:
            return np.arange(num_frames), llm
        return llm, np.arange(len(llm))

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record.get("file"), record["error"])
        if self.training:
            self.check_target(record)
        reader, total = self.open_clip(record)
        idx, llm = self.clip_indices(total, rng)
        frames = self.decode_frames(record, reader, idx)
        height, width = frames.shape[1:3]
        masks = self.target_masks(record, idx, height, width)
        trng = rng if self.training else None
        video = total > 1
        kind = record["kind"]
        question = seg_question(kind, record["query"], video, trng)
        names = record.get("frame_names")
        meta = {
            "path": str(record.get("file")),
            "vid": record.get("vid"),
            "exp_id": record.get("exp_id"),
            "query": record["query"],
            "kind": kind,
            "frame_indices": idx.tolist(),
            "frame_names": [names[i] for i in idx] if names is not None else None,
            **record.get("meta", {}),
        }
        data_type = "seg_video" if video else "seg_image"
        if self.training:
            if masks is None:
                raise DataError(self.name, rid, record.get("file"), f"split {self.split!r} has no masks to train on")
            answer = styled_seg_answer(
                self.answer_style, kind, record["query"], trng, record.get("answer"), self.echo_colour_last
            )
            conv = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            return Sample(rid, self.name, frames, conv, seg_masks=masks[None], data_type=data_type, meta=meta)
        meta["llm_frame_index"] = llm.tolist()
        if masks is not None:
            meta["gt_masks"] = masks[None]
        if record.get("answer") is not None:
            meta["answer"] = record["answer"]
        self.add_eval_meta(record, idx, height, width, meta)
        conv = [{"role": "user", "content": question}]
        return Sample(rid, self.name, frames, conv, data_type=data_type, meta=meta)

    def add_eval_meta(self, record: dict, idx: np.ndarray, height: int, width: int, meta: dict) -> None:
        """Extra evaluation metadata (ReVOS foreground, GroundMoRe action interval, ...)."""

    def video_path_problem(self, folder: Path, vid, frames: list[str]) -> str | None:
        """Why a video id / frame names read from the meta file cannot be used (the folder leaves the data root, a
        frame name is not a plain file name), or None. The video's expressions become broken samples that say so."""
        try:
            self.inside(folder, str(vid), str(vid), self.meta_file, "video id")
            for f in frames:
                self.plain_name(f, str(vid), self.meta_file)
        except DataError as err:
            return err.msg
        return None

    def _mask_entry(self, record: dict, key, missing: str, entry: str) -> list:
        """`self.mask_dict[key]` (subclasses set `mask_dict` and `mask_file`), checked: present (else `missing`) and
        one item per video frame (else "`entry` has N frames, ..."); errors name the sample and the mask file."""
        row = self.mask_dict.get(key)
        if row is None:
            raise DataError(self.name, record["id"], self.mask_file, missing)
        if not isinstance(row, list) or len(row) != record["num_video_frames"]:
            got = len(row) if isinstance(row, list) else type(row).__name__
            msg = f"{entry} has {got} frames, the video lists {record['num_video_frames']}"
            raise DataError(self.name, record["id"], self.mask_file, msg)
        return row


def _split_path(template: str | None, split: str) -> str | None:
    return None if template is None else template.format(split=split)


def _videos(meta, name: str, path: Path) -> dict:
    if not isinstance(meta, dict) or not isinstance(meta.get("videos"), dict):
        raise DataError(name, "-", path, "expected {'videos': {vid: {...}}}")
    return meta["videos"]


# ------------------------------------------------------------------------------------------------ meta_expressions
class MetaExpressionsDataset(VideoSegDataset):
    """`meta_expressions.json` + `mask_dict.json` keyed by `anno_id` (ReVOS, MeViS, LV-VIS, Ref-SAV evaluation).

    Args:
        meta: meta file (`{split}` is replaced by the split).
        mask_dict: mask file, or None.
        masked_splits: splits whose masks exist (MeViS valid and LV-VIS val have none: samples for submission); an
            `eval_only` dataset always reads its mask file.
        frame_dir: folder of `{vid}/{frame}{frame_ext}`.
        kind: `query`, `description`, or `auto` (`sentence` when the expression ends with "?", else `query`: ReVOS).
        underscore_to_space: LV-VIS category names ("traffic_light" -> "traffic light").
        crop_prefixes: in training, videos whose first path component is one of these (ReVOS `TAO`) are cropped to the
            span where the target is annotated (spans shorter than 2 frames are left out).
        foreground: ReVOS `mask_dict_foreground.json`, read at evaluation into `meta["foreground_masks"]`.
        **kwargs: `VideoSegDataset` arguments.
    """

    key = "mevis"

    def __init__(
        self,
        meta: str = "mevis/{split}/meta_expressions.json",
        mask_dict: str | None = "mevis/{split}/mask_dict.json",
        masked_splits: tuple[str, ...] | list[str] = ("train", "valid_u"),
        frame_dir: str = "mevis/{split}/JPEGImages",
        frame_ext: str = ".jpg",
        kind: str = "query",
        underscore_to_space: bool = False,
        crop_prefixes: tuple[str, ...] | list[str] = (),
        foreground: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in ("query", "description", "sentence", "auto"):
            raise ValueError(f"kind must be query, description, sentence or auto, got {kind!r}")
        self.meta_file = self.path(_split_path(meta, self.split))
        has_masks = mask_dict is not None and (self.eval_only or self.split in tuple(masked_splits))
        self.mask_file = self.path(_split_path(mask_dict, self.split)) if has_masks else None
        self.frame_dir = self.path(_split_path(frame_dir, self.split))
        self.frame_ext, self.kind = frame_ext, kind
        self.underscore_to_space = underscore_to_space
        self.crop_prefixes = tuple(crop_prefixes)
        self.foreground_file = self.path(foreground) if foreground and not self.training else None
        self.mask_dict: dict | None = None
        self.foreground: dict | None = None

    def load_index(self) -> list[dict]:
        videos = _videos(load_json(self.meta_file, self.name), self.name, self.meta_file)
        if self.mask_file is not None:
            self.mask_dict = load_json(self.mask_file, self.name)
            if not isinstance(self.mask_dict, dict):
                raise DataError(self.name, "-", self.mask_file, "expected {anno_id: [per-frame RLE | None]}")
        if self.foreground_file is not None:
            self.foreground = load_json(self.foreground_file, self.name)
        records, skipped = [], {"no_object": 0, "short_span": 0, "no_mask": 0}
        self._spans: dict = {}  # (vid, start, end) -> (frame paths, frame names), shared by the video's expressions
        for vid, video in videos.items():
            frames = video.get("frames") if isinstance(video, dict) else None
            expressions = video.get("expressions") if isinstance(video, dict) else None
            rec = {"id": str(vid), "file": self.meta_file, "kind": "query", "query": ""}
            if not isinstance(frames, list) or not isinstance(expressions, dict):
                records.append({**rec, "error": "malformed video entry: needs `frames` list and `expressions`"})
                continue
            frames = [str(f) for f in frames]
            problem = self.video_path_problem(self.frame_dir, vid, frames)
            if problem is not None:  # each expression stays a (broken) sample: the split keeps its size
                records += [{**rec, "id": f"{vid}/{eid}", "error": problem} for eid in expressions]
                continue
            for eid, exp in expressions.items():
                rec = self._record(vid, str(eid), exp, frames, skipped)
                if rec is not None:
                    records.append(rec)
        for why, n in skipped.items():
            if n:
                logger.info("%s/%s: %d expressions left out (%s)", self.name, self.split, n, why)
                self.stats[f"skipped_{why}"] += n
        self._spans = {}
        return self.typed(records)

    def _record(self, vid: str, eid: str, exp, frames: list[str], skipped: dict) -> dict | None:
        rid = f"{vid}/{eid}"
        rec = {"id": rid, "file": self.meta_file, "vid": vid, "exp_id": eid, "kind": "query", "query": ""}
        if not isinstance(exp, dict) or not isinstance(exp.get("exp"), str):
            return {**rec, "error": "malformed expression: needs an `exp` string"}
        query = exp["exp"].strip()
        if self.underscore_to_space:
            query = query.replace("_", " ")
        kind = self.kind
        if kind == "auto":
            kind = "sentence" if query.endswith("?") else "query"
        anno_ids = exp.get("anno_id", [])
        obj_ids = exp.get("obj_id", [])
        if not isinstance(anno_ids, list):
            anno_ids = [anno_ids]
        if not all(isinstance(a, (int, str)) and not isinstance(a, bool) for a in anno_ids):
            return {**rec, "error": f"malformed expression: `anno_id` must hold ids, got {anno_ids!r}"[:200]}
        rec.update(query=query, kind=kind, anno_ids=[str(a) for a in anno_ids], obj_ids=obj_ids)
        if "type_id" in exp:
            rec["meta"] = {"type_id": exp["type_id"]}
        if self.training and not anno_ids:
            skipped["no_object"] += 1  # no-object expressions are evaluation-only (ReVOS)
            return None
        if isinstance(obj_ids, list) and len(obj_ids) != len(anno_ids):
            return {**rec, "error": f"obj_id {obj_ids} and anno_id {anno_ids} differ in length"}
        start, end = 0, len(frames)
        if self.training and self.mask_dict is not None:
            rows = [self.mask_dict.get(a) for a in rec["anno_ids"]]
            if all(isinstance(r, list) for r in rows) and not any(as_regions(e) for r in rows for e in r):
                skipped["no_mask"] += 1  # every frame None: nothing to learn (missing ids fail loudly in build)
                return None
        if self.training and self.crop_prefixes and vid.split("/")[0] in self.crop_prefixes:
            span = self._annotated_span(rec["anno_ids"])
            if span is None or span[1] - span[0] < 2:
                skipped["short_span"] += 1
                return None
            start, end = span
        key = (vid, start, end)
        if key not in self._spans:
            span = frames[start:end]
            self._spans[key] = ([self.frame_dir / vid / f"{f}{self.frame_ext}" for f in span], span)
        paths, span = self._spans[key]
        rec.update(frames=paths, frame_names=span, offset=start, num_video_frames=len(frames))
        return rec

    def _annotated_span(self, anno_ids: list[str]) -> tuple[int, int] | None:
        """[first, last + 1) frame where any of the objects has an RLE (TAO crops)."""
        rows = [self.mask_dict.get(a) for a in anno_ids] if self.mask_dict is not None else []
        present = [t for row in rows if isinstance(row, list) for t, r in enumerate(row) if as_regions(r)]
        return (min(present), max(present) + 1) if present else None

    def _rows(self, record: dict) -> list[list] | None:
        if self.mask_dict is None:
            return None
        return [
            self._mask_entry(
                record,
                a,
                f"anno_id {a} has no entry in the mask file (object id without mask)",
                f"anno_id {a}: mask entry",
            )
            for a in record["anno_ids"]
        ]

    def check_target(self, record: dict) -> None:
        rows = self._rows(record)
        if rows is None:
            return
        off, n = record["offset"], len(record["frames"])
        try:
            present = [has_pixels(row[off : off + n]) for row in rows]
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(self.name, record["id"], self.mask_file, f"anno_ids {record['anno_ids']}: {exc}") from exc
        if not any(present):
            msg = f"anno_ids {record['anno_ids']} have no mask on any frame"
            raise DataError(self.name, record["id"], self.mask_file, msg)

    def target_masks(self, record, idx, height, width):
        rows = self._rows(record)
        if rows is None:
            return None
        off = record["offset"]
        out = np.zeros((len(idx), height, width), dtype=bool)
        for anno_id, row in zip(record["anno_ids"], rows):  # one object at a time, so a fault names its anno_id
            try:
                out |= decode_region_frames([as_regions(row[off + int(t)]) for t in idx], height, width)
            except Exception as exc:  # noqa: BLE001
                where = mask_fault(exc, record, idx)
                raise DataError(self.name, record["id"], self.mask_file, f"anno_id {anno_id}{where}: {exc}") from exc
        return out

    def add_eval_meta(self, record, idx, height, width, meta):
        if self.foreground is None:
            return
        entry = self.foreground.get(record["vid"])
        if isinstance(entry, dict):
            entry = entry.get("masks_rle")
        if entry is None:
            return
        if len(entry) != record["num_video_frames"]:
            msg = f"foreground entry has {len(entry)} frames, the video lists {record['num_video_frames']}"
            raise DataError(self.name, record["id"], self.foreground_file, msg)
        off = record["offset"]
        try:
            regions = [as_regions(entry[off + int(t)]) for t in idx]
            meta["foreground_masks"] = decode_region_frames(regions, height, width)
        except Exception as exc:  # noqa: BLE001
            where = mask_fault(exc, record, idx)
            msg = f"foreground of video {record['vid']}{where}: {exc}"
            raise DataError(self.name, record["id"], self.foreground_file, msg) from exc


def mask_fault(exc: Exception, record: dict, idx) -> str:
    """`", frame <name>"` for a `MaskSizeError` on clip position `exc.position` (empty for other errors)."""
    names = record.get("frame_names")
    if isinstance(exc, MaskSizeError) and names is not None and exc.position < len(idx):
        return f", frame {names[int(idx[exc.position])]}"
    return ""


def as_regions(entry) -> list:
    """One mask-dict entry of one object on one frame (an RLE / polygon region, a list of regions, or None) as a list
    of regions (empty when absent)."""
    if entry is None:
        return []
    if isinstance(entry, dict) or is_polygon(entry):
        return [entry]
    if isinstance(entry, list):
        return [r for r in entry if r is not None]
    return [entry]  # unrecognised: the decoder names it


def has_pixels(entries) -> bool:
    """Whether any region of the entries covers a pixel (RLE areas are read without decoding; polygons count)."""
    for entry in entries:
        for region in as_regions(entry):
            if not isinstance(region, dict) or rle_area(region) > 0:
                return True
    return False


# ------------------------------------------------------------------------------------------------ running index
class RunningIndexDataset(VideoSegDataset):
    """Codalab-style `meta_expressions.json` + `mask_dict.pkl` keyed by a running expression index (Ref-YouTube-VOS,
    Ref-DAVIS17).

    Args:
        meta: meta file (`{split}` replaced).
        mask_dict: the pickle, or None.
        masked_splits: splits with masks (Ref-YouTube-VOS: train; its valid split is server-evaluated).
        frame_dir: folder of `{vid}/{frame}.jpg`.
        mask_order: `json` (running index in the JSON's order: training convention, default) or `sorted` (videos
            sorted by name, expression ids sorted as strings: the upstream Ref-DAVIS17 evaluator's convention; B10).
        mask_source: `pkl` or `png` (palette PNGs `{annotation_dir}/{vid}/{frame}.png` read through `obj_id`).
        annotation_dir: PNG folder for `mask_source="png"`.
        **kwargs: `VideoSegDataset` arguments.
    """

    key = "ref_youtube_vos"

    def __init__(
        self,
        meta: str = "ref_youtube_vos/meta_expressions/{split}/meta_expressions.json",
        mask_dict: str | None = "ref_youtube_vos/mask_dict.pkl",
        masked_splits: tuple[str, ...] | list[str] = ("train",),
        frame_dir: str = "ref_youtube_vos/{split}/JPEGImages",
        mask_order: str = "json",
        mask_source: str = "pkl",
        annotation_dir: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mask_order not in ("json", "sorted"):
            raise ValueError(f"mask_order must be json or sorted, got {mask_order!r}")
        if mask_source not in ("pkl", "png"):
            raise ValueError(f"mask_source must be pkl or png, got {mask_source!r}")
        if mask_source == "png" and annotation_dir is None:
            raise ValueError("mask_source='png' needs annotation_dir")
        self.meta_file = self.path(_split_path(meta, self.split))
        has_masks = self.split in tuple(masked_splits)
        self.mask_source = mask_source if has_masks else None
        self.mask_file = self.path(_split_path(mask_dict, self.split)) if has_masks and mask_dict else None
        if self.mask_source == "pkl" and self.mask_file is None:
            self.mask_source = None
        self.annotation_dir = self.path(annotation_dir) if annotation_dir else None
        self.frame_dir = self.path(_split_path(frame_dir, self.split))
        self.mask_order = mask_order
        self.mask_dict: dict | None = None

    def load_index(self) -> list[dict]:
        videos = _videos(load_json(self.meta_file, self.name), self.name, self.meta_file)
        records, keys = [], []
        for vid, video in videos.items():
            frames = video.get("frames") if isinstance(video, dict) else None
            expressions = video.get("expressions") if isinstance(video, dict) else None
            if not isinstance(frames, list) or not isinstance(expressions, dict):
                raise DataError(
                    self.name, str(vid), self.meta_file, "malformed video entry (needs frames, expressions)"
                )
            frames = [str(f) for f in frames]
            problem = self.video_path_problem(self.frame_dir, vid, frames)
            if problem is None and self.annotation_dir is not None:
                problem = self.video_path_problem(self.annotation_dir, vid, [])
            paths = [self.frame_dir / vid / f"{f}.jpg" for f in frames]  # shared by the video's expressions
            for eid, exp in expressions.items():
                rid = f"{vid}/{eid}"
                rec = {"id": rid, "file": self.meta_file, "vid": vid, "exp_id": str(eid), "kind": "query"}
                rec.update(frames=paths, frame_names=frames)
                rec.update(num_video_frames=len(frames))
                if problem is not None:
                    rec.update(query="", error=problem)
                elif not isinstance(exp, dict) or not isinstance(exp.get("exp"), str):
                    rec.update(query="", error="malformed expression: needs an `exp` string")
                else:
                    rec.update(query=exp["exp"].strip(), obj_id=exp.get("obj_id"))
                records.append(rec)
                keys.append((str(vid), str(eid)))
        if self.mask_source == "pkl":
            self._load_pickle(len(records))
            order = sorted(range(len(keys)), key=lambda i: keys[i]) if self.mask_order == "sorted" else range(len(keys))
            for running, i in enumerate(order):
                records[i]["mask_key"] = str(running)
            if self.training:  # expressions whose entry is None on every frame (a few in Ref-DAVIS17): left out
                keep = [r for r in records if "error" in r or not self._all_none(r["mask_key"])]
                if len(keep) < len(records):
                    self.stats["skipped_no_mask"] += len(records) - len(keep)
                    logger.info("%s: %d expressions without any mask left out", self.name, len(records) - len(keep))
                records = keep
        return self.typed(records)

    def _all_none(self, key: str) -> bool:
        """Whether a pickle entry is a list of per-frame entries that are all None (anything else is kept, and
        a malformed entry fails, naming itself, when its sample is built)."""
        row = self.mask_dict.get(key)
        return isinstance(row, list) and all(e is None or e == [] for e in row)

    def _load_pickle(self, num_expressions: int) -> None:
        try:
            data = safe_load(self.mask_file)
        except FileNotFoundError:
            raise DataError(self.name, "-", self.mask_file, "mask pickle not found") from None
        except pickle.UnpicklingError as exc:
            raise DataError(self.name, "-", self.mask_file, f"cannot unpickle masks: {exc}") from exc
        if not isinstance(data, dict):
            raise DataError(self.name, "-", self.mask_file, "expected {running index: [per-frame RLE | None]}")
        self.mask_dict = {str(k): v for k, v in data.items()}
        if len(self.mask_dict) != num_expressions:
            msg = (
                f"the pickle holds {len(self.mask_dict)} entries but the meta lists {num_expressions} expressions; "
                "the running index cannot be matched"
            )
            raise DataError(self.name, "-", self.mask_file, msg)

    def _row(self, record: dict) -> list:
        key = record["mask_key"]
        return self._mask_entry(
            record,
            key,
            f"running index {key} has no entry in the mask pickle (object without mask)",
            f"mask entry {key}",
        )

    def _png_ids(self, record: dict) -> list[int]:
        obj = record.get("obj_id")
        if obj is None:
            raise DataError(self.name, record["id"], self.meta_file, "expression has no obj_id to read PNG masks with")
        ids = obj if isinstance(obj, list) else str(obj).split(",")
        return [int(i) for i in ids]

    def check_target(self, record: dict) -> None:
        if self.mask_source != "pkl":
            return
        try:
            present = has_pixels(self._row(record))
        except (ValueError, TypeError, KeyError) as exc:
            msg = f"mask entry {record['mask_key']}: {exc}"
            raise DataError(self.name, record["id"], self.mask_file, msg) from exc
        if not present:
            msg = f"running index {record['mask_key']} has no mask on any frame"
            raise DataError(self.name, record["id"], self.mask_file, msg)

    def target_masks(self, record, idx, height, width):
        if self.mask_source is None:
            return None
        if self.mask_source == "png":
            names = [record["frame_names"][int(t)] for t in idx]
            paths = [self.annotation_dir / record["vid"] / f"{n}.png" for n in names]
            masks = decode_index_masks(paths, [self._png_ids(record)], height, width, self.name, record["id"])
            return masks[0]
        row = self._row(record)
        try:
            return decode_region_frames([as_regions(row[int(t)]) for t in idx], height, width)
        except Exception as exc:  # noqa: BLE001
            where = mask_fault(exc, record, idx)
            msg = f"mask entry {record['mask_key']}{where}: {exc}"
            raise DataError(self.name, record["id"], self.mask_file, msg) from exc


# ------------------------------------------------------------------------------------------------ Ref-SAV (SA-V)
class RefSAVDataset(VideoSegDataset):
    """Ref-SAV training data: long descriptions of SA-V objects, masks from the SA-V manual annotations.

    SA-V annotates every `stride`-th (4th) frame of its 24 fps videos: `masklet[i][k]` is object k's RLE on video frame
    `stride * i` (a zero-area RLE when absent). The clip is drawn from the annotated frames only.

    Args:
        meta: the Ref-SAV index (`{vid: {video_path, anno_path, objects: {obj_id: {formated}}}}`).
        sav_dir: folder replacing the first component of `video_path` / `anno_path` ("sav/sav_train/..." ->
            "{sav_dir}/sav_train/...").
        stride: video frames per annotated frame.
    """

    key = "ref_sav"

    def __init__(self, meta: str = "ref_sav/Ref-SAV-Min-Ratio-0.3.json", sav_dir: str = "sav", stride: int = 4, **kw):
        super().__init__(**kw)
        self.meta_file = self.path(meta)
        self.sav_dir = self.path(sav_dir)
        self.stride = stride
        self._cache: tuple | None = None  # (annotation path, masklet, object position) of the last sample

    def _local(self, path, rid, what: str) -> Path:
        """`sav/sav_train/x.mp4` -> `{sav_dir}/sav_train/x.mp4`, which must stay inside the data root."""
        if not isinstance(path, str):
            raise DataError(self.name, rid, self.meta_file, f"`{what}` must be a path string, got {path!r}")
        parts = path.split("/", 1)
        return self.inside(self.sav_dir, parts[1] if len(parts) == 2 else parts[0], rid, self.meta_file, what)

    def load_index(self) -> list[dict]:
        meta = load_json(self.meta_file, self.name)
        if not isinstance(meta, dict):
            raise DataError(self.name, "-", self.meta_file, "expected {video id: {video_path, anno_path, objects}}")
        records = []
        for vid, entry in meta.items():
            ok = isinstance(entry, dict) and {"video_path", "anno_path", "objects"} <= entry.keys()
            if not ok or not isinstance(entry["objects"], dict):
                records.append(
                    {"id": str(vid), "file": self.meta_file, "kind": "description", "query": "", "error": "malformed"}
                )
                continue
            for oid, obj in entry["objects"].items():
                rid = f"{vid}/{oid}"
                rec = {"id": rid, "file": self.meta_file, "vid": vid, "exp_id": str(oid), "kind": "description"}
                try:
                    rec.update(video=self._local(entry["video_path"], rid, "video_path"), obj_id=oid)
                    rec.update(anno=self._local(entry["anno_path"], rid, "anno_path"))
                except DataError as err:
                    records.append({**rec, "query": "", "error": err.msg})
                    continue
                text = obj.get("formated") if isinstance(obj, dict) else None
                if not isinstance(text, str) or not text.strip():
                    rec.update(query="", error="object without a `formated` description")
                else:
                    rec["query"] = text.strip()
                records.append(rec)
        return records

    def _masklet(self, record: dict) -> tuple[list, int]:
        if self._cache is not None and self._cache[0] == (record["anno"], record["obj_id"]):
            return self._cache[1:]
        anno = load_json(record["anno"], self.name, record["id"])
        masklet = anno.get("masklet") if isinstance(anno, dict) else None
        if not isinstance(masklet, list) or not masklet:
            raise DataError(self.name, record["id"], record["anno"], "no `masklet` list")
        ids = anno.get("masklet_id")
        try:
            obj = int(record["obj_id"])
            k = [int(i) for i in ids].index(obj) if isinstance(ids, list) else obj
        except ValueError:
            raise DataError(
                self.name, record["id"], record["anno"], f"object {record['obj_id']} not in masklet_id"
            ) from None
        if any(not isinstance(f, list) or k >= len(f) for f in masklet):
            raise DataError(self.name, record["id"], record["anno"], f"object {obj} missing from some masklet frames")
        self._cache = ((record["anno"], record["obj_id"]), masklet, k)
        return masklet, k

    def check_target(self, record):
        masklet, k = self._masklet(record)
        try:
            visible = sav_visibility(masklet, k)
        except ValueError as exc:
            raise DataError(self.name, record["id"], record["anno"], f"object {record['obj_id']}: {exc}") from exc
        if not visible.any():
            msg = f"object {record['obj_id']} has a zero-area mask on every annotated frame"
            raise DataError(self.name, record["id"], record["anno"], msg)

    def open_clip(self, record):
        reader = self.open_video(record["video"], record["id"])
        masklet, k = self._masklet(record)
        annotated = math.ceil(reader.num_frames / self.stride)
        if len(masklet) > annotated:
            msg = f"{len(masklet)} annotated frames but the video has {reader.num_frames} frames (stride {self.stride})"
            raise DataError(self.name, record["id"], record["anno"], msg)
        return reader, len(masklet)

    def decode_frames(self, record, reader, idx):
        return reader.get(idx * self.stride)

    def target_masks(self, record, idx, height, width):
        masklet, k = self._masklet(record)
        try:
            return decode_sav(masklet, [k], idx.tolist(), height, width)[0]
        except Exception as exc:  # noqa: BLE001
            msg = f"object {record['obj_id']}: cannot decode masklet: {exc}"
            raise DataError(self.name, record["id"], record["anno"], msg) from exc
