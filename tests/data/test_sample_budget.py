"""Per-sample LLM pixel budgets (`sample.meta["pixel_budget"]`, docs/design.md §5.3): scaled like the default rule
unless `scale_pixel_budget` is False, exact token grids checked against hand-computed `smart_resize` results."""

import numpy as np
import pytest

from unipixel.data.processor import Sample


def merged_grid(processor, frames, as_video=True, **meta):
    """(merged rows, merged columns) per frame of the processed sample."""
    conv = [{"role": "user", "content": "Describe it."}]
    item = processor(Sample("s1", "unit", frames, conv, as_video=as_video, meta=meta), with_sam2=False)
    grid = item["video_grid_thw" if as_video else "image_grid_thw"]
    return int(grid[1]) // 2, int(grid[2]) // 2


def frames(n, height=480, width=640):
    return np.zeros((n, height, width, 3), np.uint8)


def test_default_budget_without_meta(processor):
    # the test processor's own 4-36 tokens, scaled by k = 8 // 4 = 2: max 72 tokens; 480 x 640 shrinks by
    # sqrt(307200 / 56448) = 2.333 -> floor(7.35) x floor(9.80) = 7 x 9 merged tokens
    assert merged_grid(processor, frames(4)) == (7, 9)


def test_flat_budget(processor):
    # 480 x 640 = 391.8 tokens of 28 x 28 > 256: smart_resize scales by sqrt(307200 / 200704) = 1.2372 and floors to
    # multiples of 28 -> 364 x 504 = 13 x 18 merged tokens
    assert merged_grid(processor, frames(4), pixel_budget=(128, 256), scale_pixel_budget=False) == (13, 18)


def test_scaled_budget(processor):
    # 4 frames, target 8 -> k = 2, max 512 tokens: 480 x 640 rounds to 476 x 644 = 17 x 23 = 391 tokens, kept
    assert merged_grid(processor, frames(4), pixel_budget=(128, 256)) == (17, 23)
    # 8 frames -> k = 1: back to the flat result
    assert merged_grid(processor, frames(8), pixel_budget=(128, 256)) == (13, 18)


def test_min_budget_upscales(processor):
    # a 48 x 64 frame with at least 100 tokens: beta = sqrt(100 * 784 / 3072) = 5.052, ceil to multiples of 28 ->
    # 252 x 336 = 9 x 12 = 108 tokens
    assert merged_grid(processor, frames(2, 48, 64), pixel_budget=(100, 144)) == (9, 12)


def test_image_takes_bounds_as_given(processor):
    assert merged_grid(processor, frames(1), as_video=False, pixel_budget=(128, 256)) == (13, 18)


@pytest.mark.parametrize("budget", [(0, 10), (300, 200)])
def test_invalid_budget_names_sample(processor, budget):
    with pytest.raises(ValueError, match=r"unit/s1: invalid pixel_budget"):
        merged_grid(processor, frames(2), pixel_budget=budget)
