"""Frame sampling and sparse-prompt sampling (docs/design.md §4.2, §1.4, §6), all driven by an explicit
`numpy.random.Generator`.

Nothing here touches `torch.distributed` (B15): a split that must agree across ranks (which samples get point prompts
and which get boxes) is a pure function of a seed, so every rank computes the same answer without communicating.

Frame indices are positions in the frame list the caller holds (all video frames, or only the annotated ones);
prompt coordinates are frame pixels `x` (column) and `y` (row), the convention of `Sample.ref_prompts`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# ------------------------------------------------------------------------------------------------------ frames


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """`round(k (V - 1) / (n - 1))` for k = 0..n-1: first and last frame included; all frames when V <= n.
    A single frame (n = 1) is the middle one."""
    if num_frames <= 0:
        raise ValueError("cannot sample from an empty video")
    if n <= 0 or num_frames <= n:
        return np.arange(num_frames)
    if n == 1:
        return np.array([(num_frames - 1) // 2])
    return np.rint(np.arange(n) * (num_frames - 1) / (n - 1)).astype(np.int64)


def random_indices(num_frames: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """One random index in each of n equal consecutive segments of [0, V); all frames when V <= n."""
    if num_frames <= 0:
        raise ValueError("cannot sample from an empty video")
    if n <= 0 or num_frames <= n:
        return np.arange(num_frames)
    edges = (np.arange(n + 1) * num_frames) // n  # every segment holds at least one frame since V > n
    return rng.integers(edges[:-1], edges[1:])


def sample_indices(num_frames: int, n: int, sample_type: str = "uniform", rng: np.random.Generator | None = None):
    """`uniform` or `random` (needs `rng`) sampling of n out of V frames; sorted, unique."""
    if sample_type == "uniform":
        return uniform_indices(num_frames, n)
    if sample_type == "random":
        if rng is None:
            raise ValueError("random frame sampling needs a numpy Generator")
        return random_indices(num_frames, n, rng)
    raise ValueError(f"unknown sample_type {sample_type!r}; expected 'uniform' or 'random'")


def force_index(indices: np.ndarray, frame: int) -> np.ndarray:
    """Put `frame` into sorted `indices` by replacing the closest sampled index (ties: the earlier one)."""
    indices = np.asarray(indices, dtype=np.int64)
    if frame in indices:
        return indices
    out = indices.copy()
    out[int(np.argmin(np.abs(out - frame)))] = frame
    return np.unique(out)


def force_frames(indices: Sequence[int], required: Sequence[int] = ()) -> list[int]:
    """Sorted `indices` with every `required` frame forced in: each replaces the closest index that is not itself
    required (ties: the earlier one), or joins when none is left."""
    index = [int(i) for i in indices]
    required = sorted({int(f) for f in required})
    for frame in required:
        if frame in index:
            continue
        free = [j for j, v in enumerate(index) if v not in required]
        if free:
            index[min(free, key=lambda j: (abs(index[j] - frame), index[j]))] = frame
        else:
            index.append(frame)
    return sorted(set(index))


def sample_annotated(
    annotated: Sequence[int],
    n: int,
    sample_type: str = "uniform",
    rng: np.random.Generator | None = None,
    force: int | None = None,
) -> np.ndarray:
    """Clip drawn from the annotated frame numbers only (VideoRefer-style region / memory samples, PixelQA).

    Args:
        annotated: frame numbers (positions in the full video) that carry masks, any order.
        n: clip length; all annotated frames when there are at most n.
        force: a frame number (the prompt frame, must be annotated) that must be in the clip.

    Returns sorted frame numbers (a subset of `annotated`).
    """
    frames = np.unique(np.asarray(annotated, dtype=np.int64))
    if force is not None and force not in frames:
        raise ValueError(f"forced frame {force} is not among the annotated frames")
    pos = sample_indices(len(frames), n, sample_type, rng)
    if force is not None:
        pos = force_index(pos, int(np.searchsorted(frames, force)))
    return frames[pos]


def sample_single_frame_mode(
    num_frames: int, annotated_frame: int, n: int, sample_type: str = "uniform", rng: np.random.Generator | None = None
) -> np.ndarray:
    """Single-frame mode (one annotated frame): n frames from the whole video with the sampled index closest to the
    annotated frame replaced by it. The caller keeps the mask on that frame only."""
    if not 0 <= annotated_frame < num_frames:
        raise ValueError(f"annotated frame {annotated_frame} outside the video's {num_frames} frames")
    return force_index(sample_indices(num_frames, n, sample_type, rng), annotated_frame)


def qwen_frame_count(num_frames: int, video_fps: float | None, fps: float = 2.0, lo: int = 4, hi: int = 16) -> int:
    """Qwen2.5-VL's frame count for a video file (its `smart_nframes`), as the released code samples them (D6).

    `duration * fps`, clamped to [lo, hi] and to the video's length, then floored to an even number (temporal pairs);
    at least 2 frames when the video has them. Without a known frame rate, `hi` frames (at most the video's).
    """
    want = num_frames / video_fps * fps if video_fps else hi
    count = min(max(want, lo), hi, num_frames)
    return max(2 * math.floor(count / 2), min(num_frames, 2))


def linspace_indices(start: int, end: int, count: int) -> np.ndarray:
    """`count` indices from `start` to `end` inclusive, evenly spaced and rounded (first and last included)."""
    if count <= 1:
        return np.array([start])
    return np.rint(np.linspace(start, end, count)).astype(np.int64)


def sampled_fps(count: int, span_frames: int, video_fps: float | None) -> float | None:
    """Rate of `count` frames sampled over `span_frames` frames of a `video_fps` video (Qwen's `sample_fps`), which
    sets the LLM's temporal position step (D4); None without a frame rate."""
    if not video_fps or span_frames <= 0:
        return None
    return count / span_frames * float(video_fps)


def fps_indices(
    num_frames: int,
    video_fps: float | None,
    fps: float = 2.0,
    max_frames: int = 8,
    min_frames: int = 4,
    sample_type: str = "uniform",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frames at about `fps` per second, at most `max_frames` (general video QA: 2 fps, <= 8 frames).

    The count is Qwen2.5-VL's (`qwen_frame_count`: `duration * fps` clamped to [min_frames, max_frames] and to the
    video, floored to even), as the released code reads these videos (D6: a 2.9 s clip gives 4 frames, not 6). The
    frames are then sampled with `sample_type` over the whole video (`uniform`: Qwen's rounded linspace).
    """
    count = qwen_frame_count(num_frames, video_fps, fps, min_frames, max_frames)
    return sample_indices(num_frames, max(count, 1), sample_type, rng)


def stride_indices(num_frames: int, stride: int, offset: int = 0) -> np.ndarray:
    """Every `stride`-th frame starting at `offset` (SA-V annotates every 4th frame)."""
    return np.arange(offset, num_frames, stride)


# ------------------------------------------------------------------------------------------------------ prompts
POINT, BOX = 0, 1


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """Tight box `[x1, y1, x2, y2]` of a `(H, W)` mask in pixel-index coordinates (inclusive); None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def sample_point(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One positive click `[x, y]` drawn uniformly among the mask's pixels (training point prompts)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("cannot sample a point in an empty mask")
    i = int(rng.integers(len(xs)))
    return np.array([xs[i], ys[i]], dtype=np.float32)


def center_point(mask: np.ndarray) -> np.ndarray:
    """The interior point farthest from the mask boundary (SAM's "center" click, used at evaluation): argmax of the
    Euclidean distance to the nearest background pixel, the image border counting as background. Deterministic."""
    if not np.any(mask):
        raise ValueError("cannot place a point in an empty mask")
    dist = ndimage.distance_transform_edt(np.pad(np.asarray(mask, dtype=bool), 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([x, y], dtype=np.float32)


def noisy_box(mask: np.ndarray, rng: np.random.Generator, noise: float = 0.1, max_noise: float = 20.0) -> np.ndarray:
    """Mask box with SAM-style jitter: each corner coordinate moves uniformly within ±`noise` of the box side, at most
    `max_noise` px, then the box is clamped to the image and kept ordered (`noise=0` gives the exact box)."""
    box = mask_box(mask)
    if box is None:
        raise ValueError("cannot box an empty mask")
    if noise > 0:
        w, h = box[2] - box[0], box[3] - box[1]
        bound = np.array([min(w * noise, max_noise), min(h * noise, max_noise)] * 2, dtype=np.float32)
        box = box + rng.uniform(-1.0, 1.0, 4).astype(np.float32) * bound
    height, width = mask.shape
    box = np.clip(box, 0, [width - 1, height - 1, width - 1, height - 1]).astype(np.float32)
    x1, x2 = sorted(box[0::2])
    y1, y2 = sorted(box[1::2])
    return np.array([x1, y1, x2, y2], dtype=np.float32)


def choose_prompt_frame(masks: np.ndarray, rng: np.random.Generator | None = None) -> int:
    """A frame (index into `masks` `(T, H, W)`) where the object is visible: random with `rng`, else the first."""
    visible = np.flatnonzero(np.asarray(masks).reshape(len(masks), -1).any(1))
    if len(visible) == 0:
        raise ValueError("the object is visible on no frame")
    return int(visible[0] if rng is None else rng.choice(visible))


def prompt_row(kind: int, masks: np.ndarray, frame: int, rng: np.random.Generator | None) -> np.ndarray:
    """One `Sample.ref_prompts` row `[kind, x1, y1, x2, y2, frame]` from an object's `(T, H, W)` masks.

    Training (`rng` given): a uniform click / a jittered box. Evaluation (`rng=None`): the centre click / the exact box.
    """
    mask = masks[frame]
    if kind == POINT:
        x, y = sample_point(mask, rng) if rng is not None else center_point(mask)
        return np.array([POINT, x, y, 0, 0, frame], dtype=np.float32)
    if kind == BOX:
        box = noisy_box(mask, rng) if rng is not None else noisy_box(mask, None, noise=0.0)
        return np.array([BOX, *box, frame], dtype=np.float32)
    raise ValueError(f"unknown prompt kind {kind}")


def split_point_box(num_samples: int, seed: int, point_fraction: float = 0.5) -> np.ndarray:
    """Which samples get point prompts (True) and which boxes (False): `floor(point_fraction * N)` random samples are
    points. A pure function of `seed`, so every rank agrees without a broadcast (B15)."""
    is_point = np.zeros(num_samples, dtype=bool)
    chosen = np.random.default_rng(seed).permutation(num_samples)[: int(point_fraction * num_samples)]
    is_point[chosen] = True
    return is_point
