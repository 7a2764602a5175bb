"""Fully connected layer, the engine: ``out = x @ W^T + b`` over the last axis, as
``torch.nn.functional.linear`` (the reference: :mod:`scratch.functional.linear`).

The work is three matrix products, which BLAS does better than any hand-written kernel. BLAS runs on
one thread (``scratch.perf.configure``), so products of at least ``THRESHOLDS["linear"]`` multiply-adds
are split over Numba's threads instead (:func:`scratch.kernels._parallel.chunks`), each calling BLAS on
its own block: rows of x for the forward and for dx, and for dW a partial product per block of rows,
summed at the end.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from scratch.functional import linear as reference
from scratch.functional._checks import linear as checks
from scratch.kernels._parallel import chunks


class LinearCache(reference.LinearCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


def linear_forward(x: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray | None = None) -> tuple[np.ndarray, LinearCache]:
    """The engine room's :func:`scratch.functional.linear.linear_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, weight, bias = checks.linear_args(x, weight, bias)
    rows = math.prod(x.shape[:-1])
    out = _matmul(x.reshape(rows, x.shape[-1]), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
    if bias is not None:
        out += bias
    return out, LinearCache(x, weight, bias is not None)


def linear_backward(dout: np.ndarray, cache: LinearCache,
                    input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """The engine room's :func:`scratch.functional.linear.linear_backward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, weight, has_bias = cache
    dout = checks.linear_dout(dout, x, weight)
    (out_features, in_features), rows = weight.shape, math.prod(x.shape[:-1])
    dout2 = dout.reshape(rows, out_features)
    dx = _matmul(dout2, weight).reshape(x.shape) if input_grad else None
    dw = _matmul_tn(dout2, x.reshape(rows, in_features))
    db = dout2.sum(axis=0) if has_bias else None
    return dx, dw, db


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D a (M, K) and b (K, N), by row blocks of ``a`` on Numba's threads when large."""
    n = chunks("linear", a.shape[0] * a.shape[1] * b.shape[1], a.shape[0])
    if n < 2:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _matmul_kernel(a, b, out, n)
    return out


@numba.njit(parallel=True, cache=True)
def _matmul_kernel(a, b, out, chunks):
    """out[rows] = a[rows] @ b for one block of rows per thread."""
    n = a.shape[0]
    for t in numba.prange(chunks):
        lo, hi = t * n // chunks, (t + 1) * n // chunks
        np.dot(a[lo:hi], b, out[lo:hi])


def _matmul_tn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` for a (M, N) and b (M, K): a sum over the M rows, split into per-thread partial sums."""
    n = chunks("linear", a.shape[0] * a.shape[1] * b.shape[1], a.shape[0])
    if n < 2:
        return a.T @ b
    parts = np.empty((n, a.shape[1], b.shape[1]), dtype=a.dtype)
    _matmul_tn_kernel(a, b, parts, n)
    return parts.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _matmul_tn_kernel(a, b, parts, chunks):
    """parts[t] = a[rows].T @ b[rows] for one block of rows per thread."""
    n = a.shape[0]
    for t in numba.prange(chunks):
        lo, hi = t * n // chunks, (t + 1) * n // chunks
        np.dot(a[lo:hi].T, b[lo:hi], parts[t])
