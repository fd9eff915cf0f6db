"""The dataset base class every loader builds on.

A loader subclasses `BaseDataset` and writes two methods:

    class MyDataset(BaseDataset):
        key = "my_dataset"          # dataset key: error messages, logs, `Sample.dataset`
        data_type = "seg_image"     # sampler group (docs/design.md §4.7); a record's "data_type" wins

        def load_index(self) -> list[dict]:      # light records, read once, lazily (first len() / getitem)
            return [{"id": "0001", "file": ".../0001.json", ...}, ...]

        def build(self, record: dict, rng: np.random.Generator) -> Sample:
            ...                                   # decode frames once, masks at frame size, conversation

`dataset[i]` returns the raw `Sample`, or the processor's dict (plus `meta`) when a `PixelProcessor` is attached.
In training a sample that fails (`DataError`) is replaced by a random sample of the same data type from the same
dataset, within a logged budget (`max_broken`); a sample over `max_num_words` / `max_num_tokens` is resampled the same
way and counted. In strict mode (the default outside `split="train"`) both raise instead. Every error names the dataset,
the sample id and the file. Randomness comes from one `numpy` Generator per (seed, epoch, index, attempt), so a sample
is reproducible whichever worker or rank loads it.

Each dataset key is a YAML under `configs/data/datasets/<key>.yaml` (`_target_` + arguments; paths are relative to
`root`, the layout of the released UniPixel-SFT-1M `data/` folder); there is no registry object.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, data_errors
from .io import VideoReader, load_json, read_image
from .processor import Sample
from .sampling import sample_indices
from .templates import REF, SEG

logger = logging.getLogger(__name__)

DATA_TYPES = (
    "seg_image",
    "seg_video",
    "ref_point",
    "ref_box",
    "region_image",
    "region_video",
    "mem_point_image",
    "mem_point_video",
    "mem_box_image",
    "mem_box_video",
    "multimodal",
    "text",
)


class BaseDataset(torch.utils.data.Dataset):
    """Lazy annotation index + per-sample building with resampling, limits and error budgets.

    Args:
        root: data root (`data/` of UniPixel-SFT-1M); every path argument of a subclass is relative to it.
        split: `train` (random sampling, template pools, replacement of broken samples) or an evaluation split
            (uniform sampling, fixed wording, strict).
        processor: a `PixelProcessor`; when set, items are model-input dicts instead of `Sample`s.
        name: dataset key used in `Sample.dataset`, logs and errors (default: the class's `key`).
        sample_frames: frames per video clip (8 in training, 16 at evaluation); <= 0 keeps every frame.
        sample_type: `random` or `uniform` (default: random in training, uniform otherwise).
        max_conv_turns: turns per multi-turn sample (3).
        max_num_words: resample a sample whose longest assistant turn has more words (None: no limit). Unlike
            upstream (B9) it looks at the built conversation, so it works for every dataset.
        max_num_tokens: resample a sample whose token sequence (visual tokens included) is longer; needs a processor.
        max_broken: replacements of broken samples tolerated per dataset object before giving up, counted over all
            DataLoader workers together (the counters live in shared memory).
        max_resample: attempts for one index before giving up (a dataset where nothing fits the limits).
        strict: raise on any broken or over-long sample (default: True unless split == "train").
        seed: seeds every random choice together with epoch, index and attempt.
        video_backend, num_threads: video decoding (see `io.VideoReader`).
        extra_roots: folders besides `root` that paths read from annotation files may point into (relative to
            `root`, or absolute). Any other path that leaves the root (`../`, an absolute path) is a `DataError`.
            Folders given as loader arguments are trusted as they are.
    """

    key: str = ""
    data_type: str = "seg_image"
    # False: an object without pixels on every frame of the clip is a broken sample (image loaders); video loaders
    # whose objects may be absent from all sampled frames set True (SAM 2's loss then supervises "absent")
    allow_empty_masks: bool = False

    def __init__(
        self,
        root: str | Path = "data",
        split: str = "train",
        processor=None,
        name: str | None = None,
        sample_frames: int = 8,
        sample_type: str | None = None,
        max_conv_turns: int = 3,
        max_num_words: int | None = None,
        max_num_tokens: int | None = None,
        max_broken: int = 100,
        max_resample: int = 20,
        strict: bool | None = None,
        seed: int = 0,
        video_backend: str = "auto",
        num_threads: int = 1,
        extra_roots: Sequence[str | Path] = (),
    ):
        super().__init__()
        self.root = Path(root)
        self.allowed_roots = [lexical(self.root)] + [lexical(self.root / str(r)) for r in extra_roots or ()]
        self.split = split
        self.training = split == "train"
        self.processor = processor
        self.name = name or self.key or type(self).__name__
        self.sample_frames = sample_frames
        self.sample_type = sample_type or ("random" if self.training else "uniform")
        self.max_conv_turns = max_conv_turns
        self.max_num_words, self.max_num_tokens = max_num_words, max_num_tokens
        self.max_broken, self.max_resample = max_broken, max_resample
        self.strict = (not self.training) if strict is None else strict
        self.seed, self.epoch = seed, 0
        self.video_backend, self.num_threads = video_backend, num_threads
        self.stats: Counter = Counter()
        self.shared = SharedCounts()  # replacements, summed over DataLoader workers
        self._index: list[dict] | None = None
        self._by_type: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ to implement
    def load_index(self) -> list[dict]:
        """Read the annotation files into light records (dicts with at least `id`; optional `file`, `data_type`)."""
        raise NotImplementedError

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        """One `Sample` from one record: frames `(T, H, W, 3)` uint8 decoded once, masks at frame size."""
        raise NotImplementedError

    # ------------------------------------------------------------------ index
    @property
    def index(self) -> list[dict]:
        if self._index is None:
            # a stray KeyError / TypeError in an annotation file still names the dataset and its annotation file
            with data_errors(self.name, "-", self.annotation_source()):
                self._index = self.load_index()
            logger.info("%s/%s: %d samples indexed", self.name, self.split, len(self._index))
        return self._index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def data_types(self) -> list[str]:
        """Sampler group of every index (read from the index, no sample is built)."""
        return [r.get("data_type", self.data_type) for r in self.index]

    def path(self, *parts) -> Path:
        """A path under `root` from the loader's own arguments (a folder configured outside the root, given as an
        absolute path, becomes an allowed root for the paths annotations name inside it)."""
        path = self.root.joinpath(*[str(p) for p in parts])
        if not any(is_inside(lexical(path), r) for r in self.allowed_roots):
            self.allowed_roots.append(lexical(path))
        return path

    def inside(self, base: str | Path, relative, sample_id, source, what: str = "path") -> Path:
        """`base / relative` for a path read from an annotation file (`source`), checked to stay inside the data root
        (or an extra root): `../` segments and absolute paths that leave it are a `DataError` naming the sample and
        the annotation file. The check is lexical (symlinks inside the root are followed as the user made them)."""
        if isinstance(relative, Path):
            relative = str(relative)
        if not isinstance(relative, str) or not relative.strip() or "\x00" in relative:
            raise DataError(self.name, sample_id, source, f"{what} must be a non-empty path, got {relative!r}")
        path = Path(base) / relative
        resolved = lexical(path)
        if not any(is_inside(resolved, r) for r in self.allowed_roots):
            raise DataError(
                self.name,
                sample_id,
                source,
                f"{what} {relative!r} leaves the data root {lexical(self.root)} (resolves to {resolved}); list its "
                "folder in extra_roots to allow it",
            )
        return path

    def plain_name(self, name, sample_id, source, what: str = "frame name") -> str:
        """A file or folder name read from an annotation file, refused unless it is one plain path component."""
        name = str(name)
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise DataError(self.name, sample_id, source, f"{what} {name!r} is not a plain file name")
        return name

    def annotation_source(self) -> Path | None:
        """The annotation file an index-time error is most likely about (the loader's main annotation file)."""
        for attr in ("annotation_file", "meta_file", "instances_file", "refs_file", "split_file", "data_dir"):
            value = getattr(self, attr, None)
            if value is not None:
                return value
        return None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    # ------------------------------------------------------------------ loading helpers for subclasses
    def load_rows(self, path: str | Path) -> list:
        """A JSON annotation file that must hold a list of rows; anything else is a `DataError` naming the file."""
        rows = load_json(path, self.name)
        if not isinstance(rows, list):
            raise DataError(self.name, "-", path, "expected a JSON list of rows")
        return rows

    def read_image(self, path: str | Path, sample_id) -> np.ndarray:
        """An image as a 1-frame clip `(1, H, W, 3)` uint8."""
        return read_image(path, self.name, sample_id)[None]

    def open_video(self, source, sample_id, fps: float | None = None) -> VideoReader:
        """A `VideoReader` on a video file / frame folder / frame list with this dataset's backend settings."""
        return VideoReader(source, self.video_backend, self.num_threads, fps, self.name, sample_id)

    def frame_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Clip indices out of `num_frames` with this dataset's `sample_frames` / `sample_type`."""
        return sample_indices(num_frames, self.sample_frames, self.sample_type, rng)

    def turns_to_conversation(self, turns: list[tuple[str, str]]) -> list[dict]:
        """`[(question, answer), ...]` → conversation; at evaluation only the first question is kept (the model
        answers it)."""
        if not self.training:
            return [{"role": "user", "content": turns[0][0]}]
        conv = []
        for question, answer in turns:
            conv += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return conv

    # ------------------------------------------------------------------ sample access
    def rng(self, idx: int, attempt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, idx, attempt])

    def get_sample(self, idx: int, rng: np.random.Generator | None = None) -> Sample:
        """The raw `Sample` at `idx` (no replacement, no limits): what evaluation and tests read."""
        record = self.index[idx]
        rid = record.get("id", idx)
        with data_errors(self.name, rid, record.get("file")):
            sample = self.build(record, self.rng(idx) if rng is None else rng)
        self.check(sample, record.get("file"))
        return sample

    def __getitem__(self, idx: int):
        idx = int(idx)
        last = None
        for attempt in range(self.max_resample + 1):
            rng = self.rng(idx, attempt)
            try:
                sample = self.get_sample(idx, rng)
                item = self._process(sample)
            except DataError as err:
                if self.strict:
                    raise
                self._count("broken", err)
                idx, last = self._replacement(idx, rng), err
                continue
            reason = self._over_limit(sample, item)
            if reason is None:
                return item
            err = DataError(self.name, sample.id, sample.meta.get("path"), reason)
            if self.strict:
                raise err
            self._count("too_long", err)
            idx, last = self._replacement(idx, rng), err
        # every candidate of this data type failed: name the last one (its sample and file)
        raise DataError(
            self.name,
            last.sample_id,
            last.path,
            f"no usable sample after {self.max_resample + 1} attempts ({dict(self.counts())}); last: {last.msg}",
        ) from last

    def counts(self) -> Counter:
        """Index-time counters (left-out rows) plus the replacements made by every process that loads from this
        dataset object (the main process and its DataLoader workers)."""
        merged = Counter({k: v for k, v in self.stats.items() if k not in SharedCounts.KINDS})
        merged.update({k: v for k, v in self.shared.totals().items() if v})
        return merged

    def summary(self) -> str:
        """One line with this dataset object's counters, summed over DataLoader workers."""
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts().items())) or "nothing replaced"
        return f"{self.name}/{self.split}: {len(self)} samples; {counts}"

    # ------------------------------------------------------------------ internals
    def check(self, sample: Sample, file=None) -> None:
        """Shape / count invariants of a built sample; a violation is a `DataError` naming the sample and file."""
        where = sample.meta.get("path", file)

        def fail(msg):
            raise DataError(self.name, sample.id, where, msg)

        frames = sample.frames
        if frames is not None:
            if not (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4):
                fail(f"frames must be a (T, H, W, 3) uint8 array, got {getattr(frames, 'shape', type(frames))}")
            if frames.shape[-1] != 3 or frames.shape[0] == 0:
                fail(f"frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
        answers = "".join(t["content"] for t in sample.conversation if t["role"] == "assistant")
        questions = "".join(t["content"] for t in sample.conversation if t["role"] == "user")
        n_seg = answers.count(SEG)
        masks = sample.seg_masks
        if masks is not None:
            if frames is None or masks.ndim != 4 or masks.shape[1:] != frames.shape[:3] or masks.dtype != bool:
                fail(
                    f"seg_masks must be (O, T, H, W) bool matching frames {None if frames is None else frames.shape}"
                    f", got {masks.shape} {masks.dtype}"
                )
            if masks.shape[0] != n_seg:
                fail(f"{n_seg} {SEG} tokens in the answers but {masks.shape[0]} object masks")
            if not self.allow_empty_masks:
                empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(1))
                if len(empty):
                    fail(f"objects {empty.tolist()} have empty masks at frame size")
        elif n_seg:
            fail(f"{n_seg} {SEG} tokens but no seg_masks")
        n_ref = questions.count(REF)
        n_prompts = 0 if sample.ref_prompts is None else len(sample.ref_prompts)
        if n_ref != n_prompts:
            fail(f"{n_ref} {REF} tokens but {n_prompts} visual prompts")
        gt = sample.meta.get("gt_masks")
        if gt is not None and not self.allow_empty_masks:
            empty = np.flatnonzero(~np.asarray(gt).reshape(len(gt), -1).any(1))
            if len(empty):
                fail(f"ground-truth objects {empty.tolist()} have empty masks at frame size")

    def _process(self, sample: Sample):
        if self.processor is None:
            return sample
        open_turn = bool(sample.conversation) and sample.conversation[-1]["role"] == "user"
        with data_errors(self.name, sample.id, sample.meta.get("path")):
            item = self.processor(sample, add_generation_prompt=open_turn)
        if sample.seg_masks is not None and "seg_masks" in item:
            # a tiny object can vanish when its mask is resized to the SAM 2 input: its loss would teach "absent"
            before = np.asarray(sample.seg_masks).reshape(len(sample.seg_masks), -1).any(1)
            after = item["seg_masks"].flatten(1).any(1).numpy()
            lost = np.flatnonzero(before & ~after)
            if len(lost):
                size = self.processor.sam2_image_size
                msg = f"objects {lost.tolist()} have empty masks after resizing to the SAM 2 input ({size} px)"
                raise DataError(self.name, sample.id, sample.meta.get("path"), msg)
        item["meta"] = sample.meta
        return item

    def _over_limit(self, sample: Sample, item) -> str | None:
        if self.max_num_words is not None:
            words = max((len(t["content"].split()) for t in sample.conversation if t["role"] == "assistant"), default=0)
            if words > self.max_num_words:
                return f"{words} words in an answer > max_num_words {self.max_num_words}"
        if self.max_num_tokens is not None and isinstance(item, dict):
            tokens = len(item["input_ids"])
            if tokens > self.max_num_tokens:
                return f"{tokens} tokens > max_num_tokens {self.max_num_tokens}"
        return None

    def _count(self, kind: str, err: DataError) -> None:
        self.stats[kind] += 1
        total = self.shared.add(kind)
        worker = torch.utils.data.get_worker_info()
        who = f" (worker {worker.id})" if worker is not None else ""
        action = "resampled" if kind == "too_long" else "replaced"
        logger.warning("%s%s; %s [%s so far: %d]", err, who, action, kind, total)
        if kind == "broken" and total > self.max_broken:
            raise RuntimeError(
                f"{self.name}{who}: {total} broken samples (all workers) exceed max_broken={self.max_broken}; "
                f"last: {err}"
            ) from err

    def _replacement(self, idx: int, rng: np.random.Generator) -> int:
        """A random index of the same data type (another one when there is one)."""
        if self._by_type is None:
            types = np.asarray(self.data_types, dtype=object)
            self._by_type = {t: np.flatnonzero(types == t) for t in set(types.tolist())}
        kind = self.index[idx].get("data_type", self.data_type)
        pool = self._by_type[kind]
        if len(pool) > 1:
            pool = pool[pool != idx]
        return int(rng.choice(pool))


class SharedCounts:
    """Replacement counters shared by a dataset object and the DataLoader workers that load from it: a small tensor
    in shared memory (inherited by forked workers, passed by handle to spawned ones) with one row per process, so no
    two processes ever write the same cell and the sum needs no lock."""

    KINDS = ("broken", "too_long")
    ROWS = 65  # row 0: the main process; workers 0..63 (higher worker ids share rows, a count may then race)

    def __init__(self):
        self.table = torch.zeros(self.ROWS, len(self.KINDS), dtype=torch.int64).share_memory_()

    def add(self, kind: str) -> int:
        """Count one `kind` for this process; returns the total over all processes."""
        worker = torch.utils.data.get_worker_info()
        row = 0 if worker is None else 1 + worker.id % (self.ROWS - 1)
        col = self.KINDS.index(kind)
        self.table[row, col] += 1
        return int(self.table[:, col].sum())

    def totals(self) -> dict[str, int]:
        sums = self.table.sum(0).tolist()
        return dict(zip(self.KINDS, (int(v) for v in sums)))


def lexical(path: str | Path) -> Path:
    """Absolute, normalised path (`..` and `.` folded, symlinks not followed)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
