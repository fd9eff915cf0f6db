"""Layouts of the released UniPixel-3B / UniPixel-7B checkpoints, shipped as data, and a fingerprint check.

`unipixel3b.json.gz` / `unipixel7b.json.gz` hold, per model, every tensor a released `model-*.safetensors` shard set
contains (on-disk name, shape), the dtype (BF16), `total_size` and `total_parameters` of its
`model.safetensors.index.json`. They were derived from the upstream model class and transformers 4.53's saving rules
(legacy `visual.*` / `model.*` prefixes, tied 3B `lm_head` not stored, the SAM 2 layer-scale spelled `weight`) and
are regenerated from such layout tables (a `*_keys.tsv` and a `*_model.safetensors.index*.json` per model) with

    python -m unipixel.model.released <folder with the tables>

`fingerprint(folder)` checks a downloaded checkpoint folder against them: the index's `total_size`, the key set
(either key spelling accepted) and, for the shards present, every tensor's shape and dtype (read from the
safetensors headers, no tensor is loaded).
"""

from __future__ import annotations

import gzip
import json
import re
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

MODELS = {"UniPixel-3B": "unipixel3b", "UniPixel-7B": "unipixel7b"}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
SAFETENSORS_DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1}


def load_layout(name: str) -> dict:
    """The packaged layout of `UniPixel-3B` or `UniPixel-7B`: `{"model", "dtype", "total_size",
    "total_parameters", "keys": {disk key: shape}}`."""
    if name not in MODELS:
        raise KeyError(f"unknown released model {name!r}; known: {sorted(MODELS)}")
    data = resources.files(__name__).joinpath(f"{MODELS[name]}.json.gz").read_bytes()
    layout = json.loads(gzip.decompress(data))
    layout["keys"] = {k: tuple(v) for k, v in layout["keys"]}
    return layout


def released_name(key: str) -> str:
    """A tensor name in the released spelling: transformers-5 prefixes (`model.visual.`, `model.language_model.`)
    back to the legacy ones, SAM 2's CXBlock layer-scale `gamma` back to `weight`."""
    if key.startswith("model.visual."):
        key = key[len("model.") :]
    elif key.startswith("model.language_model."):
        key = "model." + key[len("model.language_model.") :]
    return re.sub(r"(\.fuser\.layers\.\d+)\.gamma$", r"\1.weight", key)


# ------------------------------------------------------------------------------------------------ building the data
def build_layout(name: str, keys_tsv: str | Path, index_json: str | Path) -> dict:
    """Layout data of one model from its keys table (`disk_key`, ..., `shape` like `1280x3x2x14x14`, ...,
    `in_checkpoint` yes/no) and its index JSON; checks that shapes x 2 bytes add up to the index's `total_size`."""
    rows = [line.split("\t") for line in Path(keys_tsv).read_text().splitlines() if line and not line.startswith("#")]
    header, rows = rows[0], rows[1:]
    col = {c: i for i, c in enumerate(header)}
    keys = []
    for row in rows:
        if row[col["in_checkpoint"]] != "yes":
            continue
        shape = [int(v) for v in row[col["shape"]].split("x")] if row[col["shape"]] else []
        keys.append([row[col["disk_key"]], shape])
    dtypes = {row[col["disk_dtype"]] for row in rows}
    if dtypes != {"bfloat16"}:
        raise ValueError(f"{keys_tsv}: expected bfloat16 tensors only, got {sorted(dtypes)}")
    meta = json.loads(Path(index_json).read_text())["metadata"]
    numel = sum(_numel(shape) for _, shape in keys)
    if 2 * numel != int(meta["total_size"]):
        raise ValueError(f"{keys_tsv}: {numel} bf16 values make {2 * numel} bytes, the index says {meta['total_size']}")
    return {
        "model": name,
        "dtype": "BF16",
        "total_size": int(meta["total_size"]),
        "total_parameters": int(meta["total_parameters"]),
        "keys": keys,
    }


def _numel(shape) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n


def write_layouts(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    """Regenerate the packaged files from the tables in `folder` (`unipixel3b_keys.tsv`, ...)."""
    folder = Path(folder)
    out = Path(out) if out is not None else Path(__file__).parent
    written = []
    for name, stem in MODELS.items():
        index = next(iter(sorted(folder.glob(f"{stem}_model.safetensors.index*.json"))), None)
        if index is None:
            raise FileNotFoundError(f"{folder}: no {stem}_model.safetensors.index*.json")
        layout = build_layout(name, folder / f"{stem}_keys.tsv", index)
        path = out / f"{stem}.json.gz"
        with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime 0: the same tables give the same bytes
            f.write(json.dumps(layout, separators=(",", ":")).encode())
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------ fingerprint
@dataclass
class Fingerprint:
    """Result of `fingerprint`: `ok` when total size, key set and (present shards') shapes/dtypes all match."""

    folder: str
    model: str | None = None
    total_size: int | None = None
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    dtype_mismatch: list[str] = field(default_factory=list)
    missing_shards: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        problems = (self.missing, self.unexpected, self.shape_mismatch, self.dtype_mismatch, self.missing_shards)
        return self.model is not None and not self.errors and not any(problems)

    def report(self) -> str:
        lines = [f"{self.folder}: {'OK, ' + self.model if self.ok else 'DOES NOT MATCH a released checkpoint'}"]
        lines += [f"  error: {e}" for e in self.errors]
        for label, items in (
            ("missing keys", self.missing),
            ("unexpected keys", self.unexpected),
            ("shape mismatches", self.shape_mismatch),
            ("dtype mismatches", self.dtype_mismatch),
            ("shards named in the index but absent", self.missing_shards),
        ):
            if items:
                more = f" ... (+{len(items) - 10})" if len(items) > 10 else ""
                lines.append(f"  {label} ({len(items)}): {', '.join(items[:10])}{more}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def read_safetensors_header(path: str | Path) -> dict[str, dict]:
    """The tensor table of a safetensors file (`name -> {"dtype", "shape", "data_offsets"}`), header bytes only."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return header


def fingerprint(folder: str | Path, model: str | None = None) -> Fingerprint:
    """Check a checkpoint folder against the released layouts.

    Reads `model.safetensors.index.json` (or, without one, the header of `model.safetensors`); identifies the model
    by `total_size` (7,763,529,628 bytes for UniPixel-3B, 16,877,950,876 for UniPixel-7B) unless `model` is given;
    compares the key set in the released spelling; and checks shape and dtype of every tensor in the shards that are
    present (an index alone is enough for the first two checks).
    """
    folder = Path(folder)
    result = Fingerprint(str(folder))
    headers: dict[str, dict] = {}
    index_path, single = folder / INDEX_FILE, folder / SINGLE_FILE
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        weight_map = index.get("weight_map") or {}
        size = (index.get("metadata") or {}).get("total_size")
        result.total_size = None if size is None else int(size)
        for shard in sorted(set(weight_map.values())):
            if (folder / shard).is_file():
                headers[shard] = read_safetensors_header(folder / shard)
            else:
                result.missing_shards.append(shard)
        if result.missing_shards and len(result.missing_shards) == len(set(weight_map.values())):
            result.notes.append("no shard downloaded: total size and key set checked from the index only")
            result.missing_shards = []
        keys = list(weight_map)
    elif single.is_file():
        headers[SINGLE_FILE] = read_safetensors_header(single)
        keys = list(headers[SINGLE_FILE])
        result.total_size = sum(
            _numel(t["shape"]) * SAFETENSORS_DTYPE_BYTES.get(t["dtype"], 0) for t in headers[SINGLE_FILE].values()
        )
    else:
        result.errors.append(f"neither {INDEX_FILE} nor {SINGLE_FILE} found")
        return result

    layouts = {name: load_layout(name) for name in MODELS}
    if model is None:
        model = next((n for n, lay in layouts.items() if lay["total_size"] == result.total_size), None)
        if model is None:
            sizes = ", ".join(f"{n} {lay['total_size']:,}" for n, lay in layouts.items())
            total = "none" if result.total_size is None else f"{result.total_size:,}"
            result.errors.append(f"total_size {total} bytes matches no released checkpoint ({sizes})")
            model = min(layouts, key=lambda n: len(set(layouts[n]["keys"]) ^ {released_name(k) for k in keys}))
            result.notes.append(f"keys compared with the closest layout, {model}")
    elif result.total_size != layouts[model]["total_size"]:
        result.errors.append(f"total_size {result.total_size} bytes, {model} has {layouts[model]['total_size']:,}")
    layout = layouts[model]
    expected = layout["keys"]
    found = {released_name(k): k for k in keys}
    result.missing = sorted(set(expected) - set(found))
    result.unexpected = sorted(found[k] for k in set(found) - set(expected))
    for header in headers.values():
        for key, info in header.items():
            name = released_name(key)
            if name not in expected:
                continue
            if tuple(info["shape"]) != expected[name]:
                result.shape_mismatch.append(f"{key} {tuple(info['shape'])} != {expected[name]}")
            if info["dtype"] != layout["dtype"]:
                result.dtype_mismatch.append(f"{key} {info['dtype']} != {layout['dtype']}")
    if not result.errors:
        result.model = model
    return result
