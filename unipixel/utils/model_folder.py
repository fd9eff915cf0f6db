"""Is this a loadable model folder? Checked before transformers is asked, in milliseconds and without importing it.

transformers treats a path it cannot open as a Hub repository id (a missing folder becomes "couldn't connect to
huggingface.co"), and a folder without `config.json` makes `from_pretrained` fall back to the class's default,
full-size configuration (a 3B model built in memory before anything fails). `check_model_folder` turns both, and cut
weight files, into one-line errors that name the folder and say how to get the weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .files import safetensors_problem

GET_WEIGHTS = (
    "download a released model with `hf download PolyU-ChenLab/UniPixel-3B --local-dir model_zoo/UniPixel-3B` "
    "(docs/weights.md), or export a trained stage with `python tools/convert_checkpoint.py export <stage folder> "
    "<model folder>`"
)


class ModelFolderError(FileNotFoundError):
    """The path is not a model folder that `from_pretrained` can load (missing, incomplete or cut)."""


def check_model_folder(path: str | os.PathLike, tokenizer: bool = True) -> Path:
    """Raise `ModelFolderError` unless `path` is a folder with a readable `config.json`, whole safetensors weights
    (every shard an index names) and, when `tokenizer`, tokenizer files. Returns the folder."""
    folder = Path(path)
    if not folder.exists():
        raise ModelFolderError(f"no such model folder: {folder}; {GET_WEIGHTS}")
    if not folder.is_dir():
        raise ModelFolderError(f"{folder} is a file, not a model folder; {GET_WEIGHTS}")
    config = folder / "config.json"
    if not config.is_file():
        partial = " (it holds partial stage weights: export it first)" if any(folder.glob("partial_model*")) else ""
        raise ModelFolderError(f"{folder} has no config.json, so it is not a model folder{partial}; {GET_WEIGHTS}")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFolderError(f"{config} is unreadable ({type(exc).__name__}: {exc}); {GET_WEIGHTS}") from None
    for problem in weight_problems(folder):
        raise ModelFolderError(f"model folder {folder}: {problem}")
    if tokenizer and not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise ModelFolderError(f"model folder {folder} has no tokenizer (tokenizer.json / tokenizer_config.json)")
    return folder


def weight_problems(folder: Path) -> list[str]:
    """Missing or cut safetensors weights of a model folder (single file or an indexed set of shards)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return [f"{index.name} is unreadable ({type(exc).__name__}: {exc})"]
    else:
        shards = sorted(p.name for p in folder.glob("*.safetensors") if p.name.startswith("model"))
        if not shards:
            if any(folder.glob("*.bin")):
                return []  # legacy PyTorch weights: transformers checks them itself
            return ["no weights (model.safetensors or an indexed set of model-*.safetensors shards)"]
    return [problem for shard in shards if (problem := safetensors_problem(folder / shard)) is not None]
