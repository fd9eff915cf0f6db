"""DAVIS-2017 boundary F-measure, per-expression J&F, and the dataset-level mean (docs/design.md §5.2).

What is implemented (the DAVIS toolkit's `f_measure` / `_seg2bmap`, re-derived; results agree with it bit for bit):

1. Boundary map of a binary mask M (H x W): pixel (y, x) is a boundary pixel iff M(y, x) differs from any of its
   east M(y, x+1), south M(y+1, x) or south-east M(y+1, x+1) neighbours, where a neighbour outside the image is
   replaced by the nearest pixel inside it (edge replication). Consequences: the map is 1 px wide and sits half a
   pixel towards the origin; it marks the last background pixel before a left/top edge and the last foreground
   pixel before a right/bottom edge; the image border itself never creates boundary (a full mask has none), and
   the bottom-right pixel is never a boundary pixel.
2. Tolerance radius r = ceil(bound_th x sqrt(H^2 + W^2)) px (bound_th = 0.008: r = 8 at 480 x 854, 12 at 720p);
   a `bound_th >= 1` is taken as r itself. The tolerance region is the disk {(dy, dx): dy^2 + dx^2 <= r^2}
   (skimage's `disk(r)`), applied by binary dilation with zero padding.
3. precision P = #(pred boundary px within the dilated GT boundary) / #pred boundary px,
   recall    R = #(GT boundary px within the dilated pred boundary) / #GT boundary px,
   F = 2PR / (P + R), and F = 0 when P + R = 0.
4. Empty boundaries: both empty → P = R = 1, F = 1; pred empty, GT not → P = 1, R = 0, F = 0;
   GT empty, pred not → P = 0, R = 1, F = 0.

Speed: each frame is cropped to the bounding box of both masks (grown by 1 px, which contains every boundary pixel
of either mask) and identical boundary maps skip the dilation. The rest runs on bit-packed rows (64 pixels per
uint64 word): boundary maps, the disk dilation (decomposed into 1-D passes, `dilate_disk` explains the decomposition)
and every count (popcounts), a few dozen vector operations on 1/64 of the pixels instead of full-frame passes. Radii
above 31 px (frames over ~2600 px diagonal) fall back to the same decomposition on OpenCV byte images. Frames can be
spread over a thread pool (`frame_counts`' `num_threads`; it helps the byte-image path, seldom the packed one).
`benchmarks/bench_metrics.py` measures the gain over the official DAVIS-2017 recipe on compact and full-frame masks.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from ._arrays import as_bool_frames, check_same_shape
from .region import iou_from_counts


def boundary_radius(height: int, width: int, bound_th: float = 0.008) -> int:
    """Dilation radius in pixels: `ceil(bound_th * image diagonal)`, or `bound_th` itself when it is >= 1."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"a pixel radius must be an integer, got bound_th={bound_th}")
        return int(bound_th)
    # sqrt of an exact integer sum: the same float as the toolkit's np.linalg.norm((H, W)).
    return math.ceil(bound_th * math.sqrt(height * height + width * width))


def disk(radius: int) -> np.ndarray:
    """uint8 `(2r+1, 2r+1)` structuring element {dy^2 + dx^2 <= r^2} (identical to `skimage.morphology.disk`)."""
    dy, dx = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (dy * dy + dx * dx <= radius * radius).astype(np.uint8)


@functools.cache
def _disk_rectangles(radius: int) -> tuple[tuple[int, int], ...]:
    """The disk as a union of centred rectangles (half-width w, half-height h): w strictly decreasing, h increasing."""
    half_widths = [math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1)]
    return tuple(
        (w, max(dy for dy, hw in enumerate(half_widths) if hw >= w)) for w in sorted(set(half_widths), reverse=True)
    )


@functools.cache
def _line(length: int, vertical: bool) -> np.ndarray:
    return np.ones((length, 1) if vertical else (1, length), dtype=np.uint8)


def dilate_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of a uint8 0/1 `(H, W)` image by `disk(radius)` with zero padding; equals
    `cv2.dilate(mask, disk(radius))`, about twice as fast for r = 8..12.

    With rectangles (w_1, h_1), ..., (w_K, h_K) from `_disk_rectangles` and Hor_w / Ver_h the 1-D dilations by
    [-w, w] / [-h, h], the disk dilation is OR_k Ver_{h_k}(Hor_{w_k}(B)). Evaluated Horner-style from the narrowest
    rectangle outwards, Ver_{h_1}(Hor_{w_1}(B) | Ver_{h_2 - h_1}(Hor_{w_2}(B) | ... Ver_{h_K - h_(K-1)}(Hor_{w_K}(B)))),
    with each Hor_{w_k} grown from the previous narrower one, it takes about 2K short 1-D passes instead of one 2-D pass
    over every disk element. Zero padding stays exact because every 1-D pass only combines pixels of one image line.
    """
    rects = _disk_rectangles(radius)
    horizontal, width = mask, 0
    acc = None
    for k in range(len(rects) - 1, -1, -1):
        w, h = rects[k]
        if w > width:
            horizontal = cv2.dilate(horizontal, _line(2 * (w - width) + 1, vertical=False))
            width = w
        if acc is None:
            acc = horizontal
        else:
            # Heights strictly increase with k, so this always dilates and returns a fresh array to OR into.
            acc = cv2.dilate(acc, _line(2 * (rects[k + 1][1] - h) + 1, vertical=True))
            cv2.bitwise_or(acc, horizontal, dst=acc)
    if rects[0][1] > 0:
        acc = cv2.dilate(acc, _line(2 * rects[0][1] + 1, vertical=True))
    return acc


def boundary_map(mask: Any) -> np.ndarray:
    """DAVIS 1-px boundary map (rule 1 of the module docstring) of a `(..., H, W)` mask, as bool of the same shape."""
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        m = m != 0
    b = np.zeros_like(m)
    # Edge replication means the last column only looks south and the last row only looks east; restricting each
    # comparison to the pixels that have that neighbour gives exactly that.
    np.not_equal(m[..., :, :-1], m[..., :, 1:], out=b[..., :, :-1])
    b[..., :-1, :] |= m[..., :-1, :] != m[..., 1:, :]
    b[..., :-1, :-1] |= m[..., :-1, :-1] != m[..., 1:, 1:]
    return b


# ------------------------------------------------------------------------------------------------ bit-packed rows
# The prediction and the ground truth of a crop (h, w) are stored as two blocks of h + 2 * pad rows (`pad` zero rows,
# the crop's rows, `pad` zero rows); each row is `words` uint64 words: one zero word (pixels -64..-1), then pixel x at
# bit x of the following words (little-endian bit order), with at least 2 * pad zero bits after the crop. The whole
# array is used flat, so a shift along x carries bits between neighbouring words with one contiguous operation and a
# shift along y is an offset of `words`; both blocks go through every operation together. Carries across a row end
# and shifts across a block edge only ever move zero bits: a dilation by at most `pad` (<= 31) spills at most `pad`
# pixels past the crop (so the top `pad` bits of a row's last word stay zero) and at most `pad` pixels into the zero
# word on the left (so its low 64 - pad > 31 bits stay zero), and at most `pad` rows into its own block's padding.
_PACKED_MAX_RADIUS = 31
_LITTLE_ENDIAN = sys.byteorder == "little"
_SHIFTS = tuple(np.uint64(k) for k in range(65))


def _row_words(width: int, pad: int) -> int:
    """Words per packed row: the zero word, then room for the crop plus 2 * pad bits, so that a row's last word only
    ever receives dilation spill in bits the next row's zero word can take without reaching its low bits."""
    return 1 + (width + 2 * pad + 63) // 64


@functools.lru_cache(maxsize=64)
def _valid_bits(h: int, w: int, pad: int) -> np.ndarray:
    """Packed (2 blocks) mask of the crop's own pixels: rows pad..pad+h-1, columns 0..w-1 of each block."""
    words = _row_words(w, pad)
    buf = np.zeros((2, h + 2 * pad, words * 8), dtype=np.uint8)
    buf[:, pad : pad + h, 8 : 8 + (w + 7) // 8] = np.packbits(np.ones(w, dtype=bool), bitorder="little")
    valid = buf.view(np.uint64).reshape(-1)
    valid.flags.writeable = False
    return valid


def _dilate_rows(a: np.ndarray, k: int, scratch: np.ndarray, covered: int = 0) -> np.ndarray:
    """OR of `a` shifted by -k..k pixels along rows, for an `a` already dilated along rows by `covered` (whose runs
    are then at least 2 * covered + 1 long, so one shift pair adds up to that much)."""
    target = covered + k
    carry = scratch[:-1]
    while covered < target:
        step = min(2 * covered + 1, target - covered)
        left, right = _SHIFTS[step], _SHIFTS[64 - step]
        out = np.right_shift(a, left)  # out[x] = a[x + step] within a word ...
        np.left_shift(a[1:], right, out=carry)  # ... and from the next word
        out[:-1] |= carry
        if step > covered:  # else each pixel of a run (>= 2 * covered + 1 long) has one `step` away: already in out
            out |= a
        np.left_shift(a, left, out=scratch)  # out[x] = a[x - step]
        out |= scratch
        np.right_shift(a[:-1], right, out=carry)
        out[1:] |= carry
        a, covered = out, covered + step
    return a


def _dilate_cols(a: np.ndarray, k: int, words: int) -> np.ndarray:
    """OR of `a` shifted by -k..k rows."""
    covered = 0
    while covered < k:
        step = min(2 * covered + 1, k - covered)
        offset = step * words
        out = np.empty_like(a)
        np.bitwise_or(a[offset:], a[:-offset], out=out[offset:])  # rows from above
        out[:offset] = a[:offset]
        out[:-offset] |= a[offset:]  # rows from below
        a, covered = out, covered + step
    return a


def _dilate_disk_packed(a: np.ndarray, radius: int, words: int) -> np.ndarray:
    """`dilate_disk` on packed rows: the same rectangle decomposition, evaluated Horner-style."""
    rects = _disk_rectangles(radius)
    scratch = np.empty_like(a)
    horizontal, width = a, 0
    acc = None
    for k in range(len(rects) - 1, -1, -1):
        w, h = rects[k]
        if w > width:
            horizontal = _dilate_rows(horizontal, w - width, scratch, width)
            width = w
        if acc is None:
            acc = horizontal
        else:
            acc = _dilate_cols(acc, rects[k + 1][1] - h, words)
            acc |= horizontal
    if rects[0][1] > 0:
        acc = _dilate_cols(acc, rects[0][1], words)
    return acc


def _popcount(a: np.ndarray) -> int:
    return int(np.bitwise_count(a).sum())


def _frame_counts_packed(p: np.ndarray, g: np.ndarray, radius: int) -> tuple[int, int, int, int, int, int]:
    """`_frame_counts` of a crop on packed rows (exactly the same numbers)."""
    h, w = p.shape
    words = _row_words(w, radius)
    buf = np.zeros((2, h + 2 * radius, words * 8), dtype=np.uint8)
    buf[0, radius : radius + h, 8 : 8 + (w + 7) // 8] = np.packbits(p, axis=1, bitorder="little")
    buf[1, radius : radius + h, 8 : 8 + (w + 7) // 8] = np.packbits(g, axis=1, bitorder="little")
    blocks = buf.view(np.uint64)  # (2, rows, words)
    inter = _popcount(blocks[0] & blocks[1])
    union = _popcount(blocks[0] | blocks[1])
    # Edge replication (rule 1): column w copies column w - 1, row h copies row h - 1.
    last, col = 64 + w - 1, 64 + w
    rows = blocks[:, radius : radius + h]
    bit = (rows[..., last // 64] >> _SHIFTS[last % 64]) & np.uint64(1)
    rows[..., col // 64] |= bit << _SHIFTS[col % 64]
    blocks[:, radius + h] = blocks[:, radius + h - 1]
    m = blocks.reshape(-1)
    east = np.right_shift(m, _SHIFTS[1])  # the east neighbour: m[x + 1], carried across words
    east[:-1] |= np.left_shift(m[1:], _SHIFTS[63])
    b = m ^ east
    b[:-words] |= m[:-words] ^ m[words:]  # south
    b[:-words] |= m[:-words] ^ east[words:]  # south-east: the east neighbour of the row below
    b &= _valid_bits(h, w, radius)
    half = len(b) // 2
    pb, gb = b[:half], b[half:]
    n_pb, n_gb = _popcount(pb), _popcount(gb)
    if n_pb == 0 or n_gb == 0:
        return inter, union, n_pb, n_gb, 0, 0
    if np.array_equal(pb, gb):
        return inter, union, n_pb, n_gb, n_pb, n_gb
    dilated = _dilate_disk_packed(b, radius, words)
    return inter, union, n_pb, n_gb, _popcount(pb & dilated[half:]), _popcount(gb & dilated[:half])


def _frame_counts(pred: np.ndarray, gt: np.ndarray, radius: int) -> tuple[int, int, int, int, int, int]:
    """(intersection, union, #pred boundary, #GT boundary, #matched pred boundary, #matched GT boundary) of a frame."""
    height, width = pred.shape
    x, y, w, h = cv2.boundingRect((pred | gt).view(np.uint8))
    if not w:
        return 0, 0, 0, 0, 0, 0
    # Grow by one pixel: the boundary of a mask reaches one pixel above/left of it, and a zero row/column past the
    # right/bottom keeps the crop's edge replication from inventing or hiding boundary pixels.
    x0, y0 = max(x - 1, 0), max(y - 1, 0)
    x1, y1 = min(x + w + 1, width), min(y + h + 1, height)
    p = pred[y0:y1, x0:x1]
    g = gt[y0:y1, x0:x1]
    if radius <= _PACKED_MAX_RADIUS and _LITTLE_ENDIAN:
        return _frame_counts_packed(p, g, radius)
    inter = np.count_nonzero(p & g)
    union = np.count_nonzero(p | g)

    pb = boundary_map(p)
    gb = boundary_map(g)
    n_pb = np.count_nonzero(pb)
    n_gb = np.count_nonzero(gb)
    if n_pb == 0 or n_gb == 0:
        return inter, union, n_pb, n_gb, 0, 0
    if np.array_equal(pb, gb):
        # Every boundary pixel lies on the other boundary, and the disk contains its centre.
        return inter, union, n_pb, n_gb, n_pb, n_gb
    # Every boundary pixel is inside the crop, so dilating the crop (zero padding) is exact there.
    pb_dil = dilate_disk(pb.view(np.uint8), radius).view(np.bool_)
    gb_dil = dilate_disk(gb.view(np.uint8), radius).view(np.bool_)
    return inter, union, n_pb, n_gb, np.count_nonzero(pb & gb_dil), np.count_nonzero(gb & pb_dil)


def frame_counts(pred: Any, gt: Any, bound_th: float = 0.008, num_threads: int = 1) -> np.ndarray:
    """Per-frame integer counts behind J and F, int64 `(T, 6)`.

    Columns: intersection, union, #pred boundary px, #GT boundary px, #pred boundary px matched within the
    tolerance disk, #GT boundary px matched. Use `j_and_f` unless the counts themselves are needed.

    `num_threads > 1` spreads frames over a thread pool. On packed rows a frame is about a hundred short numpy calls
    that mostly hold the GIL, so threads seldom help there (8 threads ran at half the speed of one on a 16-core
    machine, docs/performance.md); they pay off on the byte-image path (radius > 31 px).
    """
    pred_b, gt_b = as_bool_frames(pred, "pred"), as_bool_frames(gt, "gt")
    check_same_shape(pred=pred_b, gt=gt_b)
    _, height, width = pred_b.shape
    radius = boundary_radius(height, width, bound_th)
    if num_threads <= 1 or len(pred_b) == 1:
        rows = [_frame_counts(p, g, radius) for p, g in zip(pred_b, gt_b)]
    else:
        with ThreadPoolExecutor(max_workers=num_threads) as pool:
            rows = list(pool.map(_frame_counts, pred_b, gt_b, [radius] * len(pred_b)))
    return np.asarray(rows, dtype=np.int64).reshape(len(pred_b), 6)


def f_from_counts(n_pred: np.ndarray, n_gt: np.ndarray, matched_pred: np.ndarray, matched_gt: np.ndarray) -> np.ndarray:
    """Boundary F per entry from boundary-pixel counts, with the empty-boundary conventions of the module docstring."""
    n_pred = np.asarray(n_pred, dtype=np.float64)
    n_gt = np.asarray(n_gt, dtype=np.float64)
    # 0/0 → 1 reproduces the conventions: an empty pred boundary has P = 1 and (its GT boundary being unmatched)
    # R = 0 when the GT has one; an empty GT boundary has R = 1 and P = 0 when pred has one; both empty: P = R = 1.
    precision = np.ones_like(n_pred)
    recall = np.ones_like(n_gt)
    np.divide(matched_pred, n_pred, out=precision, where=n_pred > 0)
    np.divide(matched_gt, n_gt, out=recall, where=n_gt > 0)
    total = precision + recall
    f = np.zeros_like(total)
    np.divide(2 * precision * recall, total, out=f, where=total > 0)
    return f


def boundary_f_measure(pred: Any, gt: Any, bound_th: float = 0.008, num_threads: int = 1) -> np.ndarray:
    """Per-frame DAVIS boundary F of `(T, H, W)` masks (numpy or torch; non-zero = foreground), float64 `(T,)`."""
    c = frame_counts(pred, gt, bound_th, num_threads)
    return f_from_counts(c[:, 2], c[:, 3], c[:, 4], c[:, 5])


def j_and_f(pred: Any, gt: Any, bound_th: float = 0.008, num_threads: int = 1) -> dict[str, float]:
    """J, F and J&F of one expression: frame means of region IoU and boundary F over `(T, H, W)` masks.

    J&F = (J + F) / 2. Frames with an empty union score J = 1; see the module docstring for F's conventions.
    """
    c = frame_counts(pred, gt, bound_th, num_threads)
    j = float(np.mean(iou_from_counts(c[:, 0], c[:, 1])))
    f = float(np.mean(f_from_counts(c[:, 2], c[:, 3], c[:, 4], c[:, 5])))
    return {"J": j, "F": f, "J&F": (j + f) / 2}


def mean_j_and_f(per_expression: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Dataset J and F = means over expressions (each expression counts once); J&F = (J + F) / 2."""
    rows = list(per_expression)
    if not rows:
        raise ValueError("no expressions to aggregate")
    j = float(np.mean([r["J"] for r in rows]))
    f = float(np.mean([r["F"] for r in rows]))
    return {"J": j, "F": f, "J&F": (j + f) / 2}
