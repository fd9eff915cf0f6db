"""Mask decoders of every encoding (docs/design.md §4.3), on hand-made masks."""

import numpy as np
import pytest

from tests.data import fixtures as fx
from unipixel.data.errors import DataError
from unipixel.data.masks import (
    MaskSizeError,
    decode_frame_dict,
    decode_index_masks,
    decode_polygons,
    decode_region_frames,
    decode_regions,
    decode_rle,
    decode_sav,
    decode_separate_masks,
    encode_rle,
    resize_mask,
    rle_area,
    rle_runs,
    sav_visibility,
)


def test_rle_variants_roundtrip():
    mask = fx.box(5, 7, 30, 20)
    compressed = encode_rle(mask)
    assert isinstance(compressed["counts"], str)
    as_bytes = {**compressed, "counts": compressed["counts"].encode()}
    listed = fx.uncompressed_rle(mask)
    for rle in (compressed, as_bytes, listed):
        assert np.array_equal(decode_rle(rle), mask)
    assert rle_area(compressed) == mask.sum() and rle_area(None) == 0
    assert not decode_rle(None, 4, 5).any()


def test_regions_are_ored_and_resized():
    a, b = fx.box(0, 0, 10, 10), fx.box(40, 30, 64, 48)
    polygon = [[40, 30, 63, 30, 63, 47, 40, 47]]
    union = decode_regions([encode_rle(a), polygon, None], fx.H, fx.W)
    assert union[5, 5] and union[40, 50] and not union[20, 20]
    assert (union ^ (a | b)).sum() <= 24 + 18  # the polygon matches the box up to one edge row / column


@pytest.mark.parametrize("shape", [(2 * fx.H, 2 * fx.W), (fx.W, fx.H)])
def test_region_at_another_size_is_an_error(shape):
    """A mask stored at another size than its frame is never stretched (H and W swapped included)."""
    other = encode_rle(np.ones(shape, bool))
    with pytest.raises(MaskSizeError, match=f"stored at {shape[0]} x {shape[1]} .* frame is {fx.H} x {fx.W}") as err:
        decode_region_frames([None, [encode_rle(fx.box(0, 0, 5, 5)), other]], fx.H, fx.W)
    assert err.value.position == 1 and err.value.stored == shape
    assert ("swapped" in str(err.value)) == (shape == (fx.W, fx.H))


@pytest.mark.parametrize(
    ("counts", "match"),
    [("", "covers 0 pixels"), ("0", "covers 0 pixels"), ("zz", "outside the RLE code"), ("0g", "cut in the middle")],
)
def test_bad_rle_is_refused_before_pycocotools(counts, match):
    """pycocotools would decode these into arbitrary memory; the runs must cover the RLE's size exactly."""
    with pytest.raises(ValueError, match=match):
        decode_regions([{"size": [fx.H, fx.W], "counts": counts}], fx.H, fx.W)
    with pytest.raises(ValueError, match="covers 4 pixels"):
        decode_regions([{"size": [2, 3], "counts": [1, 3]}], 2, 3)


def test_rle_runs_match_pycocotools():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        mask = rng.random((h, w)) < rng.random()
        counts = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]
        runs = rle_runs(counts)
        assert runs.sum() == h * w and np.array_equal(decode_regions([encode_rle(mask)], h, w), mask)
        assert np.array_equal(np.repeat(np.arange(len(runs)) % 2, runs).astype(bool), mask.flatten(order="F"))


def test_region_frames_of_one_object():
    a = fx.box(0, 0, 10, 10)
    frames = decode_region_frames([[encode_rle(a)], None, [], [None], encode_rle(a)], fx.H, fx.W)
    assert frames.shape == (5, fx.H, fx.W)
    assert frames.reshape(5, -1).any(1).tolist() == [True, False, False, False, True]


def test_unknown_region_is_an_error():
    with pytest.raises(ValueError, match="unrecognised region"):
        decode_regions([{"bbox": [0, 0, 1, 1]}], 4, 4)


def test_polygons_target_ignore_flag_and_order():
    big = {"label": "target", "points": [[0, 0], [40, 0], [40, 40], [0, 40]]}
    hole = {"label": "ignore", "points": [[10, 10], [20, 10], [20, 20], [10, 20]]}
    inner = {"label": "target", "points": [[12, 12], [14, 12], [14, 14], [12, 14]]}
    flag = {"label": "flag", "points": [[50, 5], [60, 5]]}
    out = decode_polygons([inner, hole, flag, big], fx.H, fx.W)  # file order must not matter
    assert out.dtype == np.int8 and set(np.unique(out)) == {-1, 0, 1}
    assert out[30, 30] == 1 and out[16, 16] == -1 and out[13, 13] == 1 and out[5, 55] == 0
    with pytest.raises(ValueError, match="none of target"):
        decode_polygons([{"label": "other", "points": [[0, 0], [1, 0], [1, 1]]}], 4, 4)


def test_index_masks_union_and_empty_frames(tmp_path):
    label = np.zeros((fx.H, fx.W), np.uint8)
    label[:, :20], label[:, 20:40] = 1, 3
    fx.write_png(tmp_path / "0.png", label, palette=True)
    masks = decode_index_masks([tmp_path / "0.png", None, label], [1, [1, 3], 7], fx.H, fx.W)
    assert masks.shape == (3, 3, fx.H, fx.W)
    assert masks[0, 0].sum() == 20 * fx.H and masks[1, 0].sum() == 40 * fx.H and not masks[2].any()
    assert not masks[:, 1].any() and np.array_equal(masks[:, 2], masks[:, 0])
    with pytest.raises(DataError, match=r"\[ds\] sample s: frame position 1: label map is stored at 48 x 64"):
        decode_index_masks([None, tmp_path / "0.png"], [[3]], fx.H // 2, fx.W // 2, "ds", "s")


def test_separate_masks(tmp_path):
    obj = np.zeros((fx.H, fx.W), np.uint8)
    obj[5:10, 5:10] = 255
    fx.write_png(tmp_path / "o0.png", obj)
    masks = decode_separate_masks([[tmp_path / "o0.png", None], [None, obj]], fx.H, fx.W)
    assert masks.shape == (2, 2, fx.H, fx.W) and masks[0, 0].sum() == 25 and masks[1, 1].sum() == 25
    assert not masks[0, 1].any()


def test_sav_masklet_zero_area_is_absent():
    a = fx.box(0, 0, 10, 10)
    empty = encode_rle(np.zeros_like(a))
    masklet = [[encode_rle(a), empty], [empty, encode_rle(a)], [encode_rle(a), encode_rle(a)]]
    assert sav_visibility(masklet, 0).tolist() == [True, False, True]
    masks = decode_sav(masklet, [1, 0], [0, 2])
    assert masks.shape == (2, 2, fx.H, fx.W)
    assert not masks[0, 0].any() and masks[0, 1].any() and masks[1, 0].any()


def test_resize_mask_nearest_keeps_thin_lines_thin():
    m = np.zeros((8, 8), bool)
    m[:, 3] = True
    up = resize_mask(m, 16, 16)
    assert up.sum() == 32 and up.shape == (16, 16)


def test_frame_dict_keyed_by_frame_number():
    a, b = fx.box(0, 0, 10, 10), fx.box(20, 20, 30, 30)
    per_frame = {"3": {"segmentation": encode_rle(a)}, "7": {"segmentation": encode_rle(b)}}
    masks = decode_frame_dict(per_frame, [3, 5, 7], fx.H, fx.W, field="segmentation")
    assert masks.shape == (3, fx.H, fx.W)
    assert np.array_equal(masks[0], a) and not masks[1].any() and np.array_equal(masks[2], b)
    plain = decode_frame_dict({7: [encode_rle(a), encode_rle(b)]}, [7], fx.H, fx.W)
    assert np.array_equal(plain[0], a | b)
