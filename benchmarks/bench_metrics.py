"""J&F throughput: `unipixel.eval.metrics` against the official DAVIS-2017 evaluation recipe, on two kinds of masks.

Run:  python benchmarks/bench_metrics.py [--frames 50] [--threads N] [--repeat 3] [--quick]
(--quick: 8 frames at quarter size, a smoke run that tests/eval/test_bench_metrics.py executes).

Reference ("official"): the recipe of the davis2017-evaluation toolkit that the MeViS, ReVOS and Ref-DAVIS17 evaluators
inherit, step for step: J over the whole clip at once (boolean casts, a void mask, intersection and union sums, 1 for
an empty union); F frame by frame (a void mask applied to both masks, the 1-px boundary map by zero-filled shifts and
the last row / column recomputed, `cv2.dilate` of each boundary by skimage's `disk(ceil(0.008 * diagonal))`, matches
as products, precision / recall / F with the empty-boundary conventions). It is re-written here from that description.

Masks:
- compact: one object per frame, an ellipse of about 4 % of the frame with a wavy outline, drifting across the clip;
  the prediction is the same object slightly displaced with a differently wavy outline.
- full-frame: a large object covering about 70 % of the frame whose outline is jagged at a 6-px scale everywhere;
  the prediction adds finer noise to the same field, so both boundaries run across the whole frame.
Each kind includes a few frames with an empty prediction, an empty ground truth, an exact match and nothing at all.

Printed: frames/s of the official recipe and of ours (one thread, OpenCV included; and an N-thread pool), the ratios,
and the largest difference in any frame's J or F, which must be exactly 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

import cv2
import numpy as np
from skimage.morphology import disk as sk_disk

# Running as `python benchmarks/bench_metrics.py` puts benchmarks/ (not the repo root) on sys.path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from unipixel.eval.metrics.boundary import f_from_counts, frame_counts  # noqa: E402
from unipixel.eval.metrics.region import iou_from_counts  # noqa: E402

SIZES = ((480, 854), (720, 1280))
QUICK_SIZES = ((120, 214), (180, 320))  # smoke run: same code paths, a quarter of each side
KINDS = ("compact", "full-frame")


# ------------------------------------------------------------------------------------------------------------ masks
def _field(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth Gaussian noise with features about `cell` px wide (bicubic upsampling of a coarse grid)."""
    coarse = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _specials(pred: np.ndarray, gt: np.ndarray) -> None:
    if len(pred) >= 8:
        pred[1] = False  # missed object
        gt[2] = False  # object absent, false positive predicted
        pred[3] = gt[3]  # perfect frame
        gt[4] = pred[4] = False  # nothing anywhere


def compact_masks(frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gt = np.empty((frames, height, width), dtype=bool)
    pred = np.empty_like(gt)
    ry, rx = 0.12 * height, 0.1 * width
    for t in range(frames):
        cy = height * (0.3 + 0.4 * t / max(frames - 1, 1))
        cx = width * (0.25 + 0.5 * t / max(frames - 1, 1))
        wave_gt = 0.08 * _field(rng, height, width, 24)
        wave_pred = 0.08 * _field(rng, height, width, 24)
        radius = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        gt[t] = radius + wave_gt <= 1
        shifted = ((yy - cy - 3) / ry) ** 2 + ((xx - cx + 2) / rx) ** 2
        pred[t] = shifted + wave_pred <= 1
    _specials(pred, gt)
    return pred, gt


def full_frame_masks(frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = np.empty((frames, height, width), dtype=bool)
    pred = np.empty_like(gt)
    for t in range(frames):
        base = _field(rng, height, width, 96) + 0.3 * _field(rng, height, width, 6)
        threshold = np.quantile(base[::8, ::8], 0.3)
        gt[t] = base > threshold
        pred[t] = base + 0.1 * _field(rng, height, width, 3) > threshold
    _specials(pred, gt)
    return pred, gt


MAKERS = {"compact": compact_masks, "full-frame": full_frame_masks}


# ---------------------------------------------------------------------------------------- the official recipe
def _official_boundary(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    seg[seg > 0] = 1
    assert np.atleast_3d(seg).shape[2] == 1
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    b = seg ^ east | seg ^ south | seg ^ south_east
    b[-1, :] = seg[-1, :] ^ east[-1, :]
    b[:, -1] = seg[:, -1] ^ south[:, -1]
    b[-1, -1] = 0
    return b


def _official_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    assert np.atleast_3d(pred).shape[2] == 1
    void = np.zeros_like(pred).astype(bool)
    radius = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(pred.shape))
    pred_b = _official_boundary(pred * np.logical_not(void))
    gt_b = _official_boundary(gt * np.logical_not(void))
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), sk_disk(radius).astype(np.uint8))
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), sk_disk(radius).astype(np.uint8))
    gt_match = gt_b * pred_dil
    pred_match = pred_b * gt_dil
    n_pred, n_gt = np.sum(pred_b), np.sum(gt_b)
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = np.sum(pred_match) / float(n_pred), np.sum(gt_match) / float(n_gt)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _official_j(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    gt, pred = gt.astype(bool), pred.astype(bool)
    void = np.zeros_like(pred)
    inter = np.sum((pred & gt) & np.logical_not(void), axis=(-2, -1))
    union = np.sum((pred | gt) & np.logical_not(void), axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = inter / union
    j[np.isclose(union, 0)] = 1
    return j


def official_j_and_f_frames(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame (J, F) as float64 `(T, 2)` by the official recipe."""
    j = _official_j(gt, pred)
    f = np.array([_official_f(p, g) for p, g in zip(pred, gt)])
    return np.stack([j, f], axis=1)


def ours_j_and_f_frames(pred: np.ndarray, gt: np.ndarray, num_threads: int) -> np.ndarray:
    c = frame_counts(pred, gt, num_threads=num_threads)
    return np.stack([iou_from_counts(c[:, 0], c[:, 1]), f_from_counts(c[:, 2], c[:, 3], c[:, 4], c[:, 5])], axis=1)


# ------------------------------------------------------------------------------------------------------- timing
def _best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(frames: int, threads: int, repeat: int, sizes=SIZES, kinds=KINDS) -> list[dict]:
    """Measure every (mask kind, size); returns one row each (also printed as a table)."""
    rows = []
    cv2_threads = cv2.getNumThreads()
    try:
        for kind in kinds:
            for height, width in sizes:
                pred, gt = MAKERS[kind](frames, height, width)
                ours_j_and_f_frames(pred[:2], gt[:2], 1)  # warm-up (first OpenCV calls allocate)
                cv2.setNumThreads(1)  # every single-thread column: no OpenCV-internal parallelism either
                t_ref, ref = _best_time(partial(official_j_and_f_frames, pred, gt), repeat)
                t_one, ours_one = _best_time(partial(ours_j_and_f_frames, pred, gt, 1), repeat)
                cv2.setNumThreads(cv2_threads)
                t_many, ours_many = _best_time(partial(ours_j_and_f_frames, pred, gt, threads), repeat)
                diff = max(float(np.max(np.abs(x - ref))) for x in (ours_one, ours_many))
                rows.append(
                    {
                        "kind": kind,
                        "height": height,
                        "width": width,
                        "frames": frames,
                        "foreground": float(gt.mean()),
                        "ref_fps": frames / t_ref,
                        "ours_fps_1t": frames / t_one,
                        "ours_fps_nt": frames / t_many,
                        "threads": threads,
                        "max_abs_diff": diff,
                    }
                )
    finally:
        cv2.setNumThreads(cv2_threads)
    return rows


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'masks':>10} {'size':>10} {'frames':>6} {'official fps':>12} {'ours fps 1t':>11} {'ours fps Nt':>11} "
        f"{'x official 1t':>13} {'x official Nt':>13} {'max |diff|':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['kind']:>10} {r['height']:>4}x{r['width']:<5} {r['frames']:>6} {r['ref_fps']:>12.1f} "
            f"{r['ours_fps_1t']:>11.1f} {r['ours_fps_nt']:>11.1f} {r['ours_fps_1t'] / r['ref_fps']:>12.1f}x "
            f"{r['ours_fps_nt'] / r['ref_fps']:>12.1f}x {r['max_abs_diff']:>10.1e}"
        )
    lines.append(
        "official: the DAVIS-2017 toolkit's recipe (cv2.dilate with skimage's disk, frame by frame), one thread; "
        f"1t: ours on one thread (OpenCV too); Nt: ours on a {rows[0]['threads']}-thread pool over frames"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="thread-pool size for the Nt column")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 small frames per size, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        rows = run(8, args.threads, 1, QUICK_SIZES)
    else:
        rows = run(args.frames, args.threads, args.repeat)
    print(format_table(rows))
    worst = max(r["max_abs_diff"] for r in rows)
    if worst != 0:
        raise AssertionError(f"our J/F differ from the official recipe by {worst:.3e}")
    return rows


if __name__ == "__main__":
    main()
