"""Files that survive a kill: atomic writes, repair of an append-only JSONL file's cut last line, and cheap checks that
a saved file is whole (safetensors, torch zip archives, JSON) without loading it.

An atomic write goes to a temporary name in the target's folder, is flushed and fsynced, then renamed over the target
(a rename within one file system is atomic), and the folder is fsynced so the rename itself is durable. A reader sees
the old file or the new one, never a mix; a kill leaves at most a stray `.<name>.tmp-*` file beside it.

    atomic_write_text(folder / "run_info.json", json.dumps(info))
    with atomic_path(folder / "model.safetensors") as tmp:   # any writer that takes a path
        save_file(state, tmp)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename / creation inside `folder` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_name(path: Path) -> Path:
    """A new, empty file beside `path` (created with the usual permissions, unlike `mkstemp`'s 0600)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends normally the file written there is fsynced and
    renamed to `path`. On an exception the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, **dumps_kwargs) -> None:
    atomic_write_text(path, json.dumps(obj, **dumps_kwargs))


def publish_folder(staging: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Move every file of `staging` (recursively) into `target` by fsynced renames, then remove `staging`; returns
    the files published. Each file appears whole or not at all; callers mark the set complete afterwards."""
    staging, target = Path(staging), Path(target)
    moved = []
    for src in sorted(p for p in staging.rglob("*") if p.is_file()):
        dst = target / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(src, dst)
        moved.append(dst)
    for folder in sorted({d.parent for d in moved} | {target}):
        fsync_dir(folder)
    for folder in sorted((p for p in staging.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        folder.rmdir()
    staging.rmdir()
    return moved


# ---------------------------------------------------------------------------------------------------- JSON lines
def repair_jsonl_tail(path: str | os.PathLike) -> int:
    """Cut an unfinished last line (a kill mid-write) off an append-only JSONL file so the next append starts on a
    fresh line; returns the bytes removed (logged). A missing or empty file, or one ending in a newline, is untouched;
    a last line that is a whole JSON value and lacks only its newline gets the newline instead.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return 0
        # walk back to the last newline in blocks
        end, keep = size, 0
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            block = f.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        f.seek(keep)
        tail = f.read()
        try:
            json.loads(tail.decode("utf-8"))
            complete = True
        except ValueError:
            complete = False
        if complete:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        else:
            f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    if complete:
        logger.warning("%s: the last line lacked its newline (an interrupted write); added it", path)
        return 0
    removed = size - keep
    logger.warning("%s: removed an unfinished last line of %d bytes (an interrupted write)", path, removed)
    return removed


# ---------------------------------------------------------------------------------------------------- whole-file checks
def safetensors_problem(path: str | os.PathLike) -> str | None:
    """Why a `.safetensors` file is unusable (missing, truncated, unreadable header), or None when its header is
    readable and the file is as long as the header says."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes, no header)"
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return f"{path.name} is truncated ({size} bytes; its header alone claims {length})"
            header = json.loads(f.read(length))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, ValueError) as exc:
        return f"{path.name} has an unreadable header ({type(exc).__name__}: {exc})"
    if not isinstance(header, dict):
        return f"{path.name} has an unreadable header (not a JSON object)"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(entry["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            return f"{path.name} has an unreadable header (tensor {name!r} without data_offsets)"
    if size != 8 + length + end:
        return f"{path.name} is truncated ({size} bytes; its header describes {8 + length + end})"
    return None


def torch_file_problem(path: str | os.PathLike) -> str | None:
    """Why a `torch.save` file (a zip archive: `optimizer.pt`, `rng_state.pth`, `training_args.bin`) is unusable, or
    None when its zip directory is readable (a cut file loses the directory at its end)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return f"{path.name} is empty (0 bytes)"
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                return f"{path.name} is an empty archive"
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, zipfile.BadZipFile) as exc:
        return f"{path.name} is truncated or not a torch file ({size} bytes; {exc})"
    return None


def json_problem(path: str | os.PathLike) -> str | None:
    """Why a JSON file is unusable (missing, empty, cut, not UTF-8), or None."""
    path = Path(path)
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"{path.name} is unreadable ({type(exc).__name__}: {exc})"
    return None


def read_json_file(path: str | os.PathLike, what: str = "file"):
    """`json.loads` of a file whose failure names the file (an empty or cut file says so instead of a bare
    `JSONDecodeError`). Raises `ValueError` (bad content) or `FileNotFoundError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ValueError(f"{what} {path} is empty (an interrupted write?); delete it to start over")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} {path} is not valid JSON ({exc.msg} at line {exc.lineno} col {exc.colno}); delete it to start over"
        ) from None
