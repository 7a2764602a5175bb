"""Training checkpoints for the scratch engine: nested state (model, optimizer, scheduler, early stopping,
RNG states, history) in one ``.npz`` file, written atomically by :func:`scratch.serialization.save`.

Arrays become archive members; everything else (numbers, strings, None, lists, tuples, dicts with str or
int keys) is kept in a JSON document stored as the member ``__meta__``, with placeholders for the arrays.
No pickles are written or read.

A checkpoint carries the SHA-256 of its content (:func:`state_digest`: the JSON document, then every
array's dtype, shape and bytes), stored as the member ``__sha256__`` and checked by
:func:`load_checkpoint`, so a corrupted checkpoint is a ValueError naming the file, never silently
different weights. The torch engine's checkpoints carry the same digest (``torch_impl.training``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from scratch import serialization

_META = "__meta__"
_DIGEST = "__sha256__"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor (digests of torch checkpoints)
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save_checkpoint: cannot store a {type(obj).__name__} ({obj!r})")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
    return obj


def _digest(meta: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta.encode())
    for key, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        h.update(f"\n{key} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.view(np.uint8).reshape(-1).data if a.size else b"")
    return h.hexdigest()


def state_digest(state: Any) -> str:
    """SHA-256 (hex) of nested state: its structure and plain values, then each array's dtype, shape, bytes.

    Arrays may be NumPy arrays or torch tensors (compared by their CPU bytes), so both engines' checkpoints
    get the same kind of digest.
    """
    arrays: dict[str, np.ndarray] = {}
    return _digest(json.dumps(_encode(state, arrays)), arrays)


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (nested dicts/lists of arrays and plain values) to ``path`` atomically, with its digest."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(_encode(state, arrays))
    digest = _digest(meta, arrays)
    arrays[_META] = np.frombuffer(meta.encode(), dtype=np.uint8)
    arrays[_DIGEST] = np.frombuffer(digest.encode(), dtype=np.uint8)
    serialization.save(arrays, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, verifying its SHA-256.

    A foreign, corrupt or altered file raises ValueError naming it; a missing one FileNotFoundError.
    """
    arrays = serialization.load(path)
    if _META not in arrays:
        raise ValueError(f"load_checkpoint: {path} is an .npz file but not a scratchnet checkpoint")
    try:
        meta_text = arrays.pop(_META).tobytes().decode()
        stored = arrays.pop(_DIGEST).tobytes().decode() if _DIGEST in arrays else None
        meta = json.loads(meta_text)
        if stored is None:
            raise ValueError("it carries no checksum (written by an older scratchnet?)")
        actual = _digest(meta_text, arrays)
        if actual != stored:
            raise ValueError(f"its content does not match its SHA-256 (stored {stored[:16]}..., "
                             f"content {actual[:16]}...): the file was corrupted or altered")
        return _decode(meta, arrays)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"load_checkpoint: {path} is corrupt: {err}") from err
