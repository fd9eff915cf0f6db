"""VideoRefer-Bench-D: a detailed description of one masked object, rated by an LLM judge (docs/design.md §5.2, §5.3).

    python -m unipixel.eval benchmark=videorefer_bench_d split=single model.path=model_zoo/UniPixel-3B mode=predict
    python -m unipixel.eval benchmark=videorefer_bench_d split=multi model.path=model_zoo/UniPixel-3B mode=predict
    UNIPIXEL_JUDGE_URL=https://api.openai.com/v1 UNIPIXEL_JUDGE_MODEL=gpt-4o-mini UNIPIXEL_JUDGE_API_KEY=... \
        python -m unipixel.eval benchmark=videorefer_bench_d split=single model.path=model_zoo/UniPixel-3B mode=score

The split names the mask mode (`single`: the mask on the prompt frame only; `multi`: every annotated mask of the clip).
Inference (the loader `unipixel.data.videorefer.VideoReferBenchDDataset`): 16 frames uniform over the annotated frames
with `frame_idx` forced in, 128-256 merged tokens per frame (the max scaled by 16 // T), the memory prefix + "Please
give a detailed description of the highlighted object [0] in the video."; greedy decoding, at most 512 new tokens.

Scoring sends each (instruction, reference caption, prediction) to the judge of `unipixel.eval.judge` (an
OpenAI-compatible endpoint from `UNIPIXEL_JUDGE_URL` / `UNIPIXEL_JUDGE_MODEL` / `UNIPIXEL_JUDGE_API_KEY`, temperature 0
by default); judgments are cached in `judgments.jsonl` next to the predictions, so re-scoring is free and an
interrupted run resumes. With every prediction judged, re-scoring works without an endpoint. Metrics: the mean 0-5
score of each dimension (Subject Correspondence, Appearance Description, Temporal Description, Hallucination
Detection) and `overall`, the mean of the four. Always reported besides, without a judge: `exact_match` (the
normalised prediction equals the normalised reference: lower case, single spaces, no final full stop) and `word_f1`
(SQuAD-style bag-of-words F1), the measures of the toy run, whose captions are deterministic. `judge=false` reports
only these two.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from unipixel.data.templates import VIDEOREFER_BENCH_D_PROMPT

from ..judge import ENV_URL, JudgeClient, judge_items
from ..metrics import aggregate_judge_scores
from ..runner import Evaluator, prediction_dir
from .videorefer_bench_q import index_record

JUDGMENTS_FILE = "judgments.jsonl"


def normalise_caption(text: str) -> str:
    """Lower case, whitespace collapsed, a final full stop dropped."""
    return re.sub(r"\s+", " ", text.strip().lower()).removesuffix(".").strip()


def word_f1(prediction: str, reference: str) -> float:
    """Bag-of-words F1 between two captions (words: runs of letters and digits); 1 when both are empty."""
    pred = re.findall(r"[a-z0-9]+", prediction.lower())
    ref = re.findall(r"[a-z0-9]+", reference.lower())
    if not pred and not ref:
        return 1.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def string_scores(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """`exact_match` and `word_f1` averaged over `(prediction, reference)` pairs."""
    if not pairs:
        return {"exact_match": float("nan"), "word_f1": float("nan")}
    exact = sum(normalise_caption(p) == normalise_caption(r) for p, r in pairs) / len(pairs)
    return {"exact_match": exact, "word_f1": sum(word_f1(p, r) for p, r in pairs) / len(pairs)}


class VideoReferBenchDEvaluator(Evaluator):
    """Args: split (`single` or `multi`: the mask mode); root: the data folder; out_dir: the evaluation output folder
    (the judge's cache lives next to the predictions there); max_new_tokens; judge_temperature, judge_max_tokens,
    judge_timeout, judge_retries, judge_backoff, judge_workers: the judge's request settings (see `JudgeClient`)."""

    benchmark = "videorefer_bench_d"
    splits = ("single", "multi")

    def __init__(
        self,
        split: str = "multi",
        root: str = "data",
        out_dir: str | None = None,
        max_new_tokens: int = 512,
        judge_temperature: float = 0.0,
        judge_max_tokens: int = 800,
        judge_timeout: float = 120.0,
        judge_retries: int = 5,
        judge_backoff: float = 2.0,
        judge_workers: int = 4,
        judge: bool = True,
        **options,
    ):
        if split not in ("single", "multi"):
            raise ValueError(f"{self.benchmark} splits are single and multi (the mask mode), got {split!r}")
        self.judge_settings = dict(
            temperature=judge_temperature,
            max_tokens=judge_max_tokens,
            timeout=judge_timeout,
            retries=judge_retries,
            backoff=judge_backoff,
        )
        judge_on = bool(judge)
        judge_kw = {f"judge_{k}": v for k, v in self.judge_settings.items()}
        super().__init__(split, root, max_new_tokens=max_new_tokens, judge=judge_on, **judge_kw, **options)
        self.out_dir = out_dir
        self.max_new_tokens = max_new_tokens
        self.judge_workers = judge_workers
        self.use_judge = judge_on

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset("videorefer_bench_d", root=self.root, split="test", mask_mode=self.split)

    def predict(self, predictor, sample) -> dict:
        result = predictor.predict_sample(sample, max_new_tokens=self.max_new_tokens)
        return {"text": result.text}

    @property
    def judgments_file(self) -> Path:
        if self.out_dir is None:
            raise ValueError(f"{self.benchmark}: pass out_dir (the evaluation output folder) to score with the judge")
        return prediction_dir(self.out_dir, self) / JUDGMENTS_FILE

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        items = []
        for key, record in records.items():
            row = index_record(self, key, record)
            items.append(
                {
                    "key": key,
                    "id": row["id"],
                    "question": VIDEOREFER_BENCH_D_PROMPT,
                    "reference": row["caption"],
                    "prediction": record["text"],
                }
            )
        metrics = string_scores([(item["prediction"], item["reference"]) for item in items])
        if not self.use_judge:
            return metrics
        client = JudgeClient.from_env(**self.judge_settings) if os.environ.get(ENV_URL) else None
        scores = judge_items(items, self.judgments_file, client, workers=self.judge_workers)
        return {**aggregate_judge_scores(scores[item["key"]] for item in items), **metrics}
