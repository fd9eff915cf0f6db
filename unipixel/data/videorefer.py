"""VideoRefer-700K and VideoRefer-Bench: region understanding with `<|mem|>`, referring with `<|ref|>`, memory tasks,
the two benchmarks and the PixelQA sample builder (keys `videorefer_short_caption`, `videorefer_detailed_caption`,
`videorefer_qa`, `videorefer_short_caption_ref`, `videorefer_qa_mem`, `videorefer_bench_q`, `videorefer_bench_d`,
`pixelqa`).

Files (relative to the data root):
    videorefer/VideoRefer-700K/videorefer-{short-caption-500k,detailed-caption-125k,qa-75k}-wo-masks.json
        [{video, conversations: [{from: human, value: "<video>\\n..."}, {from: gpt, value}], annotation: [per object
        {frame number (str): {}}], id, ratio}, ...]
    videorefer/VideoRefer-700K/masks_{short_caption,detailed_caption,qa}/{row index}.json
        per object, per annotated frame (the sorted union of the row's annotated frames), a list of RLEs ([None] where
        the object is not annotated); a per-object layout (one entry per frame of that object) is accepted too
    videorefer/VideoRefer-700K/videos/{video}                    MP4
    videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json          [{id, video (frame folder), Question, type, options
        ["(A) ..."], Answer "(A) ...", frame_idx "57" (a str), annotation: [per object {"57": {segmentation: RLE}}]}]
    videorefer/VideoRefer-Bench/VideoRefer-Bench-D.json          [{id, video (MP4), caption, frame_idx, annotation}]
    videorefer/VideoRefer-Bench/videos/{video}, videos/Panda-70M-part/{video}

Objects are written `<region>` (one object: becomes `[k]`, k random in 0-15 in training, 0 at evaluation) or
`<objectN><region>` with later mentions `<objectN>` (become `[N]`; a multi-object QA's first line "There are 2 objects
in the video: <object1><region> and <object0><region>." is replaced by the memory prefix, whose lines follow the
annotation order).

Training (split `train`):
- region keys: frames drawn from the annotated frames only (`sample_frames`, random); single-frame mode (all short
  captions, and rows with one annotated frame): frames from the whole video with the annotated frame forced in and the
  mask on that frame only. `refer_masks` `(O, T, H, W)`; the user turn is the memory prefix + question. Rows with 0 or
  more than 5 objects, or `ratio < 0.3`, are left out.
- `videorefer_short_caption_ref` (stage 1): single-frame mode, `<region>` -> `<|ref|>`, one point or box prompt on the
  annotated frame (half the rows points, by seed); no masks.
- `videorefer_qa_mem` (docs/design.md §4.6): "{question}\\nOptions:\\n(X) {answer}" with objects "[ID] <|ref|>", wrapped
  in a memory template; answer "[ID] <|seg|> ..."; `seg_masks` `(O, T, H, W)` over the sampled annotated frames. Rows
  with one annotated frame are left out.

Evaluation (`videorefer_bench_q`, `videorefer_bench_d`, `pixelqa`; split `test`): 16 frames uniform over the annotated
frames with the prompt frame `frame_idx` forced in; the same frames for the LLM and SAM 2 (`meta["llm_frame_index"]` =
all). `mask_mode="single"` keeps the GT mask on `frame_idx` only, `multi` (default) all annotated masks. `meta` holds
answer (letter), options, task (question type), caption (D), frame_indices (video frame numbers of the clip),
prompt_frame (its position in the clip), object_ids, gt_masks `(O, T, H, W)` (all annotated masks on the clip),
pixel_budget `(min, max)` merged tokens per frame for the LLM (Q: 100-144, D and PixelQA: 128-256; multiply the max by
16 // T), question (the text after the memory prefix). Q ends with an open assistant turn pre-seeded "The best option
is (" (`"open": True`): the model continues it with the letter.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import load_json
from .masks import decode_region_frames
from .processor import Sample
from .region import evaluation_only, fake_option, memory_text, prompt_kinds, prompt_rows
from .rvos import as_regions
from .sampling import sample_annotated, sample_single_frame_mode
from .templates import (
    BEST_OPTION_PRESEED,
    BEST_OPTION_SUFFIX,
    MEMORY_PROMPTS,
    REF,
    SEG,
    VIDEOREFER_BENCH_D_PROMPT,
    choose,
    memory_prefix,
)

logger = logging.getLogger(__name__)

OBJECT_REGION = re.compile(r"<object(\d+)><region>")
OBJECT = re.compile(r"<object(\d+)>")
LETTERED = re.compile(r"^\(([A-Z])\)")


def strip_video_tag(text: str) -> str:
    """Remove the leading "<video>\\n" (or trailing "\\n<video>") of a VideoRefer question."""
    text = text.strip()
    if text.startswith("<video>"):
        text = text[len("<video>") :].strip()
    elif text.endswith("<video>"):
        text = text[: -len("<video>")].strip()
    if "<video>" in text:
        raise ValueError("a <video> tag in the middle of the question")
    return text


def _bracket(m: re.Match) -> str:
    return f"[{int(m.group(1))}]"


def region_ids(
    question: str, answer: str, num_objects: int, k: int, drop_intro: bool = False
) -> tuple[list[int], str, str]:
    """Object ids in display order and the question / answer with objects written "[ID]".

    `<objectN><region>` tags give the ids; with `drop_intro`, a first line holding them (VideoRefer-QA's "There are 2
    objects in the video: ...") is an introduction the memory prefix replaces, and is dropped. A bare `<region>` (one
    object) becomes `[k]`.
    """
    tags = OBJECT_REGION.findall(question)
    if tags:
        first, _, rest = question.partition("\n")
        if drop_intro and rest and OBJECT_REGION.search(first):
            tags, question = OBJECT_REGION.findall(first), rest
        ids = [int(t) for t in tags]
        question = OBJECT.sub(_bracket, OBJECT_REGION.sub(_bracket, question))
        answer = OBJECT.sub(_bracket, answer)
    else:
        if question.count("<region>") != 1:
            raise ValueError(f"expected one <region> or <objectN><region> tags, got {question.count('<region>')}")
        ids, question = [k], question.replace("<region>", f"[{k}]")
    if len(ids) != num_objects or len(set(ids)) != len(ids):
        raise ValueError(f"{len(ids)} object tags {ids} for {num_objects} annotated objects")
    if "<region>" in question or "<object" in question:
        raise ValueError("object tags left in the question after rewriting")
    return ids, question, answer


def ref_ids(question: str, num_objects: int, k: int) -> tuple[list[int], str]:
    """Memory-task question: each object's tag becomes "[ID] <|ref|>" (later mentions "[ID]")."""
    tags = OBJECT_REGION.findall(question)
    if tags:
        ids = [int(t) for t in tags]
        question = OBJECT_REGION.sub(lambda m: f"[{int(m.group(1))}] {REF}", question)
        question = OBJECT.sub(_bracket, question)
    else:
        if question.count("<region>") != 1:
            raise ValueError(f"expected one <region> or <objectN><region> tags, got {question.count('<region>')}")
        ids, question = [k], question.replace("<region>", f"[{k}] {REF}")
    if len(ids) != num_objects or len(set(ids)) != len(ids):
        raise ValueError(f"{len(ids)} object tags {ids} for {num_objects} annotated objects")
    if "<region>" in question:
        raise ValueError("<region> tags left in the question after rewriting")
    return ids, question


def check_numbered_frames(reader, dataset: str, sample_id) -> None:
    """A frame folder whose files are numbered ("00000.jpg", ...) must not skip a number: annotation keys are positions
    in the folder, so a missing file would silently shift every later frame."""
    paths = reader.frame_paths
    if not paths or not all(p.stem.isdigit() for p in paths):
        return
    numbers = [int(p.stem) for p in paths]
    expected = range(numbers[0], numbers[0] + len(numbers))
    if numbers != list(expected):
        gap = next(n for n, m in zip(expected, numbers) if n != m)
        width = len(paths[0].stem)
        missing = paths[0].with_name(f"{gap:0{width}d}{paths[0].suffix}")
        raise DataError(dataset, sample_id, missing, "image file not found (a gap in the numbered frame folder)")


def seg_answer_for(ids) -> str:
    return " ".join(f"[{i}] {SEG}" for i in ids)


def annotated_frames(annotation) -> tuple[list[list[int]], list[int]]:
    """Per-object sorted frame numbers and their sorted union, from `annotation` (a list of per-object dicts keyed by
    frame number strings)."""
    if not isinstance(annotation, list) or not all(isinstance(o, dict) for o in annotation):
        raise ValueError("`annotation` must be a list of per-object {frame: ...} dicts")
    per_object = [sorted(int(k) for k in o) for o in annotation]
    if any(not f for f in per_object):
        raise ValueError("an object has no annotated frame")
    return per_object, sorted({f for frames in per_object for f in frames})


# ------------------------------------------------------------------------------------------------ VideoRefer-700K
class VideoReferDataset(BaseDataset):
    """VideoRefer-700K rows as region (`<|mem|>`) samples; subclasses turn them into referring or memory samples.

    Args:
        annotation: the row file (`videorefer-*-wo-masks.json`).
        mask_dir: folder of `{row index}.json` mask files.
        video_dir: folder joined with a row's `video`.
        single_frame: `always` (short captions), or `auto` (single-frame mode only for rows with one annotated frame).
        min_ratio: rows with a smaller `ratio` (share of frames showing the objects) are left out (None: keep all).
        max_objects: rows with more objects are left out.
        min_annotated_frames: rows with fewer annotated frames are left out (2 for the memory task).
        **kwargs: `BaseDataset` arguments.
    """

    key = "videorefer_detailed_caption"
    data_type = "region_video"

    def __init__(
        self,
        annotation: str = "videorefer/VideoRefer-700K/videorefer-detailed-caption-125k-wo-masks.json",
        mask_dir: str = "videorefer/VideoRefer-700K/masks_detailed_caption",
        video_dir: str = "videorefer/VideoRefer-700K/videos",
        single_frame: str = "auto",
        min_ratio: float | None = 0.3,
        max_objects: int = 5,
        min_annotated_frames: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if single_frame not in ("always", "auto"):
            raise ValueError(f"single_frame must be always or auto, got {single_frame!r}")
        self.annotation_file = self.path(annotation)
        self.mask_dir, self.video_dir = self.path(mask_dir), self.path(video_dir)
        self.single_frame, self.min_ratio = single_frame, min_ratio
        self.max_objects, self.min_annotated_frames = max_objects, min_annotated_frames

    # ------------------------------------------------------------------ index
    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        records, skipped = [], {"objects": 0, "ratio": 0, "frames": 0}
        for i, row in enumerate(rows):
            rec = self._record(i, row, skipped)
            if rec is not None:
                records.append(rec)
        for why, n in skipped.items():
            if n:
                self.stats[f"skipped_{why}"] += n
        logger.info("%s: %d rows kept of %d (left out: %s)", self.name, len(records), len(rows), skipped)
        self.assign_types(records)
        return records

    def assign_types(self, records: list[dict]) -> None:
        """Per-record data type (referring / memory subclasses assign point or box here)."""

    def _record(self, i: int, row, skipped: dict) -> dict | None:
        rid = str(row.get("id", i)) if isinstance(row, dict) else str(i)
        rec = {"id": rid, "row": i, "file": self.annotation_file, "mask_file": self.mask_dir / f"{i}.json"}
        try:
            if not isinstance(row, dict):
                raise ValueError(f"expected an object, got {type(row).__name__}")
            conv = row.get("conversations")
            if not isinstance(conv, list) or len(conv) != 2 or not all(isinstance(t, dict) for t in conv):
                raise ValueError("`conversations` must hold one human and one gpt turn")
            if (conv[0].get("from"), conv[1].get("from")) != ("human", "gpt"):
                raise ValueError("`conversations` must hold one human and one gpt turn")
            question, answer = strip_video_tag(str(conv[0].get("value", ""))), str(conv[1].get("value", "")).strip()
            per_object, union = annotated_frames(row.get("annotation"))
            if question.count("<region>") != len(per_object):
                raise ValueError(f"{question.count('<region>')} <region> tags but {len(per_object)} annotated objects")
            if not isinstance(row.get("video"), str):
                raise ValueError("no `video` path")
        except (ValueError, TypeError, AttributeError) as exc:
            return {**rec, "error": f"malformed row {i}: {exc}"}
        if not 1 <= len(per_object) <= self.max_objects:
            skipped["objects"] += 1
            return None
        if self.min_ratio is not None and float(row.get("ratio", 1.0)) < self.min_ratio:
            skipped["ratio"] += 1
            return None
        if len(union) < self.min_annotated_frames:
            skipped["frames"] += 1
            return None
        try:
            video = self.inside(self.video_dir, row["video"], rid, self.annotation_file, "video")
        except DataError as err:
            return {**rec, "error": err.msg}
        rec.update(video=video, question=question, answer=answer)
        rec.update(obj_frames=per_object, all_frames=union)
        return rec

    # ------------------------------------------------------------------ clip and masks
    def clip(self, record: dict, rng: np.random.Generator):
        """`(frames (T, H, W, 3), masks (O, T, H, W), clip frame numbers, single-frame mode)`."""
        rid = record["id"]
        reader = self.open_video(record["video"], rid)
        annotated = record["all_frames"]
        single = self.single_frame == "always" or len(annotated) == 1
        if single:
            keep = annotated[0] if len(annotated) == 1 else int(annotated[int(rng.integers(len(annotated)))])
            if keep >= reader.num_frames:
                msg = f"annotated frame {keep} is past the video's {reader.num_frames} frames"
                raise DataError(self.name, rid, record["video"], msg)
            clip = sample_single_frame_mode(reader.num_frames, keep, self.sample_frames, self.sample_type, rng)
        else:
            if annotated[-1] >= reader.num_frames:
                msg = f"annotated frame {annotated[-1]} is past the video's {reader.num_frames} frames"
                raise DataError(self.name, rid, record["video"], msg)
            clip = sample_annotated(annotated, self.sample_frames, self.sample_type, rng)
            keep = None
        frames = reader.get(clip)
        masks = self.masks(record, clip, frames.shape[1], frames.shape[2], only=keep)
        return frames, masks, np.asarray(clip), single

    def masks(self, record: dict, clip, height: int, width: int, only: int | None = None) -> np.ndarray:
        """`(O, T, H, W)` masks of the row's objects on the clip frames (frame numbers); `only`: keep that frame."""
        rid, path = record["id"], record["mask_file"]
        data = load_json(path, self.name, rid)
        num_objects = len(record["obj_frames"])
        if not isinstance(data, list) or len(data) != num_objects:
            got = len(data) if isinstance(data, list) else type(data).__name__
            raise DataError(self.name, rid, path, f"mask file holds {got} objects, the row annotates {num_objects}")
        out = []
        for o, entries in enumerate(data):
            if isinstance(entries, list) and len(entries) == len(record["all_frames"]):
                frames = record["all_frames"]
            elif isinstance(entries, list) and len(entries) == len(record["obj_frames"][o]):
                frames = record["obj_frames"][o]
            else:
                got = len(entries) if isinstance(entries, list) else type(entries).__name__
                msg = f"object {o}: {got} mask entries for {len(record['all_frames'])} annotated frames"
                raise DataError(self.name, rid, path, msg)
            lookup = dict(zip(frames, entries))
            regions = [as_regions(lookup.get(int(f))) if only is None or int(f) == only else [] for f in clip]
            try:
                out.append(decode_region_frames(regions, height, width))
            except Exception as exc:  # noqa: BLE001
                raise DataError(self.name, rid, path, f"object {o}: cannot decode mask: {exc}") from exc
        return np.stack(out)

    # ------------------------------------------------------------------ sample
    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks, clip, _ = self.clip(record, rng)
        k = int(rng.integers(16)) if self.training else 0
        try:
            ids, question, answer = region_ids(record["question"], record["answer"], len(masks), k, drop_intro=True)
            prefix = memory_text(ids, masks, video=len(frames) > 1)
        except ValueError as exc:
            raise DataError(self.name, rid, record["mask_file"], str(exc)) from exc
        conv = [{"role": "user", "content": prefix + question}, {"role": "assistant", "content": answer}]
        meta = {"path": str(record["file"]), "row": record["row"], "frame_indices": clip.tolist(), "object_ids": ids}
        data_type = "region_video" if len(frames) > 1 else "region_image"
        return Sample(rid, self.name, frames, conv, refer_masks=masks, data_type=data_type, meta=meta)


class VideoReferRefDataset(VideoReferDataset):
    """Stage-1 referring short captions: `<region>` -> `<|ref|>`, one point or box prompt (`ref_point` / `ref_box`)."""

    key = "videorefer_short_caption_ref"
    data_type = "ref_point"

    def __init__(self, **kwargs):
        kwargs.setdefault("annotation", "videorefer/VideoRefer-700K/videorefer-short-caption-500k-wo-masks.json")
        kwargs.setdefault("mask_dir", "videorefer/VideoRefer-700K/masks_short_caption")
        kwargs.setdefault("single_frame", "always")
        kwargs.setdefault("min_ratio", None)
        kwargs.setdefault("max_objects", 1)
        super().__init__(**kwargs)

    def assign_types(self, records):
        for rec, kind in zip(records, prompt_kinds(len(records), self.seed)):
            rec["data_type"] = f"ref_{kind}"

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        question = record["question"]
        if question.count("<region>") != 1 or "<object" in question or "<object" in record["answer"]:
            raise DataError(self.name, rid, record["file"], "a referring caption needs exactly one bare <region>")
        frames, masks, clip, _ = self.clip(record, rng)
        kind = record["data_type"].split("_")[1]
        try:
            prompts = prompt_rows(masks, kind, rng if self.training else None)
        except ValueError as exc:
            raise DataError(self.name, rid, record["mask_file"], str(exc)) from exc
        conv = [
            {"role": "user", "content": question.replace("<region>", REF)},
            {"role": "assistant", "content": record["answer"]},
        ]
        meta = {"path": str(record["file"]), "row": record["row"], "frame_indices": clip.tolist()}
        return Sample(rid, self.name, frames, conv, ref_prompts=prompts, data_type=record["data_type"], meta=meta)


class VideoReferMemDataset(VideoReferDataset):
    """VideoRefer-QA-Memory (docs/design.md §4.6): `[ID] <|ref|>` prompts in, `[ID] <|seg|>` masks out
    (`mem_{point|box}_video`)."""

    key = "videorefer_qa_mem"
    data_type = "mem_point_video"
    allow_empty_masks = False

    def __init__(self, **kwargs):
        kwargs.setdefault("annotation", "videorefer/VideoRefer-700K/videorefer-qa-75k-wo-masks.json")
        kwargs.setdefault("mask_dir", "videorefer/VideoRefer-700K/masks_qa")
        kwargs.setdefault("min_annotated_frames", 2)
        super().__init__(**kwargs)

    def assign_types(self, records):
        for rec, kind in zip(records, prompt_kinds(len(records), self.seed)):
            rec["data_type"] = f"mem_{kind}_video"

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks, clip, _ = self.clip(record, rng)
        trng = rng if self.training else None
        k = int(rng.integers(16)) if self.training else 0
        kind = record["data_type"].split("_")[1]
        try:
            ids, question = ref_ids(fake_option(record["question"], record["answer"], trng), len(masks), k)
            prompts = prompt_rows(masks, kind, trng)
        except ValueError as exc:
            raise DataError(self.name, rid, record["mask_file"], str(exc)) from exc
        conv = [
            {"role": "user", "content": choose(MEMORY_PROMPTS, trng).format(question)},
            {"role": "assistant", "content": seg_answer_for(ids)},
        ]
        meta = {"path": str(record["file"]), "row": record["row"], "frame_indices": clip.tolist(), "object_ids": ids}
        data_type = f"mem_{kind}_video" if len(frames) > 1 else f"mem_{kind}_image"
        return Sample(
            rid, self.name, frames, conv, ref_prompts=prompts, seg_masks=masks, data_type=data_type, meta=meta
        )


# ------------------------------------------------------------------------------------------------ VideoRefer-Bench
def answer_letter(answer) -> str:
    """ "(A) A helmet" / "A" / "(A)" -> "A"."""
    text = str(answer).strip()
    m = LETTERED.match(text)
    if m:
        return m.group(1)
    if len(text) >= 1 and text[0].isalpha() and (len(text) == 1 or not text[1].isalpha()):
        return text[0].upper()
    raise ValueError(f"cannot read an option letter from the answer {answer!r}")


def lettered_options(options) -> list[str]:
    """Options as "(A) ..." lines (kept when already lettered, as in the release)."""
    if not isinstance(options, list) or not options:
        raise ValueError("`options` must be a non-empty list")
    return [
        str(o).strip() if LETTERED.match(str(o).strip()) else f"({chr(65 + i)}) {str(o).strip()}"
        for i, o in enumerate(options)
    ]


class VideoReferBenchQDataset(BaseDataset):
    """VideoRefer-Bench-Q: multiple-choice questions about masked objects (`region_video`).

    Args:
        annotation: the benchmark JSON.
        video_dir: folder joined with a row's `video` (frame folders for Q, MP4s for D).
        mask_mode: `multi` (all annotated masks on the clip) or `single` (the mask on `frame_idx` only).
        clip_frames: frames per clip (16), uniform over the annotated frames, `frame_idx` forced in.
        **kwargs: `BaseDataset` arguments; samples are evaluation samples whatever the split label.
    """

    key = "videorefer_bench_q"
    data_type = "region_video"
    allow_empty_masks = True
    pixel_budget = (100, 144)

    def __init__(
        self,
        annotation: str = "videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json",
        video_dir: str = "videorefer/VideoRefer-Bench/videos",
        mask_mode: str = "multi",
        clip_frames: int = 16,
        **kwargs,
    ):
        strict = kwargs.pop("strict", None)
        super().__init__(**kwargs)
        evaluation_only(self, strict)
        if mask_mode not in ("single", "multi"):
            raise ValueError(f"mask_mode must be single or multi, got {mask_mode!r}")
        self.annotation_file, self.video_dir = self.path(annotation), self.path(video_dir)
        self.mask_mode, self.clip_frames = mask_mode, clip_frames

    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        records = []
        for i, row in enumerate(rows):
            rid = str(row.get("id", i)) if isinstance(row, dict) else str(i)
            rec = {"id": rid, "row": i, "file": self.annotation_file}
            try:
                rec.update(self.parse(row))
            except DataError as err:
                rec["error"] = f"row {i}: {err.msg}"
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                rec["error"] = f"malformed row {i}: {type(exc).__name__}: {exc}"
            records.append(rec)
        return records

    def parse(self, row: dict) -> dict:
        per_object, union = annotated_frames(row["annotation"])
        frame = int(row["frame_idx"])
        if frame not in union:
            raise ValueError(f"frame_idx {frame} is not an annotated frame")
        video = self.inside(self.video_dir, row["video"], row.get("id", "-"), self.annotation_file, "video")
        out = {"video": video, "annotation": row["annotation"], "frame_idx": frame}
        out.update(all_frames=union, obj_frames=per_object)
        out.update(
            question=str(row["Question"]).strip(),
            options=lettered_options(row["options"]),
            answer=answer_letter(row["Answer"]),
            task=row.get("type"),
        )
        if out["question"].count("<region>") != len(per_object):
            raise ValueError(f"{out['question'].count('<region>')} <region> tags for {len(per_object)} objects")
        return out

    def clip(self, record: dict):
        """`(frames, all annotated masks (O, T, H, W), refer masks per mask_mode, clip frame numbers, prompt pos)`."""
        rid = record["id"]
        reader = self.open_video(record["video"], rid)
        check_numbered_frames(reader, self.name, rid)
        if record["all_frames"][-1] >= reader.num_frames:
            msg = f"annotated frame {record['all_frames'][-1]} is past the video's {reader.num_frames} frames"
            raise DataError(self.name, rid, record["video"], msg)
        clip = sample_annotated(record["all_frames"], self.clip_frames, "uniform", None, force=record["frame_idx"])
        frames = reader.get(clip)
        height, width = frames.shape[1:3]
        masks = []
        for o, obj in enumerate(record["annotation"]):
            regions = []
            for f in clip:
                value = obj.get(str(int(f)))
                regions.append(as_regions(value.get("segmentation") if isinstance(value, dict) else value))
            try:
                masks.append(decode_region_frames(regions, height, width))
            except Exception as exc:  # noqa: BLE001
                raise DataError(self.name, rid, record["file"], f"object {o}: cannot decode mask: {exc}") from exc
        masks = np.stack(masks)
        pos = int(np.flatnonzero(clip == record["frame_idx"])[0])
        refer = masks
        if self.mask_mode == "single":
            refer = np.zeros_like(masks)
            refer[:, pos] = masks[:, pos]
        return frames, masks, refer, clip, pos

    def text(self, record: dict) -> tuple[list[int], str]:
        """Object ids and the question (objects "[ID]") with options and the best-option instruction."""
        question = record["question"] + "\nOptions:" + "".join(f"\n{o}" for o in record["options"])
        ids, question, _ = region_ids(question, "", len(record["annotation"]), 0)
        return ids, question + BEST_OPTION_SUFFIX

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks, refer, clip, pos = self.clip(record)
        try:
            ids, question = self.text(record)
            prefix = memory_text(ids, refer, video=len(frames) > 1)
        except ValueError as exc:
            raise DataError(self.name, rid, record["file"], str(exc)) from exc
        conv = [
            {"role": "user", "content": prefix + question},
            {"role": "assistant", "content": BEST_OPTION_PRESEED, "open": True, "train": False},
        ]
        meta = self.eval_meta(record, clip, pos, ids, masks, question)
        return Sample(rid, self.name, frames, conv, refer_masks=refer, data_type=self.data_type, meta=meta)

    def eval_meta(self, record, clip, pos, ids, masks, question) -> dict:
        return {
            "path": str(record["file"]),
            "row": record["row"],
            "answer": record.get("answer"),
            "options": record.get("options"),
            "task": record.get("task"),
            "frame_idx": record["frame_idx"],
            "frame_indices": clip.tolist(),
            "prompt_frame": pos,
            "object_ids": ids,
            "gt_masks": masks,
            "mask_mode": self.mask_mode,
            "llm_frame_index": list(range(len(clip))),
            "pixel_budget": self.pixel_budget,
            "question": question,
        }


class VideoReferBenchDDataset(VideoReferBenchQDataset):
    """VideoRefer-Bench-D: detailed description of one masked object, judged against `caption` (`region_video`)."""

    key = "videorefer_bench_d"
    pixel_budget = (128, 256)

    def __init__(self, **kwargs):
        kwargs.setdefault("annotation", "videorefer/VideoRefer-Bench/VideoRefer-Bench-D.json")
        kwargs.setdefault("video_dir", "videorefer/VideoRefer-Bench/videos/Panda-70M-part")
        super().__init__(**kwargs)

    def parse(self, row: dict) -> dict:
        per_object, union = annotated_frames(row["annotation"])
        if len(per_object) != 1:
            raise ValueError(f"a description row annotates one object, got {len(per_object)}")
        frame = int(row["frame_idx"])
        if frame not in union:
            raise ValueError(f"frame_idx {frame} is not an annotated frame")
        video = self.inside(self.video_dir, row["video"], row.get("id", "-"), self.annotation_file, "video")
        out = {"video": video, "annotation": row["annotation"], "frame_idx": frame}
        out.update(all_frames=union, obj_frames=per_object, caption=str(row["caption"]).strip())
        return out

    def text(self, record):
        return [0], VIDEOREFER_BENCH_D_PROMPT

    def build(self, record, rng):
        sample = super().build(record, rng)
        sample.conversation = sample.conversation[:1]  # free-form answer: generation starts after the user turn
        sample.meta["caption"] = record["caption"]
        return sample


class PixelQADataset(VideoReferBenchQDataset):
    """PixelQA on VideoRefer-Bench-Q (docs/design.md §6): memory pre-filling with point / box prompts, then memory
    injection.

    The sample is pass 1: the first memory template applied to "{question}\\nOptions:\\n(A) ...\\n(D) ...." (the
    upstream script appends a "." to the options) with objects "[ID] <|ref|>", and the teacher-forced answer
    "[ID] <|seg|> ..." (`train: False`); one prompt per object on the prompt frame `frame_idx` (position
    `meta["prompt_frame"]`): `point` = the interior point farthest from the boundary, `box` = the exact mask box,
    `mix` = for one object a random choice, for several a random half (rounded) of points (from the sample's seed).
    `pixelqa_second_turn(sample, presence)` builds pass 2 from the pass-1 masks. `meta["gt_masks"]` `(O, T, H, W)` are
    all annotated masks on the clip (for volume J&F), `meta["prompt_kinds"]` the kinds used.

    Args:
        prompt_mode: `point`, `box` or `mix`.
    """

    key = "pixelqa"
    pixel_budget = (128, 256)

    def __init__(self, prompt_mode: str = "point", **kwargs):
        super().__init__(**kwargs)
        if prompt_mode not in ("point", "box", "mix"):
            raise ValueError(f"prompt_mode must be point, box or mix, got {prompt_mode!r}")
        self.prompt_mode = prompt_mode
        self.data_type = "mem_box_video" if prompt_mode == "box" else "mem_point_video"

    def kinds(self, num_objects: int, rng: np.random.Generator) -> list[str]:
        if self.prompt_mode != "mix":
            return [self.prompt_mode] * num_objects
        if num_objects == 1:
            return [str(rng.choice(["point", "box"]))]
        points = set(rng.choice(num_objects, size=round(num_objects / 2), replace=False).tolist())
        return ["point" if i in points else "box" for i in range(num_objects)]

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks, _, clip, pos = self.clip(record)
        options = "\nOptions:" + "".join(f"\n{o}" for o in record["options"])
        kinds = self.kinds(len(masks), rng)
        try:
            ids, mem_question = ref_ids(record["question"] + options, len(masks), 0)
            _, question = self.text(record)
            prompts = prompt_rows(masks, kinds, None, frame=pos)
        except ValueError as exc:
            raise DataError(self.name, rid, record["file"], str(exc)) from exc
        conv = [
            {"role": "user", "content": MEMORY_PROMPTS[0].format(mem_question + ".")},
            {"role": "assistant", "content": seg_answer_for(ids), "train": False},
        ]
        meta = self.eval_meta(record, clip, pos, ids, masks, question)
        meta.update(prompt_kinds=kinds, prompt_mode=self.prompt_mode)
        # the teacher-forced <|seg|> tokens carry their ground truth (the same as meta["gt_masks"])
        return Sample(
            rid, self.name, frames, conv, ref_prompts=prompts, seg_masks=masks, data_type=self.data_type, meta=meta
        )


def pixelqa_second_turn(sample: Sample, presence) -> list[dict]:
    """Pass-2 conversation of a PixelQA sample: the memory prefix built from `presence` (`(O, t)` bool, which
    (object, temporal group) entries the pass-1 masks fill; one `<|mem|>` each), the question with objects "[ID]",
    options and "Please only give the best option.", then the open assistant turn "The best option is (".

    Use it as `build_second_inputs` of `model.two_round` (after the processor) with the same frames.
    """
    presence = np.asarray(presence, dtype=bool)
    ids = sample.meta["object_ids"]
    groups = {str(i): np.flatnonzero(row).tolist() for i, row in zip(ids, presence)}
    prefix = memory_prefix(groups, num_frames=len(sample.meta["llm_frame_index"]))
    return [
        {"role": "user", "content": prefix + sample.meta["question"]},
        {"role": "assistant", "content": BEST_OPTION_PRESEED, "open": True, "train": False},
    ]
