"""Shared by the region / QA evaluator tests: writing prediction files by hand, a predictor that records what it is
given, and extra VideoRefer-Bench rows on top of the loader fixture."""

from __future__ import annotations

import json
from pathlib import Path

from unipixel.eval.runner import prediction_dir, shard_file, write_run_info


def write_predictions(out_dir: Path, evaluator, records: dict[int, dict], shard: tuple[int, int] = (0, 1)) -> Path:
    """Prediction records by index (each gets its key and the sample id of the annotation), as inference writes them."""
    folder = prediction_dir(out_dir, evaluator)
    folder.mkdir(parents=True, exist_ok=True)
    write_run_info(folder, evaluator, {"checkpoint": "hand-written"}, num_shards=shard[1], limit=None)
    path = shard_file(folder, *shard)
    with open(path, "a") as f:
        for index, record in records.items():
            sample_id = evaluator.dataset.index[index]["id"]
            f.write(json.dumps({**record, "key": evaluator.key(index), "id": str(sample_id)}) + "\n")
    return path


class Recording:
    """Wraps a `Predictor`: keeps every sample (and the processor's inputs) it is asked to run."""

    def __init__(self, inner):
        self.inner, self.samples, self.items = inner, [], []

    def _remember(self, sample):
        self.samples.append(sample)
        self.items.append(self.inner.processor(sample, with_sam2=False))

    def predict_sample(self, sample, **kwargs):
        self._remember(sample)
        return self.inner.predict_sample(sample, **kwargs)

    def predict_two_round(self, sample, second_turn, **kwargs):
        self._remember(sample)
        return self.inner.predict_two_round(sample, second_turn, **kwargs)


def tokens_per_frame(item: dict) -> int:
    """Merged visual tokens per temporal group of a processed item."""
    t, h, w = (int(v) for v in item["video_grid_thw"])
    return h * w // 4


def add_bench_q_rows(root: Path) -> list[dict]:
    """Two more VideoRefer-Bench-Q questions (copies of the fixture rows, other answers and types); returns all."""
    path = root / "videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json"
    rows = json.loads(path.read_text())
    extra = [
        {**rows[0], "id": 2, "Answer": "(C) Sleeping", "type": "Future Predictions"},
        {**rows[1], "id": 3, "Answer": "(A) Apart"},
    ]
    rows += extra
    path.write_text(json.dumps(rows))
    return rows


def add_bench_d_rows(root: Path) -> list[dict]:
    """Two more VideoRefer-Bench-D rows on the fixture's video; returns all rows."""
    path = root / "videorefer/VideoRefer-Bench/VideoRefer-Bench-D.json"
    rows = json.loads(path.read_text())
    rows += [
        {**rows[0], "id": 1, "caption": "A small box moves from left to right.", "frame_idx": "8"},
        {**rows[0], "id": 2, "caption": "The box glides steadily rightwards.", "frame_idx": "12"},
    ]
    path.write_text(json.dumps(rows))
    return rows
