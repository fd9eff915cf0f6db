"""ReVOS J/F/A/R: hand-computed values for the binarised and the published (B17) conventions, and aggregation."""

import math

import numpy as np
import pytest

from unipixel.eval.metrics import aggregate_revos, j_and_f, revos_metrics

H, W = 40, 50  # 2000 px per frame


def _video():
    """Frame 0: GT rows 0-19 (1000 px), 10 of them where two instances overlap (value 2); prediction = GT plus one
    false-positive pixel. Frame 1: nothing annotated, nothing predicted."""
    gt = np.zeros((2, H, W), dtype=np.uint8)
    gt[0, :20] = 1
    gt[0, 0, :10] = 2
    pred = np.zeros((2, H, W), dtype=np.uint8)
    pred[0, :20] = 255
    pred[0, 30, 0] = 255
    foreground = gt.copy()  # the only annotated objects are the target's instances
    return pred, gt, foreground


def test_binarised_by_hand():
    pred, gt, foreground = _video()
    m = revos_metrics(pred, gt, foreground)
    # J: 1000/1001 then 1 (empty union).
    assert m["J"] == pytest.approx((1000 / 1001 + 1) / 2, abs=1e-12)
    # A: 1999 of 2000 pixels agree, then all agree.
    assert m["A"] == pytest.approx((1999 / 2000 + 1) / 2, abs=1e-12)
    # R: 1 false positive over a 1000-px foreground; the empty frame scores 1 - 0 / 1e-6 = 1.
    assert m["R"] == pytest.approx((1 - 1 / (1000 + 1e-6) + 1) / 2, abs=1e-12)
    assert m["J&F"] == pytest.approx((m["J"] + m["F"]) / 2, abs=1e-15)


def test_published_by_hand():
    pred, gt, foreground = _video()
    m = revos_metrics(pred, gt, foreground, published=True)
    # A compares raw values: 255 never equals 1 or 2, so only the 999 agreeing background pixels count.
    assert m["A"] == pytest.approx((999 / 2000 + 1) / 2, abs=1e-12)
    # neg = 255 (false positive, (1 - 0) * 255) + 10 x 1 (overlap pixels: (1 - 2) * 255 = 255 * 255 = 1 mod 256)
    # + 0 (single-instance true positives); pos = 990 x 1 + 10 x 2 = 1010.
    assert m["R"] == pytest.approx((1 - 265 / (1010 + 1e-6) + 1) / 2, abs=1e-12)
    # J and F binarise in both modes.
    binarised = revos_metrics(pred, gt, foreground)
    assert (m["J"], m["F"]) == (binarised["J"], binarised["F"])
    assert (m["J"], m["F"]) == (j_and_f(pred, gt)["J"], j_and_f(pred, gt)["F"])


def test_counts_computed_once_serve_both_modes():
    """The evaluator matches boundaries once per chunk and hands the counts to both modes: same values as computing
    them inside, and counts of the wrong length are refused."""
    from unipixel.eval.metrics import frame_counts

    pred, gt, foreground = _video()
    counts = frame_counts(pred != 0, gt != 0)
    for published in (False, True):
        assert revos_metrics(pred, gt, foreground, published=published, counts=counts) == revos_metrics(
            pred, gt, foreground, published=published
        )
    with pytest.raises(ValueError, match="counts must have shape"):
        revos_metrics(pred, gt, foreground, counts=counts[:1])


def test_published_robustness_clamps_at_zero():
    # 2 false positives x 255 = 510 > 100 foreground px → max(1 - 5.1, 0) = 0, where the binarised R is 0.98.
    gt = np.zeros((1, 10, 20), dtype=np.uint8)
    gt[0, :5] = 1
    pred = gt * 255
    pred[0, 9, :2] = 255
    assert revos_metrics(pred, gt, gt, published=True)["R"] == 0.0
    assert revos_metrics(pred, gt, gt)["R"] == pytest.approx(1 - 2 / (100 + 1e-6), abs=1e-12)


def test_published_bool_inputs_use_png_encoding():
    pred, gt, foreground = _video()
    gt_single = np.minimum(gt, 1)
    from_bool = revos_metrics(pred > 0, gt_single > 0, foreground > 0, published=True)
    from_raw = revos_metrics(pred, gt_single, np.minimum(foreground, 1), published=True)
    assert from_bool == from_raw
    with pytest.raises(TypeError):
        revos_metrics(pred.astype(np.float32), gt, foreground, published=True)


def _reference_published(pred, gt, foreground):
    """Frame-by-frame uint8 arithmetic written out the plain way."""
    accs, robs = [], []
    for p, g, f in zip(pred, gt, foreground):
        accs.append(np.mean(g == p))
        neg = 0
        for pv, gv in zip(p.ravel().tolist(), g.ravel().tolist()):
            neg += (((1 - gv) % 256) * pv) % 256
        pos = int(f.astype(np.int64).sum())
        robs.append(max(1 - neg / (pos + 1e-6), 0.0))
    return float(np.mean(accs)), float(np.mean(robs))


def test_published_matches_plain_arithmetic_on_random_overlaps():
    rng = np.random.default_rng(0)
    t, h, w = 3, 16, 24
    instances = rng.random((2, t, h, w)) < 0.4
    gt = instances.sum(0).astype(np.uint8)  # 0, 1 or 2
    others = rng.random((t, h, w)) < 0.3
    foreground = (instances.sum(0) + others).astype(np.uint8)
    # Enough foreground for R to stay positive: predict GT except a few false positives.
    pred = (gt > 0).astype(np.uint8) * 255
    pred[:, 0, :2] = 255
    big_fg = np.full_like(foreground, 200)
    for fg in (foreground, big_fg):
        m = revos_metrics(pred, gt, fg, published=True)
        a, r = _reference_published(pred, gt, fg)
        assert m["A"] == pytest.approx(a, abs=1e-12)
        assert m["R"] == pytest.approx(r, abs=1e-12)


def test_aggregate_subsets_and_overall():
    records = [
        (0, {"J": 0.5, "F": 0.7, "A": 0.9, "R": 0.8}),
        (0, {"J": 0.7, "F": 0.9, "A": 0.7, "R": 0.6}),
        (1, {"J": 0.2, "F": 0.4, "A": 0.5, "R": 0.1}),
    ]
    out = aggregate_revos(records)
    assert out["referring"] == pytest.approx({"J": 0.6, "F": 0.8, "A": 0.8, "R": 0.7, "J&F": 0.7}, abs=1e-15)
    assert out["reason"] == pytest.approx({"J": 0.2, "F": 0.4, "A": 0.5, "R": 0.1, "J&F": 0.3}, abs=1e-15)
    # Mean of the two subset means, not of the three expressions (J would be 1.4 / 3 sample-weighted).
    assert out["overall"] == pytest.approx({"J": 0.4, "F": 0.6, "A": 0.65, "R": 0.4, "J&F": 0.5}, abs=1e-15)


def test_aggregate_published_rounds_each_expression():
    records = [(0, {"J": 0.123456, "F": 0.5, "A": 0.5, "R": 0.5}), (0, {"J": 0.2, "F": 0.5, "A": 0.5, "R": 0.5})]
    records.append((1, {"J": 0.33337, "F": 0.5, "A": 0.5, "R": 0.5}))
    out = aggregate_revos(records, published=True)
    # 12.3456 % → 12.35 % and 20 % → 16.175 % for referring; 33.337 % → 33.34 % for reason.
    assert out["referring"]["J"] == pytest.approx(0.16175, abs=1e-12)
    assert out["reason"]["J"] == pytest.approx(0.3334, abs=1e-12)
    assert out["overall"]["J"] == pytest.approx((0.16175 + 0.3334) / 2, abs=1e-12)
    assert aggregate_revos(records)["referring"]["J"] == pytest.approx(0.161728, abs=1e-12)


def test_published_rounding_is_the_originals_round_on_numpy_floats():
    # The original calls Python's round() on numpy float64 values, which dispatches to numpy's rounding.
    rng = np.random.default_rng(1)
    for v in rng.random(200):
        expected = round(100 * np.float64(v), 2)
        out = aggregate_revos([(0, {"J": v, "F": v, "A": v, "R": v}), (1, {"J": v, "F": v, "A": v, "R": v})], True)
        assert out["referring"]["J"] == expected / 100


def test_aggregate_edge_cases():
    out = aggregate_revos([(0, {"J": 1.0, "F": 1.0, "A": 1.0, "R": 1.0})])
    assert math.isnan(out["reason"]["J"]) and math.isnan(out["overall"]["J"])
    with pytest.raises(ValueError):
        aggregate_revos([(2, {"J": 1.0, "F": 1.0, "A": 1.0, "R": 1.0})])
