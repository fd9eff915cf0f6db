"""Inst-IT (keys `inst_it_video_qa_raw`, `inst_it_video_qa_raw_mem`, `inst_it_image_short_caption_raw_ref`).

Files (relative to the data root; UniPixel's `*_w_mask.json` variants, not the official mask-free release):
    inst_it/Inst-IT-Dataset/inst_it_dataset_video_21k_w_mask.json
        [{video_id, video_path (frame folder, first component replaced by `frame_root`), question_answer_pairs:
        [{question, answer}], segmentations: {frame file name: {object id: {mask: RLE}}}}, ...]
    inst_it/Inst-IT-Dataset/videos_raw/...                       frame folders (frames sorted by their number)
    inst_it/Inst-IT-Dataset/inst_it_dataset_image_51k_w_mask.json
        [{image_id, image_path, instance_level_caption: {object id: {short, long} | str}, segmentations: {object id:
        {mask: RLE}}}, ...]
    inst_it/Inst-IT-Dataset/images_raw/...

Objects are written "[n]" and times "<n>" (1-based) in the questions; "<0>" and "[0n]" (annotation slips) are read as
"<1>" and "[n]". Every frame of a clip is used (no sampling).

- `inst_it_video_qa_raw` (region, `<|mem|>`): one QA per sample; the objects are those mentioned in the question or
  answer (first-mention order); videos with more than 10 frames, or more than 5 objects over all their QAs, are left
  out; in training half of the samples keep each object's mask on one random frame where all of them are visible.
- `inst_it_video_qa_raw_mem` (docs/design.md §4.6): "{question}\\nOptions:\\n(X) {answer}" with the first mention of
  each object followed by `<|ref|>`, in a memory template; answer "[n] <|seg|> ..."; clips of at most 8 frames, 1-5
  objects.
- `inst_it_image_short_caption_raw_ref` (stage 1): one sample per (image, object): a short-caption request about
  `<|ref|>`, answered with the object's short caption.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import IMAGE_EXTENSIONS, natural_key
from .masks import decode_region_frames
from .processor import Sample
from .region import fake_option, first_mentions, memory_text, prompt_kinds, prompt_rows, tag_refs
from .templates import MEMORY_PROMPTS, REF, REF_SHORT_CAPTION_PROMPTS, choose

logger = logging.getLogger(__name__)


def fix_ids(text: str) -> str:
    """Annotation slips: "<0>" -> "<1>", "[01]".."[09]" -> "[1]".."[9]"."""
    text = text.replace("<0>", "<1>")
    return re.sub(r"\[0(\d)\]", r"[\1]", text)


def strip_first(path: str) -> str:
    """`path` minus its first component ("Inst-IT-Dataset/videos_raw/x" -> "videos_raw/x"), to join to a root."""
    parts = str(path).split("/", 1)
    return parts[1] if len(parts) == 2 else parts[0]


def frame_files(folder: Path) -> list[Path]:
    """Frame images of a folder in natural order ("frame_2" before "frame_10")."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=natural_key)


class InstITVideoDataset(BaseDataset):
    """Inst-IT video QA as region samples (`region_video`); `InstITVideoMemDataset` makes memory-task samples.

    Args:
        annotation: the video JSON.
        frame_root: folder replacing the first component of `video_path`.
        max_frames: clips with more frames are left out (10 for region data, 8 for memory data).
        max_objects: videos (region) / questions (memory) with more objects are left out.
        single_frame_prob: share of training samples whose masks are kept on one frame only (region data).
        **kwargs: `BaseDataset` arguments.
    """

    key = "inst_it_video_qa_raw"
    data_type = "region_video"

    def __init__(
        self,
        annotation: str = "inst_it/Inst-IT-Dataset/inst_it_dataset_video_21k_w_mask.json",
        frame_root: str = "inst_it/Inst-IT-Dataset/videos_raw",
        max_frames: int = 10,
        max_objects: int = 5,
        single_frame_prob: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.annotation_file, self.frame_root = self.path(annotation), self.path(frame_root)
        self.max_frames, self.max_objects, self.single_frame_prob = max_frames, max_objects, single_frame_prob
        self._rows: list = []

    # ------------------------------------------------------------------ index
    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        self._rows = rows
        records, skipped = [], {"frames": 0, "objects": 0, "no_object": 0}
        for i, row in enumerate(rows):
            vid = str(row.get("video_id", i)) if isinstance(row, dict) else str(i)
            base = {"id": vid, "row": i, "file": self.annotation_file}
            ok = isinstance(row, dict) and isinstance(row.get("video_path"), str)
            ok = ok and isinstance(row.get("question_answer_pairs"), list)
            ok = ok and isinstance(row.get("segmentations"), dict)
            if not ok:
                records.append(
                    {**base, "error": f"malformed row {i} (needs video_path, question_answer_pairs, segmentations)"}
                )
                continue
            try:
                relative = strip_first(row["video_path"])
                folder = self.inside(self.frame_root, relative, vid, self.annotation_file, "video_path")
            except DataError as err:
                records.append({**base, "error": err.msg})
                continue
            if not folder.is_dir():
                records.append({**base, "error": "frame folder not found", "file": folder})
                continue
            frames = frame_files(folder)
            if not frames or len(frames) > self.max_frames:
                skipped["frames"] += 1
                continue
            records += self._qa_records(base, row, frames, skipped)
        for why, n in skipped.items():
            if n:
                self.stats[f"skipped_{why}"] += n
        self.assign_types(records)
        return records

    def assign_types(self, records: list[dict]) -> None:
        for rec in records:
            rec["data_type"] = "region_video" if len(rec.get("frames", [])) > 1 else "region_image"

    def _qa_records(self, base: dict, row: dict, frames: list[Path], skipped: dict) -> list[dict]:
        out, all_ids = [], []
        for q, pair in enumerate(row["question_answer_pairs"]):
            rec = {**base, "id": f"{base['id']}_{q}", "frames": frames}
            if not isinstance(pair, dict) or not isinstance(pair.get("question"), str):
                out.append({**rec, "error": f"malformed question_answer_pairs[{q}]"})
                continue
            question, answer = fix_ids(pair["question"].strip()), fix_ids(str(pair.get("answer", "")).strip())
            ids = first_mentions(question + "\n" + answer)
            if not ids:
                skipped["no_object"] += 1
                continue
            all_ids += [i for i in ids if i not in all_ids]
            out.append({**rec, "question": question, "answer": answer, "object_ids": ids})
        if len(all_ids) > self.max_objects:  # the region data caps the objects of a whole video
            skipped["objects"] += len(out)
            return []
        return out

    # ------------------------------------------------------------------ masks
    def masks(self, record: dict, height: int, width: int) -> np.ndarray:
        """`(O, T, H, W)` masks of the record's objects on every frame (missing entries are empty)."""
        segs = self._rows[record["row"]]["segmentations"]
        out = []
        for oid in record["object_ids"]:
            regions = []
            for path in record["frames"]:
                per_frame = segs.get(path.name, segs.get(path.stem)) or {}
                entry = per_frame.get(oid) if isinstance(per_frame, dict) else None
                regions.append([entry.get("mask")] if isinstance(entry, dict) else [])
            try:
                out.append(decode_region_frames(regions, height, width))
            except Exception as exc:  # noqa: BLE001
                raise DataError(self.name, record["id"], self.annotation_file, f"object [{oid}]: {exc}") from exc
        return np.stack(out)

    def clip(self, record: dict) -> tuple[np.ndarray, np.ndarray]:
        frames = self.open_video(record["frames"], record["id"]).get(range(len(record["frames"])))
        masks = self.masks(record, frames.shape[1], frames.shape[2])
        empty = [oid for oid, m in zip(record["object_ids"], masks) if not m.any()]
        if empty:
            msg = f"objects {empty} have no mask on any frame (object id without mask)"
            raise DataError(self.name, record["id"], self.annotation_file, msg)
        return frames, masks

    # ------------------------------------------------------------------ sample
    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks = self.clip(record)
        single = None
        if self.training and rng.random() < self.single_frame_prob:
            common = np.flatnonzero(masks.reshape(len(masks), len(frames), -1).any(-1).all(0))
            if len(common):
                single = int(rng.choice(common))
                kept = np.zeros_like(masks)
                kept[:, single] = masks[:, single]
                masks = kept
        try:
            prefix = memory_text(record["object_ids"], masks, video=len(frames) > 1)
        except ValueError as exc:
            raise DataError(self.name, rid, self.annotation_file, str(exc)) from exc
        conv = [
            {"role": "user", "content": prefix + record["question"]},
            {"role": "assistant", "content": record["answer"]},
        ]
        meta = {"path": str(self.annotation_file), "row": record["row"], "object_ids": record["object_ids"]}
        meta["single_frame"] = single
        return Sample(rid, self.name, frames, conv, refer_masks=masks, data_type=record["data_type"], meta=meta)


class InstITVideoMemDataset(InstITVideoDataset):
    """Inst-IT-QA-Memory (docs/design.md §4.6): `[n] <|ref|>` prompts in, `[n] <|seg|>` masks out
    (`mem_{point|box}_{video|image}`)."""

    key = "inst_it_video_qa_raw_mem"
    data_type = "mem_point_video"

    def __init__(self, max_frames: int = 8, **kwargs):
        super().__init__(max_frames=max_frames, **kwargs)

    def _qa_records(self, base, row, frames, skipped):
        """One record per QA with 1 to `max_objects` objects (the memory data caps objects per question)."""
        out = []
        for q, pair in enumerate(row["question_answer_pairs"]):
            rec = {**base, "id": f"{base['id']}_{q}", "frames": frames}
            if not isinstance(pair, dict) or not isinstance(pair.get("question"), str):
                out.append({**rec, "error": f"malformed question_answer_pairs[{q}]"})
                continue
            question, answer = pair["question"].strip(), str(pair.get("answer", "")).strip()
            ids = first_mentions(fix_ids(question + "\n" + answer))
            if not ids:
                skipped["no_object"] += 1
                continue
            if len(ids) > self.max_objects:
                skipped["objects"] += 1
                continue
            out.append({**rec, "question": question, "answer": answer, "object_ids": ids})
        return out

    def assign_types(self, records):
        for rec, kind in zip(records, prompt_kinds(len(records), self.seed)):
            medium = "video" if len(rec.get("frames", [])) > 1 else "image"
            rec["data_type"] = f"mem_{kind}_{medium}"

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames, masks = self.clip(record)
        trng = rng if self.training else None
        kind = record["data_type"].split("_")[1]
        question = fix_ids(fake_option(record["question"], record["answer"], trng))
        try:
            question, answer = tag_refs(question, record["object_ids"])
            prompts = prompt_rows(masks, kind, trng)
        except ValueError as exc:
            raise DataError(self.name, rid, self.annotation_file, str(exc)) from exc
        conv = [
            {"role": "user", "content": choose(MEMORY_PROMPTS, trng).format(question)},
            {"role": "assistant", "content": answer},
        ]
        meta = {"path": str(self.annotation_file), "row": record["row"], "object_ids": record["object_ids"]}
        return Sample(
            rid, self.name, frames, conv, ref_prompts=prompts, seg_masks=masks, data_type=record["data_type"], meta=meta
        )


class InstITImageRefDataset(BaseDataset):
    """Stage-1 referring short captions on Inst-IT images (`ref_point` / `ref_box`, half each by seed).

    Args:
        annotation: the image JSON.
        image_root: folder replacing the first component of `image_path`.
        caption: `short` or `long` caption.
    """

    key = "inst_it_image_short_caption_raw_ref"
    data_type = "ref_point"

    def __init__(
        self,
        annotation: str = "inst_it/Inst-IT-Dataset/inst_it_dataset_image_51k_w_mask.json",
        image_root: str = "inst_it/Inst-IT-Dataset/images_raw",
        caption: str = "short",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.annotation_file, self.image_root, self.caption = self.path(annotation), self.path(image_root), caption
        self._rows: list = []

    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        self._rows = rows
        records = []
        for i, row in enumerate(rows):
            iid = str(row.get("image_id", i)) if isinstance(row, dict) else str(i)
            base = {"id": iid, "row": i, "file": self.annotation_file}
            ok = isinstance(row, dict) and isinstance(row.get("image_path"), str)
            ok = ok and isinstance(row.get("instance_level_caption"), dict)
            if not ok:
                records.append({**base, "error": f"malformed row {i} (needs image_path, instance_level_caption)"})
                continue
            try:
                relative = strip_first(row["image_path"])
                image = self.inside(self.image_root, relative, iid, self.annotation_file, "image_path")
            except DataError as err:
                records.append({**base, "error": err.msg})
                continue
            for oid, caption in row["instance_level_caption"].items():
                text = caption.get(self.caption) if isinstance(caption, dict) else caption
                rec = {**base, "id": f"{iid}_{oid}", "image": image, "oid": str(oid)}
                if not isinstance(text, str) or not text.strip():
                    rec["error"] = f"object {oid} has no {self.caption} caption"
                else:
                    rec["answer"] = text.strip()
                records.append(rec)
        for rec, kind in zip(records, prompt_kinds(len(records), self.seed)):
            rec["data_type"] = f"ref_{kind}"
        return records

    def build(self, record, rng):
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames = self.read_image(record["image"], rid)
        segs = self._rows[record["row"]].get("segmentations") or {}
        entry = segs.get(record["oid"]) if isinstance(segs, dict) else None
        if not isinstance(entry, dict) or entry.get("mask") is None:
            msg = f"object {record['oid']} has no entry in `segmentations` (object id without mask)"
            raise DataError(self.name, rid, self.annotation_file, msg)
        try:
            masks = decode_region_frames([[entry["mask"]]], frames.shape[1], frames.shape[2])[None]
            prompts = prompt_rows(masks, record["data_type"].split("_")[1], rng if self.training else None)
        except ValueError as exc:
            raise DataError(self.name, rid, self.annotation_file, f"object {record['oid']}: {exc}") from exc
        question = choose(REF_SHORT_CAPTION_PROMPTS, rng if self.training else None).format(REF)
        conv = [{"role": "user", "content": question}, {"role": "assistant", "content": record["answer"]}]
        meta = {"path": str(record["image"]), "row": record["row"], "object_id": record["oid"]}
        return Sample(rid, self.name, frames, conv, ref_prompts=prompts, data_type=record["data_type"], meta=meta)
