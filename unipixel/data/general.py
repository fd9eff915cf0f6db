"""General visual instruction data in the LLaVA format: LLaVA-1.5-mix-665K + VideoGPT+ 576K (key
`llava_instruct_665k_videogpt_plus_576k`).

File (relative to the data root): general/llava_v1_5_mix665k_with_videogpt_plus_576k.json, a JSON list (or JSONL) of
rows `{id, image | video (neither: text-only), conversations: [{from: human|gpt, value}, ...]}`; images under
`llava_instruct/`, videos under `videogpt_plus/`.

- image rows go through Qwen's *image* path (`as_video=False`, one frame); data type `multimodal`;
- video rows: about 2 fps, at most `sample_frames` (8) frames spread uniformly over the video (in training too, like
  Qwen's reader), through the video path; data type `multimodal`;
- text-only rows have no frames; data type `text`.
The `<image>` / `<video>` placeholder (with its newline) is removed from the first human turn; the processor puts the
visual before the first user text. A placeholder in a later turn, or in a row without that visual, is a malformed row.
"""

from __future__ import annotations

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .processor import Sample
from .sampling import fps_indices, sampled_fps

ROLES = {"human": "user", "gpt": "assistant"}
PLACEHOLDERS = ("<image>", "<video>")


def strip_placeholder(text: str, token: str) -> str:
    """Remove `token` and the newline that joins it to the text (`"<image>\\nQ"`, `"Q\\n<image>"`)."""
    return text.replace(f"{token}\n", "").replace(f"\n{token}", "").replace(token, "").strip()


class LlavaDataset(BaseDataset):
    """LLaVA-format rows with an image, a video or no visual.

    Args:
        annotation: the row file (JSON list or JSONL).
        image_dir, video_dir: folders joined with a row's `image` / `video`.
        video_fps: frames per second drawn from a video (capped at `sample_frames`).
        **kwargs: `BaseDataset` arguments.
    """

    key = "llava_instruct_665k_videogpt_plus_576k"
    data_type = "multimodal"

    def __init__(
        self,
        annotation: str = "general/llava_v1_5_mix665k_with_videogpt_plus_576k.json",
        image_dir: str = "llava_instruct",
        video_dir: str = "videogpt_plus",
        video_fps: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.annotation_file = self.path(annotation)
        self.image_dir, self.video_dir = self.path(image_dir), self.path(video_dir)
        self.video_fps = video_fps
        self._rows: list = []

    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        self._rows = rows
        records = []
        for i, row in enumerate(rows):
            ok = isinstance(row, dict)
            rid = str(row.get("id", i)) if ok else str(i)
            kind = "multimodal" if ok and ("image" in row or "video" in row) else "text"
            records.append({"id": rid, "row": i, "file": self.annotation_file, "data_type": kind})
        return records

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid, row = record["id"], self._rows[record["row"]]

        def malformed(msg):
            return DataError(self.name, rid, self.annotation_file, f"malformed row {record['row']}: {msg}")

        if not isinstance(row, dict):
            raise malformed(f"expected an object, got {type(row).__name__}")
        turns = row.get("conversations")
        if not isinstance(turns, list) or not turns:
            raise malformed("no `conversations` list")
        if "image" in row and "video" in row:
            raise malformed("has both `image` and `video`")
        conv = []
        for k, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("from") not in ROLES or not isinstance(turn.get("value"), str):
                raise malformed(f"turn {k} is not {{from: human|gpt, value: str}}")
            conv.append({"role": ROLES[turn["from"]], "content": turn["value"]})
        if conv[0]["role"] != "user":
            raise malformed("the first turn is not from `human`")
        visual = "image" if "image" in row else "video" if "video" in row else None
        for k, turn in enumerate(conv):
            for token in PLACEHOLDERS:
                if token in turn["content"] and (k > 0 or visual is None or token != f"<{visual}>"):
                    raise malformed(f"unexpected {token} placeholder in turn {k}")
        if visual is not None:
            conv[0]["content"] = strip_placeholder(conv[0]["content"], f"<{visual}>")
        meta = {"path": str(self.annotation_file), "row": record["row"]}
        if visual == "image":
            path = self.inside(self.image_dir, row["image"], rid, self.annotation_file, "image")
            frames = self.read_image(path, rid)
            meta.update(path=str(path), source="llava_instruct_665k")
            return Sample(rid, self.name, frames, conv, as_video=False, data_type="multimodal", meta=meta)
        if visual == "video":
            path = self.inside(self.video_dir, row["video"], rid, self.annotation_file, "video")
            reader = self.open_video(path, rid)
            # uniform over the whole video, as Qwen's own video reader does for this data (also in training)
            indices = fps_indices(reader.num_frames, reader.fps, self.video_fps, max(self.sample_frames, 1))
            frames = reader.get(indices)
            meta.update(path=str(path), source="videogpt_plus_576k", frame_indices=indices.tolist())
            # read as Qwen's video reader does: torch resize (D3), temporal step from the sampling rate (D4)
            meta.update(llm_resize="torch", sample_fps=sampled_fps(len(indices), reader.num_frames, reader.fps))
            return Sample(rid, self.name, frames, conv, as_video=True, data_type="multimodal", meta=meta)
        meta["source"] = "llava_instruct_665k"
        return Sample(rid, self.name, None, conv, data_type="text", meta=meta)
