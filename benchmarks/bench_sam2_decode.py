"""Mask decoding for several objects: one batched SAM 2 session (ours) vs one session per object (the original, P1).

    python benchmarks/bench_sam2_decode.py                 # tiny SAM 2.1 at 128 px, CPU
    python benchmarks/bench_sam2_decode.py --size 256      # larger frames
    python benchmarks/bench_sam2_decode.py --config sam2.1_hiera_b+ --size 768 --device cuda   # the real model

Prints, for 1, 3 and 8 objects over 8 frames, the time of each path (median of --repeats runs, after a warm-up), the
number of image-encoder frame passes, the largest difference between the two paths' mask logits, and the speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from unipixel.model.sam2_adapter import build_sam2
from unipixel.model.tiny import tiny_sam2_overrides


def timed(fn, repeats: int, device: torch.device) -> tuple[float, object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="sam2.1_hiera_t", help="SAM 2 config name (tiny overrides for hiera_t)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 frames, objects 1 and 3, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.objects, args.repeats = 2, [1, 3], 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    overrides = tiny_sam2_overrides() if args.config == "sam2.1_hiera_t" else None
    sam = build_sam2(args.config, args.size, 0.0, overrides).to(device).eval()
    frames = torch.randn(args.frames, 3, args.size, args.size, device=device)

    encodes = []
    original = sam.forward_image
    sam.forward_image = lambda x: encodes.append(x.shape[0]) or original(x)

    rows = []
    for num_objects in args.objects:
        hidden = torch.randn(num_objects, 2, 256, device=device)

        def batched(hidden=hidden):
            return torch.cat([out.best_logits for _, out in sam.segment(frames, hidden)], dim=1)

        def per_object(hidden=hidden):
            return sam.per_object_segment(frames, hidden)

        encodes.clear()
        t_batched, a = timed(batched, args.repeats, device)
        enc_batched = sum(encodes) // (args.repeats + 1)
        encodes.clear()
        t_single, b = timed(per_object, args.repeats, device)
        enc_single = sum(encodes) // (args.repeats + 1)
        rows.append(
            dict(
                objects=num_objects,
                batched_s=t_batched,
                per_object_s=t_single,
                encoded_frames_batched=enc_batched,
                encoded_frames_per_object=enc_single,
                max_abs_diff=float((a - b).abs().max()),
                speedup=t_single / t_batched,
            )
        )
    print(f"SAM 2 '{args.config}' at {args.size}px, {args.frames} frames, device {device}, threads {args.threads}")
    print("| objects | batched (s) | per-object (s) | frames encoded (batched / per-object) | max |diff| | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['objects']} | {r['batched_s']:.3f} | {r['per_object_s']:.3f} | "
            f"{r['encoded_frames_batched']} / {r['encoded_frames_per_object']} | {r['max_abs_diff']:.1e} | "
            f"{r['speedup']:.2f}x |"
        )
    return rows


if __name__ == "__main__":
    main()
