"""VideoRefer-Bench-Q: multiple-choice questions about objects given as masks (docs/design.md §5.2, §5.3).

    python -m unipixel.eval benchmark=videorefer_bench_q split=single model.path=model_zoo/UniPixel-3B
    python -m unipixel.eval benchmark=videorefer_bench_q split=multi model.path=model_zoo/UniPixel-3B

The split names the mask mode: `single` gives the model the ground-truth mask on the prompt frame `frame_idx` only,
`multi` every annotated mask of the clip. Protocol (the loader `unipixel.data.videorefer.VideoReferBenchQDataset`):
16 frames uniform over the annotated frames with `frame_idx` forced in, 100-144 merged tokens per frame (the max
scaled by 16 // T), the memory prefix + question + options + "Please only give the best option.", and the assistant
turn pre-seeded "The best option is ("; greedy decoding, at most 512 new tokens. The continuation is stored as
generated; scoring parses its option letter (strict by default, `lenient=true` for the original's rule, B12) and
reports accuracy overall (`accuracy`) and per question type (`accuracy/<type>`), plus the share of unparsed answers.

The helpers `index_record` and `choice_metrics` and the base `ChoiceEvaluator` are shared by the other multiple-choice
benchmarks.
"""

from __future__ import annotations

import re

import numpy as np

from unipixel.data.errors import DataError

from ..metrics import choice_accuracy, parse_choice
from ..runner import Evaluator

LETTER_PREFIX = re.compile(r"^\(([A-Z])\)\s*")


def index_record(evaluator: Evaluator, key: str, prediction: dict) -> dict:
    """The annotation record behind prediction `key`, checked against the id the prediction was made for.

    Scoring reads the answers from the annotation file, not from the predictions; a file that changed since
    inference (another sample at that position) is refused rather than scored against the wrong answers.
    """
    dataset = evaluator.dataset
    record = dataset.index[int(key)]
    if record.get("error"):
        raise DataError(dataset.name, record.get("id", key), record.get("file"), record["error"])
    if "id" in prediction and str(prediction["id"]) != str(record["id"]):
        raise DataError(
            dataset.name,
            record["id"],
            record.get("file"),
            f"prediction {key} was made for sample {prediction['id']!r}; the annotation file changed since inference "
            "(predict again into a new output folder)",
        )
    return record


def option_text(option: str) -> str:
    """ "(A) A helmet" -> "A helmet"."""
    return LETTER_PREFIX.sub("", option.strip())


def choice_metrics(
    responses: list[str],
    answers: list[str],
    options: list[list[str]],
    groups: list[str | None],
    lenient: bool = False,
) -> dict[str, float]:
    """Parsed-letter accuracy: `accuracy` (every question once), `accuracy/<group>` and `unparsed_rate`.

    `options` holds each question's option texts (letters A, B, ... in order, lettered or bare); strict parsing
    also accepts an answer that repeats one option's text exactly.
    """
    parsed = []
    for response, opts in zip(responses, options):
        letters = [chr(65 + i) for i in range(len(opts))]
        texts = None if lenient else [option_text(o) for o in opts]
        parsed.append(parse_choice(response, letters, texts, lenient=lenient))
    names = [str(g) if g is not None else "unknown" for g in groups]
    acc = choice_accuracy(parsed, answers, names)
    out = {"accuracy": acc.pop("overall")}
    out.update({f"accuracy/{name}": value for name, value in sorted(acc.items())})
    out["unparsed_rate"] = float(np.mean([p is None for p in parsed]))
    return out


class ChoiceEvaluator(Evaluator):
    """A multiple-choice benchmark: the model's continuation is the prediction, scored by `choice_metrics` per task
    (records carry `answer`, `options` and, when grouped, `task`). Subclasses set `max_new_tokens` and `lenient`."""

    max_new_tokens: int
    lenient: bool

    def predict(self, predictor, sample) -> dict:
        result = predictor.predict_sample(sample, max_new_tokens=self.max_new_tokens)
        return {"text": result.text}

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        rows = [index_record(self, key, record) for key, record in records.items()]
        return choice_metrics(
            [record["text"] for record in records.values()],
            [row["answer"] for row in rows],
            [row["options"] for row in rows],
            [row.get("task") for row in rows],
            lenient=self.lenient,
        )


class VideoReferBenchQEvaluator(ChoiceEvaluator):
    """Args: split (`single` or `multi`: the mask mode); root: the data folder; max_new_tokens; lenient: the
    original's letter parsing instead of the strict one."""

    benchmark = "videorefer_bench_q"
    splits = ("single", "multi")
    data_key = "videorefer_bench_q"

    def __init__(
        self, split: str = "multi", root: str = "data", max_new_tokens: int = 512, lenient: bool = False, **options
    ):
        if split not in ("single", "multi"):
            raise ValueError(f"{self.benchmark} splits are single and multi (the mask mode), got {split!r}")
        super().__init__(split, root, max_new_tokens=max_new_tokens, lenient=lenient, **options)
        self.max_new_tokens, self.lenient = max_new_tokens, lenient

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset(self.data_key, root=self.root, split="test", mask_mode=self.split)
