"""Region similarity: per-frame J (DAVIS `db_eval_iou`) and the volume IoU / pixel F1 used by PixelQA (docs/design.md
§5.2, §6).

All functions take `(T, H, W)` (or a single `(H, W)`) masks as numpy arrays or torch tensors; any non-zero value is
foreground.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import as_bool_frames, check_same_shape


def count_per_frame(masks: np.ndarray) -> np.ndarray:
    """Number of non-zero pixels of each frame of a `(T, H, W)` array, as int64 `(T,)`."""
    # np.count_nonzero on a whole frame is a SIMD popcount; with an `axis` it falls back to a much slower sum.
    return np.fromiter((np.count_nonzero(frame) for frame in masks), dtype=np.int64, count=len(masks))


def region_iou(pred: Any, gt: Any) -> np.ndarray:
    """Per-frame region similarity J = |P ∩ G| / |P ∪ G| of `(T, H, W)` masks, returned as float64 `(T,)`.

    A frame whose union is empty (nothing predicted, nothing annotated) scores 1, as in the DAVIS toolkit.
    """
    pred_b, gt_b = as_bool_frames(pred, "pred"), as_bool_frames(gt, "gt")
    check_same_shape(pred=pred_b, gt=gt_b)
    inter = count_per_frame(pred_b & gt_b)
    union = count_per_frame(pred_b | gt_b)
    return iou_from_counts(inter, union)


def iou_from_counts(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """`inter / union` per entry with the empty-union convention (→ 1)."""
    inter = np.asarray(inter, dtype=np.float64)
    union = np.asarray(union, dtype=np.float64)
    out = np.ones_like(union)
    nonempty = union > 0
    np.divide(inter, union, out=out, where=nonempty)
    return out


def volume_iou(pred: Any, gt: Any) -> float:
    """One IoU over the stacked `T x H x W` volume (PixelQA's J; not a mean of per-frame IoUs).

    Both volumes empty → 1 (nothing to find, nothing predicted).
    """
    pred_b, gt_b = as_bool_frames(pred, "pred"), as_bool_frames(gt, "gt")
    check_same_shape(pred=pred_b, gt=gt_b)
    inter = np.count_nonzero(pred_b & gt_b)
    union = np.count_nonzero(pred_b | gt_b)
    return 1.0 if union == 0 else inter / union


def volume_f1(pred: Any, gt: Any) -> float:
    """Pixel-level F1 over the stacked `T x H x W` volume (PixelQA's F; a region measure, not the DAVIS boundary F).

    precision = |P ∩ G| / |P|, recall = |P ∩ G| / |G|, F1 = 2PR / (P + R). Conventions:
      - both volumes empty → 1;
      - exactly one empty → 0 (the empty side's ratio is undefined; the other is 0, so no F1 could be earned);
      - no overlap (P + R == 0) → 0.
    """
    pred_b, gt_b = as_bool_frames(pred, "pred"), as_bool_frames(gt, "gt")
    check_same_shape(pred=pred_b, gt=gt_b)
    n_pred = np.count_nonzero(pred_b)
    n_gt = np.count_nonzero(gt_b)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    inter = np.count_nonzero(pred_b & gt_b)
    precision = inter / n_pred
    recall = inter / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
