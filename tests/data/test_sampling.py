"""Frame and prompt sampling: formulas, determinism by seed, and no torch.distributed anywhere."""

import numpy as np
import pytest

from unipixel.data import sampling as S


def test_uniform_formula_and_short_videos():
    assert S.uniform_indices(100, 8).tolist() == [round(k * 99 / 7) for k in range(8)]
    assert S.uniform_indices(100, 8)[[0, -1]].tolist() == [0, 99]
    assert S.uniform_indices(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert S.uniform_indices(9, 1).tolist() == [4]
    assert S.sample_indices(7, 0).tolist() == list(range(7))


def test_random_one_per_segment_and_seeded():
    rng = np.random.default_rng(0)
    draws = [S.random_indices(80, 8, rng) for _ in range(200)]
    for idx in draws:
        assert len(idx) == 8 and (np.diff(idx) > 0).all()
        assert ((idx // 10) == np.arange(8)).all()  # one index in each segment of 10 frames
    assert len({tuple(d) for d in draws}) > 150
    a = S.random_indices(80, 8, np.random.default_rng(5))
    assert np.array_equal(a, S.random_indices(80, 8, np.random.default_rng(5)))
    assert S.random_indices(3, 8, np.random.default_rng(0)).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="Generator"):
        S.sample_indices(10, 4, "random")


def test_annotated_frames_with_forced_prompt_frame():
    annotated = [30, 10, 0, 20, 40, 50, 60, 70, 80, 90]
    clip = S.sample_annotated(annotated, 4, "uniform", force=40)
    assert 40 in clip and set(clip) <= set(annotated) and len(clip) == 4 and (np.diff(clip) > 0).all()
    assert S.sample_annotated(annotated, 4, "uniform").tolist() == [0, 30, 60, 90]
    clip = S.sample_annotated(annotated, 4, "random", np.random.default_rng(1), force=50)
    assert 50 in clip
    with pytest.raises(ValueError, match="not among the annotated"):
        S.sample_annotated(annotated, 4, force=55)


def test_single_frame_mode():
    clip = S.sample_single_frame_mode(100, 37, 8)
    assert 37 in clip and len(clip) == 8
    assert 36 not in clip and 28 in clip  # uniform 0, 14, 28, 42, ... : 42 is closest to 37 and was replaced
    assert S.force_index(np.array([0, 10, 20]), 12).tolist() == [0, 12, 20]


def test_fps_indices():
    assert len(S.fps_indices(300, 30.0, fps=2.0, max_frames=8)) == 8  # 10 s at 2 fps, capped at 8
    assert S.fps_indices(20, 10.0, fps=2.0, max_frames=8).tolist() == [0, 6, 13, 19]  # 2 s -> 4 frames
    assert len(S.fps_indices(30, 10.0, fps=2.0, max_frames=8)) == 6  # 3 s -> 6 (even)
    assert len(S.fps_indices(10, None, max_frames=8)) == 8


def test_fps_indices_follow_qwen_frame_count_on_short_clips():
    """D6: Qwen2.5-VL's count is duration x 2 fps clamped to [4, max] and to the video, then floored to even."""
    assert S.fps_indices(29, 10.0, fps=2.0, max_frames=8).tolist() == [0, 9, 19, 28]  # 2.9 s: 5.8 -> 4 (not 6)
    assert len(S.fps_indices(39, 10.0, fps=2.0, max_frames=8)) == 6  # 3.9 s: 7.8 -> 6
    assert len(S.fps_indices(10, 10.0, fps=2.0, max_frames=8)) == 4  # 1 s: 2 -> at least 4
    assert len(S.fps_indices(3, 30.0, fps=2.0, max_frames=8)) == 2  # 3 frames: at most the video, even
    assert S.sampled_fps(4, 29, 10.0) == 4 / 29 * 10.0
    assert S.sampled_fps(4, 29, None) is None
    assert S.stride_indices(10, 4).tolist() == [0, 4, 8]


def test_points_and_boxes():
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:50] = True
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, y = S.sample_point(mask, rng)
        assert mask[int(y), int(x)]
    cx, cy = S.center_point(mask)
    assert 29 <= cx <= 40 and 19 <= cy <= 20  # farthest from the boundary along the short side
    assert S.mask_box(mask).tolist() == [20, 10, 49, 29]
    assert S.noisy_box(mask, None, noise=0.0).tolist() == [20, 10, 49, 29]
    for _ in range(50):
        x1, y1, x2, y2 = S.noisy_box(mask, rng)
        assert abs(x1 - 20) <= 3.0 and abs(y1 - 10) <= 2.0 and abs(x2 - 49) <= 3.0 and abs(y2 - 29) <= 2.0
        assert 0 <= x1 <= x2 <= 63 and 0 <= y1 <= y2 <= 47
    edge = np.zeros((48, 64), bool)
    edge[0:40, 0:60] = True  # jitter up to 6 px would leave the image: clamped
    boxes = np.stack([S.noisy_box(edge, rng) for _ in range(100)])
    assert boxes.min() >= 0 and boxes[:, 2].max() <= 63 and boxes[:, 3].max() <= 47
    big = np.ones((480, 640), bool)
    jitter = np.stack([S.noisy_box(big, rng) for _ in range(100)]) - [0, 0, 639, 479]
    assert np.abs(jitter).max() <= 20.0  # at most 20 px


def test_prompt_rows_and_frames():
    masks = np.zeros((3, 48, 64), bool)
    masks[2, 10:20, 10:20] = True
    assert S.choose_prompt_frame(masks) == 2
    row = S.prompt_row(S.POINT, masks, 2, None)
    assert row[0] == S.POINT and row[5] == 2 and masks[2, int(row[2]), int(row[1])]
    row = S.prompt_row(S.BOX, masks, 2, None)
    assert row.tolist() == [1, 10, 10, 19, 19, 2]
    with pytest.raises(ValueError, match="no frame"):
        S.choose_prompt_frame(np.zeros((2, 4, 4), bool))


def test_point_box_split_is_seeded_and_half():
    a = S.split_point_box(101, seed=7)
    assert a.sum() == 50 and np.array_equal(a, S.split_point_box(101, seed=7))
    assert not np.array_equal(a, S.split_point_box(101, seed=8))


def test_no_torch_distributed(monkeypatch):
    import torch.distributed as dist

    def boom(*args, **kwargs):
        raise AssertionError("torch.distributed must not be used for data splits (B15)")

    monkeypatch.setattr(dist, "broadcast", boom)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    S.split_point_box(10, 0)
