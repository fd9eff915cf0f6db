"""cIoU / gIoU / BBox accuracy on hand-computed masks."""

import math

import numpy as np
import pytest
import torch

from unipixel.eval.metrics import IoUAccumulator, bbox_hit, box_iou, intersection_union, mask_box


def test_intersection_union_with_ignore():
    pred = np.array([[1, 1, 0], [0, 1, 0]])
    gt = np.array([[1, 0, 0], [0, 1, 1]])
    assert intersection_union(pred, gt) == (2, 4)
    ignore = np.array([[0, 1, 0], [0, 0, 1]])  # removes one pred-only and one GT-only pixel from both
    assert intersection_union(pred, gt, ignore) == (2, 2)
    assert intersection_union(torch.from_numpy(pred), torch.from_numpy(gt)) == (2, 4)


def test_ciou_giou_by_hand():
    acc = IoUAccumulator()
    assert acc.add_counts(1, 4) == 0.25
    assert acc.add_counts(30, 40) == 0.75
    assert acc.add_counts(0, 0) == 1.0  # nothing predicted, nothing to find
    assert acc.ciou == pytest.approx(31 / 44, abs=1e-15)
    assert acc.giou == pytest.approx((0.25 + 0.75 + 1.0) / 3, abs=1e-15)
    assert acc.result() == pytest.approx({"cIoU": 31 / 44, "gIoU": 2 / 3, "n": 3}, abs=1e-15)
    with pytest.raises(ValueError):
        acc.add_counts(5, 4)


def test_accumulator_edge_cases():
    assert math.isnan(IoUAccumulator().ciou)
    acc = IoUAccumulator()
    acc.update(np.zeros((3, 3)), np.zeros((3, 3)))
    assert acc.ciou == 1.0 and acc.giou == 1.0


def test_mask_box_drops_small_components():
    mask = np.zeros((20, 30), dtype=bool)
    mask[2:6, 3:8] = True  # 20 px, kept
    mask[15:18, 20:23] = True  # 9 px, dropped at min area 10
    assert mask_box(mask) == (3, 2, 23, 18)
    assert mask_box(mask, min_component_area=10) == (3, 2, 8, 6)
    mask[15, 23] = True  # now 10 px, kept
    assert mask_box(mask, min_component_area=10) == (3, 2, 24, 18)
    assert mask_box(np.zeros((4, 4))) is None
    diagonal = np.eye(10, dtype=bool)  # one 8-connected component of 10 px
    assert mask_box(diagonal, min_component_area=10) == (0, 0, 10, 10)


def test_box_iou_and_hit():
    assert box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(2 / 6, abs=1e-15)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    gt = np.zeros((10, 10), dtype=bool)
    gt[0:4, 0:4] = True
    pred = np.zeros((10, 10), dtype=bool)
    pred[0:4, 1:5] = True  # box IoU 12 / 20 = 0.6
    assert bbox_hit(pred, gt)
    pred[:] = False
    pred[0:4, 2:6] = True  # box IoU 8 / 24 < 0.5
    assert not bbox_hit(pred, gt)
    assert bbox_hit(pred, gt, iou_threshold=0.3)
    speck = gt.copy()
    speck[9, 9] = True  # a 1-px speck would stretch the box to the corner; it is dropped first
    assert bbox_hit(speck, gt)
    assert not bbox_hit(np.zeros((10, 10)), gt)
    assert bbox_hit(np.zeros((10, 10)), np.zeros((10, 10)))


def test_accumulator_tracks_boxes():
    gt = np.zeros((10, 10), dtype=bool)
    gt[0:4, 0:4] = True
    acc = IoUAccumulator(track_boxes=True)
    acc.update(gt, gt)
    acc.update(np.zeros((10, 10)), gt)
    assert acc.result() == pytest.approx({"cIoU": 0.5, "gIoU": 0.5, "n": 2, "BBoxAcc": 0.5}, abs=1e-15)
