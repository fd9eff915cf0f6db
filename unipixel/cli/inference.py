"""Ask UniPixel about an image, a video or a folder of frames; print the answer and write masks and an overlay.

    python tools/inference.py photo.jpg "Please segment the dog in this image." --model model_zoo/UniPixel-3B
    python tools/inference.py clip.mp4 "What is [0] doing? Please segment it." --point 320,180@12 --out outputs/clip
    python tools/inference.py frames/ "Is [0] bigger than [1]?" --box 10,20,200,220 --mask cup.png@3
    python tools/inference.py clip.mp4 "Please segment [0]." --point 320,180 --answer "[0] <|seg|>"

Prompted objects are numbered in the order their --point / --box / --mask options appear (0, 1, ...); write `[i]`
in the prompt where object i is meant. `@frame` (default 0) is the 0-based media frame a prompt is drawn on;
coordinates are pixels of the media, x to the right, y down. A mask is a PNG of the media's size (non-zero = object).
`--answer` reads masks from a fixed answer instead of generating one (e.g. "[0] <|seg|>" segments object 0 with SAM 2).
Videos longer than `--stream-above` frames (default 300), or any with `--stream`, are streamed: only the LLM's frames
are decoded for the answer, then SAM 2 reads the video chunk by chunk and every frame's masks and overlay are written
as soon as they exist, so memory stays flat however long the video is (the files are the same as without streaming).

Writes to --out (default outputs/inference/<media name>):
    result.json                   prompt, answer, frames, mask sizes
    masks/obj<k>/<frame>.png      one 0/255 PNG per object and frame, at the media's size
    masks.json                    the same masks as COCO RLE (per object, per frame)
    overlay.png | overlay.mp4     the media with one colour per object, outlined, and a legend naming obj<k> (an image,
                                  or an MP4 for videos and folders)
    overlay/<frame>.png           with --overlay-frames, the overlay of every frame losslessly
Runs on CPU when there is no GPU (`--device auto`: cuda → mps → cpu). Installed as the console script `unipixel-infer`
(same arguments); `tools/inference.py` runs this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from unipixel.utils.files import atomic_write_text

ARITY = {"point": 2, "box": 4}


def parse_spec(text: str, arity: int, option: str) -> tuple[list[float], int]:
    """`"x,y@frame"` → `([x, y], frame)`; the frame defaults to 0."""
    body, _, frame = text.partition("@")
    try:
        values = [float(v) for v in body.split(",")]
        frame_index = int(frame) if frame else 0
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{option} {text!r}: expected {arity} comma-separated numbers[@frame]"
        ) from None
    if len(values) != arity:
        raise argparse.ArgumentTypeError(f"{option} {text!r}: expected {arity} numbers, got {len(values)}")
    return values, frame_index


class PromptAction(argparse.Action):
    """Collects --point / --box / --mask into one list, in command-line order (that order numbers the objects)."""

    def __call__(self, parser, namespace, value, option_string=None):
        try:
            parsed = (
                parse_mask_spec(value) if self.const == "mask" else parse_spec(value, ARITY[self.const], option_string)
            )
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
        namespace.prompts = [*(getattr(namespace, "prompts", None) or []), (self.const, parsed)]


def parse_mask_spec(text: str) -> tuple[str, int]:
    """`"file.png@3"` → `("file.png", 3)`; without a (numeric) `@frame` suffix the frame is 0."""
    path, at, frame = text.rpartition("@")
    if not at or not frame.isdigit():  # no frame given, or an "@" inside the file name
        return text, 0
    return path, int(frame)


def read_mask(path: str) -> np.ndarray:
    from PIL import Image

    if not Path(path).is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) > 0


def visual_prompts(specs: list[tuple[str, tuple]]):
    from unipixel.inference import VisualPrompt

    out = []
    for kind, (value, frame) in specs:
        if kind == "mask":
            out.append(VisualPrompt.mask(read_mask(value), frame))
        elif kind == "point":
            out.append(VisualPrompt.point(*value, frame=frame))
        else:
            out.append(VisualPrompt.box(*value, frame=frame))
    return out


def write_outputs(out: Path, media, result, fps: float, overlay_frames: bool = False, progress: bool = False) -> dict:
    """Masks (PNG per object and frame, RLE JSON) and the overlay; returns the paths written."""
    from PIL import Image
    from tqdm.auto import tqdm

    from unipixel.eval.runner import encode_masks
    from unipixel.inference import overlay_video, write_video

    out.mkdir(parents=True, exist_ok=True)
    position = {frame: i for i, frame in enumerate(media.index)}
    kept = [position[f] for f in result.frame_index]
    frames = media.frames[kept]
    names = [media.names[i] for i in kept]
    tracks = [result.masks[k].numpy() for k in sorted(result.masks)]
    files: dict = {"masks": [], "rle": str(out / "masks.json")}
    steps = tqdm(total=len(tracks) * len(names), desc="writing masks", unit="png", disable=not progress)
    for obj, track in enumerate(tracks):
        folder = out / "masks" / f"obj{obj}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, mask in zip(names, track):
            Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{name}.png")
            steps.update(1)
        files["masks"].append(str(folder))
    steps.close()
    rle = {
        "size": list(frames.shape[1:3]),
        "frames": names,
        "frame_index": list(result.frame_index),
        "objects": encode_masks(np.stack(tracks)) if tracks else [],
    }
    atomic_write_text(out / "masks.json", json.dumps(rle))
    overlay = overlay_video(frames, tracks, labels=[f"obj{k}" for k in range(len(tracks))])
    if media.is_image:
        Image.fromarray(overlay[0]).save(out / "overlay.png")
        files["overlay"] = str(out / "overlay.png")
    else:
        files["overlay"] = str(write_video(out / "overlay.mp4", overlay, fps))
        if overlay_frames:
            (out / "overlay").mkdir(exist_ok=True)
            for name, frame in zip(names, overlay):
                Image.fromarray(frame).save(out / "overlay" / f"{name}.png")
            files["overlay_frames"] = str(out / "overlay")
    return files


def write_stream_outputs(out: Path, media, stream, fps: float, overlay_frames: bool = False) -> tuple[dict, list[int]]:
    """`write_outputs` for a `MaskStream`: the same files, each frame's masks written as soon as SAM 2 has decoded
    them (PNGs and overlay frame at once, RLEs kept, the overlay MP4 encoded as it goes), so memory does not grow
    with the video's length. Returns the paths written and the mask pixels per object."""
    from PIL import Image

    from unipixel.eval.runner import encode_masks
    from unipixel.inference import overlay_masks
    from unipixel.inference.media import VideoWriter
    from unipixel.inference.streaming import prefetch

    out.mkdir(parents=True, exist_ok=True)
    position = {frame: i for i, frame in enumerate(media.index)}
    names = [media.names[position[f]] for f in stream.frame_index]
    folders = [out / "masks" / f"obj{obj}" for obj in range(stream.num_objects)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    files: dict = {"masks": [str(f) for f in folders], "rle": str(out / "masks.json")}
    rles: list[list[dict]] = [[] for _ in folders]
    pixels = [0] * len(folders)
    labels = [f"obj{k}" for k in range(len(folders))]  # as write_outputs labels them
    image = media.is_image
    video = None if image else VideoWriter(out / "overlay.mp4", stream.height, stream.width, fps)
    if overlay_frames and not image:
        (out / "overlay").mkdir(exist_ok=True)
    try:
        for item in prefetch(iter(stream), depth=16):  # SAM 2 decodes ahead while this thread writes
            name = names[item.position]
            masks = item.masks.numpy()
            for obj, (folder, rle) in enumerate(zip(folders, encode_masks(masks[:, None]))):
                Image.fromarray(masks[obj].astype(np.uint8) * 255).save(folder / f"{name}.png")
                rles[obj].append(rle[0])
                pixels[obj] += int(masks[obj].sum())
            overlay = overlay_masks(item.image, list(masks), labels=labels)
            if image:
                Image.fromarray(overlay).save(out / "overlay.png")
                continue
            video.add(overlay)
            if overlay_frames:
                Image.fromarray(overlay).save(out / "overlay" / f"{name}.png")
    finally:
        if video is not None:
            video.close()
    rle = {"size": [stream.height, stream.width], "frames": names, "frame_index": list(stream.frame_index)}
    rle["objects"] = rles
    atomic_write_text(out / "masks.json", json.dumps(rle))
    files["overlay"] = str(out / ("overlay.png" if image else "overlay.mp4"))
    if overlay_frames and not image:
        files["overlay_frames"] = str(out / "overlay")
    return files, pixels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("media", help="an image, a video file or a folder of frames")
    parser.add_argument("prompt", help="the question; write [i] for prompted object i")
    parser.add_argument("--point", action=PromptAction, const="point", metavar="X,Y[@FRAME]", help="a click")
    parser.add_argument("--box", action=PromptAction, const="box", metavar="X1,Y1,X2,Y2[@FRAME]", help="a box")
    parser.add_argument("--mask", action=PromptAction, const="mask", metavar="FILE.png[@FRAME]", help="a mask")
    parser.add_argument("--out", default=None, help="output folder (default outputs/inference/<media name>)")
    parser.add_argument("--model", default="model_zoo/UniPixel-3B", help="checkpoint folder, or 'tiny' (random)")
    parser.add_argument("--answer", default=None, help="read masks from this fixed answer instead of generating")
    parser.add_argument("--device", default="auto", help="auto (cuda → mps → cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--sample-frames", type=int, default=16, help="frames shown to the LLM (uniform)")
    parser.add_argument("--sam2-frames", default="all", choices=["all", "llm"], help="frames that get masks")
    parser.add_argument("--max-frames", type=int, default=None, help="keep at most this many frames of a video")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of a frame folder (default 10)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--overlay-frames", action="store_true", help="also write every overlay frame as a PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    stream = parser.add_mutually_exclusive_group()
    stream.add_argument(
        "--stream", action="store_true", help="decode frames and masks chunk by chunk, writing each frame at once"
    )
    stream.add_argument("--no-stream", action="store_true", help="never stream (decode the whole video up front)")
    parser.add_argument(
        "--stream-above",
        type=int,
        default=None,
        help="stream media longer than this many frames (default: the predictor's, 300); same masks, flat memory",
    )
    parser.add_argument(
        "--offload-state", action="store_true", help="streaming on a GPU: keep SAM 2's memory features in CPU memory"
    )
    parser.add_argument("--chunk-size", type=int, default=16, help="frames SAM 2 encodes at once")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    parser.set_defaults(prompts=[])
    return parser


VALUE_OPTIONS = ("--point", "--box", "--mask", "--answer")


def attach_values(argv: list[str]) -> list[str]:
    """`--point -5,-5` → `--point=-5,-5`: argparse would take a value starting with "-" for an option of its own."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] != "--":
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(attach_values(list(sys.argv[1:] if argv is None else argv)))
    if args.model != "tiny":
        from unipixel.utils.model_folder import check_model_folder

        check_model_folder(args.model)  # before anything heavy: a wrong --model fails in a moment
    from unipixel.inference import load_media, load_predictor, open_media
    from unipixel.inference.predictor import check_question

    check_question(args.prompt, len(args.prompts))
    prompt_frames = [frame for _, (_, frame) in args.prompts]  # kept when --max-frames thins the video
    media = open_media(args.media, max_frames=args.max_frames, fps=args.fps, keep=prompt_frames)  # nothing decoded
    prompts = visual_prompts(args.prompts)
    predictor = load_predictor(args.model, args.device, args.dtype, args.sample_frames)
    if args.stream_above is not None:
        predictor.stream_above = args.stream_above
    num_frames = len(media.frames)
    progress = not args.no_progress and num_frames > 1
    streamed = args.sam2_frames == "all" and not args.no_stream and (args.stream or predictor.streams(num_frames))
    out = Path(args.out or Path("outputs/inference") / Path(args.media).stem)
    fps = media.fps or args.fps or 10.0
    if streamed:
        result = predictor.predict_stream(
            media,
            args.prompt,
            prompts,
            answer=args.answer,
            max_new_tokens=args.max_new_tokens,
            chunk_size=args.chunk_size,
            offload_state=args.offload_state,
            progress=progress,
        )
        files, mask_pixels = write_stream_outputs(out, media, result, fps, args.overlay_frames)
        num_objects = result.num_objects
    else:
        media = load_media(media)  # decodes every frame (kept frames only with --max-frames)
        result = predictor.predict(
            media,
            args.prompt,
            prompts,
            answer=args.answer,
            max_new_tokens=args.max_new_tokens,
            sam2_frames=args.sam2_frames,
            progress=progress,
        )
        files = write_outputs(out, media, result, fps, args.overlay_frames, progress)
        mask_pixels = [int(result.masks[k].sum()) for k in sorted(result.masks)]
        num_objects = len(result.masks)
    summary = {
        "media": str(args.media),
        "prompt": args.prompt,
        "model_prompt": result.prompt,
        "answer": result.text,
        "size": list(media.frames.shape[1:3]),
        "frames": len(result.frame_index),
        "frame_index": result.frame_index,
        "llm_frame_index": result.llm_frame_index,
        "objects": num_objects,
        "mask_pixels": mask_pixels,
        "streamed": streamed,
        "files": files,
    }
    atomic_write_text(out / "result.json", json.dumps(summary, indent=2))
    print(result.text)
    print(f"{num_objects} object(s) on {len(result.frame_index)} frame(s) → {out}", file=sys.stderr)
    return summary


def cli(argv: list[str] | None = None) -> int:
    """The console script `unipixel-infer`: `main`, with an exit status. An error prints one line (`error: ...`) and
    returns 1; `--debug` shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a user-facing tool: one line, not a traceback
        if "--debug" in argv:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
