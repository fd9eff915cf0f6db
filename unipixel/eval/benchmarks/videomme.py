"""Video-MME: multiple-choice QA on short, medium and long videos, without subtitles (evaluation only).

    python -m unipixel.eval benchmark=videomme split=test model.path=model_zoo/UniPixel-3B

One split (`test`). Protocol (the loader `unipixel.data.videomme.VideoMMEDataset`): 2 fps, 4-16 frames, a flat
128-256 merged tokens per frame, the question + options + "Please only give the best option." with the assistant turn
pre-seeded "Best Option: ("; greedy decoding, at most 256 new tokens. Scoring parses the option letter of the
continuation (strict by default, `lenient=true` for the original's rule) and reports `accuracy` (every question once),
`accuracy/short`, `accuracy/medium`, `accuracy/long` (the release's table groups by duration) and `unparsed_rate`.
Reading the parquet annotation needs pyarrow (`pip install "unipixel[videomme]"`).
"""

from __future__ import annotations

from .videorefer_bench_q import ChoiceEvaluator

SPLITS = ("test",)


class VideoMMEEvaluator(ChoiceEvaluator):
    """Args: split (`test`); root: the data folder; durations: a subset of short / medium / long (default all);
    max_new_tokens; lenient: the original's letter parsing."""

    benchmark = "videomme"
    splits = SPLITS

    def __init__(
        self,
        split: str = "test",
        root: str = "data",
        durations: list[str] | None = None,
        max_new_tokens: int = 256,
        lenient: bool = False,
        **options,
    ):
        if split not in SPLITS:
            raise ValueError(f"{self.benchmark} has the splits {list(SPLITS)}, got {split!r}")
        super().__init__(split, root, durations=durations, max_new_tokens=max_new_tokens, lenient=lenient, **options)
        self.durations = None if durations is None else list(durations)
        self.max_new_tokens, self.lenient = max_new_tokens, lenient

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset("videomme", root=self.root, split=self.split, durations=self.durations)
