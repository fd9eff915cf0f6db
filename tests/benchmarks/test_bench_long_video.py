"""`benchmarks/bench_long_video.py`: its generated video holds the disc where the prompt points, its mask comparison
counts differing pixels frame by frame, and (slow) a short run prints identical masks and metrics for both paths."""

import importlib.util
import json
import sys

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_long_video", REPO / "benchmarks" / "bench_long_video.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_video_and_prompt(bench, tmp_path):
    from unipixel.inference import load_media

    media = load_media(bench.make_video(tmp_path / "v.mp4", 12, 160, 120))
    assert media.frames.shape == (12, 120, 160, 3)
    x, y = (int(v) for v in bench.prompt_point(160, 120).split(","))
    red = media.frames[0, y, x].astype(int)
    assert red[0] > 150 and red[1] < 90 and red[2] < 90, "the prompt point lies on the red disc of frame 0"


def test_mask_difference_counts_pixels(bench, tmp_path):
    from unipixel.eval.runner import encode_masks

    masks = np.zeros((1, 3, 8, 10), dtype=bool)
    masks[0, :, 2:5, 3:6] = True
    other = masks.copy()
    other[0, 1, 0, :4] = True  # 4 pixels on frame 1
    other[0, 2, 7, 9] = True  # 1 pixel on frame 2
    for name, m in (("a", masks), ("b", other)):
        (tmp_path / name).write_text(json.dumps({"frame_index": [0, 1, 2], "objects": encode_masks(m)}))
    assert bench.mask_difference(tmp_path / "a", tmp_path / "a") == {
        "max_pixels": 0,
        "frames_differing": 0,
        "frames": 3,
    }
    assert bench.mask_difference(tmp_path / "a", tmp_path / "b") == {
        "max_pixels": 4,
        "frames_differing": 2,
        "frames": 3,
    }


@pytest.mark.slow
def test_short_run_gives_identical_masks_and_metrics(bench, tmp_path, capsys):
    result = bench.main(
        ["--frames", "20", "40", "--eval-frames", "20", "--eval-videos", "1", "--work-dir", str(tmp_path)]
    )
    for row in result["rows"]:
        assert row["diff"]["max_pixels"] == 0 and row["diff"]["frames"] == row["frames"]
        assert row["stream"]["streamed"] and not row["plain"]["streamed"]
    evaluation = result["evaluation"]
    assert evaluation["records_identical"] and evaluation["plain"]["metrics"] == evaluation["stream"]["metrics"]
    assert "| 40 | stream |" in capsys.readouterr().out
