"""Convert part of the toy data (unipixel.data.toy) to the custom-data format, as a stand-in for your own data.

    python tools/toy_to_custom.py --toy data/toy --out data/toy_custom
    python tools/toy_to_custom.py --toy data/toy --out data/toy_custom --images 32 --refs 0 --answer "<|seg|>."

The project's own loaders read the toy data (RefCOCO-style images, short captions of a boxed or clicked object, MeViS
clips) and every sample becomes one row of `<out>/train.jsonl`: the frames are written under `<out>/media/` (an image,
or a folder of the clip's frames), the conversation keeps the loader's wording and markers, masks become COCO RLE per
frame, and point / box prompts keep their coordinates and frame (the caption rows have no masks: box-only `<|ref|>`
rows). Referring answers use the toy run's style ("The small circle in red<|seg|>.") unless `--answer` gives one fixed
answer for every segmentation turn. Check the result with `python -m unipixel.data.check <out>/train.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unipixel.data.masks import encode_rle  # noqa: E402
from unipixel.data.mixture import build_dataset  # noqa: E402
from unipixel.data.templates import SEG  # noqa: E402
from unipixel.data.toy import COLOURS  # noqa: E402

ROLES = {"user": "human", "assistant": "gpt"}


def sample_to_row(sample, out: Path, row_id: str, fixed_answer: str | None = None) -> dict:
    """One custom row from a loader `Sample` (frames written under `out/media/`)."""
    frames = np.asarray(sample.frames)
    media = Path("media") / row_id
    if len(frames) > 1:
        (out / media).mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(out / media / f"{t}.png")
        row = {"id": row_id, "frames": media.as_posix()}
    else:
        (out / media.parent).mkdir(parents=True, exist_ok=True)
        Image.fromarray(frames[0]).save(out / f"{media}.png")
        row = {"id": row_id, "image": f"{media.as_posix()}.png"}
    turns = []
    for turn in sample.conversation:
        text = turn["content"]
        if fixed_answer is not None and turn["role"] == "assistant" and SEG in text:
            text = fixed_answer
        turns.append({"from": ROLES[turn["role"]], "value": text})
    row["conversations"] = turns
    objects = []
    for prompt in [] if sample.ref_prompts is None else np.asarray(sample.ref_prompts).tolist():
        kind, x1, y1, x2, y2, frame = prompt
        coords = {"point": [x1, y1]} if kind == 0 else {"box": [x1, y1, x2, y2]}
        objects.append({**coords, "frame": int(frame)})
    for track in [] if sample.seg_masks is None else np.asarray(sample.seg_masks):
        objects.append({"masks": [encode_rle(mask) if mask.any() else None for mask in track]})
    if objects:
        row["objects"] = objects
    return row


def convert(toy: Path, out: Path, images: int, refs: int, videos: int, answer: str | None, seed: int) -> dict:
    echo = {"answer_style": "echo", "echo_colour_last": list(COLOURS)}
    sources = [
        ("refcoco", images, {**echo, "max_conv_turns": 1}),
        ("videorefer_short_caption_ref", refs, {"sample_frames": 4}),
        ("mevis", videos, {**echo, "sample_frames": 4}),
    ]
    out.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    for key, count, extra in sources:
        if count <= 0:
            continue
        dataset = build_dataset(key, root=str(toy), split="train", seed=seed, **extra)
        taken = min(count, len(dataset))
        for i in range(taken):
            rows.append(sample_to_row(dataset.get_sample(i), out, f"{key}-{i:04d}", answer))
        counts[key] = taken
    (out / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toy", default="data/toy", help="the toy data root (python tools/make_toy_data.py)")
    parser.add_argument("--out", default="data/toy_custom", help="output folder: train.jsonl and media/")
    parser.add_argument("--images", type=int, default=32, help="RefCOCO-style referring segmentation rows")
    parser.add_argument("--refs", type=int, default=16, help="short-caption rows with a point or a box (no masks)")
    parser.add_argument("--videos", type=int, default=8, help="MeViS-style video segmentation rows (4-frame clips)")
    parser.add_argument("--answer", default=None, help="one fixed answer for every segmentation turn")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = convert(Path(args.toy), Path(args.out), args.images, args.refs, args.videos, args.answer, args.seed)
    total = sum(counts.values())
    print(
        f"wrote {total} rows to {Path(args.out) / 'train.jsonl'} ({', '.join(f'{k} {v}' for k, v in counts.items())})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
