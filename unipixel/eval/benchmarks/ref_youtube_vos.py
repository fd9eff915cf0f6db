"""Ref-YouTube-VOS, split `valid` (no masks released: scored by the benchmark's server) (docs/design.md §5.1-5.3):

    python -m unipixel.eval benchmark=ref_youtube_vos split=valid model.path=model_zoo/UniPixel-3B

Protocol as in `video_seg`: 16 uniform LLM frames out of the frames listed in `meta_expressions.json` (every 5th video
frame), SAM 2 on all of them, first `<|seg|>` (none → empty mask). Scoring writes
`<out_dir>/ref_youtube_vos/valid/submission.zip` holding `{vid}/{exp_id}/{frame}.png` (0/255, original size) for every
listed frame of every expression, the layout of docs/design.md §5.2. Public instructions of other methods zip an
`Annotations/` folder instead; `zip_prefix=Annotations` produces that if the server asks for it.
"""

from __future__ import annotations

from .video_seg import VideoSegEvaluator


class RefYouTubeVOSEvaluator(VideoSegEvaluator):
    """Args: split (`valid`) and the `VideoSegEvaluator` arguments."""

    benchmark = "ref_youtube_vos"
    splits = ("valid",)
    data_key = "ref_youtube_vos"

    def __init__(self, split: str = "valid", **kwargs):
        super().__init__(split, **kwargs)
