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
    out = overlay_masks(frame, [a, b], alpha=0.5, outline=False)
    assert (out[~(a | b)] == 100).all()
    assert out[1, 1].tolist() == [165, 62, 88]  # (100 + (230, 25, 75)) / 2, rounded half to even
    assert out[2, 4].tolist() == [80, 140, 88]
    with pytest.raises(ValueError, match="mask 0 has shape"):
        overlay_masks(frame, [np.zeros((3, 3), bool)])


def test_outline_contrasts_with_a_fill_of_the_objects_colour():
    """A red mask on a red object: the fill hardly changes the object, the outline stands out from it."""
    from unipixel.inference.visualize import PALETTE, luminance, outline_rings

    yy, xx = np.mgrid[:120, :160]
    frame = np.full((120, 160, 3), 120, np.uint8)
    red = (yy - 60) ** 2 / 30**2 + (xx - 70) ** 2 / 45**2 <= 1
    frame[red] = PALETTE[0].astype(np.uint8)  # the object has the first mask colour
    fill_only = overlay_masks(frame, [red], outline=False)
    assert np.abs(fill_only.astype(int) - frame).max() <= 1, "a fill alone leaves a red object red"
    out = overlay_masks(frame, [red])
    outer, inner = outline_rings(red, 1)
    assert outer.any() and inner.any() and not (inner & ~red).any()
    interior = red & ~outer & ~inner
    fill = luminance(out[interior].astype(np.float32)).mean()
    assert abs(luminance(out[inner].astype(np.float32)).mean() - fill) >= 128, "the inner ring contrasts with the fill"
    assert (out[~red] == frame[~red]).all(), "nothing outside the mask changes"
    # a light object gets a dark ring instead
    frame[red] = (250, 240, 120)
    out = overlay_masks(frame, [red])
    assert luminance(out[inner].astype(np.float32)).max() < 1


def test_legend_names_each_object_in_its_colour():
    from unipixel.inference.visualize import PALETTE, legend_box

    frame = np.full((96, 128, 3), 200, np.uint8)
    a, b = np.zeros((96, 128), bool), np.zeros((96, 128), bool)
    a[60:80, 10:40], b[60:80, 80:120] = True, True
    out = overlay_masks(frame, [a, b], labels=["[0] dog", "[1] ball"])
    x0, y0, x1, y1 = legend_box(96, 128, ["[0] dog", "[1] ball"])
    assert 0 < x1 <= 128 and 0 < y1 < 60
    box = out[y0:y1, x0:x1].reshape(-1, 3)
    for colour in PALETTE[:2].astype(np.uint8):
        assert (box == colour).all(-1).sum() >= 16, "a swatch of each object's colour"
    assert (out[y1:, :][~(a | b)[y1:, :]] == 200).all(), "outside the legend and the masks nothing changes"
    with pytest.raises(ValueError, match="1 labels for 2 masks"):
        overlay_masks(frame, [a, b], labels=["x"])
