"""Fully connected layer: ``out = x @ W^T + b`` over the last axis, as ``torch.nn.functional.linear``.

The work is three matrix products, which BLAS does better than any hand-written kernel. BLAS runs on
one thread (``scratch._threads``), so products of at least :data:`_PARALLEL_MIN_MACS` multiply-adds are
split over Numba's threads instead, each calling BLAS on its own block: rows of x for the forward and for
dx, and for dW a partial product per block of rows, summed at the end.
"""

from __future__ import annotations

import numba
import numpy as np

from scratch.functional._checks import check_ndim, check_same_dtype, check_shape, float_array

LinearCache = tuple[np.ndarray, np.ndarray, bool]


def linear_forward(x: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray | None = None) -> tuple[np.ndarray, LinearCache]:
    """Affine map of the last axis, as ``torch.nn.functional.linear(x, weight, bias)``.

    Shapes:   x (*, in_features), weight (out_features, in_features), bias (out_features,) or None
              -> out (*, out_features); ``*`` is any number (zero included) of leading axes.
    Forward:  out[..., o] = Σ_i x[..., i] · weight[o, i] + bias[o]
    Backward: dx[..., i] = Σ_o dout[..., o] · weight[o, i]
              dweight[o, i] = Σ_rows dout[row, o] · x[row, i]   (rows: every leading index)
              dbias[o] = Σ_rows dout[row, o]
    Cache:    (x, weight, has_bias).
    """
    op = "linear"
    x = float_array(op, "input", x)
    weight = float_array(op, "weight", weight)
    if x.ndim < 1:
        raise ValueError(f"{op}: expected input to be at least 1-D (*, in_features), got 0-D")
    check_ndim(op, "weight", weight, 2, "(out_features, in_features)")
    check_same_dtype(op, "input", x, "weight", weight)
    if weight.shape[1] != x.shape[-1]:
        raise ValueError(f"{op}: input has in_features={x.shape[-1]} (shape {x.shape}) but weight of shape "
                         f"{weight.shape} expects in_features={weight.shape[1]}")
    out = _matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
    if bias is not None:
        bias = float_array(op, "bias", bias)
        check_same_dtype(op, "input", x, "bias", bias)
        check_shape(op, "bias", bias, (weight.shape[0],))
        out += bias
    return out, (x, weight, bias is not None)


def linear_backward(dout: np.ndarray, cache: LinearCache,
                    input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear_forward`: ``(dx, dweight, dbias)`` (``dbias`` is None without a bias;
    ``dx`` is None with ``input_grad=False``, as torch skips it for an input that does not require grad).

    Shapes:   dout (*, out_features) -> dx (*, in_features), dweight (out_features, in_features),
              dbias (out_features,)
    Math:     see the forward.
    """
    op = "linear_backward"
    x, weight, has_bias = cache
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "input", x, "dout", dout)
    check_shape(op, "dout", dout, x.shape[:-1] + (weight.shape[0],))
    dout2 = dout.reshape(-1, weight.shape[0])
    dx = _matmul(dout2, weight).reshape(x.shape) if input_grad else None
    dw = _matmul_tn(dout2, x.reshape(-1, weight.shape[1]))
    db = dout2.sum(axis=0) if has_bias else None
    return dx, dw, db


_PARALLEL_MIN_MACS = 1_500_000  # 2 threads win from ~1M (fwd) to ~1.5M (bwd); fc1 at batch 64 is 3M


def _chunks(a: np.ndarray, b: np.ndarray) -> int:
    """Row blocks for ``a @ b`` (or ``a.T @ b``): one per thread for large products, else 1."""
    if a.shape[0] * a.shape[1] * b.shape[1] < _PARALLEL_MIN_MACS:
        return 1
    return min(numba.get_num_threads(), a.shape[0])


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D a (M, K) and b (K, N), by row blocks of ``a`` on Numba's threads when large."""
    chunks = _chunks(a, b)
    if chunks < 2:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _matmul_kernel(a, b, out, chunks)
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
    chunks = _chunks(a.T, b)
    if chunks < 2:
        return a.T @ b
    parts = np.empty((chunks, a.shape[1], b.shape[1]), dtype=a.dtype)
    _matmul_tn_kernel(a, b, parts, chunks)
    return parts.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _matmul_tn_kernel(a, b, parts, chunks):
    """parts[t] = a[rows].T @ b[rows] for one block of rows per thread."""
    n = a.shape[0]
    for t in numba.prange(chunks):
        lo, hi = t * n // chunks, (t + 1) * n // chunks
        np.dot(a[lo:hi].T, b[lo:hi], parts[t])
