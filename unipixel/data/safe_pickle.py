"""A restricted unpickler for annotation pickles (`refs(unc).p`, `mask_dict.pkl`): data only, never code.

What the real files hold decides what is admitted:
- `refs(*).p` (refer API, written by Python 2): a list of dicts of ints, strings and lists — plain pickle opcodes,
  no global lookups at all.
- `mask_dict.pkl` (Ref-YouTube-VOS / Ref-DAVIS17 conversions): `{str index: [per-frame RLE dict | None]}` whose
  `counts` are bytes; with pickle protocol 2 bytes arrive through `_codecs.encode(str, 'latin1')`, which is admitted
  in that exact form only.
Containers other than list/dict/tuple (`set`, `frozenset`, `collections.OrderedDict`) are admitted, and `bytes` /
`bytearray` only as copies of data held in the file (never `bytes(n)`, which allocates n bytes); numpy arrays are
refused unless `allow_numpy=True` (then only `ndarray` / `dtype` / scalar reconstruction). Any other global —
`os.system`, `builtins.eval`, `subprocess.Popen`, a class with `__reduce__` — raises `UnsafePickleError` before it is
looked up, so nothing in the file can run.

Python-2 pickles store text as byte strings; they are read as ASCII first, then UTF-8, then latin-1 (which accepts any
byte), so a non-ASCII sentence does not abort the load.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to a global outside the allow-list (it would construct arbitrary objects or run code)."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not admitted")
    return text.encode("latin1")


def _copy_only(kind: type):
    """`bytes` / `bytearray` restricted to copying data that is in the file: `kind()`, `kind(b"...")` or
    `kind("...", "latin1")`. `kind(10**9)` would allocate a gigabyte from a few bytes of pickle."""

    def make(*args):
        if not args or (len(args) == 1 and isinstance(args[0], (bytes, bytearray))):
            return kind(*args)
        if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], str):
            return kind(args[0].encode("latin1") if args[1].lower() in ("latin1", "latin-1") else args[0], *args[1:2])
        shown = ", ".join(type(a).__name__ for a in args)
        raise UnsafePickleError(f"{kind.__name__}({shown}) is not admitted (only copies of data held in the file)")

    return make


_SAFE_GLOBALS = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): _copy_only(bytearray),
    ("builtins", "bytes"): _copy_only(bytes),
    ("__builtin__", "set"): set,  # Python-2 module names
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "bytearray"): _copy_only(bytearray),
    ("__builtin__", "bytes"): _copy_only(bytes),
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_encode,
}

_NUMPY_NAMES = {"_reconstruct", "scalar", "ndarray", "dtype"}


class _NdarrayType:
    """Stands for `numpy.ndarray` in a pickle: accepted as `_reconstruct`'s first argument, not callable, so a pickle
    cannot call `ndarray(shape)` to allocate any size."""


_NDARRAY = _NdarrayType()


def _numpy_global(module: str, name: str):
    import numpy as np

    if name == "ndarray" and module == "numpy":
        return _NDARRAY
    if name == "dtype" and module == "numpy":
        return np.dtype
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy < 2
            from numpy.core import multiarray

        if name == "scalar":
            return multiarray.scalar

        def reconstruct(subtype, shape, dtype):
            # numpy pickles an array as _reconstruct(ndarray, (0,), b"b") then __setstate__ with the data it holds
            if subtype is not _NDARRAY or tuple(shape) != (0,):
                raise UnsafePickleError("numpy _reconstruct is admitted only as numpy writes it (ndarray, (0,), ...)")
            return multiarray._reconstruct(np.ndarray, (0,), dtype)

        return reconstruct
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, allow_numpy: bool, **kwargs):
        super().__init__(file, **kwargs)
        self.allow_numpy = allow_numpy

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        if self.allow_numpy and name in _NUMPY_NAMES:
            found = _numpy_global(module, name)
            if found is not None:
                return found
        raise UnsafePickleError(f"refusing to load global {module}.{name} (only plain data is admitted)")


def safe_loads(data: bytes, allow_numpy: bool = False) -> Any:
    """Unpickle `data` admitting plain data only (see the module docstring); Python-2 text falls back to UTF-8 /
    latin-1. Raises `UnsafePickleError` for any other global and `pickle.UnpicklingError` for a corrupt stream."""
    last: UnicodeDecodeError | None = None
    for encoding in ("ASCII", "utf-8", "latin1"):
        stream = io.BytesIO(data)
        try:
            return _RestrictedUnpickler(stream, allow_numpy, encoding=encoding).load()
        except UnicodeDecodeError as exc:
            last = exc
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{exc} (at byte {stream.tell()} of {len(data)})") from None
        except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
            msg = f"corrupt pickle at byte {stream.tell()} of {len(data)}: {type(exc).__name__}: {exc}"
            raise pickle.UnpicklingError(msg) from exc
    raise pickle.UnpicklingError(f"undecodable text in pickle: {last}")


def safe_load(path: str | os.PathLike | BinaryIO, allow_numpy: bool = False) -> Any:
    """`safe_loads` of a file path or a binary file object."""
    if isinstance(path, (str, os.PathLike)):
        return safe_loads(Path(path).read_bytes(), allow_numpy)
    return safe_loads(path.read(), allow_numpy)


def rle_counts_to_str(obj: Any) -> Any:
    """Recursively turn RLE dicts' bytes `counts` into str (the JSON form), leaving everything else as is."""
    if isinstance(obj, dict):
        if "counts" in obj and isinstance(obj["counts"], bytes):
            return {**obj, "counts": obj["counts"].decode("ascii")}
        return {k: rle_counts_to_str(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rle_counts_to_str(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(rle_counts_to_str(v) for v in obj)
    return obj
