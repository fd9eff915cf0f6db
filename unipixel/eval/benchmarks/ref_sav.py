"""Ref-SAV evaluation set (the manually validated subset; data key `ref_sav_eval`), split `valid` (docs/design.md
§5.1-5.3):

    python -m unipixel.eval benchmark=ref_sav split=valid model.path=model_zoo/UniPixel-3B

Each expression is a long description of one SA-V object (the "description" evaluation wording). Protocol and metrics
as in `video_seg`: 16 uniform LLM frames, SAM 2 on every frame of the released frame folder (SA-V's annotated frames,
every 4th video frame), first `<|seg|>` (none → empty mask); J, F, J&F over all frames.
"""

from __future__ import annotations

from .video_seg import VideoSegEvaluator


class RefSAVEvaluator(VideoSegEvaluator):
    """Args: split (`valid`; the loader is evaluation-only, the split only names the results) and the
    `VideoSegEvaluator` arguments."""

    benchmark = "ref_sav"
    splits = ("valid",)
    data_key = "ref_sav_eval"

    def __init__(self, split: str = "valid", **kwargs):
        super().__init__(split, **kwargs)
