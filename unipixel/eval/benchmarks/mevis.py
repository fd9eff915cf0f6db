"""MeViS (motion-expression video segmentation), splits `valid_u` (masks released: scored here) and `valid` (no masks:
scored by the benchmark's server) (docs/design.md §5.1-5.3):

    python -m unipixel.eval benchmark=mevis split=valid_u model.path=model_zoo/UniPixel-3B
    python -m unipixel.eval benchmark=mevis split=valid model.path=model_zoo/UniPixel-3B   # -> submission.zip

Protocol and metrics as in `video_seg`: 16 uniform LLM frames, SAM 2 on every frame, first `<|seg|>` (none → empty
mask); J, F, J&F over all frames, the target being the union of the expression's objects. `valid` writes
`<out_dir>/mevis/valid/submission.zip` with `{vid}/{exp_id}/{frame}.png` (0/255, original size) for every frame.
"""

from __future__ import annotations

from .video_seg import VideoSegEvaluator


class MeViSEvaluator(VideoSegEvaluator):
    """Args: split (`valid_u` or `valid`) and the `VideoSegEvaluator` arguments."""

    benchmark = "mevis"
    splits = ("valid_u", "valid")
    data_key = "mevis"

    def __init__(self, split: str = "valid_u", **kwargs):
        super().__init__(split, **kwargs)
