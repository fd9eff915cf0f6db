"""Fixtures for the toy-data tests: one small dataset generated per session (seed 0), plus decoding helpers."""

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unipixel.data.toy import COLOURS, SMALL, make_toy_data

REAL_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "real_samples"


@pytest.fixture(scope="session")
def toy_small(tmp_path_factory):
    """(root, manifest, seconds) of `make_toy_data(..., seed=0, **SMALL)`."""
    root = tmp_path_factory.mktemp("toy") / "data"
    start = time.perf_counter()
    manifest = make_toy_data(root, seed=0, **SMALL)
    return root, manifest, time.perf_counter() - start


@pytest.fixture(scope="session")
def toy_root(toy_small) -> Path:
    return toy_small[0]


def load_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def nearest_colour(frame: np.ndarray, mask: np.ndarray) -> str | None:
    """Palette colour nearest to the mean of the mask interior (eroded by 2 px); None if the interior is tiny."""
    import cv2

    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if inner.sum() < 6:
        return None
    mean = frame[inner].reshape(-1, 3).mean(0)
    return min(COLOURS, key=lambda c: float(np.linalg.norm(mean - np.asarray(COLOURS[c]))))


def colour_word(text: str) -> str | None:
    words = [w for w in text.lower().replace("?", " ").replace(".", " ").split() if w in COLOURS]
    return words[0] if len(words) == 1 else None
