"""Procedural toy data written in the released on-disk formats of UniPixel's datasets (docs/design.md §4.3-§4.6, §6).

Scenes are coloured shapes (circle, square, triangle, diamond, star; red, green, blue, yellow; small or large) on
textured, noisy backgrounds: still images, and 8-12 frame clips in which shapes move left/right/up/down, stay
still, enter or leave the frame. Everything goes under one root laid out like the released ``data/`` folder, so
the project's normal loaders read it unchanged (point their data root at it):

    python tools/make_toy_data.py --out data/toy --seed 0 [--small]

    from unipixel.data.toy import make_toy_data
    manifest = make_toy_data("data/toy", seed=0)

What is written (paths relative to the root; ``toy_manifest.json`` lists files, counts and sha256 sums):
- ``lisa/refer_seg/{refcoco,refcoco+,refcocog}``: ``refs(unc|umd).p`` + ``instances.json``; images in
  ``lisa/refer_seg/images/mscoco/images/train2014`` ("the red circle", "the small blue square on the left").
- ``lisa/reason_seg/ReasonSeg/{train,val}``: JPEG + same-name JSON, ``explanatory/train.json`` (reasoning queries).
- ``mevis/{train,valid_u}``, ``revos/``, ``ref_youtube_vos/``, ``ref_davis17/``: referring video segmentation
  ("the circle moving left", "the shape that enters the scene", ReVOS reasoning questions ending in "?").
- ``ref_sav/`` + ``sav/sav_train``: long descriptions; SA-V ``*_manual.json`` masklets (zero-area RLEs when absent)
  for 24 fps MP4s annotated every 4th frame; the Ref-SAV eval layout under ``ref_sav/valid``.
- ``videorefer/VideoRefer-700K``: short captions (for ``<|ref|>`` prompts), detailed captions and QA (also the
  memory-QA source), with ``masks_*/{row}.json`` and MP4 videos.
- ``videorefer/VideoRefer-Bench``: ``VideoRefer-Bench-Q.json`` (multiple choice, also the PixelQA source; frame
  folders) and ``VideoRefer-Bench-D.json`` (captions; MP4).

Train and evaluation scenes are drawn from different random streams, and a scene whose quantised layout already
occurs in the other group is redrawn, so no evaluation scene (nor expression-scene pair) is seen in training.
The same seed gives byte-identical files. Answers are deterministic functions of the scene ("A small red
circle.", "It moves to the left.") so that a tiny model can learn them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

GENERATOR_VERSION = "1.2.0"

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 45, 45),
    "green": (45, 170, 70),
    "blue": (45, 90, 215),
    "yellow": (225, 205, 45),
}
SHAPES = ("circle", "square", "triangle", "diamond", "star")
SIZES: dict[str, tuple[float, float]] = {"small": (0.08, 0.10), "large": (0.14, 0.17)}  # circumradius / min(H, W)
DIRECTIONS = ("left", "right", "up", "down")
MOTIONS = DIRECTIONS + ("still", "enter", "leave")
CORNERS = {"circle": 0, "triangle": 3, "square": 4, "diamond": 4, "star": 10}
CORNER_WORDS = {0: "no", 3: "three", 4: "four", 10: "ten"}
COLOUR_THINGS = {
    "red": ("a ripe strawberry", "a fire truck"),
    "green": ("fresh grass", "a green leaf"),
    "blue": ("a clear sky", "the deep sea"),
    "yellow": ("a banana", "the sun"),
}

FAMILIES = ("refer_seg", "reason_seg", "mevis", "revos", "ref_youtube_vos", "ref_davis17", "ref_sav", "videorefer")
# scenes per unit of num_train / num_val, per family
_SCALE = {
    "refer_seg": 4.0,
    "reason_seg": 1.0,
    "mevis": 1.0,
    "revos": 0.5,
    "ref_youtube_vos": 0.25,
    "ref_davis17": 0.15,
    "ref_sav": 0.25,
    "videorefer": 1.0,
}
# (height, width) of images and clips: mostly square, some portrait / landscape
_FRAME_SIZES = ((128, 128), (128, 128), (128, 128), (128, 160), (160, 128))
_JPEG_QUALITY = 82
_FPS = 10
_MIN_AREA = 30  # pixels; a prompt / annotated-only frame shows at least this much of the object


# ----------------------------------------------------------------------------------------------------------------
# scenes


@dataclass
class ToyObject:
    """One shape. Its centre at frame t is (x0 + vx t, y0 + vy t); `radius` is the circumradius in pixels."""

    shape: str
    colour: str
    size: str
    radius: float
    angle: float
    rgb: tuple[int, int, int]
    x0: float
    y0: float
    vx: float
    vy: float
    motion: str  # one of MOTIONS
    direction: str | None  # dominant direction of travel (also set for enter / leave), None when still
    side: str | None  # border crossed by an entering / leaving object

    def centre(self, t: float) -> tuple[float, float]:
        return self.x0 + self.vx * t, self.y0 + self.vy * t

    def polygon(self, t: float) -> np.ndarray:
        """`(N, 2)` float vertices (x, y) at time t (in frames), rounded to 2 decimals (what annotation files store)."""
        cx, cy = self.centre(t)
        return np.round(_unit_polygon(self.shape, self.angle) * self.radius + (cx, cy), 2)

    def motion_values(self) -> set[str]:
        """Motion words true for this object: its direction of travel and still / enter / leave."""
        values = {self.direction} if self.direction else {"still"}
        if self.motion in ("enter", "leave"):
            values.add(self.motion)
        return values


def _unit_polygon(shape: str, angle: float) -> np.ndarray:
    if shape == "circle":
        theta = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        radii = np.ones_like(theta)
    elif shape == "square":
        theta, radii = np.pi / 4 + np.arange(4) * np.pi / 2, np.ones(4)
    elif shape == "diamond":
        theta, radii = np.arange(4) * np.pi / 2, np.ones(4)
    elif shape == "triangle":  # apex up (image y grows downwards)
        theta, radii = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3, np.ones(3)
    elif shape == "star":
        theta = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    theta = theta + angle
    return np.stack([radii * np.cos(theta), radii * np.sin(theta)], axis=1)


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise like the loaders do for COCO polygons (pycocotools); parts outside the frame are clipped."""
    rles = mask_utils.frPyObjects([np.asarray(polygon, dtype=np.float64).ravel().tolist()], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE with `counts` as str (the JSON convention of the released files)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle["counts"].decode("ascii")}


@dataclass
class ToyScene:
    height: int
    width: int
    num_frames: int
    objects: list[ToyObject]
    background: np.ndarray  # (H, W, 3) float32 in [0, 1]: grey base plus low-frequency colour noise
    noise: np.ndarray  # (H, W, 3) float32 per-pixel noise in 0-255 units, static over time, on top of everything
    blob: np.ndarray | None = None  # a dark grey smudge (ReasonSeg "ignore" region), painted into the background
    masks: np.ndarray = field(init=False)  # (O, T, H, W) bool

    def __post_init__(self) -> None:
        self.masks = np.zeros((len(self.objects), self.num_frames, self.height, self.width), dtype=bool)
        for o, obj in enumerate(self.objects):
            for t in range(self.num_frames):
                self.masks[o, t] = polygon_mask(obj.polygon(t), self.height, self.width)

    def frame(self, t: int) -> np.ndarray:
        """`(H, W, 3)` uint8 RGB frame t: objects painted on the background, pixel noise on top."""
        img = self.background * 255
        for o, obj in enumerate(self.objects):
            img[self.masks[o, t]] = obj.rgb
        return np.clip(np.rint(img + self.noise), 0, 255).astype(np.uint8)

    def render(self, time: float) -> np.ndarray:
        """Like `frame` but at any time, e.g. between annotated frames (SA-V videos run 4x the annotation rate)."""
        if float(time).is_integer() and 0 <= time < self.num_frames:
            return self.frame(int(time))
        img = self.background * 255
        for obj in self.objects:
            img[polygon_mask(obj.polygon(time), self.height, self.width)] = obj.rgb
        return np.clip(np.rint(img + self.noise), 0, 255).astype(np.uint8)

    def area(self, o: int, t: int) -> int:
        return int(self.masks[o, t].sum())

    def visible_frames(self, o: int, min_area: int = 1) -> list[int]:
        return [t for t in range(self.num_frames) if self.area(o, t) >= min_area]

    def layout_key(self) -> str:
        """Hash of the quantised layout: equal keys mean the same scene up to sub-pixel jitter and texture."""
        objects = sorted(
            [
                obj.shape,
                obj.colour,
                obj.size,
                round(obj.x0 / 4),
                round(obj.y0 / 4),
                round(obj.vx * 2),
                round(obj.vy * 2),
            ]
            for obj in self.objects
        )
        layout = [[self.height, self.width, self.num_frames], objects]
        return hashlib.sha1(json.dumps(layout).encode()).hexdigest()[:16]

    def position(self, o: int, axis: str, t: int = 0) -> str | None:
        """'left'/'right' (axis 'h') or 'top'/'bottom' (axis 'v') when the centre is clearly off the middle."""
        cx, cy = self.objects[o].centre(t)
        if axis == "h":
            return "left" if cx < 0.4 * self.width else "right" if cx > 0.6 * self.width else None
        return "top" if cy < 0.4 * self.height else "bottom" if cy > 0.6 * self.height else None


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    img = np.full((height, width, 3), rng.uniform(0.35, 0.65), dtype=np.float32)
    for grid, amp in ((4, 0.08), (8, 0.05), (16, 0.03)):
        field_ = rng.normal(0, amp, (grid, grid, 3)).astype(np.float32)
        img += cv2.resize(field_, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0.0, 1.0)


def _trajectory(rng: np.random.Generator, motion: str, r: float, h: int, w: int, n: int):
    """Sample (x0, y0, vx, vy, direction, side) for a motion, or None when it does not fit the frame."""
    lo_x, hi_x, lo_y, hi_y = r + 1, w - r - 1, r + 1, h - r - 1
    if motion == "still":
        return rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y), 0.0, 0.0, None, None
    if motion in DIRECTIONS:
        speed, drift = rng.uniform(1.5, 4.0), rng.uniform(-0.3, 0.3)
        vx, vy = {"left": (-speed, drift), "right": (speed, drift), "up": (drift, -speed), "down": (drift, speed)}[
            motion
        ]
        span_x, span_y = vx * (n - 1), vy * (n - 1)
        x_range = (lo_x - min(0.0, span_x), hi_x - max(0.0, span_x))
        y_range = (lo_y - min(0.0, span_y), hi_y - max(0.0, span_y))
        if x_range[0] >= x_range[1] or y_range[0] >= y_range[1]:
            return None
        return rng.uniform(*x_range), rng.uniform(*y_range), vx, vy, motion, None
    # enter: invisible on the first k frames, then slides in across `side`; leave: the mirror image in time
    side = str(rng.choice(["left", "right", "top", "bottom"]))
    speed, k = rng.uniform(3.0, 5.0), int(rng.integers(1, 3))
    t_out = k - 1 if motion == "enter" else n - k  # frame at which the shape sits just outside the border
    inward = {"left": "right", "right": "left", "top": "down", "bottom": "up"}[side]
    direction = inward if motion == "enter" else {"right": "right", "left": "left", "top": "up", "bottom": "down"}[side]
    sign = 1.0 if direction in ("right", "down") else -1.0
    if side in ("left", "right"):
        outside = -r - 1 if side == "left" else w + r + 1
        vx, vy = sign * speed, 0.0
        x0, y0 = outside - vx * t_out, rng.uniform(lo_y, hi_y)
    else:
        outside = -r - 1 if side == "top" else h + r + 1
        vx, vy = 0.0, sign * speed
        x0, y0 = rng.uniform(lo_x, hi_x), outside - vy * t_out
    # the far end of the path must stay inside the frame
    t_far = n - 1 if motion == "enter" else 0
    fx, fy = x0 + vx * t_far, y0 + vy * t_far
    if not (lo_x <= fx <= hi_x and lo_y <= fy <= hi_y):
        return None
    return x0, y0, vx, vy, direction, side


def sample_scene(
    rng: np.random.Generator,
    *,
    height: int,
    width: int,
    num_frames: int,
    num_objects: int,
    motions: dict[str, float] | None = None,
    twin_prob: float = 0.3,
    blob: bool = False,
) -> ToyScene | None:
    """Draw a scene of `num_objects` non-overlapping shapes (in every frame); None when placement fails.

    `motions` maps motion names to sampling weights (default: everything still). With probability `twin_prob`
    an object repeats the colour and shape of an earlier one, so size / position / motion must tell them apart.
    """
    motions = motions or {"still": 1.0}
    names, weights = list(motions), np.asarray(list(motions.values()), dtype=np.float64)
    side = min(height, width)
    objects: list[ToyObject] = []
    used: set[tuple[str, str]] = set()
    for i in range(num_objects):
        if i > 0 and rng.random() < twin_prob:
            twin = objects[int(rng.integers(len(objects)))]
            shape, colour = twin.shape, twin.colour
        else:
            free = [(s, c) for s in SHAPES for c in COLOURS if (s, c) not in used]
            shape, colour = free[int(rng.integers(len(free)))]
        used.add((shape, colour))
        size = str(rng.choice(list(SIZES)))
        radius = float(rng.uniform(*SIZES[size]) * side)
        jitter = {"circle": 0.0, "square": 0.14, "diamond": 0.14, "triangle": 0.17, "star": 0.26}[shape]
        angle = float(rng.uniform(-jitter, jitter))
        rgb = tuple(int(np.clip(v + rng.integers(-12, 13), 0, 255)) for v in COLOURS[colour])
        motion = str(rng.choice(names, p=weights / weights.sum()))
        for _ in range(40):
            path = _trajectory(rng, motion, radius, height, width, num_frames)
            if path is None:
                continue
            cand = ToyObject(
                shape, colour, size, radius, angle, rgb, path[0], path[1], path[2], path[3], motion, path[4], path[5]
            )
            if all(_apart(cand, other, num_frames) for other in objects):
                objects.append(cand)
                break
        else:
            return None
    background = _background(rng, height, width)
    blob_poly = None
    if blob:
        blob_poly = _place_blob(rng, objects, height, width, num_frames)
        if blob_poly is not None:
            paint = polygon_mask(blob_poly, height, width)
            background[paint] = rng.uniform(0.18, 0.26)
    noise = rng.normal(0, 4.0, (height, width, 3)).astype(np.float32)
    scene = ToyScene(height, width, num_frames, objects, background, noise, blob_poly)
    for o, obj in enumerate(objects):
        areas = [scene.area(o, t) for t in range(num_frames)]
        if obj.motion == "enter" and not (areas[0] == 0 and areas[-1] >= _MIN_AREA):
            return None
        if obj.motion == "leave" and not (areas[0] >= _MIN_AREA and areas[-1] == 0):
            return None
        if sum(a >= _MIN_AREA for a in areas) < min(3, num_frames):
            return None
    return scene


def _apart(a: ToyObject, b: ToyObject, num_frames: int) -> bool:
    # checked at quarter frames too: shapes must not cross between frames of 4x-rate videos (Ref-SAV)
    for t in np.arange(0, num_frames - 0.75, 0.25):
        (ax, ay), (bx, by) = a.centre(t), b.centre(t)
        if math.hypot(ax - bx, ay - by) < a.radius + b.radius + 3:
            return False
    return True


def _place_blob(rng, objects, height, width, num_frames) -> np.ndarray | None:
    r = 0.07 * min(height, width)
    for _ in range(50):
        cx, cy = rng.uniform(r + 2, width - r - 2), rng.uniform(r + 2, height - r - 2)
        if all(
            math.hypot(cx - o.centre(t)[0], cy - o.centre(t)[1]) > o.radius + r + 3
            for o in objects
            for t in range(num_frames)
        ):
            theta = np.sort(rng.uniform(0, 2 * np.pi, 7))
            radii = rng.uniform(0.6, 1.0, 7) * r
            return np.round(np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1), 2)
    return None


# ----------------------------------------------------------------------------------------------------------------
# language: referring expressions, reasoning clues, captions, questions

_APPEARANCE = (
    ("shape",),
    ("colour", "shape"),
    ("size", "shape"),
    ("size", "colour", "shape"),
    ("colour",),
    ("size", "colour"),
)


def _attr(scene: ToyScene, o: int, key: str) -> str | None:
    obj = scene.objects[o]
    if key == "hpos":
        return scene.position(o, "h")
    if key == "vpos":
        return scene.position(o, "v")
    return getattr(obj, key)


def _match(scene: ToyScene, o: int, desc: dict[str, str]) -> bool:
    for key, value in desc.items():
        if key == "motion":
            if value not in scene.objects[o].motion_values():
                return False
        elif _attr(scene, o, key) != value:
            return False
    return True


def _matched(scene: ToyScene, desc: dict[str, str]) -> list[int]:
    return [o for o in range(len(scene.objects)) if _match(scene, o, desc)]


def referring_descriptors(
    scene: ToyScene, target: int, *, positions: Iterable[str] = (), motion: str = "no", relational: bool = True
):
    """Attribute sets that single out `target` (and nothing else) in the scene.

    motion: "no" (appearance / position only), "yes" (always include a motion word) or "any".
    relational: False keeps only descriptors whose appearance words (size / colour / shape) alone single the target
    out and adds no position words, so no comparison between objects is needed (motion words, when asked for, are
    redundant).
    """
    out: list[dict[str, str]] = []
    appearance = _APPEARANCE + ((),) if motion != "no" else _APPEARANCE
    for keys in appearance:
        base = {k: _attr(scene, target, k) for k in keys}
        variants: list[dict[str, str]] = []
        if motion != "yes":
            variants.append(base)
            for pos in positions if relational else ():  # appearance-only: no position words at all
                if _attr(scene, target, pos) is not None:
                    variants.append({**base, pos: _attr(scene, target, pos)})
        if motion != "no":
            variants += [{**base, "motion": m} for m in sorted(scene.objects[target].motion_values())]
        if not relational and (not base or _matched(scene, base) != [target]):
            continue
        out += [d for d in variants if d and _matched(scene, d) == [target]]
    return out


def group_descriptors(scene: ToyScene) -> list[tuple[dict[str, str], list[int]]]:
    """Descriptors matching two or more objects exactly (multi-instance expressions, plural nouns)."""
    seen, out = set(), []
    for o in range(len(scene.objects)):
        for keys in ((), ("colour",), ("shape",), ("size",)):
            for m in sorted(scene.objects[o].motion_values()) + [None]:
                desc = {k: _attr(scene, o, k) for k in keys}
                if m is not None:
                    desc["motion"] = m
                if not desc:
                    continue
                ids = _matched(scene, desc)
                key = json.dumps(desc, sort_keys=True)
                if len(ids) >= 2 and key not in seen:
                    seen.add(key)
                    out.append((desc, ids))
    return out


def phrase(desc: dict[str, str], plural: bool = False) -> str:
    """Descriptor → expression, e.g. {'size': 'small', 'colour': 'blue', 'shape': 'square', 'hpos': 'left'} →
    'the small blue square on the left'."""
    noun = desc.get("shape", "shape") + ("s" if plural else "")
    words = ["the"] + [desc[k] for k in ("size", "colour") if k in desc] + [noun]
    if "hpos" in desc:
        words += ["on the", desc["hpos"]]
    if "vpos" in desc:
        words += ["at the", desc["vpos"]]
    m = desc.get("motion")
    if m in DIRECTIONS:
        words += ["moving", m]
    elif m is not None:
        verb = {"still": "stays still", "enter": "enters the scene", "leave": "leaves the scene"}[m]
        if plural:
            verb = verb.replace("stays", "stay").replace("enters", "enter").replace("leaves", "leave")
        words += ["that", verb]
    return " ".join(words)


def _clues(scene: ToyScene, video: bool, relational: bool = True) -> list[tuple[str, set[int]]]:
    """Reasoning clues ("has three corners", "has the colour of a banana") with the objects they fit."""
    objs = scene.objects
    n = len(objs)

    def fits(pred) -> set[int]:
        return {o for o in range(n) if pred(objs[o])}

    clues = [
        ("has no corners", fits(lambda x: x.shape == "circle")),
        ("is perfectly round", fits(lambda x: x.shape == "circle")),
        ("has three corners", fits(lambda x: x.shape == "triangle")),
        ("has exactly three sides", fits(lambda x: x.shape == "triangle")),
        ("has four corners", fits(lambda x: x.shape in ("square", "diamond"))),
        ("stands on one of its corners", fits(lambda x: x.shape == "diamond")),
        ("has four corners and a flat bottom", fits(lambda x: x.shape == "square")),
        ("looks like a star", fits(lambda x: x.shape == "star")),
        ("has ten corners", fits(lambda x: x.shape == "star")),
    ]
    for colour, things in COLOUR_THINGS.items():
        clues += [(f"has the colour of {thing}", fits(lambda x, c=colour: x.colour == c)) for thing in things]
    large, small = fits(lambda x: x.size == "large"), fits(lambda x: x.size == "small")
    if relational and len(large) == 1 and n > 1:
        clues.append(("is bigger than all the others", large))
    if relational and len(small) == 1 and n > 1:
        clues.append(("is smaller than all the others", small))
    if video:
        for text, m in (
            ("is heading towards the left edge", "left"),
            ("is heading towards the right edge", "right"),
            ("is rising towards the top", "up"),
            ("is falling towards the bottom", "down"),
            ("never changes its position", "still"),
            ("comes into view during the video", "enter"),
            ("disappears from view before the end", "leave"),
        ):
            clues.append((text, fits(lambda x, m=m: m in x.motion_values())))
    return [(text, ids) for text, ids in clues if ids]


def reasoning_clauses(scene: ToyScene, target: int, video: bool, relational: bool = True) -> list[str]:
    """Clauses (one clue, or two joined by 'and') true for `target` only (`relational`: see `referring_descriptors`;
    False drops the size comparisons)."""
    clues = [c for c in _clues(scene, video, relational) if target in c[1]]
    out = [text for text, ids in clues if ids == {target}]
    for i, (t1, s1) in enumerate(clues):
        for t2, s2 in clues[i + 1 :]:
            if s1 & s2 == {target} and s1 != {target} and s2 != {target}:
                out.append(f"{t1} and {t2}")
    return out


def reasoning_text(rng: np.random.Generator, clause: str, sentence: bool, medium: str) -> str:
    if sentence:
        templates = (
            "Which shape {c}?",
            "Which object in this {m} {c}?",
            "I am looking for the shape that {c}. Which one is it?",
        )
    else:
        templates = ("the shape that {c}", "something that {c}")
    return templates[int(rng.integers(len(templates)))].format(c=clause, m=medium)


def motion_sentence(obj: ToyObject) -> str:
    """'moves to the left' / 'stays still' / 'enters the scene from the top and moves down' / ..."""
    if obj.motion == "still":
        return "stays still"
    move = f"moves to the {obj.direction}" if obj.direction in ("left", "right") else f"moves {obj.direction}"
    if obj.motion == "enter":
        return f"enters the scene from the {obj.side} and {move}"
    if obj.motion == "leave":
        return f"{move} and leaves the scene"
    return move


def short_caption(obj: ToyObject) -> str:
    return f"A {obj.size} {obj.colour} {obj.shape}."


def detailed_caption(obj: ToyObject) -> str:
    return f"A {obj.size} {obj.colour} {obj.shape} that {motion_sentence(obj)}."


# ----------------------------------------------------------------------------------------------------------------
# writer


def _family_code(name: str) -> int:
    return zlib.crc32(name.encode())


def _split_group(split: str) -> str:
    return "train" if split == "train" else "val"


class _Writer:
    """Holds the root, the seed, the scene registry (train/val disjointness) and the manifest being built."""

    def __init__(self, root: Path, seed: int, num_frames: tuple[int, int], relational: bool = True):
        self.root, self.seed, self.num_frames, self.relational = root, seed, num_frames, relational
        self.keys: dict[str, set[str]] = {"train": set(), "val": set()}
        self.scenes: dict[str, dict[str, str]] = {"train": {}, "val": {}}
        self.datasets: dict[str, dict] = {}
        self.media_files = 0

    # scenes
    def draw(self, family: str, split: str, index: int, sample: Callable, annotate: Callable):
        """Sample a scene (redrawn until `annotate` accepts it and it is new to both groups) → (scene, ann)."""
        group = _split_group(split)
        for attempt in range(500):
            rng = np.random.default_rng([self.seed, _family_code(family), _family_code(split), index, attempt])
            scene = sample(rng)
            if scene is None:
                continue
            key = scene.layout_key()
            if key in self.keys["train"] or key in self.keys["val"]:
                continue
            ann = annotate(rng, scene)
            if ann is None:
                continue
            self.keys[group].add(key)
            self.scenes[group][f"{family}/{split}/{index}"] = key
            return scene, ann
        raise RuntimeError(f"could not draw a scene for {family}/{split}/{index}")

    def clip_params(self, rng: np.random.Generator, square_only: bool = False) -> dict:
        h, w = _FRAME_SIZES[0] if square_only else _FRAME_SIZES[int(rng.integers(len(_FRAME_SIZES)))]
        lo, hi = self.num_frames
        return {"height": h, "width": w, "num_frames": int(rng.integers(lo, hi + 1))}

    def name(self, family: str, split: str, index: int, n: int = 10) -> str:
        return hashlib.sha1(f"{self.seed}/{family}/{split}/{index}".encode()).hexdigest()[:n]

    # files
    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def jpeg(self, rel: str, image: np.ndarray) -> None:
        Image.fromarray(image).save(self.path(rel), format="JPEG", quality=_JPEG_QUALITY)
        self.media_files += 1

    def frames(self, rel_dir: str, scene: ToyScene, names: list[str]) -> None:
        for t, n in enumerate(names):
            self.jpeg(f"{rel_dir}/{n}.jpg", scene.frame(t))

    def mp4(self, rel: str, scene: ToyScene, substeps: int = 1, fps: int = _FPS) -> int:
        """H.264 MP4 of the scene with `substeps` video frames per scene frame; returns the number of frames."""
        import av  # PyAV; imported here so that image-only use does not need it

        times = [t / substeps for t in range((scene.num_frames - 1) * substeps + 1)]
        with av.open(str(self.path(rel)), "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
            stream.options = {"crf": "18", "preset": "medium", "x264-params": "threads=1:bframes=0"}
            for time in times:
                for packet in stream.encode(av.VideoFrame.from_ndarray(scene.render(time), format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        self.media_files += 1
        return len(times)

    def png_palette(self, rel: str, ids: np.ndarray) -> None:
        img = Image.fromarray(ids.astype(np.uint8), mode="P")
        img.putpalette(davis_palette())
        img.save(self.path(rel), format="PNG")
        self.media_files += 1

    def json(self, rel: str, obj, indent: int | None = None) -> str:
        self.path(rel).write_text(json.dumps(obj, indent=indent))
        return rel

    def pickle(self, rel: str, obj, protocol: int) -> str:
        self.path(rel).write_bytes(pickle.dumps(obj, protocol=protocol))
        return rel

    def add(self, key: str, fmt: str, files: list[str], media: list[str], counts: dict) -> None:
        self.datasets[key] = {"format": fmt, "files": files, "media": media, "counts": counts}


def davis_palette() -> list[int]:
    """The 256-entry DAVIS / PASCAL VOC palette: (0,0,0), (128,0,0), (0,128,0), (128,128,0), (0,0,128), ..."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


def _pick(rng: np.random.Generator, items: list, k: int) -> list:
    if not items:
        return []
    idx = rng.choice(len(items), size=min(k, len(items)), replace=False)
    return [items[int(i)] for i in sorted(idx)]


def _coin(seed: int, a: int, b: int, p: float, salt: int = 0) -> bool:
    """A deterministic coin flip that does not consume the scene generator (keeps scenes independent of style)."""
    h = hashlib.sha1(f"{seed}/{a}/{b}/{salt}".encode()).digest()
    return int.from_bytes(h[:4], "little") / 2**32 < p


def _frame_names(n: int, start: int = 0, step: int = 1) -> list[str]:
    return [f"{start + step * t:05d}" for t in range(n)]


# ----------------------------------------------------------------------------------------------------------------
# image datasets


def _write_refer_seg(w: _Writer, n_train: int, n_val: int) -> None:
    """RefCOCO / RefCOCO+ / RefCOCOg in the LISA layout (refer API): refs pickle + instances.json + COCO images."""
    img_dir = "lisa/refer_seg/images/mscoco/images/train2014"
    styles = {"refcoco": ("unc", ("hpos", "vpos")), "refcoco+": ("unc", ()), "refcocog": ("umd", ("hpos",))}
    images, annotations = [], []
    refs = {name: [] for name in styles}
    counters = {name: {"ref": 0, "sent": 0} for name in styles}
    ann_id = 0

    def sample(rng):
        return sample_scene(
            rng,
            **{**w.clip_params(rng), "num_frames": 1},
            num_objects=int(rng.integers(2, 5)),
            twin_prob=0.35 * w.relational,
        )

    def annotate(rng, scene):
        per_style = {}
        for name, (_, positions) in styles.items():
            targets = [
                o
                for o in range(len(scene.objects))
                if referring_descriptors(scene, o, positions=positions, relational=w.relational)
            ]
            if name == "refcoco" and not targets:
                return None
            chosen = _pick(rng, targets, int(rng.integers(1, 3)))
            per_style[name] = [
                (
                    o,
                    _pick(
                        rng,
                        referring_descriptors(scene, o, positions=positions, relational=w.relational),
                        int(rng.integers(1, 4)),
                    ),
                )
                for o in chosen
            ]
        return per_style

    splits = [("train", i) for i in range(n_train)] + [("val", i) for i in range(n_val)]
    for image_id, (group, index) in enumerate(splits, start=1):
        scene, per_style = w.draw("refer_seg", group, index, sample, annotate)
        file_name = f"COCO_train2014_{image_id:012d}.jpg"
        w.jpeg(f"{img_dir}/{file_name}", scene.frame(0))
        images.append(
            {
                "license": 1,
                "file_name": file_name,
                "coco_url": "",
                "height": scene.height,
                "width": scene.width,
                "date_captured": "",
                "flickr_url": "",
                "id": image_id,
            }
        )
        obj_ann = {}
        for o, obj in enumerate(scene.objects):
            ann_id += 1
            obj_ann[o] = ann_id
            poly = obj.polygon(0)
            rle = mask_utils.encode(np.asfortranarray(scene.masks[o, 0].astype(np.uint8)))
            annotations.append(
                {
                    "segmentation": [poly.ravel().tolist()],
                    "area": float(mask_utils.area(rle)),
                    "iscrowd": 0,
                    "image_id": image_id,
                    "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                    "category_id": SHAPES.index(obj.shape) + 1,
                    "id": ann_id,
                }
            )
        for name, targets in per_style.items():
            split = group
            if group == "val":
                cycle = ("val", "val", "testA", "testB") if styles[name][0] == "unc" else ("val", "test")
                split = cycle[index % len(cycle)]
            for o, descs in targets:
                c = counters[name]
                sentences = []
                for desc in descs:
                    sent = phrase(desc)
                    if name == "refcocog":
                        sent = sent.replace("on the left", "on the left side of the picture").replace(
                            "on the right", "on the right side of the picture"
                        )
                    elif _coin(w.seed, image_id, c["sent"], 0.3):
                        sent = sent[len("the ") :]
                    raw = sent  # like the release, `raw` sometimes keeps other casing
                    if _coin(w.seed, image_id, c["sent"], 0.3, salt=2):
                        raw = sent[0].upper() + sent[1:]
                    if _coin(w.seed, image_id, c["sent"], 0.1, salt=1):
                        raw = sent.upper()
                    sentences.append({"tokens": sent.split(), "raw": raw, "sent_id": c["sent"], "sent": sent})
                    c["sent"] += 1
                refs[name].append(
                    {
                        "sent_ids": [s["sent_id"] for s in sentences],
                        "file_name": f"COCO_train2014_{image_id:012d}_{obj_ann[o]}.jpg",
                        "ann_id": obj_ann[o],
                        "ref_id": c["ref"],
                        "image_id": image_id,
                        "split": split,
                        "sentences": sentences,
                        "category_id": SHAPES.index(scene.objects[o].shape) + 1,
                    }
                )
                c["ref"] += 1

    instances = {
        "info": {"description": "unipixel toy shapes", "version": GENERATOR_VERSION, "year": 2025},
        "images": images,
        "licenses": [{"url": "", "id": 1, "name": "generated"}],
        "annotations": annotations,
        "categories": [{"supercategory": "shape", "id": i + 1, "name": s} for i, s in enumerate(SHAPES)],
    }
    for name, (split_by, _) in styles.items():
        files = [
            w.pickle(f"lisa/refer_seg/{name}/refs({split_by}).p", refs[name], protocol=2),
            w.json(f"lisa/refer_seg/{name}/instances.json", instances),
        ]
        counts: dict[str, dict[str, int]] = {}
        for ref in refs[name]:
            c = counts.setdefault(ref["split"], {"refs": 0, "sentences": 0, "images": 0})
            c["refs"] += 1
            c["sentences"] += len(ref["sentences"])
        for split, c in counts.items():
            c["images"] = len({r["image_id"] for r in refs[name] if r["split"] == split})
        w.add(
            name,
            f"refer ({split_by}): refs pickle (protocol 2) + COCO instances.json with polygons",
            files,
            [img_dir],
            counts,
        )


def _write_reason_seg(w: _Writer, n_train: int, n_val: int) -> None:
    """ReasonSeg: `{split}/{name}.jpg` + same-name JSON (shapes target/ignore/flag, text list, is_sentence)."""
    base = "lisa/reason_seg/ReasonSeg"
    explanatory, counts = [], {}

    def sample(rng):
        return sample_scene(
            rng,
            **{**w.clip_params(rng), "num_frames": 1},
            num_objects=int(rng.integers(2, 5)),
            twin_prob=0.2 * w.relational,
            blob=rng.random() < 0.35,
        )

    def annotate(rng, scene):
        targets = [
            o for o in range(len(scene.objects)) if reasoning_clauses(scene, o, video=False, relational=w.relational)
        ]
        if not targets:
            return None
        return targets[int(rng.integers(len(targets)))]

    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            scene, target = w.draw("reason_seg", split, i, sample, annotate)
            rng = np.random.default_rng([w.seed, _family_code("reason_seg/text"), _family_code(split), i])
            name = f"toy{i:05d}_{w.name('reason_seg', split, i, 8)}_o"
            is_sentence = bool(rng.random() < 0.6)
            clauses = _pick(
                rng,
                reasoning_clauses(scene, target, video=False, relational=w.relational),
                1 + int(rng.integers(3) * (split == "train")),
            )
            texts = [reasoning_text(rng, c, is_sentence, "image") for c in clauses]
            shapes = [_labelme_shape("target", scene.objects[target].polygon(0), name)]
            if scene.blob is not None:
                shapes.append(_labelme_shape("ignore", scene.blob, name))
            if rng.random() < 0.3:  # a 2-point "flag" marker, as in the real files; loaders drop it
                x, y, bw, bh = mask_utils.toBbox(
                    mask_utils.encode(np.asfortranarray(scene.masks[target, 0].astype(np.uint8)))
                )
                shapes.append(_labelme_shape("flag", np.array([[x, y], [x + bw, y + bh]]), name))
            w.jpeg(f"{base}/{split}/{name}.jpg", scene.frame(0))
            w.json(
                f"{base}/{split}/{name}.json", {"text": texts, "is_sentence": is_sentence, "shapes": shapes}, indent=2
            )
            c = counts.setdefault(split, {"images": 0, "texts": 0})
            c["images"] += 1
            c["texts"] += len(texts)
            if split == "train" and rng.random() < 0.4:
                obj = scene.objects[target]
                explanatory.append(
                    {
                        "query": texts[0],
                        "outputs": f"The {obj.size} {obj.colour} {obj.shape} is the answer, because it {clauses[0]}.",
                        "image": f"{name}.jpg",
                        "json": f"{name}.json",
                    }
                )
    files = [w.json(f"{base}/explanatory/train.json", explanatory, indent=2)]
    counts["train"]["explanatory"] = len(explanatory)
    w.add(
        "reason_seg",
        "LabelMe-like JSON next to each JPEG; explanatory/train.json",
        files,
        [f"{base}/train", f"{base}/val"],
        counts,
    )


def _labelme_shape(label: str, points: np.ndarray, name: str) -> dict:
    return {
        "label": label,
        "labels": [label],
        "shape_type": "polygon",
        "image_name": f"{name}.jpg",
        "points": [[float(x), float(y)] for x, y in np.asarray(points)],
        "group_id": None,
        "group_ids": [None],
        "flags": {},
    }


# ----------------------------------------------------------------------------------------------------------------
# video segmentation datasets

_VIDEO_MOTIONS = {"left": 0.13, "right": 0.13, "up": 0.12, "down": 0.12, "still": 0.2, "enter": 0.15, "leave": 0.15}


def _video_sampler(w: _Writer, objects: tuple[int, int] = (2, 4), square_only: bool = False):
    def sample(rng):
        return sample_scene(
            rng,
            **w.clip_params(rng, square_only),
            num_objects=int(rng.integers(objects[0], objects[1] + 1)),
            motions=_VIDEO_MOTIONS,
            twin_prob=0.3 * w.relational,
        )

    return sample


def _referring_video_expressions(rng, scene, per_object=(1, 2), plural_prob=0.5, relational=True):
    """[(text, [object ids])]: motion expressions per object (mostly), sometimes one multi-object expression."""
    out = []
    for o in range(len(scene.objects)):
        with_motion = referring_descriptors(scene, o, motion="yes", relational=relational)
        static = referring_descriptors(scene, o, motion="no", relational=relational)
        pool = with_motion if (with_motion and (rng.random() < 0.85 or not static)) else static
        for desc in _pick(rng, pool, int(rng.integers(per_object[0], per_object[1] + 1))):
            out.append((phrase(desc), [o]))
    groups = group_descriptors(scene)
    if groups and rng.random() < plural_prob:
        desc, ids = groups[int(rng.integers(len(groups)))]
        out.append((phrase(desc, plural=True), ids))
    return out


def _rle_track(scene: ToyScene, o: int) -> list[dict | None]:
    """Per-frame RLE of object o, None where it is outside the frame."""
    return [encode_rle(scene.masks[o, t]) if scene.masks[o, t].any() else None for t in range(scene.num_frames)]


def _write_mevis(w: _Writer, n_train: int, n_val: int) -> None:
    """MeViS: `{split}/meta_expressions.json` + `mask_dict.json` (anno_id → per-frame RLE | None) + JPEGImages."""
    files, counts = [], {}
    for split, n in (("train", n_train), ("valid_u", n_val)):
        videos, mask_dict, anno_id = {}, {}, 0

        def annotate(rng, scene):
            exps = _referring_video_expressions(rng, scene, relational=w.relational)
            return exps if exps else None

        for i in range(n):
            scene, exps = w.draw("mevis", split, i, _video_sampler(w), annotate)
            vid = w.name("mevis", split, i)
            names = _frame_names(scene.num_frames)
            w.frames(f"mevis/{split}/JPEGImages/{vid}", scene, names)
            ids = {}
            for o in range(len(scene.objects)):
                ids[o] = anno_id
                mask_dict[str(anno_id)] = _rle_track(scene, o)
                anno_id += 1
            expressions = {
                str(k): {"exp": text, "obj_id": objs, "anno_id": [ids[o] for o in objs]}
                for k, (text, objs) in enumerate(exps)
            }
            videos[vid] = {"frames": names, "expressions": expressions}
        files.append(w.json(f"mevis/{split}/meta_expressions.json", {"videos": videos}))
        files.append(w.json(f"mevis/{split}/mask_dict.json", mask_dict))
        counts[split] = {
            "videos": len(videos),
            "expressions": sum(len(v["expressions"]) for v in videos.values()),
            "frames": sum(len(v["frames"]) for v in videos.values()),
        }
    w.add(
        "mevis",
        "meta_expressions.json + mask_dict.json (RLE str counts, None when absent)",
        files,
        ["mevis/train/JPEGImages", "mevis/valid_u/JPEGImages"],
        counts,
    )


def _write_revos(w: _Writer, n_train: int, n_val: int) -> None:
    """ReVOS: meta_expressions_{train,valid}_.json (type_id 0 referring / 1 reasoning), shared mask dicts."""
    mask_dict, foreground, files, counts, anno_id, vid_id = {}, {}, [], {}, 0, 0
    for split, n in (("train", n_train), ("valid", n_val)):
        videos = {}

        def annotate(rng, scene):
            exps = [
                (text, objs, 0) for text, objs in _referring_video_expressions(rng, scene, (1, 1), 0.3, w.relational)
            ]
            targets = [
                o for o in range(len(scene.objects)) if reasoning_clauses(scene, o, video=True, relational=w.relational)
            ]
            for o in _pick(rng, targets, int(rng.integers(1, 3))):
                clause = reasoning_clauses(scene, o, video=True, relational=w.relational)
                exps.append((reasoning_text(rng, clause[int(rng.integers(len(clause)))], True, "video"), [o], 1))
            if rng.random() < 0.25:  # an expression that matches nothing (obj_id [] as in the release)
                absent = [
                    (c, s)
                    for c in COLOURS
                    for s in SHAPES
                    if not any(x.colour == c and x.shape == s for x in scene.objects)
                ]
                c, s = absent[int(rng.integers(len(absent)))]
                exps.append((f"the {c} {s}", [], 0))
            return exps

        for i in range(n):
            scene, exps = w.draw("revos", split, i, _video_sampler(w), annotate)
            vid = f"TOY/all/{w.name('revos', split, i)}"
            names = _frame_names(scene.num_frames)
            w.frames(f"revos/{vid}", scene, names)
            ids = {}
            for o in range(len(scene.objects)):
                ids[o] = anno_id
                mask_dict[str(anno_id)] = _rle_track(scene, o)
                anno_id += 1
            foreground[vid] = {"masks_rle": [encode_rle(scene.masks[:, t].any(0)) for t in range(scene.num_frames)]}
            videos[vid] = {
                "expressions": {
                    str(k): {"exp": text, "obj_id": objs, "anno_id": [ids[o] for o in objs], "type_id": type_id}
                    for k, (text, objs, type_id) in enumerate(exps)
                },
                "vid_id": vid_id,
                "height": scene.height,
                "width": scene.width,
                "frames": names,
            }
            vid_id += 1
        files.append(w.json(f"revos/meta_expressions_{split}_.json", {"videos": videos}))
        exps = [e for v in videos.values() for e in v["expressions"].values()]
        counts[split] = {
            "videos": len(videos),
            "expressions": len(exps),
            "reasoning": sum(e["type_id"] == 1 for e in exps),
            "no_object": sum(not e["obj_id"] for e in exps),
        }
    files.append(w.json("revos/mask_dict.json", mask_dict))
    files.append(w.json("revos/mask_dict_foreground.json", foreground))
    w.add(
        "revos",
        "meta_expressions_{split}_.json + mask_dict.json + mask_dict_foreground.json ({vid: {masks_rle}})",
        files,
        ["revos/TOY/all"],
        counts,
    )


def _write_ref_youtube_vos(w: _Writer, n_train: int, n_val: int) -> None:
    """Ref-YouTube-VOS: train meta with string obj_id, valid meta with {exp} only, mask_dict.pkl by running index.

    Frame names step by 5 (00000, 00005, ...) and some clips start later (e.g. 00110), as in the release.
    """
    files, counts, mask_dict, running = [], {}, {}, 0
    for split, n in (("train", n_train), ("valid", n_val)):
        videos = {}

        def annotate(rng, scene):
            exps = [(t, objs) for t, objs in _referring_video_expressions(rng, scene, (1, 2), 0.0, w.relational)]
            return exps or None

        for i in range(n):
            scene, exps = w.draw("ref_youtube_vos", split, i, _video_sampler(w), annotate)
            vid = w.name("ref_youtube_vos", split, i)
            start = 0 if i % 3 else 5 * (2 + int(hashlib.sha1(vid.encode()).digest()[0]) % 30)
            names = _frame_names(scene.num_frames, start=start, step=5)
            w.frames(f"ref_youtube_vos/{split}/JPEGImages/{vid}", scene, names)
            expressions = {}
            for k, (text, objs) in enumerate(exps):
                if split == "train":
                    expressions[str(k)] = {"exp": text, "obj_id": str(objs[0] + 1)}
                    mask_dict[str(running)] = _rle_track(scene, objs[0])
                    running += 1
                else:
                    expressions[str(k)] = {"exp": text}
            videos[vid] = {"expressions": expressions, "frames": names}
        files.append(
            w.json(f"ref_youtube_vos/meta_expressions/{split}/meta_expressions.json", {"videos": videos}, indent=4)
        )
        counts[split] = {"videos": len(videos), "expressions": sum(len(v["expressions"]) for v in videos.values())}
    files.append(w.pickle("ref_youtube_vos/mask_dict.pkl", mask_dict, protocol=4))
    w.add(
        "ref_youtube_vos",
        "codalab meta_expressions.json (train obj_id str; valid exp only) + mask_dict.pkl "
        "(str(running expression index) → per-frame RLE | None; train only)",
        files,
        ["ref_youtube_vos/train/JPEGImages", "ref_youtube_vos/valid/JPEGImages"],
        counts,
    )


def _write_ref_davis17(w: _Writer, n_train: int, n_val: int) -> None:
    """Ref-DAVIS17: meta + `{split}/mask_dict.pkl` (running index), DAVIS JPEGs and palette PNG annotations.

    The first valid clip has four objects and 12 expressions, so ids "10" and "11" sort before "2" as strings.
    """
    files, counts = [], {}
    for split, n in (("train", n_train), ("valid", n_val)):
        drawn = []
        for i in range(n):
            many = split == "valid" and i == 0

            def annotate(rng, scene, many=many):
                exps = []
                for o in range(len(scene.objects)):
                    pool = referring_descriptors(scene, o, motion="any", relational=w.relational)
                    if len(pool) < (3 if many else 1):
                        return None
                    exps += [(phrase(d), o) for d in _pick(rng, pool, 3 if many else int(rng.integers(1, 3)))]
                return exps

            sampler = _video_sampler(w, (4, 4) if many else (2, 3), square_only=True)
            scene, exps = w.draw("ref_davis17", split, i, sampler, annotate)
            drawn.append((f"shapes-{w.name('ref_davis17', split, i, 6)}", scene, exps))
        videos, mask_dict, running = {}, {}, 0
        for vid, scene, exps in sorted(drawn, key=lambda d: d[0]):  # DAVIS metas list clips by name
            names = _frame_names(scene.num_frames)
            w.frames(f"ref_davis17/DAVIS/JPEGImages/480p/{vid}", scene, names)
            for t, name in enumerate(names):
                ids = np.zeros((scene.height, scene.width), dtype=np.uint8)
                for o in range(len(scene.objects)):
                    ids[scene.masks[o, t]] = o + 1
                w.png_palette(f"ref_davis17/DAVIS/Annotations/480p/{vid}/{name}.png", ids)
            expressions = {}
            for k, (text, o) in enumerate(exps):
                expressions[str(k)] = {"exp": text, "obj_id": str(o + 1)}
                mask_dict[str(running)] = _rle_track(scene, o)
                running += 1
            videos[vid] = {"expressions": expressions, "frames": names}
        files.append(w.json(f"ref_davis17/meta_expressions/{split}/meta_expressions.json", {"videos": videos}))
        files.append(w.pickle(f"ref_davis17/{split}/mask_dict.pkl", mask_dict, protocol=4))
        counts[split] = {"videos": len(videos), "expressions": running}
    w.add(
        "ref_davis17",
        "meta_expressions.json (obj_id str) + {split}/mask_dict.pkl (running index) + DAVIS "
        "JPEGImages/480p + Annotations/480p palette PNGs",
        files,
        ["ref_davis17/DAVIS/JPEGImages/480p", "ref_davis17/DAVIS/Annotations/480p"],
        counts,
    )


def sav_description(scene: ToyScene, o: int) -> str | None:
    """Ref-SAV style long description, or None when another object would fit it too."""
    obj = scene.objects[o]
    sig = (obj.size, obj.colour, obj.shape, obj.motion, obj.direction, obj.side)
    if sum((x.size, x.colour, x.shape, x.motion, x.direction, x.side) == sig for x in scene.objects) > 1:
        return None
    corners = CORNER_WORDS[CORNERS[obj.shape]]
    return f"{detailed_caption(obj)} It has {corners} corners and the colour of {COLOUR_THINGS[obj.colour][0]}."


def _write_ref_sav(w: _Writer, n_train: int, n_val: int) -> None:
    """Ref-SAV. Train: SA-V manual annotations (`masklet`: one entry per 4th video frame, one RLE per object,
    zero-area RLEs where absent) + 4x-rate MP4 under `sav/sav_train`, indexed by `ref_sav/Ref-SAV-Min-Ratio-0.3.json`.
    Valid: `ref_sav/valid/meta_expressions_valid.json` + `mask_dict.json` (RLE lists, no None) + JPEG frames named
    str(100000 + 4 i)."""

    def annotate(rng, scene):
        described = {o: sav_description(scene, o) for o in range(len(scene.objects))}
        described = {o: d for o, d in described.items() if d is not None}
        return described or None

    meta, counts = {}, {}
    for i in range(n_train):
        scene, described = w.draw("ref_sav", "train", i, _video_sampler(w), annotate)
        vid = f"sav_{i + 1:06d}"
        video_path, anno_path = f"sav/sav_train/sav_000/{vid}.mp4", f"sav/sav_train/sav_000/{vid}_manual.json"
        num_video_frames = w.mp4(video_path, scene, substeps=4, fps=24)
        areas = scene.masks.sum((2, 3))  # (O, T)
        present = areas > 0
        w.json(
            anno_path,
            {
                "video_id": vid,
                "video_duration": round(num_video_frames / 24, 4),
                "video_frame_count": float(num_video_frames),
                "video_height": float(scene.height),
                "video_width": float(scene.width),
                "video_resolution": float(scene.height * scene.width),
                "video_environment": "Indoor",
                "video_split": "train",
                "masklet": [
                    [encode_rle(scene.masks[o, t]) for o in range(len(scene.objects))] for t in range(scene.num_frames)
                ],
                "masklet_id": list(range(len(scene.objects))),
                "masklet_size_rel": [round(float(a[a > 0].mean()) / (scene.height * scene.width), 10) for a in areas],
                "masklet_size_abs": [round(float(a[a > 0].mean()), 10) for a in areas],
                "masklet_size_bucket": ["small" if a[a > 0].mean() < 32**2 else "medium" for a in areas],
                "masklet_visibility_changes": [int(np.abs(np.diff(p.astype(int))).sum()) for p in present],
                "masklet_first_appeared_frame": [float(4 * np.argmax(p)) for p in present],
                "masklet_frame_count": [scene.num_frames] * len(scene.objects),
                "masklet_edited_frame_count": [int(p.sum()) for p in present],
                "masklet_type": ["manual"] * len(scene.objects),
                "masklet_stability_score": [None] * len(scene.objects),
                "masklet_num": len(scene.objects),
            },
        )
        meta[vid] = {
            "video_path": video_path,
            "anno_path": anno_path,
            "objects": {str(o): {"video_id": vid, "obj_id": o, "formated": d} for o, d in described.items()},
        }
    counts["train"] = {"videos": len(meta), "objects": sum(len(v["objects"]) for v in meta.values())}
    files = [w.json("ref_sav/Ref-SAV-Min-Ratio-0.3.json", meta)]

    videos, mask_dict, anno_id = {}, {}, 10000
    for i in range(n_val):
        scene, described = w.draw("ref_sav", "valid", i, _video_sampler(w), annotate)
        vid = f"sav_{900001 + i:06d}"
        names = [str(100000 + 4 * t) for t in range(scene.num_frames)]
        w.frames(f"ref_sav/valid/videos/{vid}", scene, names)
        expressions = {}
        for o, d in described.items():
            expressions[str(o)] = {"exp": d, "obj_id": [o], "anno_id": [anno_id], "type_id": 0}
            mask_dict[str(anno_id)] = [encode_rle(scene.masks[o, t]) for t in range(scene.num_frames)]
            anno_id += 1
        videos[vid] = {
            "expressions": expressions,
            "vid_id": i,
            "height": scene.height,
            "width": scene.width,
            "frames": names,
        }
    files.append(w.json("ref_sav/valid/meta_expressions_valid.json", {"videos": videos}))
    files.append(w.json("ref_sav/valid/mask_dict.json", mask_dict))
    counts["valid"] = {"videos": len(videos), "expressions": len(mask_dict)}
    w.add(
        "ref_sav",
        "Ref-SAV-Min-Ratio-0.3.json + SA-V *_manual.json (masklet, zero-area RLEs) + 24 fps MP4; valid "
        "meta_expressions_valid.json + mask_dict.json + frames",
        files,
        ["sav/sav_train/sav_000", "ref_sav/valid/videos"],
        counts,
    )


# ----------------------------------------------------------------------------------------------------------------
# region understanding: VideoRefer-700K, VideoRefer-Bench-Q (and PixelQA), VideoRefer-Bench-D

_SHORT_PROMPTS = (
    "What is <region>?",
    "Give a short description of <region>.",
    "Briefly describe <region> in the video.",
)
# the last wording is VideoRefer-Bench-D's instruction (the release's detailed-caption questions vary like this too)
_DETAILED_PROMPTS = (
    "Describe <region> in detail.",
    "What does <region> look like and what does it do in the video?",
    "Please give a detailed description of the highlighted object <region> in the video.",
)
_BENCH_TYPES = (
    "Basic Questions",
    "Sequential Questions",
    "Relationship Questions",
    "Reasoning Questions",
    "Future Predictions",
)


def _single_qa(rng, obj: ToyObject) -> tuple[str, str]:
    kind = int(rng.integers(4))
    if kind == 0:
        return "What colour is <region>?", f"It is {obj.colour}."
    if kind == 1:
        return "What shape is <region>?", f"It is a {obj.shape}."
    if kind == 2:
        return "How does <region> move in the video?", f"It {motion_sentence(obj)}."
    return "How many corners does <region> have?", f"It has {CORNER_WORDS[CORNERS[obj.shape]]} corners."


def _relation(a: ToyObject, b: ToyObject, ta: str, tb: str) -> str:
    if a.direction is None and b.direction is None:
        return "Neither of them moves"
    if a.direction is None:
        return f"Only {tb} moves"
    if b.direction is None:
        return f"Only {ta} moves"
    return "They move in the same direction" if a.direction == b.direction else "They move in different directions"


def _multi_qa(rng, scene: ToyScene, objs: list[int]) -> tuple[str, str] | None:
    tags = [f"<object{o}>" for o in objs]
    intro = (
        f"There are {len(objs)} objects in the video: "
        + ", ".join(t + "<region>" for t in tags[:-1])
        + f" and {tags[-1]}<region>."
    )
    a, b = scene.objects[objs[0]], scene.objects[objs[1]]
    options = []
    if a.size != b.size:
        bigger = tags[0] if a.size == "large" else tags[1]
        options.append((f"Which one is larger, {tags[0]} or {tags[1]}?", f"{bigger} is larger."))
    if a.direction is not None and b.direction is not None:
        same = a.direction == b.direction
        answer = (
            f"Yes, both move {a.direction}."
            if same
            else f"No. {tags[0]} moves {a.direction}, while {tags[1]} moves {b.direction}."
        )
        options.append((f"Do {tags[0]} and {tags[1]} move in the same direction?", answer))
    k = int(rng.integers(len(objs)))
    options.append((f"What colour is {tags[k]}?", f"{tags[k]} is {scene.objects[objs[k]].colour}."))
    if scene.masks[objs[0], 0].any() and scene.masks[objs[1], 0].any():
        dx = a.centre(0)[0] - b.centre(0)[0]
        if abs(dx) >= 10:
            left = tags[0] if dx < 0 else tags[1]
            options.append(
                (
                    f"Which one is further to the left at the start of the video, {tags[0]} or {tags[1]}?",
                    f"{left} is further to the left.",
                )
            )
    question, answer = options[int(rng.integers(len(options)))]
    return f"{intro}\n{question}", answer


def _annotated(scene: ToyScene, o: int, frames: Iterable[int] | None = None, with_masks: bool = False) -> dict:
    frames = scene.visible_frames(o) if frames is None else frames
    return {str(t): ({"segmentation": encode_rle(scene.masks[o, t])} if with_masks else {}) for t in frames}


def _mask_file(scene: ToyScene, objs: list[int], annotation: list[dict]) -> list[list[list[dict | None]]]:
    """masks_*/{row}.json: per object, per annotated frame of the row (sorted union), a list of RLEs or [None]."""
    union = sorted({int(k) for a in annotation for k in a})
    return [
        [[encode_rle(scene.masks[o, t])] if str(t) in a else [None] for t in union] for o, a in zip(objs, annotation)
    ]


def _bench_question(rng, scene: ToyScene, kind: str) -> tuple[str, list[str], str, list[int]] | None:
    """(question, options without letters, correct option, object ids in order of mention) or None."""
    objs = scene.objects
    n = len(objs)
    if kind == "Relationship Questions":
        if n < 2:
            return None
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        ta, tb = f"<object{a}>", f"<object{b}>"
        correct = _relation(objs[a], objs[b], ta, tb)
        pool = [
            "They move in the same direction",
            "They move in different directions",
            f"Only {ta} moves",
            f"Only {tb} moves",
            "Neither of them moves",
        ]
        wrong = [p for p in pool if p != correct]
        options = [correct] + _pick(rng, wrong, 3)
        question = f"How do {ta}<region> and {tb}<region> move relative to each other?"
        return question, options, correct, [a, b]
    o = int(rng.integers(n))
    obj = objs[o]
    if kind == "Basic Questions":
        if rng.random() < 0.5:
            return "What colour is <region>?", [c.capitalize() for c in COLOURS], obj.colour.capitalize(), [o]
        shapes = [obj.shape] + _pick(rng, [s for s in SHAPES if s != obj.shape], 3)
        return "What shape is <region>?", [f"A {s}" for s in shapes], f"A {obj.shape}", [o]
    if kind == "Sequential Questions":
        phrases = {
            "left": "It moves to the left",
            "right": "It moves to the right",
            "up": "It moves up",
            "down": "It moves down",
            "still": "It stays still",
            "enter": "It enters the scene",
            "leave": "It leaves the scene",
        }
        correct = phrases[obj.motion]
        wrong = [p for m, p in phrases.items() if m not in obj.motion_values()]
        return "What does <region> do during the video?", [correct] + _pick(rng, wrong, 3), correct, [o]
    if kind == "Reasoning Questions":
        if rng.random() < 0.5:
            count = CORNERS[obj.shape]
            correct = CORNER_WORDS[count].capitalize() if count else "None"
            return "How many corners does <region> have?", ["None", "Three", "Four", "Ten"], correct, [o]
        things = {c: t[0] for c, t in COLOUR_THINGS.items()}
        options = [things[c][0].upper() + things[c][1:] for c in COLOURS]
        correct = things[obj.colour][0].upper() + things[obj.colour][1:]
        return "Which everyday thing has the same colour as <region>?", options, correct, [o]
    if kind == "Future Predictions":
        moving = [i for i in range(n) if objs[i].direction is not None]
        if not moving:
            return None
        o = moving[int(rng.integers(len(moving)))]
        edge = {"left": "The left edge", "right": "The right edge", "up": "The top edge", "down": "The bottom edge"}
        question = "If <region> keeps moving the same way, which edge of the frame will it reach?"
        return question, list(edge.values()), edge[objs[o].direction], [o]
    raise ValueError(kind)


def _write_videorefer(w: _Writer, n_train: int, n_val: int) -> None:
    base, bench = "videorefer/VideoRefer-700K", "videorefer/VideoRefer-Bench"
    rows = {"short_caption": [], "detailed_caption": [], "qa": []}
    masks = {"short_caption": [], "detailed_caption": [], "qa": []}

    def accept(rng, scene):
        return True

    for i in range(n_train):
        scene, _ = w.draw("videorefer", "train", i, _video_sampler(w), accept)
        rng = np.random.default_rng([w.seed, _family_code("videorefer/text"), i])
        vid = w.name("videorefer", "train", i)
        video = f"toy/{vid}.mp4"
        w.mp4(f"{base}/videos/{video}", scene)

        def row(kind, question, answer, objs, annotation, scene=scene, video=video, vid=vid):
            visible = [len(scene.visible_frames(o)) / scene.num_frames for o in objs]
            rows[kind].append(
                {
                    "video": video,
                    "conversations": [
                        {"from": "human", "value": f"<video>\n{question}"},
                        {"from": "gpt", "value": answer},
                    ],
                    "annotation": annotation,
                    "id": f"toy_{vid}_{kind}_{len(rows[kind])}",
                    "ratio": round(min(visible), 3),  # share of frames showing the object(s); loaders keep >= 0.3
                }
            )
            masks[kind].append(_mask_file(scene, objs, annotation))

        for o, obj in enumerate(scene.objects):
            frame = scene.visible_frames(o, _MIN_AREA)
            t = frame[int(rng.integers(len(frame)))]
            row(
                "short_caption",
                _SHORT_PROMPTS[int(rng.integers(3))],
                short_caption(obj),
                [o],
                [_annotated(scene, o, [t])],
            )
            row(
                "detailed_caption",
                _DETAILED_PROMPTS[int(rng.integers(2))],
                detailed_caption(obj),
                [o],
                [_annotated(scene, o)],
            )
        for o in _pick(rng, list(range(len(scene.objects))), 2):
            question, answer = _single_qa(rng, scene.objects[o])
            row("qa", question, answer, [o], [_annotated(scene, o)])
        if len(scene.objects) >= 2:
            objs = _pick(rng, list(range(len(scene.objects))), int(rng.integers(2, min(3, len(scene.objects)) + 1)))
            objs = [objs[j] for j in rng.permutation(len(objs))]
            question, answer = _multi_qa(rng, scene, objs)
            row("qa", question, answer, objs, [_annotated(scene, o) for o in objs])

    files = []
    names = {"short_caption": "short-caption-500k", "detailed_caption": "detailed-caption-125k", "qa": "qa-75k"}
    for kind, stem in names.items():
        files.append(w.json(f"{base}/videorefer-{stem}-wo-masks.json", rows[kind]))
        for r, m in enumerate(masks[kind]):
            w.json(f"{base}/masks_{kind}/{r}.json", m)
    for kind, stem in names.items():
        w.add(
            f"videorefer_{kind}",
            f"videorefer-{stem}-wo-masks.json rows + masks_{kind}/{{row}}.json; MP4 videos",
            [f"{base}/videorefer-{stem}-wo-masks.json"],
            [f"{base}/videos/toy", f"{base}/masks_{kind}"],
            {"train": {"rows": len(rows[kind]), "videos": n_train}},
        )

    bench_q, bench_d = [], []
    for i in range(n_val):

        def annotate(rng, scene):
            picked = []
            for kind in [_BENCH_TYPES[j] for j in rng.permutation(len(_BENCH_TYPES))]:
                q = _bench_question(rng, scene, kind)
                if q is None:
                    continue
                common = [t for t in range(scene.num_frames) if all(scene.area(o, t) >= _MIN_AREA for o in q[3])]
                if not common:
                    continue
                picked.append((kind, q, common[int(rng.integers(len(common)))]))
                if len(picked) == 3:
                    return picked
            return picked or None

        scene, questions = w.draw("videorefer", "val", i, _video_sampler(w), annotate)
        rng = np.random.default_rng([w.seed, _family_code("videorefer/bench"), i])
        vid = w.name("videorefer", "val", i)
        folder = f"toy/JPEGImages/{vid}"
        w.frames(f"{bench}/videos/{folder}", scene, _frame_names(scene.num_frames))
        w.mp4(f"{bench}/videos/Panda-70M-part/toy/{vid}.mp4", scene)
        for kind, (question, options, correct, objs), frame_idx in questions:
            order = rng.permutation(len(options))
            lettered = [f"({'ABCD'[j]}) {options[k]}" for j, k in enumerate(order)]
            answer = lettered[[options[k] for k in order].index(correct)]
            bench_q.append(
                {
                    "id": len(bench_q),
                    "video": folder,
                    "Question": question,
                    "type": kind,
                    "options": lettered,
                    "Answer": answer,
                    "frame_idx": str(frame_idx),
                    "annotation": [_annotated(scene, o, with_masks=True) for o in objs],
                }
            )
        for o in _pick(rng, list(range(len(scene.objects))), 2):
            frames = scene.visible_frames(o, _MIN_AREA)
            bench_d.append(
                {
                    "id": len(bench_d),
                    "video": f"toy/{vid}.mp4",
                    "caption": detailed_caption(scene.objects[o]),
                    "frame_idx": str(frames[int(rng.integers(len(frames)))]),
                    "annotation": [_annotated(scene, o, with_masks=True)],
                }
            )
    w.add(
        "videorefer_bench_q",
        "VideoRefer-Bench-Q.json (also the PixelQA source); frame folders",
        [w.json(f"{bench}/VideoRefer-Bench-Q.json", bench_q)],
        [f"{bench}/videos/toy/JPEGImages"],
        {
            "test": {
                "questions": len(bench_q),
                "videos": n_val,
                **{t: sum(q["type"] == t for q in bench_q) for t in _BENCH_TYPES},
            }
        },
    )
    w.add(
        "videorefer_bench_d",
        "VideoRefer-Bench-D.json; MP4 videos",
        [w.json(f"{bench}/VideoRefer-Bench-D.json", bench_d)],
        [f"{bench}/videos/Panda-70M-part/toy"],
        {"test": {"captions": len(bench_d), "videos": n_val}},
    )


# ----------------------------------------------------------------------------------------------------------------
# entry point

_WRITERS = {
    "refer_seg": _write_refer_seg,
    "reason_seg": _write_reason_seg,
    "mevis": _write_mevis,
    "revos": _write_revos,
    "ref_youtube_vos": _write_ref_youtube_vos,
    "ref_davis17": _write_ref_davis17,
    "ref_sav": _write_ref_sav,
    "videorefer": _write_videorefer,
}
# top-level entries a toy root may hold (cleared when regenerating into a previous toy root)
_TOP_LEVEL = (
    "lisa",
    "mevis",
    "revos",
    "ref_youtube_vos",
    "ref_davis17",
    "ref_sav",
    "sav",
    "videorefer",
    "toy_manifest.json",
)
SMALL = {"num_train": 4, "num_val": 2}


def make_toy_data(
    root: str | os.PathLike,
    seed: int = 0,
    num_train: int = 32,
    num_val: int = 8,
    *,
    num_frames: tuple[int, int] = (8, 12),
    families: Iterable[str] | None = None,
    relational: bool = True,
) -> dict:
    """Write the toy datasets under `root` (laid out like the released ``data/``) and return the manifest.

    Args:
        root: output folder; created if missing. A previous toy root (one holding ``toy_manifest.json``) is
            regenerated in place; any other non-empty folder is refused.
        seed: everything is a deterministic function of the seed (same seed → byte-identical files).
        num_train, num_val: scale of the train / evaluation splits; each family draws about
            `scale * num_train` scenes (RefCOCO-style images 4x, ReVOS 0.5x, Ref-YouTube-VOS and Ref-SAV
            0.25x, Ref-DAVIS17 0.15x, the rest 1x; at least one each). ``SMALL`` (4 / 2) is the preset used by tests.
        num_frames: inclusive range of clip lengths.
        families: subset of ``FAMILIES`` to write (default: all).
        relational: False writes the "appearance" variant used by the toy training run: no two objects of a scene
            share colour and shape, and every expression is identifiable from its appearance words alone (position,
            motion and size-comparison words, when present, are redundant). True (default) also asks for
            comparisons ("the triangle on the left" among two triangles), which a tiny model needs far longer to learn.
    """
    root = Path(root)
    families = tuple(FAMILIES if families is None else families)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; choose from {FAMILIES}")
    if root.exists() and any(root.iterdir()):
        if not (root / "toy_manifest.json").exists():
            raise FileExistsError(f"{root} is not empty and holds no toy_manifest.json; refusing to write into it")
        for name in _TOP_LEVEL:
            target = root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    root.mkdir(parents=True, exist_ok=True)

    w = _Writer(root, seed, num_frames, relational)
    for family in FAMILIES:  # fixed order, so a subset draws the same scenes as the full run
        if family in families:
            n_tr = max(1, round(_SCALE[family] * num_train))
            n_va = max(1, round(_SCALE[family] * num_val))
            _WRITERS[family](w, n_tr, n_va)

    for entry in w.datasets.values():
        entry["sha256"] = {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in entry["files"]}
    total_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    manifest = {
        "generator": "unipixel.data.toy",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "relational": relational,
        "config": {
            "num_train": num_train,
            "num_val": num_val,
            "num_frames": list(num_frames),
            "families": list(families),
        },
        "vocabulary": {
            "colours": list(COLOURS),
            "shapes": list(SHAPES),
            "sizes": list(SIZES),
            "motions": list(MOTIONS),
        },
        "datasets": w.datasets,
        "media_files": w.media_files,
        "bytes": total_bytes,
        "scenes": w.scenes,
    }
    (root / "toy_manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load_manifest(root: str | os.PathLike) -> dict:
    return json.loads((Path(root) / "toy_manifest.json").read_text())


__all__ = [
    "COLOURS",
    "SHAPES",
    "SIZES",
    "MOTIONS",
    "FAMILIES",
    "SMALL",
    "GENERATOR_VERSION",
    "ToyObject",
    "ToyScene",
    "make_toy_data",
    "load_manifest",
    "sample_scene",
    "polygon_mask",
    "encode_rle",
    "davis_palette",
    "referring_descriptors",
    "phrase",
    "short_caption",
    "detailed_caption",
    "motion_sentence",
]
