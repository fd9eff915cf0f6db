"""DAVIS boundary F and J&F: hand-computed cases and agreement with a slow per-frame reference.

The reference below is written the straightforward way the DAVIS tools do it (shift-and-compare boundary map per
frame, scipy binary dilation with skimage's disk, explicit precision/recall branches).
"""

import math

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from skimage.morphology import disk as sk_disk

from unipixel.eval.metrics import boundary_f_measure, boundary_map, frame_counts, j_and_f, mean_j_and_f, region_iou
from unipixel.eval.metrics.boundary import boundary_radius, dilate_disk, disk


def reference_boundary(mask):
    mask = np.asarray(mask).astype(bool)
    h, w = mask.shape
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            # neighbours beyond the last row/column are replaced by the nearest pixel inside the image
            ys, xs = min(y + 1, h - 1), min(x + 1, w - 1)
            out[y, x] = mask[y, x] != mask[y, xs] or mask[y, x] != mask[ys, x] or mask[y, x] != mask[ys, xs]
    return out


def reference_f(pred, gt, bound_th=0.008):
    radius = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(pred.shape))
    pb, gb = reference_boundary(pred), reference_boundary(gt)
    pb_dil = ndi.binary_dilation(pb, structure=sk_disk(radius))
    gb_dil = ndi.binary_dilation(gb, structure=sk_disk(radius))
    n_p, n_g = pb.sum(), gb.sum()
    if n_p == 0 and n_g == 0:
        precision, recall = 1.0, 1.0
    elif n_p == 0:
        precision, recall = 1.0, 0.0
    elif n_g == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.sum(pb & gb_dil) / float(n_p)
        recall = np.sum(gb & pb_dil) / float(n_g)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def reference_j(pred, gt):
    union = np.sum(pred | gt)
    return 1.0 if union == 0 else np.sum(pred & gt) / union


# --------------------------------------------------------------------------------------------- hand-computed cases


def test_boundary_map_by_hand():
    mask = np.array(
        [
            [0, 0, 0, 0],
            [0, 1, 1, 0],
            [0, 1, 1, 0],
            [0, 0, 0, 0],
        ]
    )
    # Half a pixel towards the origin: the background row/column above/left of the square and the square's own
    # last row/column are boundary; the square's top-left pixel is not (its E, S, SE neighbours are all inside).
    expected = np.array(
        [
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [1, 1, 1, 0],
            [0, 0, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(boundary_map(mask), expected)


def test_boundary_map_image_border_rules():
    # Touching the right/bottom border: the last column only compares with the pixel below, the last row only
    # with the pixel to the right; the border itself never creates boundary.
    mask = np.array(
        [
            [0, 0, 0],
            [0, 1, 1],
            [0, 1, 1],
        ]
    )
    expected = np.array(
        [
            [1, 1, 1],
            [1, 0, 0],
            [1, 0, 0],
        ],
        dtype=bool,
    )
    np.testing.assert_array_equal(boundary_map(mask), expected)
    assert not boundary_map(np.ones((4, 5))).any()
    # Bottom-right pixel alone: nothing to its east/south, so no boundary there; its west and north neighbours are.
    corner = np.zeros((3, 3))
    corner[2, 2] = 1
    np.testing.assert_array_equal(boundary_map(corner), [[0, 0, 0], [0, 1, 1], [0, 1, 0]])


def test_radius():
    assert boundary_radius(480, 854) == 8
    assert boundary_radius(720, 1280) == 12
    assert boundary_radius(1080, 1920) == math.ceil(0.008 * math.hypot(1080, 1920)) == 18
    assert boundary_radius(10, 10) == 1
    assert boundary_radius(10, 10, bound_th=3) == 3
    with pytest.raises(ValueError):
        boundary_radius(10, 10, bound_th=2.5)


@pytest.mark.parametrize("radius", range(0, 16))
def test_disk_matches_skimage(radius):
    np.testing.assert_array_equal(disk(radius), sk_disk(radius).astype(np.uint8))


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8, 12, 18])
def test_dilate_disk_matches_scipy_disk_dilation(radius):
    rng = np.random.default_rng(radius)
    for h, w in [(1, 1), (1, 40), (37, 1), (23, 61), (60, 45)]:
        mask = rng.random((h, w)) < 0.02
        mask[0, 0] = mask[-1, -1] = True  # objects on the image border
        expected = ndi.binary_dilation(mask, structure=sk_disk(radius)) if radius else mask
        got = dilate_disk(mask.astype(np.uint8), radius)
        np.testing.assert_array_equal(got.astype(bool), expected)
        np.testing.assert_array_equal(got, cv2.dilate(mask.astype(np.uint8), disk(radius)))


def _single_pixel(y, x, shape=(12, 12)):
    m = np.zeros(shape, dtype=bool)
    m[y, x] = True
    return m


def test_f_by_hand_single_pixels():
    # A single pixel at (y, x) has the 2x2 boundary block rows y-1..y, cols x-1..x. Radius 1 = plus-shaped disk.
    gt = _single_pixel(5, 5)
    # 3 columns away: blocks at cols 4..5 and 7..8, nothing within distance 1 → P = R = 0 → F = 0.
    assert boundary_f_measure(_single_pixel(5, 8), gt, bound_th=1).tolist() == [0.0]
    # 2 columns away: blocks at cols 4..5 and 6..7; cols 5 and 6 are adjacent → P = R = 2/4 → F = 0.5.
    assert boundary_f_measure(_single_pixel(5, 7), gt, bound_th=1).tolist() == [0.5]
    # One pixel diagonally: 3 of the 4 pred boundary px touch the GT block (one coincides), same for GT → F = 0.75.
    assert boundary_f_measure(_single_pixel(6, 6), gt, bound_th=1).tolist() == [0.75]
    # With radius 2 the 3-column shift is within tolerance for cols 5→7 only: P = R = 2/4.
    assert boundary_f_measure(_single_pixel(5, 8), gt, bound_th=2).tolist() == [0.5]


def test_f_empty_conventions():
    empty = np.zeros((1, 12, 12), dtype=bool)
    obj = _single_pixel(5, 5)[None]
    assert boundary_f_measure(empty, empty).tolist() == [1.0]  # both boundaries empty
    assert boundary_f_measure(empty, obj).tolist() == [0.0]  # P = 1, R = 0
    assert boundary_f_measure(obj, empty).tolist() == [0.0]  # P = 0, R = 1
    counts = frame_counts(np.concatenate([empty, obj]), np.concatenate([obj, empty]))
    np.testing.assert_array_equal(counts[:, 2:], [[0, 4, 0, 0], [4, 0, 0, 0]])
    # A full frame has no boundary either, so full vs empty scores F = 1 (J = 0): a DAVIS quirk kept on purpose.
    full = np.ones((1, 12, 12), dtype=bool)
    assert boundary_f_measure(full, empty).tolist() == [1.0]
    assert region_iou(full, empty).tolist() == [0.0]


def test_j_and_f_by_hand_and_mean():
    gt = np.stack([_single_pixel(5, 5), _single_pixel(5, 5), np.zeros((12, 12), bool)])
    pred = np.stack([_single_pixel(5, 5), _single_pixel(5, 7), np.zeros((12, 12), bool)])
    # J: 1, 0, 1 (empty union); F at radius 1: 1, 0.5, 1.
    result = j_and_f(pred, gt, bound_th=1)
    assert result["J"] == pytest.approx(2 / 3, abs=1e-15)
    assert result["F"] == pytest.approx(2.5 / 3, abs=1e-15)
    assert result["J&F"] == pytest.approx((2 / 3 + 2.5 / 3) / 2, abs=1e-15)
    agg = mean_j_and_f([{"J": 0.5, "F": 0.7}, {"J": 0.9, "F": 0.3}])
    assert agg == pytest.approx({"J": 0.7, "F": 0.5, "J&F": 0.6}, abs=1e-15)
    with pytest.raises(ValueError):
        mean_j_and_f([])


# ------------------------------------------------------------------------------------ agreement with the reference


def _blobs(rng, t, h, w, threshold=0.3):
    coarse = rng.standard_normal((t, max(h // 6, 1) + 2, max(w // 6, 1) + 2))
    zoom = (1, (h + 2) / coarse.shape[1], (w + 2) / coarse.shape[2])
    field = ndi.zoom(coarse, zoom, order=1)[:, :h, :w]
    return field > threshold


def _shift(mask, dy, dx):
    out = np.zeros_like(mask)
    h, w = mask.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _random_case(rng, h, w):
    """(pred, gt) with noise, blobs, tiny objects, one-pixel shifts, empty and full frames."""
    gt = np.concatenate(
        [
            rng.random((2, h, w)) < 0.05,
            rng.random((2, h, w)) < 0.5,
            _blobs(rng, 4, h, w),
        ]
    )
    pred = np.concatenate(
        [
            rng.random((2, h, w)) < 0.05,
            gt[2:4] ^ (rng.random((2, h, w)) < 0.1),
            _shift(gt[4:5], 1, 0),
            _shift(gt[5:6], 0, -1),
            _shift(gt[6:7], 1, 1),
            _blobs(rng, 1, h, w),
        ]
    )
    tiny = np.zeros((4, h, w), dtype=bool)
    tiny[0, rng.integers(h), rng.integers(w)] = True
    tiny[1, rng.integers(h), rng.integers(w)] = True
    tiny[2, : min(2, h), : min(2, w)] = True
    tiny_pred = tiny.copy()
    tiny_pred[1] = _shift(tiny[1], 0, 1)
    tiny_pred[3, h - 1, w - 1] = True
    empty = np.zeros((1, h, w), dtype=bool)
    full = np.ones((1, h, w), dtype=bool)
    pred = np.concatenate([pred, tiny_pred, empty, empty, full, gt[4:5]])
    gt = np.concatenate([gt, tiny, empty, gt[4:5], full, empty])
    return pred, gt


@pytest.mark.parametrize(
    ("h", "w", "bound_th"),
    [
        (1, 1, 0.008),
        (1, 9, 0.008),
        (9, 1, 0.008),
        (2, 2, 0.008),
        (5, 9, 0.008),
        (31, 17, 0.008),
        (64, 97, 0.008),
        (97, 160, 0.008),
        (40, 57, 3),
        (33, 64, 6),
    ],
)
def test_matches_reference_on_random_masks(h, w, bound_th):
    rng = np.random.default_rng(h * 1000 + w)
    pred, gt = _random_case(rng, h, w)
    expected_f = np.array([reference_f(p, g, bound_th) for p, g in zip(pred, gt)])
    expected_j = np.array([reference_j(p, g) for p, g in zip(pred, gt)])
    np.testing.assert_allclose(boundary_f_measure(pred, gt, bound_th), expected_f, rtol=0, atol=1e-9)
    np.testing.assert_allclose(region_iou(pred, gt), expected_j, rtol=0, atol=1e-9)
    np.testing.assert_allclose(boundary_f_measure(pred, gt, bound_th, num_threads=3), expected_f, rtol=0, atol=1e-9)
    result = j_and_f(pred.astype(np.uint8) * 255, torch.from_numpy(gt), bound_th)
    assert result["J"] == pytest.approx(expected_j.mean(), abs=1e-9)
    assert result["F"] == pytest.approx(expected_f.mean(), abs=1e-9)


def reference_boundary_shifted(mask):
    """The toolkit's formulation: zero-filled shifts, then the last row/column recomputed from one neighbour."""
    mask = mask.astype(bool)
    east, south, south_east = (np.zeros_like(mask) for _ in range(3))
    east[:, :-1] = mask[:, 1:]
    south[:-1, :] = mask[1:, :]
    south_east[:-1, :-1] = mask[1:, 1:]
    b = (mask ^ east) | (mask ^ south) | (mask ^ south_east)
    b[-1, :] = mask[-1, :] ^ east[-1, :]
    b[:, -1] = mask[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def test_two_reference_boundary_formulations_agree():
    rng = np.random.default_rng(3)
    for h, w in [(1, 1), (1, 6), (6, 1), (7, 11)]:
        for density in (0.1, 0.5, 0.9):
            mask = rng.random((h, w)) < density
            np.testing.assert_array_equal(reference_boundary_shifted(mask), reference_boundary(mask))


def test_matches_reference_at_video_resolution():
    # The real radius (8 px at 480 x 854) on blob frames, a one-pixel shift plus specks, and an unrelated mask.
    rng = np.random.default_rng(7)
    gt = _blobs(rng, 2, 480, 854, threshold=0.8)
    pred = np.stack([_shift(gt[0], 1, -1) | (rng.random(gt.shape[1:]) < 0.001), _blobs(rng, 1, 480, 854, 0.8)[0]])
    fast = boundary_f_measure(pred, gt)
    for t in range(2):
        radius = np.ceil(0.008 * np.linalg.norm(pred.shape[1:]))
        pb, gb = reference_boundary_shifted(pred[t]), reference_boundary_shifted(gt[t])
        pb_dil = ndi.binary_dilation(pb, structure=sk_disk(radius))
        gb_dil = ndi.binary_dilation(gb, structure=sk_disk(radius))
        precision = np.sum(pb & gb_dil) / float(pb.sum())
        recall = np.sum(gb & pb_dil) / float(gb.sum())
        assert abs(fast[t] - 2 * precision * recall / (precision + recall)) <= 1e-9
    assert 0 < fast[1] < fast[0] < 1


@pytest.mark.parametrize(
    ("h", "w", "radius"),
    [
        (3, 63, 1),
        (5, 64, 2),
        (7, 65, 5),
        (9, 127, 12),
        (6, 128, 31),
        (21, 191, 12),
        (5, 129, 40),
        (40, 127, 8),
        (11, 40, 12),  # crop + 2 * radius fills whole words exactly
        (7, 66, 31),
    ],
)
def test_packed_rows_match_reference_across_word_edges(h, w, radius):
    """The bit-packed path (radius <= 31) and the byte-image fallback give the reference's F, whatever the width's
    position relative to the 64-pixel words and however far the dilation spills past the crop."""
    rng = np.random.default_rng(h * 7 + w + radius)
    pred, gt = _random_case(rng, h, w)
    expected_f = np.array([reference_f(p, g, radius) for p, g in zip(pred, gt)])
    np.testing.assert_allclose(boundary_f_measure(pred, gt, radius), expected_f, rtol=0, atol=1e-9)


def test_packed_and_byte_paths_count_identically(monkeypatch):
    from unipixel.eval.metrics import boundary

    rng = np.random.default_rng(11)
    pred, gt = _random_case(rng, 70, 150)
    packed = frame_counts(pred, gt, 9)
    monkeypatch.setattr(boundary, "_PACKED_MAX_RADIUS", 0)
    np.testing.assert_array_equal(frame_counts(pred, gt, 9), packed)
