"""Ref-DAVIS17, split `valid` (docs/design.md §5.1-5.3):

    python -m unipixel.eval benchmark=ref_davis17 split=valid model.path=model_zoo/UniPixel-3B

Protocol and metrics as in `video_seg`: 16 uniform LLM frames, SAM 2 on every frame, first `<|seg|>` (none → empty
mask); every expression is its own item; J, F, J&F over all frames, means over expressions.

Expression ordering (B10). `mask_dict.pkl` is keyed by a running expression counter, so which GT an expression gets
depends on how the counter runs. This evaluator uses `mask_order: json` by default: videos and expressions in the
order of `meta_expressions.json`, the order the training loader counts in (and the toy generator writes).
`mask_order: sorted` reproduces the upstream evaluator (videos sorted by name, expression ids sorted as strings,
"10" < "2"); on a pickle written in JSON order it pairs most expressions with another expression's mask.
`mask_source: png` ignores the pickle and reads the DAVIS palette annotations through each expression's `obj_id`, which
needs no ordering at all: scoring once with it and once with the pickle, equal numbers confirm the pickle's order.
"""

from __future__ import annotations

from .video_seg import VideoSegEvaluator


class RefDAVIS17Evaluator(VideoSegEvaluator):
    """Args: split (`valid`); mask_order (`json` or `sorted`, see the module docstring); mask_source (`pkl` or `png`);
    and the `VideoSegEvaluator` arguments."""

    benchmark = "ref_davis17"
    splits = ("valid",)
    data_key = "ref_davis17"

    def __init__(self, split: str = "valid", mask_order: str = "json", mask_source: str = "pkl", **kwargs):
        if mask_order not in ("json", "sorted"):
            raise ValueError(f"mask_order must be json or sorted, got {mask_order!r}")
        options = {**(kwargs.pop("dataset_options", None) or {}), "mask_order": mask_order, "mask_source": mask_source}
        super().__init__(split, dataset_options=options, **kwargs)
