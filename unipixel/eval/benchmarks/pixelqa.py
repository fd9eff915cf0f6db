"""PixelQA: refer with a point or box, segment over the clip, answer a multiple-choice question (docs/design.md §6).

    python -m unipixel.eval benchmark=pixelqa split=point model.path=model_zoo/UniPixel-3B
    python -m unipixel.eval benchmark=pixelqa split=box model.path=model_zoo/UniPixel-3B
    python -m unipixel.eval benchmark=pixelqa split=mix model.path=model_zoo/UniPixel-3B

The split names the prompt mode (`point`, `box`, `mix`) on VideoRefer-Bench-Q's questions (the loader
`unipixel.data.videorefer.PixelQADataset`: 16 frames uniform over the annotated frames with the prompt frame forced in,
the same frames for SAM 2, 128-256 merged tokens per frame). Each question runs the model's two-round flow through
`Predictor.predict_two_round`: pass 1 (memory pre-filling) reads one mask track per object from the teacher-forced
"[ID] <|seg|> ..." answer; pass 2 (memory injection) turns those masks into `<|mem|>` entries
(`pixelqa_second_turn`; an object whose mask is empty everywhere gets the whole frame, B11) and generates the answer
after "The best option is (" (greedy, at most 512 new tokens). Stored: the answer text and the pass-1 masks (RLE).

Metrics: `accuracy` and `accuracy/<question type>` (strict letter parsing by default, `lenient=true` for the
original's rule), `unparsed_rate`; and over every object of every question, `J` = mean volume IoU and `F` = mean
volume pixel-F1 (one value over the stacked T x H x W volume, against all annotated masks of the clip), `J&F` =
(J + F) / 2.
"""

from __future__ import annotations

import numpy as np

from unipixel.data.errors import DataError

from ..metrics import volume_f1, volume_iou
from ..runner import Evaluator, decode_masks, encode_masks
from .videorefer_bench_q import choice_metrics, index_record


class PixelQAEvaluator(Evaluator):
    """Args: split (`point`, `box` or `mix`: the prompt mode); root: the data folder; max_new_tokens; lenient: the
    original's letter parsing."""

    benchmark = "pixelqa"
    splits = ("point", "box", "mix")

    def __init__(
        self, split: str = "point", root: str = "data", max_new_tokens: int = 512, lenient: bool = False, **options
    ):
        if split not in ("point", "box", "mix"):
            raise ValueError(f"pixelqa splits are point, box and mix (the prompt mode), got {split!r}")
        super().__init__(split, root, max_new_tokens=max_new_tokens, lenient=lenient, **options)
        self.max_new_tokens, self.lenient = max_new_tokens, lenient

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset("pixelqa", root=self.root, split="test", prompt_mode=self.split)

    def predict(self, predictor, sample) -> dict:
        from unipixel.data.videorefer import pixelqa_second_turn

        result = predictor.predict_two_round(sample, pixelqa_second_turn, max_new_tokens=self.max_new_tokens)
        masks = np.stack([result.masks[o].numpy() for o in sorted(result.masks)])
        return {"text": result.text, "prompt_kinds": sample.meta.get("prompt_kinds"), "masks": encode_masks(masks)}

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        rows = [index_record(self, key, record) for key, record in records.items()]
        out = choice_metrics(
            [record["text"] for record in records.values()],
            [row["answer"] for row in rows],
            [row["options"] for row in rows],
            [row.get("task") for row in rows],
            lenient=self.lenient,
        )
        j_values, f_values = [], []
        for (key, record), row in zip(records.items(), rows):
            gt = np.asarray(self.dataset[int(key)].meta["gt_masks"], dtype=bool)
            pred = decode_masks(record["masks"])
            if pred.shape != gt.shape:
                raise DataError(
                    self.dataset.name,
                    row["id"],
                    row.get("file"),
                    f"prediction {key} holds masks of shape {pred.shape}, the annotation gives {gt.shape} "
                    "(objects, frames, height, width)",
                )
            for obj_pred, obj_gt in zip(pred, gt):
                j_values.append(volume_iou(obj_pred, obj_gt))
                f_values.append(volume_f1(obj_pred, obj_gt))
        out["J"] = float(np.mean(j_values))
        out["F"] = float(np.mean(f_values))
        out["J&F"] = (out["J"] + out["F"]) / 2
        out["num_objects"] = len(j_values)
        return out
