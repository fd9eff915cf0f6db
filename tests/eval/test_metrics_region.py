"""Region metrics against hand-computed values (per-frame J, volume IoU / F1)."""

import numpy as np
import pytest
import torch

from unipixel.eval.metrics import region_iou, volume_f1, volume_iou

# Frame 0: pred 3 px, GT 2 px, 1 shared → J = 1/4. Frame 1: both empty → 1. Frame 2: pred only → 0.
PRED = np.array(
    [
        [[1, 1, 0], [1, 0, 0]],
        [[0, 0, 0], [0, 0, 0]],
        [[0, 0, 1], [0, 0, 0]],
    ],
    dtype=np.uint8,
)
GT = np.array(
    [
        [[0, 1, 0], [0, 0, 1]],
        [[0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0]],
    ],
    dtype=np.uint8,
)


def test_region_iou_by_hand():
    np.testing.assert_array_equal(region_iou(PRED, GT), [0.25, 1.0, 0.0])


def test_region_iou_accepts_255_bool_torch_and_single_frame():
    expected = region_iou(PRED, GT)
    np.testing.assert_array_equal(region_iou(PRED * 255, GT.astype(bool)), expected)
    np.testing.assert_array_equal(region_iou(torch.from_numpy(PRED), torch.from_numpy(GT)), expected)
    assert region_iou(PRED[0], GT[0]).tolist() == [0.25]


def test_region_iou_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        region_iou(PRED, GT[:2])
    with pytest.raises(ValueError):
        region_iou(np.zeros((0, 3, 3)), np.zeros((0, 3, 3)))


def test_volume_iou_by_hand():
    # Volume: pred 4 px, GT 2 px, intersection 1, union 5.
    assert volume_iou(PRED, GT) == pytest.approx(1 / 5, abs=1e-15)
    assert volume_iou(np.zeros((2, 3, 3)), np.zeros((2, 3, 3))) == 1.0
    assert volume_iou(np.zeros((2, 3, 3)), np.ones((2, 3, 3))) == 0.0


def test_volume_f1_by_hand():
    # precision 1/4, recall 1/2 → F1 = 2 * (1/8) / (3/4) = 1/3.
    assert volume_f1(PRED, GT) == pytest.approx(1 / 3, abs=1e-15)
    assert volume_f1(GT, GT) == 1.0


def test_volume_f1_empty_conventions():
    empty, full = np.zeros((2, 3, 3)), np.ones((2, 3, 3))
    assert volume_f1(empty, empty) == 1.0
    assert volume_f1(empty, full) == 0.0
    assert volume_f1(full, empty) == 0.0
    disjoint_a = np.zeros((1, 2, 2))
    disjoint_a[0, 0, 0] = 1
    disjoint_b = np.zeros((1, 2, 2))
    disjoint_b[0, 1, 1] = 1
    assert volume_f1(disjoint_a, disjoint_b) == 0.0


def test_volume_metrics_differ_from_frame_means():
    # Frame means would weight the empty frame as a perfect 1; the volume measures do not.
    assert volume_iou(PRED, GT) != pytest.approx(float(region_iou(PRED, GT).mean()))
