"""Your own data in one JSON-lines file, one row per sample (key `custom`; the format in full: docs/finetune.md).

    {"id": "dog-1", "image": "images/dog.jpg",
     "conversations": [{"from": "human", "value": "Please segment the dog in this image."},
                       {"from": "gpt", "value": "Sure, it is <|seg|>."}],
     "objects": [{"masks": [{"size": [480, 640], "counts": "..."}]}]}

- Media: `image` (a still image), `video` (a video file) or `frames` (a folder of frame images in natural order, or a
  list of frame files). Every path in a row is relative to the row file's folder (or to `media_root`); absolute paths
  and paths that leave that folder are refused.
- `conversations`: the release's LLaVA-style turns (`from` human / gpt, `value`); an `<image>` / `<video>` placeholder
  in the first turn is dropped (the visual always goes first).
- `objects`: numbered 0, 1, ... in list order. Each may have `masks` (per frame a COCO RLE, a COCO polygon list, a
  list of such regions OR-ed, a PNG path (non-zero pixels are the object) or null for "absent"; a list with one entry
  per frame of the media, or a dict `{"frame index": entry}` for sparsely annotated videos), a `point` `[x, y]` or a
  `box` `[x1, y1, x2, y2]` in media pixels with its `frame` (default 0), and a `prompt` kind (`point` / `box`: drawn
  from the masks when no coordinates are given, a random click / a jittered box in training; `mask`: the object is
  shown to the model by its masks, as `<|mem|>` tokens).
- Markers: the i-th `<|seg|>` of the answers segments object i, the i-th `<|ref|>` / `<|mem|>` of the questions
  prompts object i, unless a marker is written after an id, `[k] <|seg|>`, which names object k. A row whose
  questions hold no `<|ref|>` gets one after the first `[k]` mention of each object with a point or box prompt (as the
  inference CLI does). A `<|mem|>` written in a question only marks its object as a mask prompt: the marker is
  removed and the memory block ("[k]: <1>-<2> <|mem|> ...", one token per temporal group) is put before the first
  question, as in the release.
- `task`: the sampler group (`seg_image`, `ref_box`, ... of `base.DATA_TYPES`); default: derived from the markers.

Frames of a video row: `sample_frames` drawn from the annotated frames (every frame when masks are lists or absent),
prompted frames forced in. `python -m unipixel.data.check FILE.jsonl` checks every row of a file before training.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .base import DATA_TYPES, BaseDataset
from .errors import DataError
from .general import PLACEHOLDERS, strip_placeholder
from .masks import decode_region_frames
from .processor import Sample
from .region import memory_text, prompt_rows
from .sampling import BOX, POINT, force_frames, sample_indices
from .templates import MEM, REF, SEG

ROLES = {"human": "user", "gpt": "assistant"}
MEDIA_KEYS = ("image", "video", "frames")
ROW_KEYS = frozenset({"id", "conversations", "objects", "task", *MEDIA_KEYS})
OBJECT_KEYS = frozenset({"masks", "point", "box", "frame", "prompt"})
PROMPT_KINDS = ("point", "box", "mask")
# a marker, optionally after an object id: "[2] <|seg|>", "[2]<|ref|>", "<|mem|>"
MARKER = re.compile(r"(?:\[(\d+)\]\s*)?(<\|ref\|>|<\|mem\|>|<\|seg\|>)")
# problem kinds, in the order the checker's summary lists them
KINDS = (
    "json",
    "schema",
    "path",
    "media",
    "markers",
    "prompt",
    "mask",
    "mask-frames",
    "mask-size",
    "empty-mask",
    "build",
)


class RowError(ValueError):
    """A row with problems: `problems` lists `(kind, message)` pairs (kinds from `KINDS`)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"[{kind}] {msg}" for kind, msg in self.problems))


def ordinal(i: int) -> str:
    """0 → "1st", 1 → "2nd", ..."""
    n = i + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def confined_path(base: Path, value: str) -> Path:
    """`value` joined to `base`; an absolute path or one that leaves `base` (`../x`) is a `ValueError`.

    The check is lexical, so a symlinked media folder inside `base` still works."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a relative path string, got {value!r}")
    if os.path.isabs(value) or Path(value).drive:
        raise ValueError(f"{value!r} is absolute; paths are relative to {base}")
    normal = os.path.normpath(value)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise ValueError(f"{value!r} leaves {base}")
    return base / normal


# ------------------------------------------------------------------------------------------------ parsed rows
@dataclass
class CustomObject:
    """One object of a row. `masks`: frame index → mask entry (None: no masks); `listed`: the entry count when the
    masks came as a list (it must equal the media's frame count); `kind`: point / box / mask / None."""

    index: int
    masks: dict[int, object] | None = None
    listed: int | None = None
    point: list[float] | None = None
    box: list[float] | None = None
    frame: int | None = None
    kind: str | None = None

    @property
    def explicit(self) -> bool:
        """A point or box given as coordinates (not drawn from the masks)."""
        return self.point is not None or self.box is not None


@dataclass
class CustomRow:
    """A row after the structural checks: resolved media, conversation with markers resolved, objects per marker."""

    line: int
    id: str
    media: str  # image | video | frames
    source: Path | list[Path]
    base: Path
    conversation: list[dict]
    objects: list[CustomObject]
    ref_objects: list[int] = field(default_factory=list)  # the object of each <|ref|>, in text order
    mem_objects: list[int] = field(default_factory=list)  # objects shown as <|mem|>, in object order
    seg_objects: list[int] = field(default_factory=list)  # the object of each <|seg|>, in text order
    data_type: str = "multimodal"

    @property
    def is_image(self) -> bool:
        return self.media == "image"


def read_rows(path: Path) -> list[tuple[int, object]]:
    """`(line number, parsed JSON or the JSONDecodeError)` for every non-empty line of a JSON-lines file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((number, exc))
    return rows


def _numbers(value, count: int) -> list[float] | None:
    if (
        isinstance(value, (list, tuple))
        and len(value) == count
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return [float(v) for v in value]
    return None


def _frame_key(key) -> int | None:
    try:
        value = int(key)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 and str(value) == str(key).strip() else None


def parse_object(index: int, obj, problems: list) -> CustomObject:
    out = CustomObject(index)
    name = f"object {index}"
    if not isinstance(obj, dict):
        problems.append(("schema", f"{name} is not an object: {obj!r:.60}"))
        return out
    unknown = sorted(set(obj) - OBJECT_KEYS)
    if unknown:
        problems.append(("schema", f"{name}: unknown fields {unknown} (known: {sorted(OBJECT_KEYS)})"))
    masks = obj.get("masks")
    if isinstance(masks, list):
        out.masks, out.listed = dict(enumerate(masks)), len(masks)
    elif isinstance(masks, dict):
        out.masks = {}
        for key, entry in masks.items():
            frame = _frame_key(key)
            if frame is None:
                problems.append(("schema", f"{name}: masks key {key!r} is not a frame index"))
            else:
                out.masks[frame] = entry
    elif masks is not None:
        problems.append(("schema", f"{name}: masks must be a list (one entry per frame) or a dict by frame index"))
    if "point" in obj:
        out.point = _numbers(obj["point"], 2)
        if out.point is None:
            problems.append(("schema", f"{name}: point must be [x, y], got {obj['point']!r}"))
    if "box" in obj:
        out.box = _numbers(obj["box"], 4)
        if out.box is None:
            problems.append(("schema", f"{name}: box must be [x1, y1, x2, y2], got {obj['box']!r}"))
    if "frame" in obj:
        frame = obj["frame"]
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            problems.append(("schema", f"{name}: frame must be a frame index >= 0, got {frame!r}"))
        else:
            out.frame = frame
    kind = obj.get("prompt")
    if kind is not None and kind not in PROMPT_KINDS:
        problems.append(("schema", f"{name}: prompt must be one of {PROMPT_KINDS}, got {kind!r}"))
        kind = None
    if "point" in obj and "box" in obj:
        problems.append(("prompt", f"{name} has both a point and a box; give each prompt its own object"))
    given = "point" if "point" in obj else "box" if "box" in obj else None
    if kind is not None and given is not None and kind != given:
        problems.append(("prompt", f"{name}: prompt {kind!r} but a {given} is given"))
    out.kind = kind or given
    if out.kind in ("mask", "point", "box") and given is None and not out.masks:
        problems.append(("prompt", f"{name}: a {out.kind} prompt drawn from the masks needs masks"))
    return out


def parse_row(row, base: Path, line: int) -> CustomRow:
    """Structural checks of one row (no file is read); a `RowError` lists every problem found."""
    problems: list[tuple[str, str]] = []
    if isinstance(row, json.JSONDecodeError):
        raise RowError([("json", f"not valid JSON: {row.msg} (col {row.colno})")])
    if not isinstance(row, dict):
        raise RowError([("schema", f"a row must be a JSON object, got {type(row).__name__}")])
    rid = str(row.get("id", f"line{line}"))
    unknown = sorted(set(row) - ROW_KEYS)
    if unknown:
        problems.append(("schema", f"unknown fields {unknown} (known: {sorted(ROW_KEYS)})"))

    # media
    media = [k for k in MEDIA_KEYS if k in row]
    source: Path | list[Path] = base
    if len(media) != 1:
        problems.append(("schema", f"give exactly one of image / video / frames, got {media or 'none'}"))
        media = ["image"]
    else:
        value = row[media[0]]
        try:
            if media[0] == "frames" and isinstance(value, list):
                if not value:
                    raise ValueError("the frame list is empty")
                source = [confined_path(base, v) for v in value]
            else:
                source = confined_path(base, value)
        except ValueError as exc:
            problems.append(("path", f"{media[0]}: {exc}"))

    # conversation
    turns = row.get("conversations")
    conv: list[dict] = []
    if not isinstance(turns, list) or not turns:
        problems.append(("schema", "no `conversations` list"))
    else:
        for k, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("from") not in ROLES or not isinstance(turn.get("value"), str):
                problems.append(("schema", f"turn {k} is not {{from: human|gpt, value: str}}"))
                continue
            conv.append({"role": ROLES[turn["from"]], "content": turn["value"]})
        if conv and conv[0]["role"] != "user":
            problems.append(("schema", "the first turn is not from `human`"))
    for k, turn in enumerate(conv):
        for token in PLACEHOLDERS:
            if token in turn["content"]:
                if k == 0:
                    turn["content"] = strip_placeholder(turn["content"], token)
                else:
                    problems.append(("schema", f"{token} placeholder in turn {k} (only the first turn may hold it)"))

    # objects
    objects_raw = row.get("objects", [])
    if not isinstance(objects_raw, list):
        problems.append(("schema", "`objects` must be a list"))
        objects_raw = []
    objects = [parse_object(i, o, problems) for i, o in enumerate(objects_raw)]

    task = row.get("task")
    if task is not None and task not in DATA_TYPES:
        problems.append(("schema", f"task {task!r} is none of {list(DATA_TYPES)}"))

    parsed = CustomRow(line, rid, media[0], source, base, conv, objects)
    resolve_markers(parsed, problems)
    if problems:
        raise RowError(problems)
    parsed.data_type = task or derived_data_type(parsed)
    return parsed


def resolve_markers(row: CustomRow, problems: list) -> None:
    """Fill `row.ref_objects` / `mem_objects` / `seg_objects` from the markers and rewrite the questions (`<|ref|>`
    after `[k]` mentions, `<|mem|>` markers removed)."""
    objects, count = row.objects, {REF: 0, MEM: 0, SEG: 0}
    used: set[int] = set()
    ref_written = any(REF in t["content"] for t in row.conversation if t["role"] == "user")

    def target(marker: str, explicit: str | None) -> int | None:
        i = count[marker]
        count[marker] += 1
        k = int(explicit) if explicit is not None else i
        where = f"the {ordinal(i)} {marker}" + (f" (written [{k}] {marker})" if explicit is not None else "")
        if k >= len(objects):
            problems.append(("markers", f"{where} refers to object {k}, but the row has {len(objects)} object(s)"))
            return None
        obj = objects[k]
        if marker == SEG and not obj.masks:
            problems.append(("markers", f"{where} segments object {k}, which has no masks"))
        if marker == REF and obj.kind not in ("point", "box"):
            problems.append(
                (
                    "markers",
                    f"{where} prompts object {k}, which has no point or box (give `point`, `box`, or "
                    "`prompt: point|box` with masks)",
                )  # fmt: skip
            )
        if marker == MEM:
            if not obj.masks:
                problems.append(("markers", f"{where} shows object {k} by its masks, but it has none"))
            elif obj.kind in ("point", "box"):
                problems.append(("markers", f"{where}: object {k} already has a {obj.kind} prompt"))
            else:
                obj.kind = "mask"
        used.add(k)
        return k

    for turn in row.conversation:
        user = turn["role"] == "user"
        for match in MARKER.finditer(turn["content"]):
            explicit, marker = match.groups()
            if (marker == SEG) == user:
                side = "questions" if user else "answers"
                problems.append(("markers", f"{marker} in the {side}: {SEG} belongs in answers, {REF} and {MEM} in "
                                 "questions"))  # fmt: skip
                continue
            k = target(marker, explicit)
            if k is not None and marker == REF:
                row.ref_objects.append(k)
            if k is not None and marker == SEG:
                row.seg_objects.append(k)
        if user:
            turn["content"] = re.sub(r"[ \t]*" + re.escape(MEM), "", turn["content"])

    prompted = [o.index for o in objects if o.kind in ("point", "box")]
    if not ref_written and prompted:
        found = []
        for obj in prompted:
            for t, turn in enumerate(row.conversation):
                match = re.search(rf"\[{obj}\]", turn["content"]) if turn["role"] == "user" else None
                if match:
                    found.append((t, match.end(), obj))
                    break
            else:
                problems.append(("markers", f"object {obj} has a {objects[obj].kind} prompt but no question mentions "
                                 f"[{obj}] or holds a {REF}"))  # fmt: skip
        for t, end, _ in sorted(found, reverse=True):
            text = row.conversation[t]["content"]
            row.conversation[t]["content"] = f"{text[:end]} {REF}{text[end:]}"
        row.ref_objects = [obj for _, _, obj in sorted(found)]
        used.update(row.ref_objects)
    else:
        missing = [k for k in prompted if k not in row.ref_objects]
        if missing:
            problems.append(("markers", f"objects {missing} have a point or box prompt that no {REF} refers to"))
    row.mem_objects = [o.index for o in objects if o.kind == "mask"]
    used.update(row.mem_objects)
    unused = [o.index for o in objects if o.index not in used]
    if unused:
        problems.append(("markers", f"objects {unused} are used by no marker"))


def derived_data_type(row: CustomRow) -> str:
    """The sampler group a row's markers imply (rows of one group use the same modules)."""
    suffix = "image" if row.is_image else "video"
    if row.ref_objects:
        kind = row.objects[row.ref_objects[0]].kind
        return f"mem_{kind}_{suffix}" if row.seg_objects else f"ref_{kind}"
    if row.mem_objects:
        return f"region_{suffix}"
    if row.seg_objects:
        return f"seg_{suffix}"
    return "multimodal"


# ------------------------------------------------------------------------------------------------ masks and prompts
def decode_mask_entry(entry, base: Path, height: int, width: int) -> np.ndarray:
    """One frame's mask entry → `(height, width)` bool; a `ValueError` says what is wrong (kind `mask` or, starting
    with "size", `mask-size`)."""
    if entry is None:
        return np.zeros((height, width), dtype=bool)
    if isinstance(entry, str):
        path = confined_path(base, entry)
        if not path.is_file():
            raise FileNotFoundError(f"mask file not found: {entry}")
        with Image.open(path) as img:
            mask = np.asarray(img.convert("L")) > 0
        if mask.shape != (height, width):
            raise ValueError(f"size {list(mask.shape)} of mask PNG {entry} differs from the frame's {[height, width]}")
        return mask
    regions = entry if isinstance(entry, list) and entry and isinstance(entry[0], dict) else [entry]
    for region in regions:
        if isinstance(region, dict):
            size = region.get("size")
            if not (isinstance(size, list) and len(size) == 2):
                raise ValueError(f"an RLE needs `size` [height, width] and `counts`, got keys {sorted(region)}")
            if [int(v) for v in size] != [height, width]:
                raise ValueError(f"size {size} of an RLE differs from the frame's {[height, width]}")
    return decode_region_frames([entry], height, width)[0]


def prompt_geometry_problem(obj: CustomObject, height: int, width: int) -> str | None:
    """Why an object's explicit point / box lies outside a `height x width` frame, or None."""
    if obj.point is not None:
        x, y = obj.point
        if not (0 <= x <= width and 0 <= y <= height):
            return f"object {obj.index}: point ({x:g}, {y:g}) outside the {width} x {height} frame"
    if obj.box is not None:
        x1, y1, x2, y2 = obj.box
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            return (
                f"object {obj.index}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is not x1 < x2, y1 < y2 inside the "
                f"{width} x {height} frame"
            )
    return None


def choose_clip(annotated, n: int, sample_type: str, rng, required=()) -> list[int]:
    """`n` frames out of the sorted `annotated` frame indices (all of them when n <= 0), every `required` frame forced
    in: each replaces the closest drawn frame that is not itself required (or joins when none is left)."""
    annotated = np.unique(np.asarray(list(annotated), dtype=np.int64))
    positions = sample_indices(len(annotated), n, sample_type, rng) if n > 0 else np.arange(len(annotated))
    return force_frames(annotated[positions], required)


# ------------------------------------------------------------------------------------------------ dataset
class CustomDataset(BaseDataset):
    """Rows of one JSON-lines file in the format above; any stage mixture can list it (`custom:1`).

    Args:
        annotation: the row file (relative to the data `root`, or absolute).
        media_root: the folder row paths are relative to (default: the row file's folder); rows cannot leave it.
        frames_fps: frame rate recorded for frame folders / lists (videos read theirs).
        **kwargs: `BaseDataset` arguments (root, split, processor, sample_frames, ...).
    """

    key = "custom"
    data_type = "multimodal"
    # a video object may be absent from every sampled frame (SAM 2 then learns "absent"); image rows are checked here
    allow_empty_masks = True

    def __init__(self, annotation: str | None = None, media_root: str | None = None, frames_fps: float = 10.0, **kw):
        super().__init__(**kw)
        self.annotation_file = self.path(annotation) if annotation else None
        default_root = self.annotation_file.parent if self.annotation_file is not None else None
        self.media_root = self.path(media_root) if media_root else default_root
        self.frames_fps = frames_fps

    def load_index(self) -> list[dict]:
        if self.annotation_file is None:
            raise ValueError(
                f"dataset {self.name!r}: set `annotation` to your JSON-lines file: `data_file=...` with "
                "experiment=finetune, or `per_dataset: {custom: {annotation: /path/to/train.jsonl}}` in a stage's data "
                "block (format: docs/finetune.md)"
            )
        if not self.annotation_file.is_file():
            raise DataError(self.name, "-", self.annotation_file, "annotation file not found")
        records = []
        for line, row in read_rows(self.annotation_file):
            where = f"{self.annotation_file}:{line}"
            try:
                parsed = parse_row(row, self.media_root, line)
            except RowError as exc:
                rid = row.get("id", f"line{line}") if isinstance(row, dict) else f"line{line}"
                records.append({"id": str(rid), "file": where, "error": str(exc), "problems": exc.problems})
                continue
            records.append({"id": parsed.id, "file": where, "row": parsed, "data_type": parsed.data_type})
        return records

    # ------------------------------------------------------------------ building
    def open_media(self, row: CustomRow):
        """`(reader or None, frame count)`: None for an image."""
        if row.is_image:
            return None, 1
        reader = self.open_video(row.source, row.id, fps=None if row.media == "video" else self.frames_fps)
        return reader, reader.num_frames

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        if record.get("error"):
            raise DataError(self.name, record["id"], record["file"], record["error"])
        row: CustomRow = record["row"]
        rid, where = row.id, record["file"]

        def fail(msg: str):
            raise DataError(self.name, rid, where, msg)

        reader, num_frames = self.open_media(row)
        for obj in row.objects:
            if obj.listed is not None and obj.listed != num_frames:
                fail(f"object {obj.index} lists {obj.listed} masks but the media has {num_frames} frames")
            late = [f for f in (obj.masks or {}) if f >= num_frames]
            if late:
                fail(f"object {obj.index} has masks on frames {late[:5]} past the media's {num_frames} frames")
            if obj.frame is not None and obj.frame >= num_frames:
                fail(f"object {obj.index}: prompt frame {obj.frame} past the media's {num_frames} frames")
        if reader is None:
            frames, clip = self.read_image(row.source, rid), [0]
        else:
            annotated = sorted({f for o in row.objects for f in (o.masks or {})}) or range(num_frames)
            required = [o.frame or 0 for o in row.objects if o.explicit] + [
                o.frame for o in row.objects if not o.explicit and o.frame is not None and o.kind in ("point", "box")
            ]
            clip = choose_clip(
                annotated, self.sample_frames, self.sample_type, rng if self.training else None, required
            )
            frames = reader.get(clip)
        height, width = frames.shape[1:3]

        masks: dict[int, np.ndarray] = {}
        for obj in row.objects:
            if not obj.masks:
                continue
            track = np.zeros((len(clip), height, width), dtype=bool)
            for t, frame in enumerate(clip):
                try:
                    track[t] = decode_mask_entry(obj.masks.get(frame), row.base, height, width)
                except (ValueError, FileNotFoundError, OSError) as exc:
                    fail(f"object {obj.index}, frame {frame}: {exc}")
            masks[obj.index] = track

        ref_rows = []
        position = {frame: t for t, frame in enumerate(clip)}
        for k in row.ref_objects:
            obj = row.objects[k]
            if obj.explicit:
                problem = prompt_geometry_problem(obj, height, width)
                if problem:
                    fail(problem)
                t = position[obj.frame or 0]
                coords = obj.box if obj.box is not None else [*obj.point, 0.0, 0.0]
                ref_rows.append(np.array([POINT if obj.point is not None else BOX, *coords, t], dtype=np.float32))
                continue
            t = position[obj.frame] if obj.frame is not None else None
            try:
                ref_rows.append(prompt_rows(masks[k][None], obj.kind, rng if self.training else None, t)[0])
            except ValueError as exc:
                fail(f"object {k}: cannot draw its {obj.kind} prompt from the masks ({exc})")

        conversation = [dict(turn) for turn in row.conversation]
        refer_masks = None
        if row.mem_objects:
            refer_masks = np.stack([masks[k] for k in row.mem_objects])
            try:
                prefix = memory_text(row.mem_objects, refer_masks, video=not row.is_image)
            except ValueError as exc:
                fail(f"memory prompt: {exc}")
            conversation[0]["content"] = prefix + conversation[0]["content"]
        seg_masks = None
        if row.seg_objects:
            seg_masks = np.stack([masks[k] for k in row.seg_objects])
            if row.is_image:
                empty = [k for k, m in zip(row.seg_objects, seg_masks) if not m.any()]
                if empty:
                    fail(f"objects {empty} are segmented by {SEG} but their masks are empty")
        media = row.source[0].parent if isinstance(row.source, list) else row.source
        meta = {"path": where, "media": str(media), "frame_indices": clip}
        return Sample(
            rid,
            self.name,
            frames,
            conversation,
            as_video=bool(row.objects) or not row.is_image,  # as all the release's segmentation data
            ref_prompts=np.stack(ref_rows) if ref_rows else None,
            refer_masks=refer_masks,
            seg_masks=seg_masks,
            data_type=record["data_type"],
            meta=meta,
        )
