"""MVBench, zero-shot multiple-choice video QA over 20 tasks (key `mvbench`, evaluation only).

Files (relative to the data root):
    mvbench/json/{task file}.json      [{video, question, candidates: [...], answer (one of the candidates)}, ...]
    mvbench/video/{task folder}/{video}   video files; Episodic Reasoning (TVQA) uses folders of frames

Frames: videos at about 2 fps, between 4 and 16 frames (an even count, spread uniformly over the whole video: Qwen's
video reader); TVQA frame folders: 32 frames evenly strided over the folder. `use_bounds=True` restricts sampling to a
row's `start`/`end` seconds when it has them (the original protocol ignores them, so the default is False).

Each sample is one question: the user turn "{question}\\nOptions:\\n(A) ...\\nPlease only give the best option." and an
open assistant turn pre-seeded "Best Option: (" (`"open": True`); `meta` holds answer (letter), options, task,
frame_indices, llm_frame_index (all frames), pixel_budget (128, 256) merged tokens per frame.
"""

from __future__ import annotations

import math

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import load_json
from .processor import Sample
from .region import evaluation_only
from .sampling import linspace_indices, qwen_frame_count, sampled_fps
from .templates import BEST_OPTION_SUFFIX, MVBENCH_PRESEED, options_text

# (task, json file, video folder under mvbench/video, "video" | "frame")
MVBENCH_TASKS = (
    ("Episodic Reasoning", "episodic_reasoning.json", "tvqa/frames_fps3_hq", "frame"),
    ("Action Sequence", "action_sequence.json", "star/Charades_v1_480", "video"),
    ("Action Prediction", "action_prediction.json", "star/Charades_v1_480", "video"),
    ("Action Antonym", "action_antonym.json", "ssv2_video", "video"),
    ("Fine-grained Action", "fine_grained_action.json", "Moments_in_Time_Raw/videos", "video"),
    ("Unexpected Action", "unexpected_action.json", "FunQA_test/test", "video"),
    ("Object Existence", "object_existence.json", "clevrer/video_validation", "video"),
    ("Object Interaction", "object_interaction.json", "star/Charades_v1_480", "video"),
    ("Object Shuffle", "object_shuffle.json", "perception/videos", "video"),
    ("Moving Direction", "moving_direction.json", "clevrer/video_validation", "video"),
    ("Action Localization", "action_localization.json", "sta/sta_video", "video"),
    ("Scene Transition", "scene_transition.json", "scene_qa/video", "video"),
    ("Action Count", "action_count.json", "perception/videos", "video"),
    ("Moving Count", "moving_count.json", "clevrer/video_validation", "video"),
    ("Moving Attribute", "moving_attribute.json", "clevrer/video_validation", "video"),
    ("State Change", "state_change.json", "perception/videos", "video"),
    ("Fine-grained Pose", "fine_grained_pose.json", "nturgbd", "video"),
    ("Character Order", "character_order.json", "perception/videos", "video"),
    ("Egocentric Navigation", "egocentric_navigation.json", "vlnqa", "video"),
    ("Counterfactual Inference", "counterfactual_inference.json", "clevrer/video_validation", "video"),
)


class MVBenchDataset(BaseDataset):
    """The 20 MVBench tasks (`multimodal`).

    Args:
        data_dir: folder holding `json/` and `video/`.
        tasks: task names to load (default: all 20).
        fps, min_frames, max_frames: video frame sampling.
        episode_frames: frames taken from a frame folder (TVQA).
        use_bounds: sample inside a row's `start`/`end` seconds when given.
        **kwargs: `BaseDataset` arguments; samples are evaluation samples whatever the split label.
    """

    key = "mvbench"
    data_type = "multimodal"
    pixel_budget = (128, 256)

    def __init__(
        self,
        data_dir: str = "mvbench",
        tasks: list[str] | None = None,
        fps: float = 2.0,
        min_frames: int = 4,
        max_frames: int = 16,
        episode_frames: int = 32,
        use_bounds: bool = False,
        **kwargs,
    ):
        strict = kwargs.pop("strict", None)
        super().__init__(**kwargs)
        evaluation_only(self, strict)
        self.data_dir = self.path(data_dir)
        known = {t[0] for t in MVBENCH_TASKS}
        unknown = set(tasks or ()) - known
        if unknown:
            raise ValueError(f"unknown MVBench tasks {sorted(unknown)}")
        self.tasks = [t for t in MVBENCH_TASKS if tasks is None or t[0] in tasks]
        self.fps, self.min_frames, self.max_frames = fps, min_frames, max_frames
        self.episode_frames, self.use_bounds = episode_frames, use_bounds

    def load_index(self) -> list[dict]:
        records = []
        for task, file, folder, kind in self.tasks:
            path = self.data_dir / "json" / file
            rows = load_json(path, self.name)
            if not isinstance(rows, list):
                raise DataError(self.name, "-", path, "expected a JSON list of questions")
            for i, row in enumerate(rows):
                rec = {"id": f"{file.rsplit('.', 1)[0]}/{i}", "file": path, "task": task, "kind": kind}
                try:
                    candidates = [str(c) for c in row["candidates"]]
                    answer = str(row["answer"])
                    if answer not in candidates:
                        raise ValueError(f"answer {answer!r} is not among the candidates")
                    video = self.inside(self.data_dir / "video" / folder, row["video"], rec["id"], path, "video")
                    rec.update(video=video, question=str(row["question"]))
                    rec.update(options=candidates, answer=chr(65 + candidates.index(answer)), answer_text=answer)
                    rec.update(bounds=(row.get("start"), row.get("end")))
                except DataError as err:
                    rec["error"] = f"row {i}: {err.msg}"
                except (KeyError, TypeError, ValueError) as exc:
                    rec["error"] = f"malformed row {i}: {type(exc).__name__}: {exc}"
                records.append(rec)
        return records

    def frame_positions(self, record: dict, reader) -> np.ndarray:
        n = reader.num_frames
        if record["kind"] == "frame":
            step = max(n // max(self.episode_frames - 1, 1), 1)
            return np.arange(0, n, step)[: self.episode_frames]
        start, end = 0, n - 1
        if self.use_bounds and None not in record["bounds"] and reader.fps:
            start = min(max(int(math.ceil(float(record["bounds"][0]) * reader.fps)), 0), n - 1)
            end = min(max(int(float(record["bounds"][1]) * reader.fps), start), n - 1)
        count = qwen_frame_count(end - start + 1, reader.fps, self.fps, self.min_frames, self.max_frames)
        return linspace_indices(start, end, count)

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        reader = self.open_video(record["video"], rid)
        positions = self.frame_positions(record, reader)
        frames = reader.get(positions)
        question = record["question"].strip() + options_text(record["options"]) + BEST_OPTION_SUFFIX
        conv = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": MVBENCH_PRESEED, "open": True, "train": False},
        ]
        meta = {
            "path": str(record["video"]),
            "task": record["task"],
            "answer": record["answer"],
            "answer_text": record["answer_text"],
            "options": record["options"],
            "frame_indices": positions.tolist(),
            "llm_frame_index": list(range(len(positions))),
            "pixel_budget": self.pixel_budget,
        }
        if record["kind"] != "frame":  # a video file, read as Qwen's video reader does (D3, D4)
            span = int(positions[-1] - positions[0] + 1)
            meta.update(llm_resize="torch", sample_fps=sampled_fps(len(positions), span, reader.fps))
        return Sample(rid, self.name, frames, conv, as_video=True, data_type=self.data_type, meta=meta)
