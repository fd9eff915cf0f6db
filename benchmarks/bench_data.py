"""Data-pipeline throughput: a stage-3-like image mixture through a DataLoader, and decode-once vs decode-twice.

Run:  python benchmarks/bench_data.py [--samples 96] [--workers 0,1,2] [--quick]
(--quick: tiny images, 128-px SAM frames and a few samples; a smoke run that tests/data/test_bench_data.py executes).

1. Fixtures of every image-side dataset (RefCOCO family, ReasonSeg, ADE20K, COCO-Stuff, Mapillary, PACO-LVIS,
   Pascal-Part, LLaVA) are written in their release formats to a temp dir (images upscaled to 640 x 480 unless
   --quick), mixed with the repeats of configs/data/image_seg.yaml, and read through a DataLoader with the
   per-data-type grouped sampler, a `PixelProcessor` attached (tiny tokenizer; SAM 768 px and 128-256 tokens per
   frame unless --quick). Printed: samples/s per worker count and the ratio to 1 worker.
2. An MP4 is generated; one sample's preparation is timed (a) decoding the clip once and feeding both the Qwen and the
   SAM 2 paths from the same array (what `Sample.frames` does) and (b) decoding it for the LLM path and again for the
   SAM 2 path (upstream, P5). Printed: ms per sample, decoding share, and the ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Running as `python benchmarks/bench_data.py` puts benchmarks/ (not the repo root) on sys.path.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from tests.data import fixtures as fx  # noqa: E402
from unipixel.data.io import VideoReader  # noqa: E402
from unipixel.data.mixture import DataTypeGroupedSampler, build_mixture, parse_mixture  # noqa: E402
from unipixel.data.processor import PixelProcessor, Sample, sam2_transform  # noqa: E402
from unipixel.data.sampling import uniform_indices  # noqa: E402


def upscale_images(root: Path, size: tuple[int, int]) -> int:
    """Replace every fixture JPG by a bigger one (annotations are decoded at image size, so they still fit)."""
    count = 0
    for path in root.rglob("*.jpg"):
        with Image.open(path) as img:
            img.convert("RGB").resize(size, Image.BILINEAR).save(path, quality=90)
        count += 1
    return count


def make_processor(quick: bool) -> PixelProcessor:
    from unipixel.model.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    if quick:
        return PixelProcessor(tokenizer, sam2_image_size=128, target_frames=8, min_tokens=4, max_tokens=36)
    return PixelProcessor(tokenizer, sam2_image_size=768, target_frames=8)


def loader_throughput(root: Path, processor, workers: int, samples: int, seed: int = 0) -> float:
    """Samples per second through DataLoader(workers) of the image mixture, after one warm-up batch."""
    from omegaconf import OmegaConf

    spec = parse_mixture(list(OmegaConf.load(REPO / "configs/data/image_seg.yaml").datasets))
    mix = build_mixture([f"{k}:{r}" for k, r in spec], root=str(root), processor=processor)
    sampler = DataTypeGroupedSampler(mix.data_types, per_device_batch=1, seed=seed)
    loader = DataLoader(
        mix,
        batch_size=1,
        sampler=sampler,
        num_workers=workers,
        collate_fn=processor.collate,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    it = iter(loader)
    next(it)  # warm-up: worker start, index loading
    start, n = time.perf_counter(), 0
    for _ in range(samples):
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            next(it)
        n += 1
    return n / (time.perf_counter() - start)


def decode_once_vs_twice(path: Path, processor, clip: int, repeat: int) -> dict:
    """ms per sample of (a) decode once + both paths and (b) decode per path; plus pure decode time."""
    conv = [
        {"role": "user", "content": "Track the red circle in this video."},
        {"role": "assistant", "content": "Sure, it is <|seg|>."},
    ]
    total = VideoReader(path).num_frames
    indices = uniform_indices(total, clip)

    def once():
        frames = VideoReader(path).get(indices)
        masks = np.zeros((1, *frames.shape[:3]), bool)
        masks[..., 10:20, 10:20] = True
        processor(Sample("v", "bench", frames, conv, seg_masks=masks))

    def twice():
        frames_llm = VideoReader(path).get(indices)
        masks = np.zeros((1, *frames_llm.shape[:3]), bool)
        masks[..., 10:20, 10:20] = True
        processor(Sample("v", "bench", frames_llm, conv, seg_masks=masks), with_sam2=False)
        frames_sam = VideoReader(path).get(indices)  # the SAM 2 path reads the video again
        sam2_transform(torch.as_tensor(frames_sam), processor.sam2_image_size)

    def decode():
        VideoReader(path).get(indices)

    out = {}
    for name, fn in (("once", once), ("twice", twice), ("decode", decode)):
        fn()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        out[name] = 1000 * (time.perf_counter() - start) / repeat
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=96, help="samples timed per worker setting")
    parser.add_argument("--workers", default="0,1,2", help="comma-separated DataLoader worker counts")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    args = parser.parse_args(argv)
    samples = 12 if args.quick else args.samples
    torch.set_num_threads(1)
    processor = make_processor(args.quick)
    results: dict = {"loader": {}, "decode": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fx.write_all(root)
        if not args.quick:
            upscale_images(root, (640, 480))
        for workers in (int(w) for w in args.workers.split(",")):
            results["loader"][workers] = loader_throughput(root, processor, workers, samples)
        height, width, frames, clip = (48, 64, 24, 8) if args.quick else (480, 640, 120, 8)
        video = root / "bench.mp4"
        fx.write_video(video, num_frames=frames, fps=30, height=height, width=width)
        results["decode"] = decode_once_vs_twice(video, processor, clip, repeat=2 if args.quick else 10)

    base = results["loader"].get(1) or next(iter(results["loader"].values()))
    mode = "quick (64x48 images, SAM 128)" if args.quick else "640x480 images, SAM 768, 128-256 tokens/frame"
    print(f"\nimage mixture (configs/data/image_seg.yaml repeats) through a DataLoader, processor attached; {mode}")
    print(f"{'workers':>8} {'samples/s':>10} {'vs 1 worker':>12}")
    for workers, rate in results["loader"].items():
        print(f"{workers:>8} {rate:>10.1f} {rate / base:>11.2f}x")
    d = results["decode"]
    print(f"\none {clip}-frame clip of a {frames}-frame {width}x{height} MP4: preparation per sample")
    print(f"{'setting':<44} {'ms/sample':>10} {'ratio':>7}")
    print(f"{'decode once, shared by Qwen and SAM 2 paths':<44} {d['once']:>10.1f} {1.0:>6.2f}x")
    print(f"{'decode for Qwen, decode again for SAM 2':<44} {d['twice']:>10.1f} {d['twice'] / d['once']:>6.2f}x")
    print(f"{'(decoding alone)':<44} {d['decode']:>10.1f} {d['decode'] / d['once']:>6.2f}x")
    results["decode"]["saving"] = 1 - d["once"] / d["twice"]
    print(f"decode-once saves {100 * results['decode']['saving']:.0f}% of the per-sample preparation time")
    return results


if __name__ == "__main__":
    main()
