"""Image referring / reasoning segmentation metrics: cIoU, gIoU and BBox accuracy (docs/design.md §5.2).

Per sample, at original resolution: intersection I and union U of the binary prediction and GT (any non-zero value
is foreground), excluding pixels flagged in an optional `ignore` mask (ReasonSeg's "ignore" polygons) from both.
  cIoU = sum(I) / sum(U) over the split (cumulative IoU; 1 if every union is empty),
  gIoU = mean over samples of I / U, where a sample with U = 0 (nothing predicted, nothing to find) scores 1.
An accumulator without samples reports NaN.
BBox accuracy (REC-style, logged by the original but not reported in its README): the fraction of samples whose
predicted box has IoU >= 0.5 with the GT box. Boxes are `(x0, y0, x1, y1)` in pixel-edge coordinates (x1, y1 one past
the last foreground column/row, so a 1-px mask has area 1). The predicted box encloses the predicted mask after
dropping 8-connected components smaller than 10 px; the GT box encloses the GT mask (ignore pixels are not GT).
A side without a box (empty mask) makes the sample a miss, unless both sides are empty (then a hit, mirroring U = 0
→ 1 above).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ._arrays import to_numpy

Box = tuple[int, int, int, int]


def _as_bool_image(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got {arr.shape}")
    return arr if arr.dtype == np.bool_ else arr != 0


def intersection_union(pred: Any, gt: Any, ignore: Any | None = None) -> tuple[int, int]:
    """(I, U) pixel counts of `(H, W)` masks, leaving out the pixels where `ignore` is non-zero."""
    p, g = _as_bool_image(pred, "pred"), _as_bool_image(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"mask shapes differ: pred {p.shape}, gt {g.shape}")
    if ignore is not None:
        keep = ~_as_bool_image(ignore, "ignore")
        if keep.shape != p.shape:
            raise ValueError(f"ignore mask shape {keep.shape} differs from {p.shape}")
        p, g = p & keep, g & keep
    return int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g))


def mask_box(mask: Any, min_component_area: int = 0) -> Box | None:
    """Box enclosing the mask's 8-connected components of at least `min_component_area` px; None if none is left."""
    m = _as_bool_image(mask, "mask").astype(np.uint8)
    if min_component_area > 1:
        n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        kept = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= min_component_area]  # row 0 is the background
        if len(kept) == 0:
            return None
        x0 = int(kept[:, cv2.CC_STAT_LEFT].min())
        y0 = int(kept[:, cv2.CC_STAT_TOP].min())
        x1 = int((kept[:, cv2.CC_STAT_LEFT] + kept[:, cv2.CC_STAT_WIDTH]).max())
        y1 = int((kept[:, cv2.CC_STAT_TOP] + kept[:, cv2.CC_STAT_HEIGHT]).max())
        return x0, y0, x1, y1
    x, y, w, h = cv2.boundingRect(m)
    return None if w == 0 else (x, y, x + w, y + h)


def box_iou(a: Box, b: Box) -> float:
    """IoU of two pixel-edge boxes `(x0, y0, x1, y1)`."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def bbox_hit(pred: Any, gt: Any, iou_threshold: float = 0.5, min_component_area: int = 10) -> bool:
    """Whether the cleaned predicted-mask box matches the GT-mask box (see the module docstring)."""
    pred_box = mask_box(pred, min_component_area)
    gt_box = mask_box(gt)
    if pred_box is None or gt_box is None:
        return pred_box is None and gt_box is None
    return box_iou(pred_box, gt_box) >= iou_threshold


class IoUAccumulator:
    """Running cIoU / gIoU (and optionally BBox accuracy) over a split.

    >>> acc = IoUAccumulator()
    >>> acc.update(pred_mask, gt_mask)          # doctest: +SKIP
    >>> acc.result()                            # {"cIoU": ..., "gIoU": ..., "n": ...}  # doctest: +SKIP
    """

    def __init__(self, track_boxes: bool = False) -> None:
        self.track_boxes = track_boxes
        self.inter_sum = 0
        self.union_sum = 0
        self.sample_ious: list[float] = []
        self.box_hits: list[bool] = []

    def add_counts(self, inter: int, union: int) -> float:
        """Record one sample from its counts (no box check); returns its IoU (1 when the union is empty)."""
        if inter < 0 or union < inter:
            raise ValueError(f"invalid counts: I={inter}, U={union}")
        self.inter_sum += int(inter)
        self.union_sum += int(union)
        iou = inter / union if union > 0 else 1.0
        self.sample_ious.append(iou)
        return iou

    def update(self, pred: Any, gt: Any, ignore: Any | None = None) -> float:
        """Record one `(H, W)` sample; returns its IoU."""
        inter, union = intersection_union(pred, gt, ignore)
        if self.track_boxes:
            self.box_hits.append(bbox_hit(pred, gt))
        return self.add_counts(inter, union)

    @property
    def ciou(self) -> float:
        if not self.sample_ious:
            return float("nan")
        return self.inter_sum / self.union_sum if self.union_sum > 0 else 1.0

    @property
    def giou(self) -> float:
        return float(np.mean(self.sample_ious)) if self.sample_ious else float("nan")

    @property
    def bbox_accuracy(self) -> float:
        return float(np.mean(self.box_hits)) if self.box_hits else float("nan")

    def result(self) -> dict[str, float]:
        out = {"cIoU": self.ciou, "gIoU": self.giou, "n": len(self.sample_ious)}
        if self.track_boxes:
            out["BBoxAcc"] = self.bbox_accuracy
        return out
