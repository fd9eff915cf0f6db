"""Dataset mixtures from config and the per-data-type grouped sampler (docs/design.md §4.7).

    mix = build_mixture(["refcoco:10", "reason_seg:10", "ade20k:3"], root="data", processor=proc)
    sampler = DataTypeGroupedSampler(mix.data_types, per_device_batch=1, world_size=8, rank=rank, seed=42)
    sampler.set_epoch(epoch)
    loader = DataLoader(mix, batch_size=1, sampler=sampler, collate_fn=proc.collate, num_workers=2)
    for epoch in range(epochs):
        sampler.set_epoch(epoch); mix.set_epoch(epoch)   # before iter(loader): workers fork with the new epoch
        for batch in loader: ...

Each dataset key is a YAML `configs/data/datasets/<key>.yaml` (`_target_` + arguments) instantiated with Hydra;
mixture-wide arguments (root, split, processor, sample_frames, limits) are passed to every dataset.

The sampler shuffles indices within each data type, cuts groups of `per_device_batch x world_size` indices, shuffles
the groups (seeded by seed + epoch, identical on every rank without communication) and hands rank r the r-th slice of
each group, so every rank sees the same data type at the same step. A type's remainder (fewer indices than a group)
is not dropped silently (upstream drops it, P8): `pad` completes the last group with randomly repeated indices of the
same type, `carry` moves the remainder to the front of the next epoch, `drop` drops it; each choice is logged.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Sampler

from unipixel.paths import config_dir

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_DIR = config_dir() / "data" / "datasets"


# ------------------------------------------------------------------------------------------------ config
def parse_mixture(spec) -> list[tuple[str, int]]:
    """`"a:3,b"`, `["a:3", "b"]`, `[{"a": 3}, "b"]` or `{"a": 3, "b": 1}` → `[("a", 3), ("b", 1)]`.

    A name without `:repeat` is used once.
    """
    if isinstance(spec, str):
        spec = [s for s in spec.split(",") if s.strip()]
    if hasattr(spec, "items"):
        spec = [{k: v} for k, v in spec.items()]
    out = []
    for entry in spec:
        if hasattr(entry, "items"):
            out += [(str(k), int(v)) for k, v in entry.items()]
            continue
        name, _, repeat = str(entry).strip().rpartition(":")
        if not name:  # no colon: the whole entry is the name
            name, repeat = repeat, "1"
        if not repeat.isdigit() or int(repeat) < 1:
            raise ValueError(f"bad mixture entry {entry!r}; expected 'name' or 'name:repeat' with repeat >= 1")
        out.append((name, int(repeat)))
    return out


def build_dataset(key: str, config_dir: str | Path | None = None, **overrides):
    """Instantiate `configs/data/datasets/<key>.yaml`; `overrides` (objects allowed, e.g. a processor) win."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = Path(config_dir or DEFAULT_CONFIG_DIR) / f"{key}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no dataset config for key {key!r} ({path})")
    cfg = OmegaConf.load(path)
    plain = {k: v for k, v in overrides.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))}
    objects = {k: v for k, v in overrides.items() if k not in plain}
    cfg = OmegaConf.merge(cfg, plain)
    return instantiate(cfg, _convert_="all", **objects)


class MixtureDataset(torch.utils.data.Dataset):
    """Concatenation of datasets, each repeated `repeats[i]` times, with the data type of every global index.

    Index `i` maps to dataset `d` and inner index `(i - offset_d) % len(d)`.
    """

    def __init__(self, datasets: Sequence, repeats: Sequence[int] | None = None):
        self.datasets = list(datasets)
        self.repeats = list(repeats) if repeats is not None else [1] * len(self.datasets)
        if len(self.repeats) != len(self.datasets):
            raise ValueError("one repeat per dataset")
        sizes = [len(d) * r for d, r in zip(self.datasets, self.repeats)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._types: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, idx: int) -> tuple[int, int]:
        """`(dataset position, inner index)` of global index `idx`."""
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} outside the mixture of {len(self)}")
        d = bisect.bisect_right(self.offsets, idx) - 1
        return d, int(idx - self.offsets[d]) % len(self.datasets[d])

    def __getitem__(self, idx: int):
        d, inner = self.locate(int(idx))
        return self.datasets[d][inner]

    @property
    def data_types(self) -> np.ndarray:
        """`(len,)` object array: the sampler group of every global index."""
        if self._types is None:
            parts = [np.tile(np.asarray(d.data_types, dtype=object), r) for d, r in zip(self.datasets, self.repeats)]
            self._types = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
        return self._types

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def summary(self) -> str:
        """A table: dataset, samples, repeat, share of the mixture, and the replacement counters (broken / too long,
        summed over the DataLoader workers)."""
        total = max(len(self), 1)
        lines = [f"{'dataset':<40} {'samples':>9} {'repeat':>6} {'share':>7}  replaced"]
        for d, r in zip(self.datasets, self.repeats):
            name = getattr(d, "name", type(d).__name__)
            stats = d.counts() if hasattr(d, "counts") else getattr(d, "stats", {})
            counts = ", ".join(f"{k}={v}" for k, v in sorted(stats.items())) or "-"
            lines.append(f"{name:<40} {len(d):>9} {r:>6} {100 * len(d) * r / total:>6.1f}%  {counts}")
        return "\n".join(lines)


def build_mixture(
    spec, config_dir: str | Path | None = None, per_dataset: dict | None = None, **common
) -> MixtureDataset:
    """A `MixtureDataset` of `parse_mixture(spec)`; `common` arguments go to every dataset (see `build_dataset`),
    `per_dataset` (`{key: {argument: value}}`) to the named ones, after `common`. A key of `per_dataset` that is not in
    the mixture is an error (a typo would otherwise change nothing)."""
    entries = parse_mixture(spec)
    per_dataset = dict(per_dataset or {})
    unknown = sorted(set(per_dataset) - {key for key, _ in entries})
    if unknown:
        raise ValueError(f"per_dataset names {unknown}, which are not in the mixture {[k for k, _ in entries]}")
    datasets = [build_dataset(key, config_dir, **{**common, **dict(per_dataset.get(key) or {})}) for key, _ in entries]
    mix = MixtureDataset(datasets, [r for _, r in entries])
    logger.info("data mixture:\n%s", mix.summary())
    return mix


# ------------------------------------------------------------------------------------------------ sampler
class DataTypeGroupedSampler(Sampler[int]):
    """Per-data-type grouped sampling, split across ranks (rank / world size passed explicitly; no process group).

    Args:
        data_types: the data type of every index (e.g. `MixtureDataset.data_types`).
        per_device_batch: micro-batch size per rank.
        world_size, rank: data-parallel layout; rank r gets indices `[r*B, (r+1)*B)` of every group.
        seed: groups are shuffled with `seed + epoch` (identical on every rank).
        remainder: `pad` (default; repeat random indices of the same type to complete the last group), `carry`
            (move the remainder to the front of the next epoch's pool), or `drop`.
        shard: False yields whole groups (every rank's slice in order) for a loader that shards batches itself,
            such as accelerate's `BatchSamplerShard`.
    """

    def __init__(
        self,
        data_types: Sequence[str],
        per_device_batch: int = 1,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        remainder: str = "pad",
        shard: bool = True,
    ):
        if remainder not in ("pad", "carry", "drop"):
            raise ValueError(f"remainder must be pad, carry or drop, got {remainder!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.types = np.asarray(list(data_types), dtype=object)
        self.batch, self.world_size, self.rank = int(per_device_batch), int(world_size), int(rank)
        self.group_size = self.batch * self.world_size
        self.seed, self.remainder, self.shard = int(seed), remainder, shard
        self.epoch = 0
        self.type_names = sorted(set(self.types.tolist()))
        self._pools = {t: np.flatnonzero(self.types == t) for t in self.type_names}
        self._cache: dict[int, tuple[list[np.ndarray], dict[str, np.ndarray]]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def groups(self, epoch: int | None = None) -> list[np.ndarray]:
        """The epoch's groups (each `per_device_batch x world_size` indices of one data type), in step order."""
        return self._plan(self.epoch if epoch is None else int(epoch))[0]

    def _plan(self, epoch: int):
        if epoch in self._cache:
            return self._cache[epoch]
        carried = self._plan(epoch - 1)[1] if self.remainder == "carry" and epoch > 0 else {}
        rng = np.random.default_rng([self.seed, epoch])
        groups, leftover = [], {}
        for t in self.type_names:
            pool = np.concatenate([carried.get(t, np.zeros(0, np.int64)), rng.permutation(self._pools[t])])
            full, rest = divmod(len(pool), self.group_size)
            rest_idx = pool[full * self.group_size :]
            groups += list(pool[: full * self.group_size].reshape(full, self.group_size))
            if rest:
                if self.remainder == "pad":
                    fill = rng.choice(self._pools[t], size=self.group_size - rest, replace=True)
                    groups.append(np.concatenate([rest_idx, fill]))
                    action = f"padded with {self.group_size - rest} repeated indices"
                elif self.remainder == "carry":
                    leftover[t] = rest_idx
                    action = f"carried to epoch {epoch + 1} (unused if this is the last epoch)"
                else:
                    action = "dropped"
                logger.info(
                    "sampler epoch %d: data type %s has %d indices -> %d groups of %d; remainder %d %s",
                    epoch,
                    t,
                    len(pool),
                    full,
                    self.group_size,
                    rest,
                    action,
                )
        order = rng.permutation(len(groups))
        plan = ([groups[i] for i in order], leftover)
        if self.remainder == "carry":
            self._cache = {k: v for k, v in self._cache.items() if k >= epoch - 1}
        self._cache[epoch] = plan
        return plan

    def __iter__(self) -> Iterator[int]:
        lo, hi = self.rank * self.batch, (self.rank + 1) * self.batch
        for group in self.groups():
            yield from (group[lo:hi] if self.shard else group).tolist()

    def __len__(self) -> int:
        per_group = self.batch if self.shard else self.group_size
        return len(self.groups()) * per_group
