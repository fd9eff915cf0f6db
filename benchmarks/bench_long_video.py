"""Long videos: peak memory, frames/s and mask agreement of the streaming path against the non-streaming one.

    python benchmarks/bench_long_video.py                        # tiny model, 320 x 240 videos of 100, 400, 1600 frames
    python benchmarks/bench_long_video.py --frames 100 400 --eval-frames 0 --json long.json   # quicker, no evaluation
    python benchmarks/bench_long_video.py --model model_zoo/UniPixel-3B --size 1280x720 --frames 100 400 1600  # a GPU

Part 1, inference: for each length a video is generated (a textured background with a red disc moving across it,
H.264), then the inference CLI (`unipixel.cli.inference.main`) segments it twice, each time in a fresh Python
process: `--no-stream` (every frame decoded and SAM 2-transformed up front, every mask held until the end: the path
this repository had before streaming) and `--stream` (frames decoded and encoded chunk by chunk, each frame's masks
written as soon as they exist). The request is a point prompt on frame 0 with the fixed answer "[0] <|seg|>" (teacher
forcing: the LLM reads the answer and SAM 2 tracks one object over every frame, whatever the model would say). Each
process reports its peak resident memory (`ru_maxrss`; on CUDA also `torch.cuda.max_memory_allocated`), its resident
memory once the model is loaded, and the seconds `main` took without loading the model (decoding, LLM, SAM 2,
writing the PNG masks, the RLE JSON and the overlay MP4), after one untimed call on 16 frames of the same video
(first-call costs: lazy imports, thread and allocator start-up); frames/s is frames over those seconds. With
`--repeats N` the two paths alternate N times and the fastest run of each counts (its peak memory: the largest of
the N). The masks are compared frame by frame from the two `masks.json` files: the largest count of differing pixels
on any frame.

Part 2, evaluation (`--eval-frames N`, 0 skips it): a toy MeViS benchmark (`unipixel.data.toy.make_toy_data`, MeViS
only, every video N frames long) goes through the evaluation runner (`run_predictions`, then `score_predictions`)
twice, in fresh processes, with the predictor's `stream_above` at None (never) and 0 (always). Printed: J, F, J&F of
both runs, whether every prediction record is identical, and each run's peak memory. The random tiny model is made to
answer every expression with `<|seg|>` (a bias on that logit), so every expression gets a mask track; a real
checkpoint (`--model`) answers as it would.

The model: `tiny` (random init, seed 0, the same weights in every process), `tiny-sam768` (the tiny LLM with a random
SAM 2.1 Hiera-B+ at 768 px, the released SAM 2: SAM 2's memory at its real size without a checkpoint) or a checkpoint
folder; `--device` and `--dtype` as in the CLI. On a GPU:

    python benchmarks/bench_long_video.py --model tiny-sam768 --device cuda --size 1280x720 --eval-frames 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/bench_long_video.py` puts benchmarks/, not the repo root, first
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


# ------------------------------------------------------------------------------------------------ media
def make_video(path: Path, num_frames: int, width: int = 320, height: int = 240, seed: int = 0) -> Path:
    """A textured background (8 x 8 px blocks) with a red disc moving right and bobbing, written frame by frame."""
    from unipixel.inference.media import VideoWriter

    rng = np.random.default_rng(seed)
    block = 8
    background = rng.integers(60, 180, (height // block + 1, width // block + 1, 3)).astype(np.uint8)
    background = background.repeat(block, 0).repeat(block, 1)[:height, :width]
    yy, xx = np.mgrid[:height, :width]
    radius = max(4, min(width, height) // 10)
    with VideoWriter(path, height, width, fps=25) as writer:
        for t in range(num_frames):
            frame = background.copy()
            cx = 2 * radius + (3 * t) % max(1, width - 4 * radius)
            cy = height // 2 + (height // 8) * np.sin(t / 20)
            frame[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] = (220, 30, 30)
            writer.add(frame)
    return path


def prompt_point(width: int, height: int) -> str:
    """The disc's centre on frame 0 (see `make_video`)."""
    radius = max(4, min(width, height) // 10)
    return f"{2 * radius},{height // 2}"


# ------------------------------------------------------------------------------------------------ child processes
def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load_model(args):
    """The predictor every child uses: `tiny` (seed 0), `tiny-sam768` (the tiny LLM with SAM 2.1 Hiera-B+ at 768 px,
    the released SAM 2's size, random init, seed 0, fp32) or a checkpoint; with `force_seg`, greedy decoding of a
    random model emits `<|seg|>` (a +1e4 bias on its logit)."""
    from unipixel.inference import load_predictor

    if args["model"] == "tiny-sam768":
        import torch

        from unipixel.data.processor import PixelProcessor
        from unipixel.inference import Predictor, pick_device
        from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
        from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

        tokenizer = build_tiny_tokenizer()
        config = tiny_config(tokenizer, sam2_image_size=768, sam2_config="sam2.1_hiera_b+", sam2_overrides=[])
        torch.manual_seed(0)
        model = PixelQwen2_5_VLForConditionalGeneration(config).to(pick_device(args["device"]))
        processor = PixelProcessor(tokenizer, sam2_image_size=768, target_frames=args["sample_frames"])
        predictor = Predictor(model, processor)
    else:
        predictor = load_predictor(args["model"], args["device"], args["dtype"], args["sample_frames"])
    if args.get("force_seg"):
        seg = predictor.model.config.seg_token_id

        def bias(module, inputs, output):
            output = output.clone()
            output[..., seg] += 1e4
            return output

        predictor.model.lm_head.register_forward_hook(bias)
    return predictor


def cuda_peak(predictor) -> int | None:
    import torch

    if predictor.device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(predictor.device))


def child_infer(args: dict) -> dict:
    """One CLI run (`--stream` or `--no-stream`) with the model loaded beforehand (not timed)."""
    import torch

    import unipixel.inference as inference
    from unipixel.cli.inference import main

    torch.set_num_threads(args["threads"])
    predictor = load_model(args)
    inference.load_predictor = lambda *a, **k: predictor  # main() takes this one instead of loading again
    loaded = current_rss_bytes()
    # `--model tiny` only names a model that needs no folder: main() uses the predictor injected above
    argv = [args["video"], "Please segment [0].", "--point", args["point"], "--answer", "[0] <|seg|>"]
    argv += ["--model", "tiny", "--no-progress", "--chunk-size", str(args["chunk_size"])]
    argv += ["--stream" if args["stream"] else "--no-stream"] + (["--offload-state"] if args["offload_state"] else [])
    main([*argv, "--max-frames", "16", "--out", args["out"] + "_warmup"])  # first-call costs, not timed
    start = time.perf_counter()
    summary = main([*argv, "--out", args["out"]])
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "frames": summary["frames"],
        "streamed": summary["streamed"],
        "peak_rss": peak_rss_bytes(),
        "loaded_rss": loaded,
        "cuda_peak": cuda_peak(predictor),
    }


def child_eval(args: dict) -> dict:
    """`run_predictions` + `score_predictions` of the toy MeViS benchmark with `stream_above` as given."""
    import torch

    from unipixel.eval.benchmarks.mevis import MeViSEvaluator
    from unipixel.eval.runner import run_predictions, score_predictions

    torch.set_num_threads(args["threads"])
    predictor = load_model(args)
    predictor.stream_above = args["stream_above"]
    evaluator = MeViSEvaluator("valid_u", root=args["root"], max_new_tokens=args["max_new_tokens"])
    loaded = current_rss_bytes()
    start = time.perf_counter()
    path = run_predictions(evaluator, predictor, args["out"], progress=False)
    seconds = time.perf_counter() - start
    results = score_predictions(evaluator, args["out"])
    return {
        "seconds": seconds,
        "metrics": results["metrics"],
        "predictions": str(path),
        "samples": len(evaluator),
        "peak_rss": peak_rss_bytes(),
        "loaded_rss": loaded,
        "cuda_peak": cuda_peak(predictor),
    }


def spawn(kind: str, args: dict) -> dict:
    """Run `child_<kind>(args)` in a fresh interpreter (this checkout's code) and return its JSON result."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.setdefault("OMP_NUM_THREADS", str(args["threads"]))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({args.get('out')}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ comparison
def mask_difference(a: Path, b: Path) -> dict:
    """Frame by frame over two `masks.json` files: the largest count of differing pixels on a frame, the frames that
    differ, and the frames compared."""
    from pycocotools import mask as mask_utils

    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    if left["frame_index"] != right["frame_index"] or len(left["objects"]) != len(right["objects"]):
        return {"max_pixels": None, "frames_differing": None, "frames": len(left["frame_index"]), "layout_differs": 1}
    worst, differing = 0, 0
    for track_a, track_b in zip(left["objects"], right["objects"]):
        for ra, rb in zip(track_a, track_b):
            ma = mask_utils.decode({"size": ra["size"], "counts": ra["counts"].encode("ascii")})
            mb = mask_utils.decode({"size": rb["size"], "counts": rb["counts"].encode("ascii")})
            count = int((ma != mb).sum())
            worst, differing = max(worst, count), differing + (count > 0)
    return {"max_pixels": worst, "frames_differing": differing, "frames": len(left["frame_index"])}


def records_identical(a: str, b: str) -> bool:
    def load(path):
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        return {r["key"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}

    return load(a) == load(b)


def gib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**30:.2f}"


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 400, 1600], help="video lengths")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the generated videos")
    parser.add_argument(
        "--model", default="tiny", help="'tiny', 'tiny-sam768' (random, seed 0; see load_model) or a checkpoint folder"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--sample-frames", type=int, default=16, help="frames shown to the LLM")
    parser.add_argument("--chunk-size", type=int, default=16, help="frames SAM 2 encodes at once (both paths)")
    parser.add_argument("--offload-state", action="store_true", help="streaming: SAM 2 memory features on the CPU")
    parser.add_argument("--eval-frames", type=int, default=300, help="frames per toy MeViS video (0: no evaluation)")
    parser.add_argument("--eval-videos", type=int, default=3, help="toy MeViS validation videos (2 expressions each)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per path and length: the fastest counts")
    parser.add_argument("--work-dir", default=None, help="where videos and outputs go (default: a temporary folder)")
    parser.add_argument("--json", help="also write the figures as JSON")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, payload = args.child
        result = {"infer": child_infer, "eval": child_eval}[kind](json.loads(payload))
        print(json.dumps(result))
        return result

    width, height = (int(v) for v in args.size.lower().split("x"))
    common = dict(
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        sample_frames=args.sample_frames,
        threads=args.threads,
        chunk_size=args.chunk_size,
        offload_state=args.offload_state,
    )
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_long_video_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"model {args.model}, videos {width} x {height}, SAM 2 chunks of {args.chunk_size} frames, work dir {work}")
    rows = []
    for frames in args.frames:
        video = make_video(work / f"video{frames}.mp4", frames, width, height)
        tries: dict[str, list[dict]] = {"plain": [], "stream": []}
        for _ in range(args.repeats):  # interleaved, so that a busy machine slows both paths alike
            for name, stream in (("plain", False), ("stream", True)):
                out = work / f"out{frames}_{name}"
                run = spawn(
                    "infer",
                    dict(common, video=str(video), point=prompt_point(width, height), out=str(out), stream=stream),
                )
                print(f"  {frames} frames, {name}: {run['seconds']:.1f} s, peak {gib(run['peak_rss'])} GiB", flush=True)
                tries[name].append(run)
        runs = {
            name: dict(
                min(runs, key=lambda r: r["seconds"]),
                peak_rss=max(r["peak_rss"] for r in runs),
                cuda_peak=max((r["cuda_peak"] or 0) for r in runs) or None,
            )
            for name, runs in tries.items()
        }
        for run in runs.values():
            run["fps"] = run["frames"] / run["seconds"]
        diff = mask_difference(work / f"out{frames}_plain" / "masks.json", work / f"out{frames}_stream" / "masks.json")
        rows.append(dict(frames=frames, plain=runs["plain"], stream=runs["stream"], diff=diff))

    print()
    print(
        "| frames | path | peak RSS (GiB) | RSS after model load (GiB) | CUDA peak (GiB) | seconds | frames/s "
        "| largest mask difference (pixels on a frame) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        for name in ("plain", "stream"):
            run = row[name]
            diff = "" if name == "plain" else f"{row['diff']['max_pixels']} ({row['diff']['frames_differing']} frames)"
            print(
                f"| {row['frames']} | {name} | {gib(run['peak_rss'])} | {gib(run['loaded_rss'])} | "
                f"{gib(run['cuda_peak'])} | {run['seconds']:.1f} | {run['fps']:.1f} | {diff} |"
            )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print()
        for name in ("plain", "stream"):
            ratio = last[name]["peak_rss"] / first[name]["peak_rss"]
            growth = [r[name]["peak_rss"] - r[name]["loaded_rss"] for r in (first, last)]
            line = f"{name}: peak RSS at {last['frames']} frames / at {first['frames']} frames = {ratio:.2f} x"
            line += f" (above the loaded model: {gib(growth[0])} -> {gib(growth[1])} GiB)"
            if first[name]["cuda_peak"]:
                line += f"; CUDA peak {last[name]['cuda_peak'] / first[name]['cuda_peak']:.2f} x"
            print(line)
        for row in rows:
            print(
                f"{row['frames']} frames: streaming frames/s / plain frames/s = "
                f"{row['stream']['fps'] / row['plain']['fps']:.2f}"
            )

    evaluation = None
    if args.eval_frames:
        from unipixel.data.toy import make_toy_data

        random_model = args.model in ("tiny", "tiny-sam768")
        root = work / "toy_long"
        make_toy_data(
            root, seed=0, num_train=1, num_val=args.eval_videos, num_frames=(args.eval_frames,) * 2, families=["mevis"]
        )
        runs = {}
        for name, above in (("plain", None), ("stream", 0)):
            runs[name] = spawn(
                "eval",
                dict(
                    common,
                    root=str(root),
                    out=str(work / f"eval_{name}"),
                    stream_above=above,
                    max_new_tokens=2 if random_model else 512,  # random: "<|seg|><|seg|>", 2 objects
                    force_seg=random_model,
                ),
            )
        same = records_identical(runs["plain"]["predictions"], runs["stream"]["predictions"])
        evaluation = dict(runs, records_identical=same, frames=args.eval_frames)
        print()
        print(
            f"Toy MeViS valid_u through the evaluation runner: {runs['plain']['samples']} expressions on videos of "
            f"{args.eval_frames} frames"
        )
        print()
        print("| path | J | F | J&F | no_seg_rate | seconds | peak RSS (GiB) | CUDA peak (GiB) |")
        print("|---|---|---|---|---|---|---|---|")
        for name, run in runs.items():
            m = {k.rsplit("/", 1)[1]: v for k, v in run["metrics"].items()}
            print(
                f"| {name} | {m['J']:.4f} | {m['F']:.4f} | {m['J&F']:.4f} | {m['no_seg_rate']:.2f} | "
                f"{run['seconds']:.1f} | {gib(run['peak_rss'])} | {gib(run['cuda_peak'])} |"
            )
        same_metrics = runs["plain"]["metrics"] == runs["stream"]["metrics"]
        print(f"\nmetrics identical: {same_metrics}; every prediction record identical: {same}")
    result = {"rows": rows, "evaluation": evaluation, "size": [width, height], "model": args.model}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
