"""ReVOS (referring + reasoning video object segmentation), split `valid` (docs/design.md §5.2-5.3):

    python -m unipixel.eval benchmark=revos split=valid model.path=model_zoo/UniPixel-3B

Protocol as in `video_seg` (16 uniform LLM frames, SAM 2 on every frame, first `<|seg|>`, none → empty mask).
Metrics per expression over all frames of the video: J, F (DAVIS), accuracy A and robustness R, where R counts the
predicted pixels outside the target against the video's foreground (the union of every annotated object on that
frame, `mask_dict_foreground.json`). Expressions without any object (the target is empty everywhere) are kept.

Result keys: `referring/*` (type_id 0), `reason/*` (type_id 1) and `overall/*` (the mean of the two subset means, not
sample-weighted) for J, F, J&F, A, R, with A and R on binary masks (what they are meant to measure); `J`, `F`, `J&F`
repeat `overall` (the README's ReVOS row). `published/{referring,reason,overall}/*` reproduce the evaluator behind the
published numbers (B17: A and R on raw PNG values, per-expression rounding to 0.01 %), which needs the raw ground truth:
the uint8 sum of the expression's instance masks and of the foreground's per-object masks, built here from the
annotation files. See `unipixel.eval.metrics.revos`.
"""

from __future__ import annotations

import numpy as np

from unipixel.data.errors import DataError
from unipixel.data.masks import decode_region_frames
from unipixel.data.rvos import as_regions

from ..metrics import frame_counts
from ..metrics.revos import METRICS, SUBSETS, aggregate_revos, revos_metrics
from .video_seg import ClipAnnotation, VideoSegEvaluator, decode_rle_frames


class ReVOSEvaluator(VideoSegEvaluator):
    """Args: split (`valid`) and the `VideoSegEvaluator` arguments."""

    benchmark = "revos"
    splits = ("valid",)
    data_key = "revos"

    def __init__(self, split: str = "valid", **kwargs):
        super().__init__(split, **kwargs)

    # ------------------------------------------------------------------------------------------------ raw ground truth
    def instance_sum(self, clip: ClipAnnotation, positions: np.ndarray) -> np.ndarray:
        """uint8 `(n, H, W)`: the sum of the expression's instance masks (2 where two instances overlap)."""
        out = np.zeros((len(positions), clip.height, clip.width), dtype=np.uint8)
        for anno_id in clip.record.get("anno_ids", []):
            with clip.errors():
                one = self.dataset.target_masks({**clip.record, "anno_ids": [anno_id]}, positions, *out.shape[1:])
            if one is None:
                raise DataError(self.dataset.name, clip.sample_id, clip.record.get("file"), "the split has no masks")
            out += one
        return out

    def foreground_sum(self, clip: ClipAnnotation, positions: np.ndarray) -> np.ndarray:
        """uint8 `(n, H, W)`: per frame, the sum of the foreground entry's per-object masks (0/1 for a single RLE)."""
        file = getattr(self.dataset, "foreground_file", None)
        table = getattr(self.dataset, "foreground", None)
        vid = clip.record["vid"]
        entry = None if table is None else table.get(vid)
        if isinstance(entry, dict):
            entry = entry.get("masks_rle")
        if entry is None:
            msg = f"no foreground masks for video {vid!r}: robustness R needs mask_dict_foreground.json"
            raise DataError(self.dataset.name, clip.sample_id, file, msg)
        if len(entry) != clip.record["num_video_frames"]:
            msg = f"foreground entry has {len(entry)} frames, the video lists {clip.record['num_video_frames']}"
            raise DataError(self.dataset.name, clip.sample_id, file, msg)
        offset = clip.record.get("offset", 0)
        out = np.zeros((len(positions), clip.height, clip.width), dtype=np.uint8)
        for i, t in enumerate(positions):
            regions = as_regions(entry[offset + int(t)])
            if regions:
                try:
                    out[i] = decode_region_frames([[r] for r in regions], clip.height, clip.width).sum(
                        0, dtype=np.uint8
                    )
                except Exception as exc:  # noqa: BLE001
                    raise DataError(
                        self.dataset.name, clip.sample_id, file, f"cannot decode foreground: {exc}"
                    ) from exc
        return out

    # ------------------------------------------------------------------------------------------------ scoring
    def score_expression(self, key: str, record: dict) -> dict:
        clip = ClipAnnotation(self.dataset, int(key))
        type_id = clip.record.get("meta", {}).get("type_id")
        if type_id not in SUBSETS:
            msg = f"type_id {type_id!r} is not one of {sorted(SUBSETS)} (0 referring, 1 reasoning)"
            raise DataError(self.dataset.name, clip.sample_id, clip.record.get("file"), msg)
        rles = self.prediction_frames(key, record, clip)
        sums = {"binary": dict.fromkeys(METRICS, 0.0), "published": dict.fromkeys(METRICS, 0.0)}
        for start in range(0, len(clip), self.chunk_frames):
            positions = clip.positions[start : start + self.chunk_frames]
            pred = decode_rle_frames(rles[start : start + len(positions)])
            gt, foreground = self.instance_sum(clip, positions), self.foreground_sum(clip, positions)
            # Frame means of a chunk, weighted by its length, add up to the frame means of the whole video. J and F
            # are the same in both modes: the boundary matching runs once.
            target = gt != 0
            counts = frame_counts(pred, target, num_threads=self.num_threads)
            for mode, values in (
                ("binary", revos_metrics(pred, target, foreground != 0, counts=counts)),
                ("published", revos_metrics(pred, gt, foreground, published=True, counts=counts)),
            ):
                for m in METRICS:
                    sums[mode][m] += len(positions) * values[m]
        row = {"vid": clip.record["vid"], "type_id": type_id}
        for mode, values in sums.items():
            means = {m: v / len(clip) for m, v in values.items()}
            row[mode] = {**means, "J&F": (means["J"] + means["F"]) / 2}
        return row

    def summarise(self, rows: list[dict], records: dict[str, dict]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        binary = aggregate_revos([(r["type_id"], r["binary"]) for r in rows])
        published = aggregate_revos([(r["type_id"], r["published"]) for r in rows], published=True)
        for prefix, table in (("", binary), ("published/", published)):
            for subset, values in table.items():
                for m, v in values.items():
                    metrics[f"{prefix}{subset}/{m}"] = v
        metrics.update({m: binary["overall"][m] for m in ("J", "F", "J&F")})
        for type_id, subset in SUBSETS.items():
            metrics[f"{subset}/num_expressions"] = sum(r["type_id"] == type_id for r in rows)
        metrics.update(self.counts(records, [r["vid"] for r in rows]))
        return metrics
