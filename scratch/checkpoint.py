"""Training checkpoints for the scratch engine: nested state (model, optimizer, scheduler, early stopping,
RNG states, history) in one ``.npz`` file, written atomically by :func:`scratch.serialization.save`.

Arrays become archive members; everything else (numbers, strings, None, lists, tuples, dicts with str or
int keys) is kept in a JSON document stored as the member ``__meta__``, with placeholders for the arrays.
No pickles are written or read.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from scratch import serialization

_META = "__meta__"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
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


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (nested dicts/lists of arrays and plain values) to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {}
    meta = json.dumps(_encode(state, arrays))
    arrays[_META] = np.frombuffer(meta.encode(), dtype=np.uint8)
    serialization.save(arrays, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a foreign or corrupt file raises ValueError."""
    arrays = serialization.load(path)
    if _META not in arrays:
        raise ValueError(f"load_checkpoint: {path} is an .npz file but not a scratchnet checkpoint")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
        return _decode(meta, arrays)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"load_checkpoint: {path} has a corrupt index ({err})") from err
