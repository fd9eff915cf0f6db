"""Mask overlays: one colour per object, blended where that object's mask is on, outlined, and a legend per object.

A fill alone disappears when the object has the mask's colour (a red mask on a red car changes a few grey levels). So
each mask also gets an outline inside its boundary, two rings: the object's colour at full strength outside, and
black or white inside, whichever stands out more from the fill (`contrast_colour`), so the shape reads whatever the
object's colour. With `labels`, a legend in the top-left corner names each object beside its colour swatch.
"""

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
BLACK = np.zeros(3, np.float32)
WHITE = np.full(3, 255.0, np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance (ITU-R BT.709 weights) of `(..., 3)` RGB values in 0-255, in 0-255."""
    return np.asarray(rgb, np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def contrast_colour(pixels: np.ndarray) -> np.ndarray:
    """Black or white, whichever is further in luminance from the mean of `pixels (N, 3)`."""
    return BLACK if float(luminance(pixels).mean()) >= 128 else WHITE


def outline_rings(mask: np.ndarray, thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """`(outer, inner)`: the mask's boundary band, `thickness` pixels each, both inside the mask. The image border
    does not count as a boundary."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    mask8 = mask.astype(np.uint8)
    eroded = cv2.erode(mask8, kernel, iterations=thickness, borderType=cv2.BORDER_REPLICATE).astype(bool)
    eroded_twice = cv2.erode(mask8, kernel, iterations=2 * thickness, borderType=cv2.BORDER_REPLICATE).astype(bool)
    return mask & ~eroded, eroded & ~eroded_twice


def outline_thickness(height: int, width: int) -> int:
    """Pixels per outline ring: 1 for images up to about 240 px, then growing with the image (3 at 480 px...)."""
    return max(1, round(min(height, width) / 160))


def overlay_masks(
    frame: np.ndarray,
    masks: list[np.ndarray],
    alpha: float = 0.5,
    outline: bool = True,
    labels: list[str] | None = None,
) -> np.ndarray:
    """Blend object colours into `frame (H, W, 3)` uint8 where each `(H, W)` bool mask is on (later objects on top),
    outline every mask (`outline`), and draw a legend of `labels` (one per mask) when given.

    Without a legend, pixels outside every mask are returned unchanged.
    """
    out = frame.astype(np.float32).copy()
    masks = [np.asarray(mask, dtype=bool) for mask in masks]
    for index, mask in enumerate(masks):
        if mask.shape != frame.shape[:2]:
            raise ValueError(f"mask {index} has shape {mask.shape}, frame is {frame.shape[:2]}")
        colour = PALETTE[index % len(PALETTE)]
        out[mask] = (1 - alpha) * out[mask] + alpha * colour
    if outline:
        thickness = outline_thickness(*frame.shape[:2])
        for index, mask in enumerate(masks):
            if not mask.any():
                continue
            outer, inner = outline_rings(mask, thickness)
            out[outer] = PALETTE[index % len(PALETTE)]
            out[inner] = contrast_colour(out[mask])
    image = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if labels is not None:
        if len(labels) != len(masks):
            raise ValueError(f"{len(labels)} labels for {len(masks)} masks")
        image = draw_legend(image, labels)
    return image


def legend_box(height: int, width: int, labels: list[str]) -> tuple[int, int, int, int]:
    """`(x0, y0, x1, y1)` of the legend `draw_legend` draws for these labels on an image of this size."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(_blank())
    line = _line_height(font)
    text_width = max((measure.textlength(label, font=font) for label in labels), default=0)
    pad = 3
    x1 = min(width, int(pad + line + pad + text_width + pad + 1))
    y1 = min(height, pad + len(labels) * line + pad)
    return 0, 0, x1, y1


def draw_legend(image: np.ndarray, labels: list[str]) -> np.ndarray:
    """A dark, half-transparent box in the top-left corner listing each label after its object's colour swatch."""
    from PIL import Image, ImageDraw, ImageFont

    if not labels:
        return image
    font = ImageFont.load_default()
    line = _line_height(font)
    x0, y0, x1, y1 = legend_box(*image.shape[:2], labels)
    out = image.astype(np.float32)
    out[y0:y1, x0:x1] *= 0.35
    canvas = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    pad = 3
    for row, label in enumerate(labels):
        top = pad + row * line
        swatch = tuple(int(c) for c in PALETTE[row % len(PALETTE)])
        draw.rectangle([pad, top + 1, pad + line - 3, top + line - 2], fill=swatch, outline=(255, 255, 255))
        draw.text((pad + line + pad, top), label, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def _line_height(font) -> int:
    left, top, right, bottom = font.getbbox("Ag[0]")
    return int(bottom) + 3


def _blank():
    from PIL import Image

    return Image.new("RGB", (1, 1))


def overlay_video(
    frames: np.ndarray,
    masks: list[np.ndarray],
    alpha: float = 0.5,
    outline: bool = True,
    labels: list[str] | None = None,
) -> np.ndarray:
    """`overlay_masks` on every frame: `frames (T, H, W, 3)` uint8 and per object a `(T, H, W)` bool track."""
    masks = [np.asarray(m, dtype=bool) for m in masks]
    for index, mask in enumerate(masks):
        if mask.shape != frames.shape[:3]:
            raise ValueError(f"mask track {index} has shape {mask.shape}, frames are {frames.shape[:3]}")
    return np.stack(
        [overlay_masks(frame, [m[t] for m in masks], alpha, outline, labels) for t, frame in enumerate(frames)]
    )
