"""ReVOS metrics: J, F, J&F plus accuracy A and robustness R per expression, and the subset aggregation
(docs/design.md §5.2).

Two conventions for A and R:

- default (binarised, what the metric is meant to measure): masks are read as `value != 0`;
  A = per-frame fraction of pixels where prediction and GT agree (foreground and background), frame-averaged;
  R = per-frame max(0, 1 - #(pred fg AND NOT GT fg) / (#foreground px + 1e-6)), frame-averaged, where the
  foreground is the union of all annotated objects on that frame (`mask_dict_foreground.json`).
- `published=True` reproduces the evaluator the released numbers come from (bug B17), which runs the same
  formulas on raw uint8 values: prediction PNGs hold 0/255, the GT is the uint8 *sum* of the expression's instance
  masks (1, or 2+ where instances overlap) and the foreground is the uint8 sum of the per-object masks when the RLE
  list decodes to several channels (else 0/1). Then, per frame:
    A = mean(gt == pred) on those values, so only background agreement counts (255 never equals 1 or 2);
    neg = sum over pixels of ((1 - gt) * pred) in uint8 wrap-around arithmetic: a false-positive pixel adds
          (1 * 255) = 255, a true positive on a single instance adds 0, and a true positive where two instances
          overlap adds (255 * 255) mod 256 = 1;
    pos = sum of the foreground values (overlapping objects count once per object);
    R = max(1 - neg / (pos + 1e-6), 0).
  J and F binarise in both modes, so they are identical. Bool inputs are converted to that encoding (pred → 0/255,
  GT and foreground → 0/1); other integer inputs must already hold the raw values (0..255).

Aggregation: `referring` = mean over expressions with type_id 0, `reason` = type_id 1, `overall` = arithmetic mean
of the two subset means (not sample-weighted); J&F of a subset = (J + F) / 2 of that subset. In published mode each
expression's values are first rounded like the original (`round(100 * v, 2)` on numpy floats) before averaging.
Results are fractions in [0, 1]; x100 gives the original's percentages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._arrays import as_bool_frames, check_same_shape, to_numpy
from .boundary import f_from_counts, frame_counts
from .region import count_per_frame, iou_from_counts

SUBSETS = {0: "referring", 1: "reason"}
METRICS = ("J", "F", "A", "R")


def _raw_uint8_frames(x: Any, name: str, true_value: int) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (T, H, W) or (H, W), got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(true_value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"published mode needs the raw integer PNG/RLE values for {name}, got dtype {arr.dtype}")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{name} values must lie in 0..255 for the uint8 arithmetic of published mode")
        arr = arr.astype(np.uint8)
    return arr


def _published_accuracy_robustness(pred: Any, gt: Any, foreground: Any) -> tuple[np.ndarray, np.ndarray]:
    pred_u = _raw_uint8_frames(pred, "pred", 255)
    gt_u = _raw_uint8_frames(gt, "gt", 1)
    fg_u = _raw_uint8_frames(foreground, "foreground", 1)
    check_same_shape(pred=pred_u, gt=gt_u, foreground=fg_u)
    t = len(pred_u)
    accuracy = count_per_frame(gt_u == pred_u) / (pred_u.shape[1] * pred_u.shape[2])
    # uint8 in, uint8 out: the wrap-around is the published behaviour, not an accident to fix here.
    false_pos = ((np.uint8(1) - gt_u) * pred_u).reshape(t, -1).sum(axis=1, dtype=np.uint64)
    fg_sum = fg_u.reshape(t, -1).sum(axis=1, dtype=np.uint64)
    robustness = np.maximum(1 - false_pos.astype(np.float64) / (fg_sum.astype(np.float64) + 1e-6), 0.0)
    return accuracy, robustness


def _binary_accuracy_robustness(pred_b: np.ndarray, gt_b: np.ndarray, foreground: Any) -> tuple[np.ndarray, np.ndarray]:
    fg_b = as_bool_frames(foreground, "foreground")
    check_same_shape(pred=pred_b, gt=gt_b, foreground=fg_b)
    accuracy = count_per_frame(pred_b == gt_b) / (pred_b.shape[1] * pred_b.shape[2])
    false_pos = count_per_frame(pred_b & ~gt_b).astype(np.float64)
    robustness = np.maximum(1 - false_pos / (count_per_frame(fg_b) + 1e-6), 0.0)
    return accuracy, robustness


def revos_metrics(
    pred: Any,
    gt: Any,
    foreground: Any,
    published: bool = False,
    bound_th: float = 0.008,
    num_threads: int = 1,
    counts: np.ndarray | None = None,
) -> dict[str, float]:
    """J, F, J&F, A, R of one ReVOS expression from `(T, H, W)` masks (numpy or torch).

    `gt` is the expression's target (union of its instances), `foreground` the union of every annotated object of
    the video on each frame. See the module docstring for the two conventions of A and R. `counts`: the
    `frame_counts` of these `pred` / `gt` (binarised, `bound_th`) when already computed, e.g. by the other mode: J and
    F do not depend on the mode, and the boundary matching is the expensive part.
    """
    pred_b, gt_b = as_bool_frames(pred, "pred"), as_bool_frames(gt, "gt")
    if counts is None:
        counts = frame_counts(pred_b, gt_b, bound_th, num_threads)
    elif counts.shape != (len(pred_b), 6):
        raise ValueError(f"counts must have shape ({len(pred_b)}, 6) for {len(pred_b)} frames, got {counts.shape}")
    c = counts
    j = float(np.mean(iou_from_counts(c[:, 0], c[:, 1])))
    f = float(np.mean(f_from_counts(c[:, 2], c[:, 3], c[:, 4], c[:, 5])))
    if published:
        accuracy, robustness = _published_accuracy_robustness(pred, gt, foreground)
    else:
        accuracy, robustness = _binary_accuracy_robustness(pred_b, gt_b, foreground)
    return {"J": j, "F": f, "J&F": (j + f) / 2, "A": float(np.mean(accuracy)), "R": float(np.mean(robustness))}


def aggregate_revos(
    records: Iterable[tuple[int, Mapping[str, float]]], published: bool = False
) -> dict[str, dict[str, float]]:
    """Subset and overall means from `(type_id, revos_metrics(...))` pairs; see the module docstring.

    A subset without expressions yields NaN for its metrics and hence for `overall`.
    """
    values: dict[str, dict[str, list[float]]] = {name: {m: [] for m in METRICS} for name in SUBSETS.values()}
    for type_id, metrics in records:
        if type_id not in SUBSETS:
            raise ValueError(f"unknown ReVOS type_id {type_id!r}; expected one of {sorted(SUBSETS)}")
        for m in METRICS:
            v = metrics[m]
            # The original rounds each expression to 0.01 % with numpy's round before averaging.
            values[SUBSETS[type_id]][m].append(float(np.round(np.float64(100 * v), 2)) if published else v)

    out: dict[str, dict[str, float]] = {}
    for name, per_metric in values.items():
        out[name] = {m: float(np.mean(v)) if v else float("nan") for m, v in per_metric.items()}
        out[name]["J&F"] = (out[name]["J"] + out[name]["F"]) / 2
    out["overall"] = {m: (out["referring"][m] + out["reason"][m]) / 2 for m in (*METRICS, "J&F")}
    if published:
        out = {name: {m: v / 100 for m, v in d.items()} for name, d in out.items()}
    return out
