"""Reshaping ops: :func:`flatten_forward` (``torch.flatten``) and its backward (no kernel: a reshape is
a view, nothing to speed up)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch.functional._checks import linear as checks

__all__ = ["flatten_forward", "flatten_backward"]


class FlattenCache(NamedTuple):
    x_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def flatten_forward(x: np.ndarray, start_dim: int = 0,
                    end_dim: int = -1) -> tuple[np.ndarray, FlattenCache]:
    """Merge axes ``start_dim..end_dim`` (inclusive, negative dims allowed) into one, as ``torch.flatten``
    (whose default flattens every axis; ``nn.Flatten``'s keeps the batch axis).

    Shapes:   x (d_0, ..., d_{n-1}) -> out (d_0, ..., d_{s-1}, d_s·...·d_e, d_{e+1}, ..., d_{n-1});
              a 0-D input becomes (1,), as in torch.
    Forward:  out = reshape(x) (row-major order, values unchanged; a view when x is contiguous)
    Backward: dx = reshape(dout, x.shape)
    Cache:    (x.shape, out.shape).
    """
    start, end = checks.flatten_dims(x, start_dim, end_dim)
    shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]  # 0-D: (1,)
    return x.reshape(shape), FlattenCache(x.shape, shape)


def flatten_backward(dout: np.ndarray, cache: FlattenCache) -> np.ndarray:
    """Gradient of :func:`flatten_forward`: ``dout`` reshaped to the input's shape.

    Shapes:   dout (flattened shape) -> dx (x.shape)
    Math:     see the forward.
    """
    return checks.flatten_dout(dout, cache.out_shape).reshape(cache.x_shape)
