"""Render `docs/images/overlay_example.png`: a toy scene, the prompt, the model's answer and its mask overlay.

    python tools/render_example.py --checkpoint work_dirs/toy/stage3          # a trained (toy) model generates
    python tools/render_example.py                                            # random tiny model, fixed answer

With the random tiny model (the default) the answer is fixed ("The target is <|seg|>.") because an untrained model
rarely writes `<|seg|>`; its mask is arbitrary. A trained checkpoint answers by itself (pass `--answer` to force one).
The scene comes from the procedural toy dataset generator (`unipixel.data.toy`), so a model trained on the toy data
knows what it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

TINY_ANSWER = "The target is <|seg|>."


def toy_image(seed: int = 0, height: int = 128, width: int = 160) -> tuple[np.ndarray, str]:
    """A still toy scene and the evaluation-style query of its first object ("red circle")."""
    from unipixel.data.toy import sample_scene

    rng = np.random.default_rng(seed)
    scene = None
    while scene is None:
        scene = sample_scene(rng, height=height, width=width, num_frames=1, num_objects=3)
    target = scene.objects[0]
    return scene.frame(0), f"{target.colour} {target.shape}"


def compose(image: np.ndarray, overlay: np.ndarray, prompt: str, answer: str, scale: int = 3) -> np.ndarray:
    """Input and overlay side by side (nearest-neighbour upscaled), prompt and answer written underneath."""
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    gap, text_h = 8, 44
    canvas = Image.new("RGB", (2 * width * scale + gap, height * scale + text_h), (255, 255, 255))
    for i, panel in enumerate((image, overlay)):
        big = Image.fromarray(panel).resize((width * scale, height * scale), Image.NEAREST)
        canvas.paste(big, (i * (width * scale + gap), 0))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, height * scale + 4), f"User: {prompt}", fill=(0, 0, 0))
    draw.text((4, height * scale + 24), f"UniPixel: {answer}", fill=(0, 0, 0))
    return np.asarray(canvas)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="tiny", help="UniPixel checkpoint folder, or 'tiny' (random init)")
    parser.add_argument("--out", default="docs/images/overlay_example.png")
    parser.add_argument("--answer", default=None, help=f"fixed answer (default for tiny: {TINY_ANSWER!r})")
    parser.add_argument("--seed", type=int, default=0, help="toy scene and tiny-model seed")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    from PIL import Image

    from unipixel.data.templates import seg_question
    from unipixel.inference import load_predictor, overlay_masks

    image, query = toy_image(args.seed)
    prompt = seg_question("query", query)  # the evaluation wording: "Please segment the {query} in this image."
    answer = args.answer if args.answer is not None else (TINY_ANSWER if args.checkpoint == "tiny" else None)
    predictor = load_predictor(args.checkpoint, args.device, seed=args.seed)
    result = predictor.predict(image, prompt, answer=answer, max_new_tokens=64)
    overlay = overlay_masks(image, [result.masks[k][0].numpy() for k in sorted(result.masks)])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(compose(image, overlay, prompt, result.text)).save(out)
    print(f"{prompt!r} → {result.text!r}; {len(result.masks)} mask(s) → {out}")
    return out


if __name__ == "__main__":
    main()
