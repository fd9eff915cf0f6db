"""Sharded, resumable inference and separate, CPU-only scoring, shared by every benchmark.

Inference writes one JSON line per sample to `<out_dir>/<benchmark>/<split>/predictions.shard<k>-of-<n>.jsonl`, keyed
by the sample's position in the (deterministic) evaluation index; masks are COCO RLE per object per frame. A restarted
run first cuts an unfinished last line off its shard file (a kill mid-write), then skips every key already written by
any shard file in that folder, so a kill costs at most the sample in flight. `run_info.json` and `results.json` are
written atomically (a kill leaves the old file or the new one).
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

from unipixel.utils.files import atomic_write_text, read_json_file, repair_jsonl_tail

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


class PredictionFileError(ValueError):
    """A predictions / judgments file that cannot be read as keyed JSON lines; the message names file and line."""


def read_keyed_jsonl(
    path: str | Path, into: dict[str, dict] | None = None, where: dict[str, tuple[Path, int]] | None = None
) -> dict[str, dict]:
    """Records of a JSON-lines file keyed by their `key` (a later line wins). An unfinished last line (a kill
    mid-write) is logged and ignored; any other line that is not a JSON object with a string `key` raises
    `PredictionFileError` naming the file and line. `into` is updated and returned when given; `where` receives each
    key's `(file, line)`."""
    path = Path(path)
    records = {} if into is None else into
    data = path.read_bytes()
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = number == len(lines)  # no newline after it: the write was cut short
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if last:
                logger.warning(
                    "%s:%d: unfinished last line ignored (%d bytes; an interrupted write)", path, number, len(raw)
                )
                continue
            raise PredictionFileError(
                f"{path}:{number}: not a JSON record ({type(exc).__name__}: {exc}); delete that line to redo its sample"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            got = sorted(record)[:8] if isinstance(record, dict) else type(record).__name__
            raise PredictionFileError(f"{path}:{number}: record without a string `key` (got {got})")
        records[record["key"]] = record
        if where is not None:
            where[record["key"]] = (path, number)
    return records


def load_predictions(folder: str | Path, where: dict[str, tuple[Path, int]] | None = None) -> dict[str, dict]:
    """All records of every shard file in `folder`, keyed; an unfinished last line (a kill mid-write) is ignored.
    `where` receives each key's `(file, line)`."""
    records: dict[str, dict] = {}
    for path in sorted(Path(folder).glob("predictions.shard*.jsonl")):
        read_keyed_jsonl(path, records, where)
    return records


def check_prediction_masks(records: dict[str, dict], where: dict[str, tuple[Path, int]]) -> None:
    """Every `masks` field is per object a list of per-frame COCO RLEs whose runs cover their size; otherwise
    `PredictionFileError` naming the file, line, key and the object / frame at fault (pycocotools would decode a
    broken RLE into arbitrary memory)."""
    from unipixel.data.masks import rle_size, to_rle

    for key, record in records.items():
        masks = record.get("masks")
        if masks is None:
            continue
        path, line = where.get(key, ("?", 0))
        fault = None
        if not isinstance(masks, list) or not all(isinstance(obj, list) for obj in masks):
            fault = "`masks` must be a list (objects) of lists (frames) of RLEs"
        else:
            for o, obj in enumerate(masks):
                for t, rle in enumerate(obj):
                    try:
                        if not isinstance(rle, dict):
                            raise ValueError(f"an RLE must be an object, got {type(rle).__name__}")
                        to_rle(rle, *rle_size(rle))
                    except (ValueError, TypeError, KeyError) as exc:
                        fault = f"object {o}, frame {t}: {exc}"
                        break
                if fault:
                    break
        if fault:
            raise PredictionFileError(f"{path}:{line}: prediction {key} (sample {record.get('id')}): {fault}")


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
    path = shard_file(folder, shard, num_shards)
    repair_jsonl_tail(path)  # this shard's own file only: other shards may be writing theirs right now
    done = load_predictions(folder)
    todo = [(i, k) for i, k in shard_keys(evaluator, shard, num_shards, limit) if k not in done]
    write_run_info(folder, evaluator, info, num_shards=num_shards, limit=limit)
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
            append_line(f, json.dumps(record))
    return path


def append_line(f, line: str) -> None:
    """One record, flushed to the OS: a kill loses at most this line (cut off on the next start)."""
    f.write(line + "\n")
    f.flush()


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
    previous = read_run_info(folder)
    if previous and previous.get("checkpoint") not in (None, data.get("checkpoint")):
        raise RuntimeError(
            f"{folder} holds predictions of checkpoint {previous.get('checkpoint')}, not {data.get('checkpoint')}; "
            "use another output folder"
        )
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def read_run_info(folder: Path) -> dict:
    """`run_info.json` of a prediction folder ({} when absent); an unreadable one is an error naming the file."""
    path = Path(folder) / "run_info.json"
    if not path.exists():
        return {}
    info = read_json_file(path, "run information")
    if not isinstance(info, dict):
        raise ValueError(f"run information {path} is not a JSON object; delete it to start over")
    return info


# ------------------------------------------------------------------------------------------------ scoring
def score_predictions(
    evaluator: Evaluator, out_dir: str | Path, allow_partial: bool = False, limit: int | None = None
) -> dict:
    """Score every shard's predictions (CPU only, re-runnable); writes and returns `results.json`'s content.

    `limit` scores the first `limit` samples; without it, the limit the predictions were made with (`run_info.json`).
    """
    evaluator.check()
    folder = prediction_dir(out_dir, evaluator)
    where: dict[str, tuple[Path, int]] = {}
    records = load_predictions(folder, where)
    run_info = read_run_info(folder)
    if limit is None:
        limit = run_info.get("limit")
    elif limit != run_info.get("limit"):
        logger.info(
            "scoring the first %d samples (the predictions were made with limit=%s)", limit, run_info.get("limit")
        )
    expected = [evaluator.key(i) for i in range(len(evaluator) if limit is None else min(limit, len(evaluator)))]
    missing = [k for k in expected if k not in records]
    if missing and not allow_partial:
        raise RuntimeError(
            f"{evaluator.result_prefix}: {len(missing)} of {len(expected)} samples have no prediction in {folder} "
            f"(first: {missing[:5]}); finish inference or pass allow_partial"
        )
    records = {k: records[k] for k in expected if k in records}
    check_prediction_masks(records, where)
    metrics = evaluator.score(records)
    results = {
        "metrics": {f"{evaluator.result_prefix}/{name}": value for name, value in metrics.items()},
        "num_samples": len(records),
        "num_expected": len(expected),
        "num_in_split": len(evaluator),
        "limit": limit,
        "run": run_info,
        "scored_with": code_version(),
    }
    atomic_write_text(folder / "results.json", json.dumps(results, indent=2, default=_json_float))
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
