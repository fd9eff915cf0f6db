"""Sharded, resumable inference and separate, CPU-only scoring, shared by every benchmark.

Inference writes one JSON line per sample to `<out_dir>/<benchmark>/<split>/predictions.shard<k>-of-<n>.jsonl`, keyed
by the sample's position in the (deterministic) evaluation index; masks are COCO RLE per object per frame. A restarted
run skips every key already written by any shard file in that folder, so a crash costs at most the sample in flight.
Shard k of n handles positions `k, k + n, k + 2n, ...` (one process per GPU, or `torchrun`).

Scoring reads all shard files, checks that every sample is present, asks the benchmark's evaluator for its metrics and
writes `results.json`: metric keys read `benchmark/split/metric`, next to the run information (checkpoint, decoding
settings, seed, frames, code version).
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    from unipixel import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def encode_masks(masks) -> list[list[dict]]:
    """`(O, T, H, W)` bool → per object, per frame, a COCO RLE with str counts."""
    from pycocotools import mask as mask_utils

    masks = np.asarray(masks, dtype=bool)
    out = []
    for obj in masks:
        frames = np.asfortranarray(obj.transpose(1, 2, 0).astype(np.uint8))
        rles = mask_utils.encode(frames) if len(obj) else []
        out.append([{"size": [int(s) for s in r["size"]], "counts": r["counts"].decode("ascii")} for r in rles])
    return out


def decode_masks(rles: list[list[dict]]) -> np.ndarray:
    """Inverse of `encode_masks`: `(O, T, H, W)` bool (O may be 0: shape `(0,)`)."""
    from pycocotools import mask as mask_utils

    if not rles:
        return np.zeros((0,), dtype=bool)
    objs = []
    for frames in rles:
        coded = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in frames]
        objs.append(mask_utils.decode(coded).transpose(2, 0, 1).astype(bool))
    return np.stack(objs)


class Evaluator:
    """One benchmark: how to load it, predict one sample, and score the predictions.

    Subclasses set `benchmark` and implement `build_dataset`, `predict` and `score`.
    """

    benchmark = "base"
    splits: tuple[str, ...] = ()  # the benchmark's splits; another one is an error naming these

    def __init__(self, split: str, root: str = "data", **options):
        self.split = split
        self.root = root
        self.options = options
        self._dataset = None

    @property
    def dataset(self):
        if self._dataset is None:
            self._dataset = self.build_dataset()
        return self._dataset

    def build_dataset(self):
        raise NotImplementedError

    def check(self) -> None:
        """A split the benchmark does not have, or a benchmark without samples, is a `ValueError` naming the valid
        splits and the data root (instead of predicting nothing and scoring NaN)."""
        valid = f"valid splits of {self.benchmark}: {', '.join(self.splits)}" if self.splits else ""
        if self.splits and self.split not in self.splits:
            raise ValueError(f"{self.benchmark} has no split {self.split!r}; {valid}")
        if len(self) == 0:
            raise ValueError(
                f"{self.result_prefix}: no samples under the data root {self.root!r}"
                + (f" ({valid})" if valid else "")
                + "; check data_root and the data layout (docs/data.md)"
            )

    def __len__(self) -> int:
        return len(self.dataset)

    def key(self, index: int) -> str:
        return f"{index:07d}"

    def predict(self, predictor, sample) -> dict:
        """Run the model on one `Sample`; return a JSON-able record."""
        raise NotImplementedError

    def score(self, records: dict[str, dict]) -> dict[str, float]:
        """Metrics from all records (keyed like `key`); names without the `benchmark/split/` prefix."""
        raise NotImplementedError

    def settings(self) -> dict:
        """Decoding / protocol settings recorded with every result."""
        return dict(self.options)

    @property
    def result_prefix(self) -> str:
        return f"{self.benchmark}/{self.split}"


# ------------------------------------------------------------------------------------------------ files
def prediction_dir(out_dir: str | Path, evaluator: Evaluator) -> Path:
    return Path(out_dir) / evaluator.benchmark / evaluator.split


def shard_file(folder: Path, shard: int, num_shards: int) -> Path:
    return folder / f"predictions.shard{shard}-of-{num_shards}.jsonl"


def read_keyed_jsonl(path: str | Path, into: dict[str, dict] | None = None) -> dict[str, dict]:
    """Records of a JSON-lines file keyed by their `key` (a later line wins); a truncated line (a crash mid-write) is
    logged and ignored. `into` is updated and returned when given."""
    records = {} if into is None else into
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s:%d: incomplete line ignored (interrupted write)", path, number)
                continue
            records[record["key"]] = record
    return records


def load_predictions(folder: str | Path) -> dict[str, dict]:
    """All records of every shard file in `folder`, keyed; a truncated last line (a crash mid-write) is ignored."""
    records: dict[str, dict] = {}
    for path in sorted(Path(folder).glob("predictions.shard*.jsonl")):
        read_keyed_jsonl(path, records)
    return records


def shard_keys(evaluator: Evaluator, shard: int, num_shards: int, limit: int | None = None) -> list[tuple[int, str]]:
    positions = range(len(evaluator))
    if limit is not None:
        positions = range(min(limit, len(evaluator)))
    return [(i, evaluator.key(i)) for i in positions if i % num_shards == shard]


# ------------------------------------------------------------------------------------------------ inference
def run_predictions(
    evaluator: Evaluator,
    predictor,
    out_dir: str | Path,
    shard: int = 0,
    num_shards: int = 1,
    limit: int | None = None,
    info: dict | None = None,
    progress: bool = True,
) -> Path:
    """Predict this shard's samples not yet predicted; returns the shard file.

    Failures are not swallowed: an exception stops the run (the samples written so far are kept and skipped on
    restart), so a broken sample or model is noticed instead of scored as an empty mask.
    """
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} outside 0..{num_shards - 1}")
    evaluator.check()
    folder = prediction_dir(out_dir, evaluator)
    folder.mkdir(parents=True, exist_ok=True)
    done = load_predictions(folder)
    todo = [(i, k) for i, k in shard_keys(evaluator, shard, num_shards, limit) if k not in done]
    write_run_info(folder, evaluator, info, num_shards=num_shards, limit=limit)
    path = shard_file(folder, shard, num_shards)
    logger.info(
        "%s: %d samples to predict in shard %d/%d (%d done)",
        evaluator.result_prefix,
        len(todo),
        shard,
        num_shards,
        len(done),
    )
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc=f"{evaluator.result_prefix} shard {shard}", unit="sample")
    with open(path, "a") as f:
        for index, key in iterator:
            sample = evaluator.dataset[index]
            start = time.perf_counter()
            record = evaluator.predict(predictor, sample)
            record.update(key=key, id=str(sample.id), seconds=round(time.perf_counter() - start, 4))
            f.write(json.dumps(record) + "\n")
            f.flush()
    return path


def write_run_info(folder: Path, evaluator: Evaluator, info: dict | None, **extra) -> None:
    path = folder / "run_info.json"
    data = {
        "benchmark": evaluator.benchmark,
        "split": evaluator.split,
        "settings": evaluator.settings(),
        "code_version": code_version(),
        **(info or {}),
        **extra,
    }
    previous = json.loads(path.read_text()) if path.exists() else None
    if previous and previous.get("checkpoint") not in (None, data.get("checkpoint")):
        raise RuntimeError(
            f"{folder} holds predictions of checkpoint {previous.get('checkpoint')}, not {data.get('checkpoint')}; "
            "use another output folder"
        )
    path.write_text(json.dumps(data, indent=2, default=str))


# ------------------------------------------------------------------------------------------------ scoring
def score_predictions(evaluator: Evaluator, out_dir: str | Path, allow_partial: bool = False) -> dict:
    """Score every shard's predictions (CPU only, re-runnable); writes and returns `results.json`'s content."""
    evaluator.check()
    folder = prediction_dir(out_dir, evaluator)
    records = load_predictions(folder)
    run_info = json.loads((folder / "run_info.json").read_text()) if (folder / "run_info.json").exists() else {}
    limit = run_info.get("limit")
    expected = [evaluator.key(i) for i in range(len(evaluator) if limit is None else min(limit, len(evaluator)))]
    missing = [k for k in expected if k not in records]
    if missing and not allow_partial:
        raise RuntimeError(
            f"{evaluator.result_prefix}: {len(missing)} of {len(expected)} samples have no prediction in {folder} "
            f"(first: {missing[:5]}); finish inference or pass allow_partial"
        )
    records = {k: records[k] for k in expected if k in records}
    metrics = evaluator.score(records)
    results = {
        "metrics": {f"{evaluator.result_prefix}/{name}": value for name, value in metrics.items()},
        "num_samples": len(records),
        "num_expected": len(expected),
        "num_in_split": len(evaluator),
        "run": run_info,
        "scored_with": code_version(),
    }
    (folder / "results.json").write_text(json.dumps(results, indent=2, default=_json_float))
    return results


def _json_float(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def distributed_layout() -> tuple[int, int]:
    """(shard, num_shards) from torchrun's environment, (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
