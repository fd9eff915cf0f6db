"""J&F throughput: `unipixel.eval.metrics.j_and_f` against a straightforward per-frame reference.

Run:  python benchmarks/bench_metrics.py [--frames 100] [--threads N] [--repeat 5] [--quick]
(--quick: 8 frames at quarter size, a smoke run that tests/eval/test_bench_metrics.py executes).

The reference follows the DAVIS toolkit's recipe frame by frame (boundary map by shifted comparisons, scipy binary
dilation with skimage's disk, per-frame precision/recall). Masks are blob-like: cubic-upsampled Gaussian noise
(temporally correlated) thresholded to about 20 % foreground as the GT, and the same field plus finer noise as the
prediction, with a few empty-prediction, empty-GT and exact-match frames mixed in. The script prints frames/s of
both, the speed-up and the largest per-frame difference in J or F, and fails if that difference exceeds 1e-9.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

import cv2
import numpy as np
import scipy.ndimage as ndi
from skimage.morphology import disk as sk_disk

# Running as `python benchmarks/bench_metrics.py` puts benchmarks/ (not the repo root) on sys.path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from unipixel.eval.metrics.boundary import f_from_counts, frame_counts  # noqa: E402
from unipixel.eval.metrics.region import iou_from_counts  # noqa: E402

SIZES = ((480, 854), (720, 1280))
QUICK_SIZES = ((120, 214), (180, 320))  # smoke run: same code paths, a quarter of each side
MAX_ABS_DIFF = 1e-9


def make_masks(frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blob-like (pred, gt) bool `(T, H, W)` pairs; see the module docstring."""
    rng = np.random.default_rng(seed)
    coarse = (height // 48 + 2, width // 48 + 2)
    fine = (height // 12 + 2, width // 12 + 2)
    field = rng.standard_normal(coarse)
    gt = np.empty((frames, height, width), dtype=bool)
    pred = np.empty_like(gt)
    for t in range(frames):
        # AR(1) drift keeps consecutive frames similar, like a moving object.
        field = 0.9 * field + np.sqrt(1 - 0.81) * rng.standard_normal(coarse)
        smooth = cv2.resize(field.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        noise = cv2.resize(rng.standard_normal(fine).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        threshold = np.quantile(smooth[::8, ::8], 0.8)
        gt[t] = smooth > threshold
        pred[t] = smooth + 0.15 * noise > threshold
    if frames >= 8:
        pred[1] = False  # missed object
        gt[2] = False  # object absent, false positive predicted
        pred[3] = gt[3]  # perfect frame
        gt[4] = pred[4] = False  # nothing anywhere
    return pred, gt


def _reference_boundary(mask: np.ndarray) -> np.ndarray:
    mask = mask.astype(bool)
    east = np.zeros_like(mask)
    south = np.zeros_like(mask)
    south_east = np.zeros_like(mask)
    east[:, :-1] = mask[:, 1:]
    south[:-1, :] = mask[1:, :]
    south_east[:-1, :-1] = mask[1:, 1:]
    b = (mask ^ east) | (mask ^ south) | (mask ^ south_east)
    b[-1, :] = mask[-1, :] ^ east[-1, :]
    b[:, -1] = mask[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def _scipy_dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    return ndi.binary_dilation(mask, structure=sk_disk(radius))


def _cv2_dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), sk_disk(radius).astype(np.uint8)).astype(bool)


def reference_j_and_f_frames(pred: np.ndarray, gt: np.ndarray, dilate=_scipy_dilate, bound_th: float = 0.008):
    """Per-frame (J, F) as float64 `(T, 2)`, one frame at a time in the DAVIS toolkit's way."""
    out = np.empty((len(pred), 2))
    for t, (p, g) in enumerate(zip(pred, gt)):
        union = np.sum(p | g)
        out[t, 0] = 1.0 if union == 0 else np.sum(p & g) / union
        radius = np.ceil(bound_th * np.linalg.norm(p.shape))
        pb, gb = _reference_boundary(p), _reference_boundary(g)
        pb_dil, gb_dil = dilate(pb, radius), dilate(gb, radius)
        n_p, n_g = np.sum(pb), np.sum(gb)
        if n_p == 0 and n_g == 0:
            precision, recall = 1.0, 1.0
        elif n_p == 0:
            precision, recall = 1.0, 0.0
        elif n_g == 0:
            precision, recall = 0.0, 1.0
        else:
            precision, recall = np.sum(pb & gb_dil) / float(n_p), np.sum(gb & pb_dil) / float(n_g)
        out[t, 1] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return out


def ours_j_and_f_frames(pred: np.ndarray, gt: np.ndarray, num_threads: int) -> np.ndarray:
    c = frame_counts(pred, gt, num_threads=num_threads)
    return np.stack([iou_from_counts(c[:, 0], c[:, 1]), f_from_counts(c[:, 2], c[:, 3], c[:, 4], c[:, 5])], axis=1)


def _best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(frames: int, threads: int, repeat: int, sizes=SIZES) -> list[dict[str, float]]:
    """Measure every size; returns one row per size (also printed as a table)."""
    rows = []
    cv2_threads = cv2.getNumThreads()
    try:
        for height, width in sizes:
            pred, gt = make_masks(frames, height, width)
            ours_j_and_f_frames(pred[:2], gt[:2], 1)  # warm-up (first OpenCV calls allocate)
            # The scipy reference takes seconds per run, long enough to time once.
            t_ref, ref = _best_time(partial(reference_j_and_f_frames, pred, gt), 1)
            t_cv2, ref_cv2 = _best_time(partial(reference_j_and_f_frames, pred, gt, _cv2_dilate), repeat)
            # "1 thread" means no OpenCV-internal parallelism either.
            cv2.setNumThreads(1)
            t_one, ours_one = _best_time(partial(ours_j_and_f_frames, pred, gt, 1), repeat)
            cv2.setNumThreads(cv2_threads)
            t_many, ours_many = _best_time(partial(ours_j_and_f_frames, pred, gt, threads), repeat)
            diff = max(float(np.max(np.abs(x - ref))) for x in (ours_one, ours_many, ref_cv2))
            rows.append(
                {
                    "height": height,
                    "width": width,
                    "frames": frames,
                    "ref_fps": frames / t_ref,
                    "ref_cv2_fps": frames / t_cv2,
                    "ours_fps_1t": frames / t_one,
                    "ours_fps_nt": frames / t_many,
                    "threads": threads,
                    "max_abs_diff": diff,
                }
            )
    finally:
        cv2.setNumThreads(cv2_threads)
    return rows


def format_table(rows: list[dict[str, float]]) -> str:
    header = (
        f"{'size':>10} {'frames':>6} {'ref fps':>8} {'cv2-ref fps':>11} {'ours fps 1t':>11} {'ours fps Nt':>11} "
        f"{'x ref 1t':>8} {'x ref Nt':>8} {'x cv2 1t':>8} {'max |diff|':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['height']:>4}x{r['width']:<5} {r['frames']:>6} {r['ref_fps']:>8.1f} {r['ref_cv2_fps']:>11.1f} "
            f"{r['ours_fps_1t']:>11.1f} {r['ours_fps_nt']:>11.1f} {r['ours_fps_1t'] / r['ref_fps']:>7.1f}x "
            f"{r['ours_fps_nt'] / r['ref_fps']:>7.1f}x {r['ours_fps_1t'] / r['ref_cv2_fps']:>7.1f}x "
            f"{r['max_abs_diff']:>10.1e}"
        )
    lines.append(
        f"ref: per-frame DAVIS recipe with scipy binary_dilation + skimage disk; cv2-ref: the same with cv2.dilate "
        f"(davis2017-evaluation's choice); 1t: one thread (OpenCV too); Nt: {rows[0]['threads']}-thread pool"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="thread-pool size for the Nt column")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs (the scipy reference: 1 run)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 small frames per size, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        rows = run(8, args.threads, 1, QUICK_SIZES)
    else:
        rows = run(args.frames, args.threads, args.repeat)
    print(format_table(rows))
    worst = max(r["max_abs_diff"] for r in rows)
    if not worst <= MAX_ABS_DIFF:
        raise AssertionError(f"our J/F differ from the reference by {worst:.3e} > {MAX_ABS_DIFF}")
    return rows


if __name__ == "__main__":
    main()
