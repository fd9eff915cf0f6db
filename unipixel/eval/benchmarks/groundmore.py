"""GroundMoRe (motion-grounded video reasoning), split `test` (docs/design.md §5.2-5.3):

    python -m unipixel.eval benchmark=groundmore split=test model.path=model_zoo/UniPixel-3B

Protocol: each clip is represented by 20 uniformly spaced frames (SAM 2 propagates over them); the LLM sees 16 of them
uniformly; the question gets "{q}? Please answer the question and provide the segmentation mask."; greedy decoding
up to 512 tokens; the first `<|seg|>`'s mask is kept (none → empty mask, counted in `no_seg_rate`). The ground truth
on a frame is the union of the question's objects only inside the action interval (action times at 6 fps), empty
elsewhere (see `unipixel.data.groundmore`).

Metrics: J, F (DAVIS) per question over the 20 frames; `J`, `F`, `J&F` over all questions and `{type}/J`, `{type}/F`,
`{type}/J&F` per question type (`causal`, `sequential`, `counterfactual`, `descriptive`: the `q_type` field,
lower-cased), each with its `{type}/num_expressions`.
"""

from __future__ import annotations

from collections import defaultdict

from unipixel.data.errors import DataError

from ..metrics import mean_j_and_f
from .video_seg import VideoSegEvaluator


class GroundMoReEvaluator(VideoSegEvaluator):
    """Args: split (`test`); eval_frames (20, SAM 2 frames per clip); and the `VideoSegEvaluator` arguments."""

    benchmark = "groundmore"
    splits = ("test",)
    data_key = "groundmore"

    def __init__(self, split: str = "test", eval_frames: int = 20, **kwargs):
        options = {**(kwargs.pop("dataset_options", None) or {}), "eval_frames": int(eval_frames)}
        super().__init__(split, dataset_options=options, **kwargs)

    def summarise(self, rows: list[dict], records: dict[str, dict]) -> dict[str, float]:
        metrics = super().summarise(rows, records)
        groups: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            q_type = row["record"].get("meta", {}).get("q_type")
            if not isinstance(q_type, str) or not q_type.strip():
                msg = f"question without a q_type ({q_type!r}): it cannot be scored per type"
                raise DataError(self.dataset.name, row["record"]["id"], row["record"].get("file"), msg)
            groups[q_type.strip().lower()].append(row)
        for q_type, members in sorted(groups.items()):
            for m, v in mean_j_and_f(members).items():
                metrics[f"{q_type}/{m}"] = v
            metrics[f"{q_type}/num_expressions"] = len(members)
        return metrics
