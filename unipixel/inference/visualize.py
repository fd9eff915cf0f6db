"""Mask overlays: one colour per object, blended only where that object's mask is on."""

from __future__ import annotations

import numpy as np

PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (255, 225, 25),
        (145, 30, 180),
        (70, 240, 240),
        (245, 130, 48),
        (240, 50, 230),
        (210, 245, 60),
        (0, 128, 128),
    ],
    dtype=np.float32,
)


def overlay_masks(frame: np.ndarray, masks: list[np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """Blend object colours into `frame (H, W, 3)` uint8 where each `(H, W)` bool mask is on (later objects on top).

    Pixels outside every mask are returned unchanged.
    """
    out = frame.astype(np.float32).copy()
    for index, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != frame.shape[:2]:
            raise ValueError(f"mask {index} has shape {mask.shape}, frame is {frame.shape[:2]}")
        colour = PALETTE[index % len(PALETTE)]
        out[mask] = (1 - alpha) * out[mask] + alpha * colour
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def overlay_video(frames: np.ndarray, masks: list[np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """`overlay_masks` on every frame: `frames (T, H, W, 3)` uint8 and per object a `(T, H, W)` bool track."""
    masks = [np.asarray(m, dtype=bool) for m in masks]
    for index, mask in enumerate(masks):
        if mask.shape != frames.shape[:3]:
            raise ValueError(f"mask track {index} has shape {mask.shape}, frames are {frames.shape[:3]}")
    return np.stack([overlay_masks(frame, [m[t] for m in masks], alpha) for t, frame in enumerate(frames)])
