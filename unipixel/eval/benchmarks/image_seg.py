"""RefCOCO / RefCOCO+ / RefCOCOg / ReasonSeg: referring and reasoning segmentation on images (docs/design.md §5.2-5.3).

Protocol: the image is one frame for both paths, 128-4096 merged tokens; the fixed evaluation wording of docs/design.md
§4.5; greedy decoding up to 512 tokens; only the first `<|seg|>`'s mask is scored (no `<|seg|>` → an empty mask,
counted in `no_seg_rate`). Metrics at the original resolution, ignore regions (ReasonSeg) excluded: cIoU = ΣI / ΣU,
gIoU = mean I/U (U = 0 → 1), BBox accuracy (box of the prediction vs the GT box, IoU ≥ 0.5).
"""

from __future__ import annotations

import numpy as np

from ..metrics import IoUAccumulator
from ..runner import Evaluator, decode_masks, encode_masks

# the evaluation splits of each image benchmark (RefCOCOg: the umd splits)
SPLITS = {
    "refcoco": ("val", "testA", "testB"),
    "refcoco+": ("val", "testA", "testB"),
    "refcocog": ("val", "test"),
    "reason_seg": ("val", "test"),
}


class ImageSegEvaluator(Evaluator):
    """Args: split (`SPLITS`: `val`, `testA`, `testB`, `test`); dataset: the data key (`refcoco`, `refcoco+`,
    `refcocog`, `reason_seg`); root: the data folder; max_new_tokens."""

    def __init__(self, split: str, dataset: str = "refcoco", root: str = "data", max_new_tokens: int = 512, **options):
        super().__init__(split, root, dataset=dataset, max_new_tokens=max_new_tokens, **options)
        self.benchmark = dataset
        self.data_key = dataset
        self.splits = SPLITS.get(dataset, ())
        self.max_new_tokens = max_new_tokens

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset(self.data_key, root=self.root, split=self.split)

    def predict(self, predictor, sample) -> dict:
        result = predictor.predict_sample(sample, max_new_tokens=self.max_new_tokens)
        height, width = sample.frames.shape[1:3]
        first = result.masks.get(0)
        mask = np.zeros((1, 1, height, width), bool) if first is None else first.numpy()[None, :1]
        return {"text": result.text, "num_seg": len(result.masks), "masks": encode_masks(mask)}

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        acc = IoUAccumulator(track_boxes=True)
        no_seg = 0
        for key, record in records.items():
            meta = self.dataset[int(key)].meta
            pred = decode_masks(record["masks"])[0, 0]
            gt = np.asarray(meta["gt_masks"])[0, 0]
            ignore = meta.get("ignore_masks")
            acc.update(pred, gt, None if ignore is None else np.asarray(ignore)[0, 0])
            no_seg += record["num_seg"] == 0
        metrics = acc.result()
        metrics["no_seg_rate"] = no_seg / max(len(records), 1)
        return metrics
