"""The README's quick-start job and the overlay writer."""

import importlib.util

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO
from unipixel.inference import overlay_masks


def test_quickstart_writes_overlay(tmp_path):
    spec = importlib.util.spec_from_file_location("quickstart", REPO / "tools" / "quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    summary = quickstart.main(["--out", str(tmp_path)])
    image = np.asarray(Image.open(tmp_path / "input.png"))
    overlay = np.asarray(Image.open(tmp_path / "overlay.png"))
    mask = np.asarray(Image.open(tmp_path / "mask_0.png")) > 0
    assert summary["objects"] == 1 and overlay.shape == image.shape and mask.shape == image.shape[:2]
    assert summary["mask_pixels"] == [int(mask.sum())]
    changed = (overlay != image).any(-1)
    assert not (changed & ~mask).any(), "the overlay differs from the input only where the mask is"


def test_overlay_colours_only_masked_pixels():
    frame = np.full((4, 5, 3), 100, dtype=np.uint8)
    a = np.zeros((4, 5), bool)
    a[1, 1:3] = True
    b = np.zeros((4, 5), bool)
    b[2, 4] = True
    out = overlay_masks(frame, [a, b], alpha=0.5)
    assert (out[~(a | b)] == 100).all()
    assert out[1, 1].tolist() == [165, 62, 88]  # (100 + (230, 25, 75)) / 2, rounded half to even
    assert out[2, 4].tolist() == [80, 140, 88]
    with pytest.raises(ValueError, match="mask 0 has shape"):
        overlay_masks(frame, [np.zeros((3, 3), bool)])
