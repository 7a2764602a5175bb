"""Save and load state dicts as ``.npz`` archives, written atomically.

``save`` writes a temporary file next to the target, flushes and fsyncs it, gives it the mode a plain
``open`` would (0666 minus the user's umask; the temporary file starts at 0600), then renames it over the
target (``os.replace``, atomic on POSIX and Windows) and fsyncs the folder: a crash mid-write leaves the
previous file untouched, never a half-written one, and at most a hidden ``.<name>.*.tmp`` file that
:func:`remove_stale_temporaries` deletes. ``load`` reads only plain numeric arrays (no pickles) and raises
``ValueError`` naming the file for anything else: a truncated or corrupt archive, a foreign file, an object
or string array.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

_NUMERIC_KINDS = "biufc"
TEMP_SUFFIX = ".tmp"
_umask_lock = threading.Lock()


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a module with ``state_dict()``, or a mapping of name -> array) to ``path`` as ``.npz``.

    Keys keep their order; values must be numeric arrays (NumPy, or CPU torch tensors). ``path`` is used
    as given (no ``.npz`` is appended). The file appears complete or not at all.
    """
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    if not isinstance(state, Mapping):
        raise TypeError(f"save: expected a module or a mapping of name -> array, got {type(obj).__name__}")
    arrays = OrderedDict((_check_key(k), _as_array(k, v)) for k, v in state.items())
    with atomic_write(path) as f:
        _write_npz(f, arrays)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on success it replaces ``path`` atomically.

    On leaving the block the file is flushed and fsynced, renamed over ``path`` (``os.replace``) and the
    folder fsynced; if the block raises, the temporary file is removed and ``path`` is left as it was.
    Parent folders are created. Every file scratchnet writes (state dicts, checkpoints, JSON, PNG) goes
    through here.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back, under a lock)."""
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete the temporary files a killed :func:`atomic_write` left in ``directory``; return their names.

    Only hidden ``.<name>.<random>.tmp`` files are touched. Call it only while no other process writes
    into ``directory`` (the CLI holds the run folder's lock when it does).
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)
                    removed.append(entry.name)
    return sorted(removed)


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """The ``np.savez`` layout (one ``<key>.npy`` member per array), without savez's keyword-name clashes."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX; directories cannot be opened this way on Windows)."""
    if os.name != "posix":
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or "\x00" in key:
        raise TypeError(f"save: state dict keys must be non-empty strings without NUL, got {key!r}")
    return key


def _as_array(key: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in _NUMERIC_KINDS:
        kind = type(value).__name__ if not isinstance(value, np.ndarray) else f"array of dtype {value.dtype}"
        raise TypeError(f"save: entry {key!r} is a {kind}; only numeric arrays can be saved")
    return value


def load(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """Read an archive written by :func:`save` (or ``np.savez``) into an ordered name -> array dict.

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError`` naming the file if it is
    not an ``.npz`` archive of numeric arrays (truncated, corrupt, pickled objects, foreign members).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"load: {path} is not an .npz archive (truncated, corrupt, or another format)")
    try:
        with zipfile.ZipFile(path) as zf:
            return OrderedDict((name[:-4], _read_member(zf, name)) for name in zf.namelist())
    except Exception as e:  # zipfile raises RuntimeError / NotImplementedError for odd flag and method bits
        raise ValueError(f"load: {path} is not a valid .npz state dict: {type(e).__name__}: {e}") from e


def _read_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    if not name.endswith(".npy"):
        raise ValueError(f"member {name!r} is not an .npy array")
    with zf.open(name) as member:
        arr = np.lib.format.read_array(member, allow_pickle=False)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"entry {name[:-4]!r} has dtype {arr.dtype}, not a number")
    return arr
