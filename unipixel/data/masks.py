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
pixel). Every RLE is checked before pycocotools sees it (its runs must cover exactly `height x width` pixels;
pycocotools itself decodes a cut or garbled `counts` string into arbitrary memory). A mask stored at another size
than its frame (height and width swapped included) raises `MaskSizeError`; nothing is stretched to fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .errors import DataError
from .io import read_label_png


class MaskSizeError(ValueError):
    """A stored mask whose size differs from the frame it annotates.

    Attributes: `stored` and `expected` as `(height, width)`, `position`: the index of the mask in the decoded batch.
    """

    def __init__(self, stored, expected, position: int = 0, what: str = "mask"):
        self.stored, self.expected, self.position = tuple(int(v) for v in stored), tuple(expected), position
        swapped = " (height and width swapped)" if self.stored == self.expected[::-1] else ""
        super().__init__(
            f"{what} is stored at {self.stored[0]} x {self.stored[1]} (H x W) but its frame is "
            f"{self.expected[0]} x {self.expected[1]}{swapped}"
        )


def check_size(stored, height: int, width: int, position: int = 0, what: str = "mask") -> None:
    """Raise `MaskSizeError` unless `stored` (a shape's last two entries or an RLE `size`) is `(height, width)`."""
    stored = tuple(int(v) for v in stored)
    if stored != (int(height), int(width)):
        raise MaskSizeError(stored, (int(height), int(width)), position, what)


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
        h, w = rle_size(region)
        if isinstance(counts, list):
            if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise ValueError("bad RLE: uncompressed `counts` must be non-negative integers")
            if sum(counts) != h * w:
                raise ValueError(f"bad RLE: `counts` covers {sum(counts)} pixels, its size {h} x {w} has {h * w}")
            return mask_utils.frPyObjects({"size": [h, w], "counts": [int(c) for c in counts]}, h, w)
        if isinstance(counts, str):
            try:
                counts = counts.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError("bad RLE: `counts` holds non-ASCII characters") from None
        if isinstance(counts, bytes):
            check_rle_counts(counts, h, w)
            return {"size": [h, w], "counts": counts}
    raise ValueError(f"unrecognised region encoding: {_describe(region)}")


def rle_size(rle: Mapping) -> tuple[int, int]:
    """`(height, width)` of an RLE dict, checked: two non-negative integers."""
    size = rle.get("size")
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"bad RLE: `size` must be [height, width], got {str(size)[:40]}")
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"bad RLE: `size` must be [height, width], got {str(size)[:40]}") from None
    if h < 0 or w < 0 or any(isinstance(v, bool) or float(v) != int(v) for v in size):
        raise ValueError(f"bad RLE: `size` must be two non-negative integers, got {size}")
    return h, w


def rle_runs(counts: bytes) -> np.ndarray:
    """Run lengths of a compressed COCO `counts` string (pycocotools' `rleFrString`, vectorised): 6-bit groups, low
    5 bits of data, bit 5 "more follows", bit 4 of a value's last group its sign; from the third run on, each value is
    a difference to the run two before. Raises `ValueError` for characters outside the code or a cut last value."""
    codes = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if codes.min() < 0 or codes.max() > 63:
        raise ValueError("bad RLE: `counts` holds characters outside the RLE code")
    more = (codes & 0x20) != 0
    if more[-1]:
        raise ValueError("bad RLE: `counts` is cut in the middle of a value")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1])
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    shift = 5 * (np.arange(len(codes)) - starts[group])
    if shift.max() > 55:
        raise ValueError("bad RLE: a value in `counts` is too long")
    values = np.zeros(len(ends), dtype=np.int64)
    np.add.at(values, group, (codes & 0x1F) << shift)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * (ends - starts + 1))[negative]
    runs = values.copy()
    for parity in (0, 1):  # runs[m] = values[m] + runs[m - 2] for m > 2
        first = 2 if parity == 0 else 1
        runs[first::2] = np.cumsum(values[first::2])
    return runs


def check_rle_counts(counts: bytes, height: int, width: int) -> None:
    """Raise `ValueError` unless the compressed runs are non-negative and cover exactly `height x width` pixels."""
    runs = rle_runs(counts)
    if len(runs) and runs.min() < 0:
        raise ValueError("bad RLE: `counts` decodes to a negative run")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(f"bad RLE: `counts` covers {total} pixels, its size {height} x {width} has {height * width}")


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
    """`(N, height, width)` bool of N compressed RLEs (None = empty), decoded in one call; an RLE of another size
    raises `MaskSizeError` (its `position` is the index in `rles`)."""
    out = np.zeros((len(rles), height, width), dtype=bool)
    idx = [i for i, rle in enumerate(rles) if rle is not None]
    for i in idx:
        check_size(rles[i]["size"], height, width, i)
    if idx:
        decoded = mask_utils.decode([rles[i] for i in idx]).astype(bool)  # (h, w, n), Fortran order
        out[idx] = np.moveaxis(decoded, -1, 0)
    return out


def decode_rle(rle: dict | None, height: int | None = None, width: int | None = None) -> np.ndarray:
    """One RLE dict (str/bytes/list counts) → `(H, W)` bool (its own size, which must equal `height x width` when
    given)."""
    if rle is None:
        if height is None or width is None:
            raise ValueError("an absent (None) RLE needs an explicit height and width")
        return np.zeros((height, width), dtype=bool)
    size = rle_size(rle)
    height, width = height or size[0], width or size[1]
    return _decode_rles([to_rle(rle, *size)], height, width)[0]


def decode_regions(regions: Sequence | None, height: int, width: int) -> np.ndarray:
    """The union of a list of regions (polygon lists, RLE dicts, None) as `(height, width)` bool."""
    return decode_region_frames([regions], height, width)[0]


def decode_region_frames(frames: Sequence[Sequence | None], height: int, width: int) -> np.ndarray:
    """`rle` / `vicas` encoding of one object: per frame a list of regions (or None) → `(T, height, width)` bool.

    Regions of a frame are OR-ed (pycocotools `merge`); a frame that is None, an empty list or all-None is empty.
    A single region given instead of a list is accepted. Polygons are rasterised at `height x width`; an RLE stored at
    another size raises `MaskSizeError` whose `position` is the frame's position in `frames`. A malformed region
    raises `ValueError` naming the frame position.
    """
    rles: list[dict | None] = []
    for t, regions in enumerate(frames):
        if regions is None or isinstance(regions, dict) or _is_polygon(regions):
            regions = [regions]
        try:
            parts = [r for r in (to_rle(region, height, width) for region in regions) if r is not None]
        except MaskSizeError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"frame position {t}: {exc}") from None
        for part in parts:
            check_size(part["size"], height, width, t)
        if not parts:
            rles.append(None)
        elif len(parts) == 1:
            rles.append(parts[0])
        else:
            rles.append(mask_utils.merge(parts))
    return _decode_rles(rles, height, width)


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
    return int(mask_utils.area(to_rle(rle, *rle_size(rle))))


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
        height, width: frame size; a map of another size is a `DataError` naming its file.

    Each PNG is read once and shared by all objects.
    """
    ids = [np.atleast_1d(np.asarray(o, dtype=np.int64)) for o in object_ids]
    out = np.zeros((len(ids), len(frames), height, width), dtype=bool)
    for t, frame in enumerate(frames):
        if frame is None:
            continue
        label = frame if isinstance(frame, np.ndarray) else read_label_png(frame, dataset, sample_id)
        _check_png_size(label, height, width, dataset, sample_id, frame, t)
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
            _check_png_size(label, height, width, dataset, sample_id, frame, t, f"object {o}: ")
            out[o, t] = label >= 128
    return out


def _check_png_size(label, height, width, dataset, sample_id, frame, t: int, who: str = "") -> None:
    try:
        check_size(label.shape[-2:], height, width, t, "label map")
    except MaskSizeError as exc:
        path = None if isinstance(frame, np.ndarray) else frame
        raise DataError(dataset, sample_id, path, f"{who}frame position {t}: {exc}") from None


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
    for i, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise ValueError(f"shape {i} is a {type(shape).__name__}, not an object")
        label = shape.get("label")
        if label == "flag":
            continue
        if label not in values:
            raise ValueError(f"shape {i}: polygon label {label!r} is none of target / ignore / flag")
        try:
            points = np.asarray(shape.get("points", []), dtype=np.float64).reshape(-1, 2)
        except (ValueError, TypeError):
            raise ValueError(f"shape {i}: `points` must be a list of [x, y] pairs") from None
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
    """Per annotated frame, whether object `object_index` is present (non-zero RLE area) — no decoding. A malformed
    entry raises `ValueError` naming its annotated-frame position."""
    rles = []
    for i, frame in enumerate(masklet):
        try:
            rles.append(to_rle(frame[object_index], *rle_size(frame[object_index])))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"masklet frame {i}, object {object_index}: {exc}") from None
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
    An RLE of another size than `height x width` raises `MaskSizeError`, a malformed one `ValueError`, both naming
    the masklet frame and object.
    """
    if not len(frame_positions) or not len(object_indices):
        raise ValueError("decode_sav needs at least one object and one frame")
    first = masklet[frame_positions[0]][object_indices[0]]
    height = height or rle_size(first)[0]
    width = width or rle_size(first)[1]
    rles = []
    for k in object_indices:
        for i in frame_positions:
            try:
                rle = to_rle(masklet[i][k], *rle_size(masklet[i][k]))
                check_size(rle["size"], height, width, i, f"masklet frame {i}, object {k}")
            except MaskSizeError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise ValueError(f"masklet frame {i}, object {k}: {exc}") from None
            rles.append(rle)
    masks = _decode_rles(rles, height, width)
    return masks.reshape(len(object_indices), len(frame_positions), height, width)
