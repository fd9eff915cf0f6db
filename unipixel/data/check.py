"""Check a custom-data file (the JSON-lines format of `unipixel.data.custom`) row by row before training.

    python -m unipixel.data.check data/my_data/train.jsonl            (or: unipixel-check-data FILE.jsonl)
    python -m unipixel.data.check train.jsonl --media-root /data/my_media --bad-only

Every row is parsed (fields, markers against objects and prompts), its media opened (frame count and size), every
mask entry decoded on its frame (missing PNG, size differing from the frame, mask lists whose length is not the frame
count, masks empty on every frame), point / box prompts checked against the frame, and finally the sample is built
the way evaluation builds it. One report line per row (the problems below a bad one, each with its kind), then a
summary by kind. The exit status is 1 when any row is bad, 2 when the file cannot be read, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .custom import KINDS, CustomDataset, CustomRow, decode_mask_entry, prompt_geometry_problem
from .errors import DataError
from .io import list_frame_files, read_image

MEDIA_NOUNS = {"image": "image", "video": "video", "frames": "frame folder", "list": "frame list"}


def shown(path, base: Path) -> str:
    """`path` relative to the media root when it lies inside, else as it is."""
    try:
        return str(Path(path).relative_to(base))
    except (TypeError, ValueError):
        return str(path)


@dataclass
class RowReport:
    line: int
    id: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    info: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def frame_sizes(dataset: CustomDataset, row: CustomRow) -> list[tuple[int, int]]:
    """`(height, width)` of every frame of the row's media (images and frame files: headers; videos: frame 0)."""
    if row.is_image:
        return [read_image(row.source, dataset.name, row.id).shape[:2]]
    if row.media == "video":
        reader = dataset.open_video(row.source, row.id)
        count = reader.num_frames
        return [reader.get([0]).shape[1:3]] * count
    files = list_frame_files(row.source, dataset.name, row.id) if isinstance(row.source, Path) else row.source
    sizes = []
    for path in files:
        try:
            with Image.open(path) as img:
                sizes.append((img.height, img.width))
        except FileNotFoundError:
            raise DataError(dataset.name, row.id, path, "frame file not found") from None
        except OSError as exc:
            raise DataError(dataset.name, row.id, path, f"cannot read frame ({exc})") from exc
    return sizes


def inspect_row(dataset: CustomDataset, index: int) -> RowReport:
    """All problems of the row at `index` (see the module docstring)."""
    record = dataset.index[index]
    line = int(str(record["file"]).rsplit(":", 1)[1])
    report = RowReport(line, record["id"])
    if record.get("error"):
        report.problems = list(record["problems"])
        return report
    row: CustomRow = record["row"]
    problems = report.problems
    try:
        sizes = frame_sizes(dataset, row)
    except DataError as exc:
        problems.append(("media", f"{exc.msg}: {shown(exc.path, row.base)}"))
        return report
    n = len(sizes)
    media = MEDIA_NOUNS[row.media if row.media != "frames" or isinstance(row.source, Path) else "list"]
    for obj in row.objects:
        name = f"object {obj.index}"
        if obj.listed is not None and obj.listed != n:
            problems.append(("mask-frames", f"{name} lists {obj.listed} masks but the {media} has {n} frames"))
        late = sorted(f for f in (obj.masks or {}) if f >= n)
        if late:
            problems.append(("mask-frames", f"{name} has masks on frames {late[:5]} past the {media}'s {n} frames"))
        if obj.frame is not None and obj.frame >= n:
            problems.append(("prompt", f"{name}: prompt frame {obj.frame} past the {media}'s {n} frames"))
        elif obj.explicit:
            problem = prompt_geometry_problem(obj, *sizes[obj.frame or 0])
            if problem:
                problems.append(("prompt", problem))
        pixels, failed = 0, False
        for frame, entry in sorted((obj.masks or {}).items()):
            if frame >= n:
                continue
            try:
                mask = decode_mask_entry(entry, row.base, *sizes[frame])
            except (ValueError, FileNotFoundError, OSError) as exc:
                kind = "mask-size" if str(exc).startswith("size") else "mask"
                problems.append((kind, f"{name}, frame {frame}: {exc}"))
                failed = True
                continue
            pixels += int(mask.sum())
            if not obj.explicit and obj.kind in ("point", "box") and obj.frame == frame and not mask.any():
                problems.append(
                    ("prompt", f"{name}: its {obj.kind} is drawn on frame {frame}, where its mask is empty")
                )
        if obj.masks and not failed and pixels == 0:
            problems.append(("empty-mask", f"{name}'s masks are empty on every frame"))
    if not problems:
        try:
            dataset.get_sample(index)
        except DataError as exc:
            problems.append(("build", exc.msg))
    height, width = sizes[0]
    what = f"{row.media} {width}x{height}" + (f", {n} frame(s)" if not row.is_image else "")
    report.info = f"{what}; {len(row.objects)} object(s); {row.data_type}"
    return report


def check_file(path: str | Path, media_root: str | Path | None = None) -> list[RowReport]:
    """One `RowReport` per row of a custom-data file (in file order)."""
    path = Path(path)
    dataset = CustomDataset(
        annotation=str(path.resolve()), media_root=str(Path(media_root).resolve()) if media_root else None, split="val"
    )
    return [inspect_row(dataset, i) for i in range(len(dataset))]


def format_report(reports: list[RowReport], bad_only: bool = False) -> str:
    lines = []
    width = max((len(str(r.line)) for r in reports), default=1)
    for r in reports:
        if r.ok and not bad_only:
            lines.append(f"line {r.line:>{width}}  ok   {r.id}: {r.info}")
        elif not r.ok:
            lines.append(f"line {r.line:>{width}}  BAD  {r.id}")
            lines += [f"{'':>{width + 11}}[{kind}] {msg}" for kind, msg in r.problems]
    bad = [r for r in reports if not r.ok]
    lines.append(f"{len(reports)} rows: {len(reports) - len(bad)} ok, {len(bad)} bad")
    rows_by_kind: dict[str, list[int]] = defaultdict(list)
    for r in bad:
        for kind in dict.fromkeys(k for k, _ in r.problems):
            rows_by_kind[kind].append(r.line)
    counts = Counter({k: len(v) for k, v in rows_by_kind.items()})
    for kind in sorted(counts, key=lambda k: KINDS.index(k) if k in KINDS else len(KINDS)):
        where = ", ".join(map(str, rows_by_kind[kind][:10])) + (", ..." if len(rows_by_kind[kind]) > 10 else "")
        lines.append(f"  {kind:<12} {counts[kind]} row(s) (line {where})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="a JSON-lines file of custom rows")
    parser.add_argument("--media-root", default=None, help="folder row paths are relative to (default: the file's)")
    parser.add_argument("--bad-only", action="store_true", help="list only the rows with problems")
    args = parser.parse_args(argv)
    if not Path(args.file).is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    try:
        reports = check_file(args.file, args.media_root)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    print(format_report(reports, args.bad_only))
    return 1 if any(not r.ok for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
