"""Quick start: a tiny random-init UniPixel segments a generated image and writes a mask overlay PNG (CPU, seconds).

    python tools/quickstart.py --out outputs/quickstart

The model is untrained, so the mask is arbitrary: this run checks that the whole path (tokenizer, Qwen2.5-VL,
`<|seg|>` hidden state, SAM 2.1 decoding, overlay) works on this machine. Trained checkpoints plug in with
`--model PATH`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw


def demo_image(size: tuple[int, int] = (160, 120), seed: int = 0) -> np.ndarray:
    """A textured background with a red circle, a blue square and a yellow triangle."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(90, 160, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    image = Image.fromarray(base).resize((width, height), Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 30, 60, 70), fill=(220, 30, 30))
    draw.rectangle((90, 20, 130, 60), fill=(30, 60, 220))
    draw.polygon([(80, 110), (110, 70), (140, 110)], fill=(230, 210, 40))
    return np.asarray(image)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/quickstart")
    parser.add_argument("--model", default="tiny", help="'tiny' (random init) or a UniPixel checkpoint folder")
    parser.add_argument("--prompt", default="Please segment the red circle in this image.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from unipixel.data.processor import PixelProcessor
    from unipixel.inference import Predictor, overlay_masks

    torch.manual_seed(args.seed)
    if args.model == "tiny":
        from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
        from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

        tokenizer = build_tiny_tokenizer()
        model = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer))
        predictor = Predictor(model, PixelProcessor(tokenizer, sam2_image_size=model.config.sam2_image_size))
        answer = "The target is <|seg|>."  # an untrained model rarely emits <|seg|> by itself
    else:
        predictor = Predictor.from_pretrained(args.model)
        answer = None
    image = demo_image(seed=args.seed)
    result = predictor.predict(image, args.prompt, answer=answer, max_new_tokens=64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out / "input.png")
    masks = [result.masks[k][0].numpy() for k in sorted(result.masks)]
    Image.fromarray(overlay_masks(image, masks)).save(out / "overlay.png")
    for k, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / f"mask_{k}.png")
    summary = {
        "prompt": args.prompt,
        "answer": result.text,
        "objects": len(masks),
        "mask_pixels": [int(m.sum()) for m in masks],
        "overlay": str(out / "overlay.png"),
    }
    (out / "result.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
