"""GroundMoRe, motion-grounded video reasoning (key `groundmore`): answer a question and segment the object(s).

Files (relative to the data root):
    groundmore/{trainval_v2,test_v2}.json   {videos: {vid: {questions: {qid: {question, answer, q_type,
                                            obj_id "a, b", action_start "MM:SS", action_end "MM:SS"}}}}}
    groundmore/annotations/{vid}/images/*.jpg   frames (6 fps), named by frame number ("0000012.jpg" or
                                            "frame_000012.jpg")
    groundmore/annotations/{vid}/masks/*.png    palette id maps on the annotated frames (same stem as the image)

The clip name ends with its start and end time ("..._0120_0140" = 01:20-01:40); action times are absolute "MM:SS"
(or "H:MM:SS"), so the action covers frames [(start - clip start) * 6, (end - clip start) * 6 - 1] of the clip.

- training: only frames that have a mask PNG are used; `sample_frames` random frames of them; the answer is
  "{answer} <|seg|>." and the mask is the union of the `obj_id`s (frames without a PNG are empty).
- evaluation (split `test`): 20 frames spread uniformly over the clip (`np.linspace(..., dtype=int)`, i.e. floor, as
  the official evaluator) are the SAM 2 frames; the LLM sees 16 of them uniformly (`meta["llm_frame_index"]`).
  `meta["gt_masks"]` `(1, 20, H, W)` holds the object's mask only on frames inside the action interval (empty
  elsewhere), `meta["gt_masks_raw"]` the ungated masks, `meta["action_frames"]` the `[start, end]` interval (clip frame
  numbers, None when the clip name carries no time), `meta["q_type"]`, `meta["answer"]`; plus the keys of
  `rvos.VideoSegDataset`.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from .errors import DataError
from .io import IMAGE_EXTENSIONS, load_json
from .masks import decode_index_masks
from .rvos import VideoSegDataset

logger = logging.getLogger(__name__)

FPS = 6
_DIGITS = re.compile(r"^\D*")


def frame_number(path) -> int:
    """ "frame_000012" / "0000012" -> 12 (leading non-digits dropped, as the dataset's own tools sort)."""
    return int(_DIGITS.sub("", path.stem) or 0)


def time_to_seconds(text: str) -> int:
    """ "MM:SS" / "H:MM:SS" / "SS" -> seconds."""
    parts = [int(p) for p in str(text).strip().split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def clip_start_seconds(vid: str) -> int | None:
    """Start time of a clip named "..._MMSS_MMSS", or None when the name has no such suffix."""
    m = re.search(r"_(\d{2})(\d{2})_(\d{2})(\d{2})$", vid)
    return None if m is None else int(m.group(1)) * 60 + int(m.group(2))


def action_frames(vid: str, start: str, end: str, fps: int = FPS) -> tuple[int, int] | None:
    """Inclusive clip-frame interval of the action, or None when the clip start is unknown."""
    clip = clip_start_seconds(vid)
    if clip is None:
        return None
    return (time_to_seconds(start) - clip) * fps, (time_to_seconds(end) - clip) * fps - 1


class GroundMoReDataset(VideoSegDataset):
    """Question + answer + mask on video clips (sample kind `question`).

    Args:
        annotations: per-split question file (`{split}` -> `trainval_v2` for train, `test_v2` otherwise, see `files`).
        files: split -> annotation file stem.
        video_dir: folder of `{vid}/images` and `{vid}/masks`.
        eval_frames: SAM 2 frames per clip at evaluation (20).
        **kwargs: `VideoSegDataset` arguments (`llm_frames` = 16 at evaluation).
    """

    key = "groundmore"

    def __init__(
        self,
        annotations: str = "groundmore/{file}.json",
        files: dict | None = None,
        video_dir: str = "groundmore/annotations",
        eval_frames: int = 20,
        **kwargs,
    ):
        super().__init__(**kwargs)
        files = files or {"train": "trainval_v2", "test": "test_v2"}
        stem = files.get(self.split, files.get("test") if not self.training else None)
        if stem is None:
            raise ValueError(f"no GroundMoRe annotation file for split {self.split!r} (files: {files})")
        self.annotation_file = self.path(annotations.format(file=stem))
        self.video_dir = self.path(video_dir)
        self.eval_frames = eval_frames

    def load_index(self) -> list[dict]:
        videos = load_json(self.annotation_file, self.name)
        if not isinstance(videos, dict) or not isinstance(videos.get("videos"), dict):
            raise DataError(self.name, "-", self.annotation_file, "expected {'videos': {vid: {questions}}}")
        records, missing, no_masks = [], 0, 0
        for vid, video in videos["videos"].items():
            try:
                folder = self.inside(self.video_dir, vid, vid, self.annotation_file, "video id")
            except DataError as err:
                records.append({"id": vid, "file": self.annotation_file, "kind": "question", "query": ""})
                records[-1]["error"] = err.msg
                continue
            if not (folder / "images").is_dir():
                missing += 1
                continue
            images = sorted(
                (p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=frame_number
            )
            mask_dir = folder / "masks"
            masks = {p.stem: p for p in mask_dir.glob("*.png")} if mask_dir.is_dir() else {}
            if self.training:
                frames = [p for p in images if p.stem in masks]
                if not frames:
                    no_masks += 1
                    continue
                positions = None
            else:
                keep = np.linspace(0, len(images) - 1, num=self.eval_frames, dtype=int) if images else []
                frames = [images[i] for i in keep]
                positions = [frame_number(p) for p in frames]  # clip frame numbers (6 fps), for the action interval
            pngs = [masks.get(p.stem) for p in frames]
            questions = video.get("questions") if isinstance(video, dict) else None
            if not isinstance(questions, dict):
                records.append(
                    {
                        "id": vid,
                        "file": self.annotation_file,
                        "kind": "question",
                        "query": "",
                        "error": "video entry without a `questions` dict",
                    }
                )
                continue
            for qid, q in questions.items():
                records.append(self._record(vid, str(qid), q, frames, pngs, positions))
        if missing:
            logger.warning(
                "%s/%s: %d videos have no annotation folder under %s; left out",
                self.name,
                self.split,
                missing,
                self.video_dir,
            )
            self.stats["skipped_no_folder"] += missing
        if no_masks:
            self.stats["skipped_no_masks"] += no_masks
        return self.typed(records)

    def _record(self, vid, qid, q, frames, pngs, positions) -> dict:
        rec = {"id": f"{vid}/{qid}", "file": self.annotation_file, "vid": vid, "exp_id": qid, "kind": "question"}
        rec.update(frames=frames, pngs=pngs, frame_names=[p.stem for p in frames], query="")
        if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(q.get("answer"), str):
            return {**rec, "error": "malformed question: needs `question` and `answer` strings"}
        try:
            ids = [int(o) for o in str(q.get("obj_id", "")).split(",")]
        except ValueError:
            return {**rec, "error": f"malformed obj_id {q.get('obj_id')!r} (expected 'a, b')"}
        query = q["question"].strip()
        if not query.endswith("?"):
            query += "?"
        interval = None
        if q.get("action_start") is not None and q.get("action_end") is not None:
            try:
                interval = action_frames(vid, q["action_start"], q["action_end"])
            except ValueError:
                return {**rec, "error": f"malformed action time {q['action_start']!r} / {q['action_end']!r}"}
        meta = {"q_type": q.get("q_type"), "action_frames": None if interval is None else list(interval)}
        rec.update(query=query, answer=q["answer"].strip(), obj_ids=ids, positions=positions, meta=meta)
        return rec

    def check_target(self, record):
        if not any(p is not None for p in record["pngs"]):
            raise DataError(self.name, record["id"], self.video_dir / record["vid"] / "masks", "no mask PNG")

    def target_masks(self, record, idx, height, width):
        pngs = [record["pngs"][int(t)] for t in idx]
        return decode_index_masks(pngs, [record["obj_ids"]], height, width, self.name, record["id"])[0]

    def add_eval_meta(self, record, idx, height, width, meta):
        gt = meta.get("gt_masks")
        interval = record["meta"]["action_frames"]
        if gt is None or interval is None:
            return
        positions = np.asarray([record["positions"][int(t)] for t in idx])
        inside = (positions >= interval[0]) & (positions <= interval[1])
        meta["gt_masks_raw"] = gt
        meta["gt_masks"] = gt & inside[None, :, None, None]
        meta["clip_frame_numbers"] = positions.tolist()
