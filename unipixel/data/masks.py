"""Decoders for every mask encoding the loaders meet (docs/design.md §4.3), each returning boolean numpy masks at frame
size.

- `image` (`decode_index_masks`): per-frame id-map PNGs (palette `P` like DAVIS-2017 / GroundMoRe, or grey); an
  object is the union of its ids; a None frame is empty.
- `image_sep` (`decode_separate_masks`): per-object per-frame PNGs whose object pixels are 255.
- `rle` (`decode_region_frames`): per frame a list of regions (COCO polygon list, RLE dict with str/bytes or list
  counts, or None), OR-ed.
- `polygon` (`decode_polygons`): LabelMe-like shapes `target` / `ignore` (`flag` dropped), drawn largest area first:
  1 / -1 / 0.
- per-frame dicts keyed by frame number (VideoRefer `annotation`, `mask_dict` rows): `decode_frame_dict`.
- `vicas` (`decode_region_frames`): a per-object JSON holding per frame a list of RLEs (the `rle` layout).
- `sav` (`decode_sav`): SA-V `masklet[annotated frame][object]` RLEs; a zero-area RLE means "absent".

RLE work goes through pycocotools in batches (one `frPyObjects` / `merge` / `decode` call per frame or object, not per
pixel); masks whose stored size differs from the frame are resized by nearest-pixel sampling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .io import read_label_png

# ------------------------------------------------------------------------------------------------------------ RLE


def _is_polygon(region) -> bool:
    """A COCO polygon list `[[x1, y1, ...], ...]` (as opposed to a list of regions)."""
    if not isinstance(region, (list, tuple)) or not region:
        return False
    first = region[0]
    return isinstance(first, (list, tuple)) and (not first or isinstance(first[0], (int, float, np.number)))


def to_rle(region, height: int, width: int) -> dict | None:
    """One region as a compressed COCO RLE (`counts` bytes), or None for an absent region.

    Accepts a COCO polygon list `[[x1, y1, x2, y2, ...], ...]` (rasterised at `height x width`), a compressed RLE
    (`counts` str or bytes), or an uncompressed RLE (`counts` a list of run lengths). A compressed RLE keeps its own
    `size`; callers resize the decoded mask.
    """
    if region is None:
        return None
    if _is_polygon(region):
        polys = [list(map(float, p)) for p in region if len(p) >= 6]  # fewer than 3 points rasterise to nothing
        if not polys:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    if isinstance(region, dict) and "counts" in region and "size" in region:
        counts = region["counts"]
        if isinstance(counts, list):
            h, w = (int(v) for v in region["size"])
            return mask_utils.frPyObjects(region, h, w)
        if isinstance(counts, str):
            return {"size": [int(v) for v in region["size"]], "counts": counts.encode("ascii")}
        if isinstance(counts, bytes):
            return {"size": [int(v) for v in region["size"]], "counts": counts}
    raise ValueError(f"unrecognised region encoding: {_describe(region)}")


def _describe(region) -> str:
    if isinstance(region, dict):
        return f"dict with keys {sorted(region)}"
    return f"{type(region).__name__} {str(region)[:60]}"


def resize_nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Any-dtype `(..., h, w)` → `(..., height, width)` by nearest-pixel sampling at pixel centres (no dilation of
    thin parts, no new label values)."""
    h, w = array.shape[-2:]
    if (h, w) == (height, width):
        return array
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return array[..., rows[:, None], cols[None, :]]


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool `(..., h, w)` → `(..., height, width)` by nearest-pixel sampling."""
    return resize_nearest(np.asarray(mask, dtype=bool), height, width)


def _decode_rles(rles: list[dict | None], height: int, width: int) -> np.ndarray:
    """`(N, height, width)` bool of N compressed RLEs (None = empty); RLEs sharing a size decode in one call."""
    out = np.zeros((len(rles), height, width), dtype=bool)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, rle in enumerate(rles):
        if rle is not None:
            by_size.setdefault(tuple(rle["size"]), []).append(i)
    for idx in by_size.values():
        decoded = mask_utils.decode([rles[i] for i in idx]).astype(bool)  # (h, w, n), Fortran order
        decoded = np.moveaxis(decoded, -1, 0)
        out[idx] = resize_mask(decoded, height, width)
    return out


def decode_rle(rle: dict | None, height: int | None = None, width: int | None = None) -> np.ndarray:
    """One RLE dict (str/bytes/list counts) → `(H, W)` bool at `height x width` (default: the RLE's own size)."""
    if rle is None:
        if height is None or width is None:
            raise ValueError("an absent (None) RLE needs an explicit height and width")
        return np.zeros((height, width), dtype=bool)
    size = [int(v) for v in rle["size"]]
    height, width = height or size[0], width or size[1]
    return _decode_rles([to_rle(rle, *size)], height, width)[0]


def decode_regions(regions: Sequence | None, height: int, width: int) -> np.ndarray:
    """The union of a list of regions (polygon lists, RLE dicts, None) as `(height, width)` bool."""
    return decode_region_frames([regions], height, width)[0]


def decode_region_frames(frames: Sequence[Sequence | None], height: int, width: int) -> np.ndarray:
    """`rle` / `vicas` encoding of one object: per frame a list of regions (or None) → `(T, height, width)` bool.

    Regions of a frame are OR-ed (pycocotools `merge`); a frame that is None, an empty list or all-None is empty.
    A single region given instead of a list is accepted. Polygons are rasterised at `height x width`.
    """
    rles: list[dict | None] = []
    for regions in frames:
        if regions is None or isinstance(regions, dict) or _is_polygon(regions):
            regions = [regions]
        parts = [r for r in (to_rle(region, height, width) for region in regions) if r is not None]
        if not parts:
            rles.append(None)
        elif len(parts) == 1:
            rles.append(parts[0])
        elif len({tuple(p["size"]) for p in parts}) == 1:
            rles.append(mask_utils.merge(parts))
        else:  # regions stored at different sizes: decode each at frame size and OR them
            rles.append({"decoded": _decode_rles(parts, height, width).any(0)})
    out = np.zeros((len(rles), height, width), dtype=bool)
    plain = [i for i, r in enumerate(rles) if r is not None and "decoded" not in r]
    if plain:
        out[plain] = _decode_rles([rles[i] for i in plain], height, width)
    for i, r in enumerate(rles):
        if r is not None and "decoded" in r:
            out[i] = r["decoded"]
    return out


def decode_frame_dict(
    per_frame: Mapping, frames: Sequence, height: int, width: int, field: str | None = None
) -> np.ndarray:
    """One object's regions keyed by frame (VideoRefer `annotation[obj]`, `{"57": {"segmentation": RLE}}`) →
    `(len(frames), height, width)` bool for the requested frame keys (int or str; a missing key is an empty frame).

    `field` names the region inside each value (`"segmentation"`, `"mask"`); without it the value is the region(s).
    """
    regions = []
    for f in frames:
        value = per_frame.get(str(f), per_frame.get(f)) if isinstance(f, (int, np.integer)) else per_frame.get(f)
        if field is not None and isinstance(value, Mapping):
            value = value.get(field)
        regions.append(value)
    return decode_region_frames(regions, height, width)


def encode_rle(mask: np.ndarray) -> dict:
    """`(H, W)` bool → compressed COCO RLE with a JSON-friendly str `counts`."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_area(rle: dict | None) -> int:
    """Foreground pixel count of an RLE without decoding it (0 for None)."""
    if rle is None:
        return 0
    size = [int(v) for v in rle["size"]]
    return int(mask_utils.area(to_rle(rle, *size)))


# ----------------------------------------------------------------------------------------------- id-map PNGs


def decode_index_masks(
    frames: Sequence[str | Path | np.ndarray | None],
    object_ids: Sequence[int | Sequence[int]],
    height: int,
    width: int,
    dataset: str = "?",
    sample_id="?",
) -> np.ndarray:
    """`image` encoding: per-frame id maps → `(O, T, height, width)` bool.

    Args:
        frames: per frame a PNG path (palette `P` PNGs give their indices: DAVIS-2017 / GroundMoRe / Mapillary),
            an already-read `(h, w)` integer array, or None for a frame without annotation (empty for every object).
        object_ids: per object one id or a list of ids whose union is the object (`[[1, 3], [2]]`).
        height, width: frame size; maps of another size are resized by nearest-pixel sampling.

    Each PNG is read once and shared by all objects.
    """
    ids = [np.atleast_1d(np.asarray(o, dtype=np.int64)) for o in object_ids]
    out = np.zeros((len(ids), len(frames), height, width), dtype=bool)
    for t, frame in enumerate(frames):
        if frame is None:
            continue
        label = frame if isinstance(frame, np.ndarray) else read_label_png(frame, dataset, sample_id)
        label = resize_nearest(label, height, width)
        for o, oid in enumerate(ids):
            out[o, t] = np.isin(label, oid)
    return out


def decode_separate_masks(
    frames: Sequence[Sequence[str | Path | np.ndarray | None]],
    height: int,
    width: int,
    dataset: str = "?",
    sample_id="?",
) -> np.ndarray:
    """`image_sep` encoding: `frames[o][t]` is object o's PNG on frame t (object pixels 255; None = absent) →
    `(O, T, height, width)` bool. Values of at least 128 count as object, so lossy resaves survive."""
    num_frames = {len(f) for f in frames}
    if len(num_frames) > 1:
        raise ValueError(f"objects list different frame counts: {sorted(num_frames)}")
    out = np.zeros((len(frames), num_frames.pop() if frames else 0, height, width), dtype=bool)
    for o, obj in enumerate(frames):
        for t, frame in enumerate(obj):
            if frame is None:
                continue
            label = frame if isinstance(frame, np.ndarray) else read_label_png(frame, dataset, sample_id)
            out[o, t] = resize_mask(label >= 128, height, width)
    return out


# ------------------------------------------------------------------------------------------------- polygons


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def decode_polygons(shapes: Sequence[dict], height: int, width: int) -> np.ndarray:
    """`polygon` encoding (ReasonSeg's LabelMe-like shapes) → `(height, width)` int8: 1 target, -1 ignore, 0 else.

    Shapes labelled `flag` (a 2-point marker in the real files) are dropped; other labels than target / ignore /
    flag raise. Shapes are drawn largest area first, so a smaller shape inside a larger one keeps its own label.
    Points are float `[x, y]` pixel coordinates.
    """
    values = {"target": 1, "ignore": 2}  # drawn as uint8, ignore mapped to -1 at the end
    drawable = []
    for shape in shapes:
        label = shape.get("label")
        if label == "flag":
            continue
        if label not in values:
            raise ValueError(f"polygon label {label!r} is none of target / ignore / flag")
        points = np.asarray(shape.get("points", []), dtype=np.float64).reshape(-1, 2)
        if len(points) < 3:
            continue
        drawable.append((_polygon_area(points), values[label], points))
    canvas = np.zeros((height, width), dtype=np.uint8)
    for _, value, points in sorted(drawable, key=lambda item: -item[0]):
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], color=value)
    out = canvas.astype(np.int8)
    out[canvas == 2] = -1
    return out


# ------------------------------------------------------------------------------------------------------- SA-V


def sav_visibility(masklet: Sequence[Sequence[dict]], object_index: int) -> np.ndarray:
    """Per annotated frame, whether object `object_index` is present (non-zero RLE area) — no decoding."""
    rles = [to_rle(frame[object_index], *[int(v) for v in frame[object_index]["size"]]) for frame in masklet]
    return np.asarray(mask_utils.area(rles)) > 0


def decode_sav(
    masklet: Sequence[Sequence[dict]],
    object_indices: Sequence[int],
    frame_positions: Sequence[int],
    height: int | None = None,
    width: int | None = None,
) -> np.ndarray:
    """`sav` encoding: SA-V `masklet[i][k]` is object k's RLE on the i-th *annotated* frame (every 4th video frame).

    Args:
        masklet: the annotation JSON's `masklet` list.
        object_indices: positions k in each frame's list (the masklet index, = `masklet_id` in SA-V files).
        frame_positions: positions i in `masklet` (annotated-frame positions, not video frame numbers).
        height, width: output size (default: the RLE size, `[H, W]` of the video).

    Returns `(O, T, H, W)` bool; an object that is absent on a frame is stored as a zero-area RLE and decodes empty.
    """
    if not len(frame_positions) or not len(object_indices):
        raise ValueError("decode_sav needs at least one object and one frame")
    first = masklet[frame_positions[0]][object_indices[0]]
    height = height or int(first["size"][0])
    width = width or int(first["size"][1])
    rles = [
        to_rle(masklet[i][k], *[int(v) for v in masklet[i][k]["size"]]) for k in object_indices for i in frame_positions
    ]
    masks = _decode_rles(rles, height, width)
    return masks.reshape(len(object_indices), len(frame_positions), height, width)
