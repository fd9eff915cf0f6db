"""The one error type of the data pipeline: every failure names the dataset, the sample and the file involved."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike


class DataError(Exception):
    """A sample that cannot be loaded.

    Args:
        dataset: dataset key (`refcoco`, `reason_seg`, ...).
        sample_id: the sample's id within that dataset (or the index / row number when no id is known yet).
        path: the file that failed (annotation, frame, video, mask); None when no single file is to blame.
        msg: what went wrong.
    """

    def __init__(self, dataset: str, sample_id, path: str | PathLike | None, msg: str):
        self.dataset, self.sample_id, self.path, self.msg = dataset, sample_id, path, msg
        where = f" (file: {path})" if path is not None else ""
        super().__init__(f"[{dataset}] sample {sample_id!s}: {msg}{where}")

    def __reduce__(self):  # keep the four fields when the error crosses a DataLoader worker boundary
        return type(self), (self.dataset, self.sample_id, self.path, self.msg)


@contextmanager
def data_errors(dataset: str, sample_id, path: str | PathLike | None) -> Iterator[None]:
    """Re-raise any exception inside the block as a `DataError` naming `dataset`, `sample_id` and `path`.

    A `DataError` raised inside keeps its own (more precise) file.
    """
    try:
        yield
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure must carry the sample and file
        raise DataError(dataset, sample_id, path, f"{type(exc).__name__}: {exc}") from exc
