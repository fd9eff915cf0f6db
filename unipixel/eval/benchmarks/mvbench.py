"""MVBench: zero-shot multiple-choice video QA over 20 tasks (docs/design.md §4.5, §5.2, §5.3).

    python -m unipixel.eval benchmark=mvbench split=test model.path=model_zoo/UniPixel-3B

One split (`test`; the name only labels the results). Protocol (the loader `unipixel.data.mvbench.MVBenchDataset`):
videos at 2 fps, 4-16 frames (TVQA episodes: 32 frames of the frame folder), 128-256 merged tokens per frame as a flat
budget (not scaled by the frame count, `scale_pixel_budget=false`), the question + options + "Please only give the best
option." with the assistant turn pre-seeded "Best Option: ("; greedy decoding, at most 256 new tokens. Scoring parses
the option letter of the continuation (strict by default, `lenient=true` for the original's rule) and reports
`accuracy/<task>` for the 20 tasks, `average` (the mean of the task accuracies, MVBench's headline number), `accuracy`
(every question once) and `unparsed_rate`.
"""

from __future__ import annotations

import numpy as np

from .videorefer_bench_q import ChoiceEvaluator


class MVBenchEvaluator(ChoiceEvaluator):
    """Args: split (a label, `test`); root: the data folder; tasks: a subset of the 20 task names (default all);
    max_new_tokens; lenient: the original's letter parsing; scale_pixel_budget: scale the per-frame max by 16 // T
    (False: the protocol's flat 128-256 tokens per frame)."""

    benchmark = "mvbench"
    splits = ("test",)

    def __init__(
        self,
        split: str = "test",
        root: str = "data",
        tasks: list[str] | None = None,
        max_new_tokens: int = 256,
        lenient: bool = False,
        scale_pixel_budget: bool = False,
        **options,
    ):
        super().__init__(
            split,
            root,
            tasks=tasks,
            max_new_tokens=max_new_tokens,
            lenient=lenient,
            scale_pixel_budget=scale_pixel_budget,
            **options,
        )
        self.tasks = None if tasks is None else list(tasks)
        self.max_new_tokens, self.lenient, self.scale_pixel_budget = max_new_tokens, lenient, scale_pixel_budget

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset("mvbench", root=self.root, split=self.split, tasks=self.tasks)

    def predict(self, predictor, sample) -> dict:
        sample.meta["scale_pixel_budget"] = self.scale_pixel_budget
        return super().predict(predictor, sample)

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        out = super().score(records)
        per_task = [value for name, value in out.items() if name.startswith("accuracy/")]
        out["average"] = float(np.mean(per_task))
        return out
