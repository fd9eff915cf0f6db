"""SAM 2 numerics at inference on a GPU (D7 in docs/fidelity.md): how much the masks depend on SAM 2's precision.

Run:  python benchmarks/gpu/sam2_precision.py [--reference FOLDER] [--frames 16] [--objects 3]

Three settings decode the same `<|seg|>` prompt tokens over the same frames:
  fp32          SAM 2 in float32, no autocast (what the CPU runs; bit-compatible with the authors' fixture)
  autocast      SAM 2's weights in float32 under bf16 autocast (this project's default on CUDA with a bf16 model)
  bf16-weights  SAM 2's weights cast to bf16, under bf16 autocast (the closest PyPI sam2 gets to the released code,
                which casts SAM 2 to bf16 with its positional encodings kept in fp32)
and the script prints, against fp32, the largest logit difference and the share of mask pixels that agree, plus the
decode time. With `--reference` (a folder holding the authors' golden fixture: `checkpoint/`, `inputs.safetensors`,
`expected.safetensors`) it uses that checkpoint, its prompt tokens and frames, and also compares fp32 with the authors'
own float32 logits; without it, a tiny random model and random tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def load(reference: Path | None, dtype: torch.dtype, device: str):
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    if reference is not None:
        model = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(reference / "checkpoint", dtype=dtype)
    else:
        from unipixel.model.tiny import tiny_config

        torch.manual_seed(0)
        model = PixelQwen2_5_VLForConditionalGeneration(tiny_config()).to(dtype)
    return model.to(device).eval()


def decode(model, hidden, frames, size) -> tuple[torch.Tensor, float]:
    torch.cuda.synchronize() if frames.is_cuda else None
    start = time.perf_counter()
    logits = torch.stack([x for _, x, _ in model.iter_mask_logits(hidden, frames, size)], dim=1)
    torch.cuda.synchronize() if frames.is_cuda else None
    return logits.float().cpu(), time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=os.environ.get("UNIPIXEL_AUTHORS_REFERENCE"))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    reference = args.reference if args.reference and (Path(args.reference) / "checkpoint").is_dir() else None

    expected = None
    if reference is not None:
        from safetensors.torch import load_file

        inputs = load_file(reference / "inputs.safetensors")
        expected = load_file(reference / "expected.safetensors")["sam_clip_2obj_logits"]
        hidden, frames, size = inputs["hidden"][:2], inputs["frames"], tuple(expected.shape[-2:])
    else:
        gen = torch.Generator().manual_seed(0)
        hidden = torch.randn(args.objects, 2, 256, generator=gen)
        frames = torch.randn(args.frames, 3, 128, 128, generator=gen)
        size = (96, 128)

    rows = []
    results = {}
    for name, dtype, cast_sam in (
        ("fp32", torch.float32, False),
        ("autocast", torch.bfloat16, False),
        ("bf16-weights", torch.bfloat16, True),
    ):
        model = load(reference, dtype, args.device)
        if cast_sam:
            model.sam2.to(torch.bfloat16)
        try:
            decode(model, hidden.to(args.device), frames.to(args.device), size)  # warm-up
            logits, seconds = decode(model, hidden.to(args.device), frames.to(args.device), size)
        except Exception as exc:  # noqa: BLE001  (report the setting that PyPI sam2 cannot run, then go on)
            rows.append({"setting": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        results[name] = logits
        rows.append({"setting": name, "seconds": seconds})
    base = results.get("fp32")
    print(
        f"device {args.device}; {'authors fixture' if reference else 'tiny random model'}; objects x frames = "
        f"{tuple(hidden.shape[:1]) + (frames.shape[0],)} at {size}"
    )
    print(f"{'setting':>13} {'decode s':>9} {'max |logit diff| vs fp32':>25} {'mask agreement vs fp32':>23}")
    for row in rows:
        if "error" in row:
            print(f"{row['setting']:>13} failed: {row['error'][:150]}")
            continue
        logits = results[row["setting"]]
        row["max_diff"] = float((logits - base).abs().max())
        row["agreement"] = float(((logits > 0) == (base > 0)).float().mean())
        print(f"{row['setting']:>13} {row['seconds']:>9.4f} {row['max_diff']:>25.3g} {row['agreement']:>22.4%}")
    if expected is not None and base is not None:
        diff = float((base - expected).abs().max())
        agree = float(((base > 0) == (expected > 0)).float().mean())
        print(f"fp32 on {args.device} vs the authors' fp32 logits: max |diff| {diff:.3g}, mask agreement {agree:.4%}")
    return rows


if __name__ == "__main__":
    main()
