"""Input normalisation shared by the mask metrics.

Metrics accept numpy arrays or torch tensors (any device; duck-typed so that importing the metrics does not import
torch). Masks are binarised as `value != 0`, so 0/1, 0/255 and bool encodings are all read the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """Return `x` as a numpy array without copying when it already is one (torch tensors are detached to CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def as_bool_frames(x: Any, name: str) -> np.ndarray:
    """`(T, H, W)` or `(H, W)` mask → C-contiguous bool `(T, H, W)` (a single frame becomes `T = 1`)."""
    arr = to_numpy(x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (T, H, W) or (H, W), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no frames")
    if arr.dtype != np.bool_:
        arr = arr != 0
    return np.ascontiguousarray(arr)


def check_same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"mask shapes differ: {shapes}")
