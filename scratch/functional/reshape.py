"""Reshaping ops: :func:`flatten_forward` (``torch.flatten``) and its backward."""

from __future__ import annotations

import math

import numpy as np

from scratch.functional._checks import check_shape, wrap_dim

FlattenCache = tuple[tuple[int, ...], tuple[int, ...]]


def wrap_dim_fast(op: str, name: str, dim: object, ndim: int) -> int:
    """:func:`~scratch.functional._checks.wrap_dim`, skipping its checks for the usual plain int in range
    (they cost more than the ops that call this on small arrays)."""
    rank = max(ndim, 1)
    if type(dim) is int and -rank <= dim < rank:
        return dim % rank
    return wrap_dim(op, name, dim, ndim)


def flatten_forward(x: np.ndarray, start_dim: int = 1,
                    end_dim: int = -1) -> tuple[np.ndarray, FlattenCache]:
    """Merge axes ``start_dim..end_dim`` (inclusive, negative dims allowed) into one, as ``torch.flatten``.

    Shapes:   x (d_0, ..., d_{n-1}) -> out (d_0, ..., d_{s-1}, d_s·...·d_e, d_{e+1}, ..., d_{n-1});
              a 0-D input becomes (1,), as in torch.
    Forward:  out = reshape(x) (row-major order, values unchanged; a view when x is contiguous)
    Backward: dx = reshape(dout, x.shape)
    Cache:    (x.shape, out.shape).
    """
    op = "flatten"
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: expected input to be a numpy.ndarray, got {type(x).__name__}")
    start = wrap_dim_fast(op, "start_dim", start_dim, x.ndim)
    end = wrap_dim_fast(op, "end_dim", end_dim, x.ndim)
    if start > end:
        raise ValueError(f"{op}: start_dim cannot come after end_dim, got start_dim={start_dim} "
                         f"(dim {start}) and end_dim={end_dim} (dim {end}) for a {x.ndim}-D input")
    if x.ndim == 0:
        shape: tuple[int, ...] = (1,)
    else:
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
    return x.reshape(shape), (x.shape, shape)


def flatten_backward(dout: np.ndarray, cache: FlattenCache) -> np.ndarray:
    """Gradient of :func:`flatten_forward`: ``dout`` reshaped to the input's shape.

    Shapes:   dout (flattened shape) -> dx (x.shape)
    Math:     see the forward.
    """
    op = "flatten_backward"
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{op}: expected dout to be a numpy.ndarray, got {type(dout).__name__}")
    x_shape, out_shape = cache
    check_shape(op, "dout", dout, out_shape)
    return dout.reshape(x_shape)
