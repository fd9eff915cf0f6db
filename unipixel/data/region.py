"""Building blocks shared by the region (`<|mem|>`), referring (`<|ref|>`) and memory-task loaders (docs/design.md
§1.4, §1.5, §4.4, §4.6), and the evaluation-view helper of video samples.

- `temporal_groups` / `memory_text`: which (object, temporal group) entries exist in `(O, T, H, W)` masks, and the
  memory prefix listing one `<|mem|>` per entry ("[ID]: <1>-<2> <|mem|> ..." for videos, "[ID]: <|mem|>" for images).
- `prompt_kinds` / `prompt_rows`: the point / box split of a referring dataset (a pure function of the seed, B15) and
  one `Sample.ref_prompts` row per object on a frame where it is visible.
- `fake_option`, `tag_refs`: the memory-task question ("{question}\\nOptions:\\n(X) {answer}", objects "[ID] <|ref|>")
  and its answer "[ID] <|seg|> ...".
- `llm_view`: a video-segmentation evaluation sample (all frames, for SAM 2) restricted to the frames shown to the LLM
  (`meta["llm_frame_index"]`, which `PixelProcessor` otherwise applies itself).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from .processor import Sample
from .sampling import BOX, POINT, center_point, choose_prompt_frame, prompt_row, split_point_box
from .templates import MEM, REF, SEG, memory_prefix

BRACKET_ID = re.compile(r"\[(\d+)\]")


def temporal_groups(masks: np.ndarray) -> list[list[int]]:
    """Per object, the Qwen temporal groups (frame pairs; an odd last frame pairs with itself) where it has pixels.

    Args:
        masks: `(O, T, H, W)` bool object masks on the frames shown to the LLM.
    """
    masks = np.asarray(masks, dtype=bool)
    present = masks.reshape(masks.shape[0], masks.shape[1], -1).any(-1)  # (O, T)
    if present.shape[1] % 2:
        present = np.concatenate([present, present[:, -1:]], axis=1)
    pairs = present.reshape(present.shape[0], -1, 2).any(-1)  # (O, T / 2)
    return [np.flatnonzero(row).tolist() for row in pairs]


def memory_text(object_ids, masks: np.ndarray, video: bool = True) -> str:
    """The memory prefix of docs/design.md §1.5 for objects `object_ids` (display order) with masks `(O, T, H, W)`.

    Video: "Here is a video with T frames denoted as <1> to <T>. ...\\n[ID]: <1>-<2> <|mem|> ...\\n", one `<|mem|>` per
    temporal group where the object has pixels. Image (`video=False`, T = 1):
    "...highlighted regions:\\n[ID]: <|mem|>\\n" without frame tags (B16: the demo's "[0]: <1> <|mem|>" is not the
    training format).

    Raises ValueError when an object has no pixels on any frame (its memory would be empty).
    """
    groups = temporal_groups(masks)
    ids = [str(i) for i in object_ids]
    if len(ids) != len(groups):
        raise ValueError(f"{len(ids)} object ids but {len(groups)} object masks")
    empty = [i for i, g in zip(ids, groups) if not g]
    if empty:
        raise ValueError(f"objects {empty} have empty memory masks on the sampled frames")
    if not video:
        return memory_prefix({i: [0] for i in ids})
    return memory_prefix(dict(zip(ids, groups)), num_frames=int(np.asarray(masks).shape[1]))


def count_mem(text: str) -> int:
    return text.count(MEM)


# ------------------------------------------------------------------------------------------------------ prompts
def prompt_kinds(num_records: int, seed: int) -> list[str]:
    """`point` or `box` for each record of a referring dataset: half (floor) of them points, chosen by `seed` alone,
    so every rank computes the same split without a broadcast (B15)."""
    return ["point" if p else "box" for p in split_point_box(num_records, seed)]


def prompt_rows(masks: np.ndarray, kinds, rng: np.random.Generator | None, frame: int | None = None) -> np.ndarray:
    """One `[kind, x1, y1, x2, y2, frame]` row per object of `(O, T, H, W)` masks.

    Training (`rng`): the prompt frame is random among the frames where the object is visible, the point uniform inside
    the mask, the box the mask box with SAM-style jitter. Evaluation (`rng=None`): the prompt is on `frame` (or the
    first visible frame), the point is the interior point farthest from the boundary, the box the exact mask box.

    Args:
        kinds: per object `point` / `box` (or one string for all).
    """
    masks = np.asarray(masks, dtype=bool)
    if isinstance(kinds, str):
        kinds = [kinds] * len(masks)
    rows = []
    for obj, kind in zip(masks, kinds):
        t = choose_prompt_frame(obj, rng) if frame is None else int(frame)
        if not obj[t].any():
            raise ValueError(f"the object has no pixels on its prompt frame {t}")
        code = {"point": POINT, "box": BOX}[kind]
        rows.append(prompt_row(code, obj, t, rng))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 6), np.float32)


def eval_point(mask: np.ndarray) -> np.ndarray:
    """The deterministic evaluation click of a `(H, W)` mask (re-exported for benchmark builders)."""
    return center_point(mask)


# ------------------------------------------------------------------------------------------------------ memory tasks
def fake_option(question: str, answer: str, rng: np.random.Generator | None) -> str:
    """ "{question}\\nOptions:\\n(X) {answer}" with a random letter X in A-D (A without `rng`): the correct answer as a
    single option, so training questions look like the multiple-choice prompts of PixelQA (docs/design.md §4.6)."""
    letter = "ABCD"[int(rng.integers(4))] if rng is not None else "A"
    return f"{question}\nOptions:\n({letter}) {answer}"


def tag_refs(question: str, object_ids) -> tuple[str, str]:
    """Insert `<|ref|>` after the first mention "[ID]" of each object; the answer lists "[ID] <|seg|>" in that order."""
    for oid in object_ids:
        tag = f"[{oid}]"
        pos = question.find(tag)
        if pos < 0:
            raise ValueError(f"object {tag} is not mentioned in the question")
        end = pos + len(tag)
        question = question[:end] + f" {REF}" + question[end:]
    answer = " ".join(f"[{oid}] {SEG}" for oid in object_ids)
    return question, answer


def first_mentions(text: str) -> list[str]:
    """Object ids written "[n]" in `text`, in order of first mention."""
    seen: list[str] = []
    for m in BRACKET_ID.findall(text):
        oid = str(int(m))
        if oid not in seen:
            seen.append(oid)
    return seen


# ------------------------------------------------------------------------------------------------------ evaluation
def evaluation_only(dataset, strict: bool | None) -> None:
    """Make a benchmark loader build evaluation samples whatever its split label (single-split benchmarks: the split
    only names the results): deterministic sampling, fixed wording, strict errors unless `strict=False`."""
    dataset.training = False
    dataset.sample_type = "uniform"
    dataset.strict = True if strict is None else strict


# ------------------------------------------------------------------------------------------------------ evaluation view
def llm_view(sample: Sample) -> Sample:
    """The evaluation sample restricted to the frames the LLM sees.

    Video segmentation benchmarks return every frame of the video in `sample.frames` (SAM 2 propagates over all of
    them) and list the LLM's frames in `sample.meta["llm_frame_index"]`; `PixelProcessor` applies that index itself
    (LLM inputs from those frames, SAM 2 inputs from all). This returns a copy holding only those frames (and the
    matching `refer_masks` / `seg_masks` / `gt_masks`), without the index: for viewers, or for a CLI-style run where
    SAM 2 sees the LLM's frames only. Samples without the key are returned unchanged.
    """
    index = sample.meta.get("llm_frame_index")
    if index is None or sample.frames is None:
        return sample
    index = np.asarray(index, dtype=np.int64)
    meta = {k: v for k, v in sample.meta.items() if k != "llm_frame_index"}
    for key in ("gt_masks", "gt_masks_raw"):
        if meta.get(key) is not None:
            meta[key] = np.asarray(meta[key])[:, index]
    if meta.get("foreground_masks") is not None:
        meta["foreground_masks"] = np.asarray(meta["foreground_masks"])[index]
    if meta.get("frame_names") is not None:
        meta["frame_names"] = [meta["frame_names"][i] for i in index]
    if meta.get("frame_indices") is not None:
        meta["frame_indices"] = [meta["frame_indices"][i] for i in index]

    def pick(masks):
        return None if masks is None else np.asarray(masks)[:, index]

    # refer_masks and ref_prompt frames already refer to the LLM frames (processor convention)
    return dataclasses.replace(
        sample, frames=np.asarray(sample.frames)[index], seg_masks=pick(sample.seg_masks), meta=meta
    )
