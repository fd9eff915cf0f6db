"""Video-MME, multiple-choice video QA over short, medium and long videos (key `videomme`, evaluation only).

Files (relative to the data root), as the Hugging Face dataset `lmms-lab/Video-MME` ships them:
    videomme/test-00000-of-00001.parquet   one row per question: video_id ("001"), duration (short | medium | long),
                                           domain, sub_category, url, videoID (the YouTube id), question_id ("001-1"),
                                           task_type, question, options (["A. ...", "B. ...", "C. ...", "D. ..."]),
                                           answer (a letter)
    videomme/videos/{videoID}.mp4          the videos (the release's own script reads a 3 fps / 480p re-encode from
                                           `videomme/videos_3fps_480_noaudio`: set `video_dir` to use it)

Reading parquet needs pyarrow (`pip install "unipixel[videomme]"`); without it indexing fails with that command.

Protocol (the release's multiple-choice style, as for MVBench, no subtitles): frames at about 2 fps, between 4 and 16
(an even count spread uniformly over the whole video), 128-256 merged tokens per frame as a flat budget; the user turn
"{question}\\nOptions:\\n(A) ...\\nPlease only give the best option." with the options' "A. " prefixes removed and their
first letter capitalised, and an open assistant turn pre-seeded "Best Option: (". `meta` holds answer (letter),
options, duration (the group the release reports accuracy by), domain, task_type, frame_indices, llm_frame_index and
pixel_budget.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .processor import Sample
from .region import evaluation_only
from .sampling import linspace_indices, qwen_frame_count, sampled_fps
from .templates import BEST_OPTION_SUFFIX, MVBENCH_PRESEED, options_text

DURATIONS = ("short", "medium", "long")
COLUMNS = ("videoID", "question_id", "duration", "question", "options", "answer")
_OPTION_PREFIX = re.compile(r"^([A-Z])\. ")


def read_parquet_rows(path: Path, dataset: str = "videomme") -> list[dict]:
    """A parquet file as a list of row dicts (pyarrow, an optional dependency)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ModuleNotFoundError(
            f"reading {path} needs pyarrow, an optional dependency: pip install 'unipixel[videomme]' "
            "(or pip install pyarrow)"
        ) from None
    if not Path(path).is_file():
        raise DataError(dataset, "-", path, "annotation file not found")
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - a corrupt file must name itself
        raise DataError(dataset, "-", path, f"cannot read parquet ({type(exc).__name__}: {exc})") from exc


def parse_options(options, answer) -> tuple[list[str], str]:
    """`["A. apples.", "B. ..."]` + `"A"` → (`["Apples.", ...]`, `"A"`); the letters must run A, B, C, ... in order."""
    if isinstance(options, str) or not isinstance(options, (list, tuple)) or len(options) < 2:
        raise ValueError(f"options must be a list of at least two strings, got {options!r}")
    texts = []
    for i, option in enumerate(options):
        match = _OPTION_PREFIX.match(str(option))
        if match is None or match.group(1) != chr(65 + i):
            raise ValueError(f"option {i} {option!r} does not start with '{chr(65 + i)}. '")
        text = str(option)[match.end() :].strip()
        texts.append(text[:1].upper() + text[1:])
    letter = str(answer).strip()
    if len(letter) != 1 or not "A" <= letter < chr(65 + len(texts)):
        raise ValueError(f"answer {answer!r} is not one of the option letters A-{chr(64 + len(texts))}")
    return texts, letter


class VideoMMEDataset(BaseDataset):
    """Video-MME questions (`multimodal`), one sample per question.

    Args:
        annotation: the parquet file.
        video_dir: folder of `{videoID}.mp4`.
        durations: only these duration groups (short / medium / long; default all).
        fps, min_frames, max_frames: frame sampling (Qwen's video reader at 2 fps, 4-16 frames).
        **kwargs: `BaseDataset` arguments; samples are evaluation samples whatever the split label.
    """

    key = "videomme"
    data_type = "multimodal"
    pixel_budget = (128, 256)

    def __init__(
        self,
        annotation: str = "videomme/test-00000-of-00001.parquet",
        video_dir: str = "videomme/videos",
        durations: list[str] | None = None,
        fps: float = 2.0,
        min_frames: int = 4,
        max_frames: int = 16,
        **kwargs,
    ):
        strict = kwargs.pop("strict", None)
        super().__init__(**kwargs)
        evaluation_only(self, strict)
        unknown = set(durations or ()) - set(DURATIONS)
        if unknown:
            raise ValueError(f"unknown Video-MME durations {sorted(unknown)}; choose from {list(DURATIONS)}")
        self.annotation_file = self.path(annotation)
        self.video_dir = self.path(video_dir)
        self.durations = None if durations is None else list(durations)
        self.fps, self.min_frames, self.max_frames = fps, min_frames, max_frames

    def load_index(self) -> list[dict]:
        rows = read_parquet_rows(self.annotation_file, self.name)
        if rows:
            missing = [c for c in COLUMNS if c not in rows[0]]
            if missing:
                raise DataError(self.name, "-", self.annotation_file, f"columns {missing} missing from the parquet")
        records = []
        for i, row in enumerate(rows):
            if self.durations is not None and row.get("duration") not in self.durations:
                continue
            rec = {"id": str(row.get("question_id") or i), "file": self.annotation_file, "row": i}
            try:
                if row["duration"] not in DURATIONS:
                    raise ValueError(f"duration {row['duration']!r} is none of {DURATIONS}")
                options, answer = parse_options(row["options"], row["answer"])
                rec.update(
                    video=self.video_dir / f"{row['videoID']}.mp4", question=" ".join(str(row["question"]).split())
                )
                rec.update(options=options, answer=answer, task=row["duration"])
                rec.update(domain=row.get("domain"), task_type=row.get("task_type"), video_id=row.get("video_id"))
            except (KeyError, TypeError, ValueError) as exc:
                rec["error"] = f"malformed row {i}: {type(exc).__name__}: {exc}"
            records.append(rec)
        return records

    def frame_positions(self, reader) -> np.ndarray:
        n = reader.num_frames
        count = qwen_frame_count(n, reader.fps, self.fps, self.min_frames, self.max_frames)
        return linspace_indices(0, n - 1, count)

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        reader = self.open_video(record["video"], rid)
        positions = self.frame_positions(reader)
        frames = reader.get(positions)
        question = record["question"] + options_text(record["options"]) + BEST_OPTION_SUFFIX
        conv = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": MVBENCH_PRESEED, "open": True, "train": False},
        ]
        meta = {
            "path": str(record["video"]),
            "task": record["task"],
            "duration": record["task"],
            "domain": record["domain"],
            "task_type": record["task_type"],
            "answer": record["answer"],
            "options": record["options"],
            "frame_indices": positions.tolist(),
            "llm_frame_index": list(range(len(positions))),
            "pixel_budget": self.pixel_budget,
            "scale_pixel_budget": False,
            # a video file, read as Qwen's video reader does (D3, D4 in docs/fidelity.md)
            "llm_resize": "torch",
            "sample_fps": sampled_fps(len(positions), reader.num_frames, reader.fps),
        }
        return Sample(rid, self.name, frames, conv, as_video=True, data_type=self.data_type, meta=meta)
