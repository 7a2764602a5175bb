"""Batch normalization as torch.nn.functional.batch_norm: the Numba engine, with the signatures, checks
(:mod:`scratch.functional._checks.norm`) and results of the reference :mod:`scratch.functional.norm`
(the math and the backward's derivation are in its docstring). Dropout has no kernel here: the
dispatcher runs the reference (one draw and one product, nothing to fuse).

Each channel is one unit of work over x viewed as (N, C, S). The forward kernel makes, per channel, two
passes for the statistics (the mean, then Σ(x - μ)²: no cancellation, unlike Σx² - mΣμ²) and one that
writes x̂ and out; the backward makes one pass for Σdout and Σdout·x̂ (which are dβ and dγ) and one that
writes dx. Sums accumulate in float64 whatever x's dtype (as torch's CPU kernels do); results are
stored in x's dtype. :func:`scratch.kernels._parallel.run` runs the kernels over ranges of channels,
one per thread, from ``THRESHOLDS["norm"]`` elements of x on.
"""

from __future__ import annotations

import numba
import numpy as np

from scratch.functional import norm as reference
from scratch.functional._checks.norm import batch_norm_args, norm_dout
from scratch.kernels._parallel import run

__all__ = ["batch_norm_forward", "batch_norm_backward"]


class BatchNormCache(reference.BatchNormCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


def batch_norm_forward(x: np.ndarray, running_mean: np.ndarray | None, running_var: np.ndarray | None,
                       weight: np.ndarray | None = None, bias: np.ndarray | None = None, training: bool = False,
                       momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """The engine room's :func:`scratch.functional.norm.batch_norm_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x3, running_mean, running_var, weight, bias, training, momentum, eps = batch_norm_args(
        "batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps)
    n, c, s = x3.shape
    dtype = x3.dtype
    mean = np.zeros(c) if training else running_mean.astype(np.float64)
    var = np.zeros(c) if training else running_var.astype(np.float64)
    gamma = np.ones(c, dtype) if weight is None else weight
    beta = np.zeros(c, dtype) if bias is None else bias
    xhat, out, inv_std = np.empty_like(x3), np.empty_like(x3), np.empty(c, dtype)
    run("norm", _forward_kernel, _forward_parallel, x3.size, c, x3, gamma, beta, mean, var, eps, training,
        xhat, out, inv_std)
    m = n * s
    if training and running_mean is not None and m > 0:
        running_mean[...] = momentum * mean.astype(dtype) + (1 - momentum) * running_mean
        running_var[...] = momentum * var.astype(dtype) * (m / (m - 1)) + (1 - momentum) * running_var
    return out.reshape(x.shape), BatchNormCache(xhat, inv_std, weight, bias is not None, training, x.shape)


@numba.njit(parallel=True, cache=True)
def _forward_parallel(x, gamma, beta, mean, var, eps, training, xhat, out, inv_std, chunks):
    """:func:`_forward_kernel` over ``chunks`` ranges of channels, one per thread."""
    c = x.shape[1]
    for k in numba.prange(chunks):
        _forward_kernel(x, gamma, beta, mean, var, eps, training, xhat, out, inv_std, k * c // chunks,
                        (k + 1) * c // chunks)


@numba.njit(cache=True)
def _forward_kernel(x, gamma, beta, mean, var, eps, training, xhat, out, inv_std, c0, c1):
    """Channels c0 <= c < c1: in training mean[c], var[c] (biased) from x (two passes, float64); then
    x̂ = (x - mean)·inv_std, out = γ·x̂ + β, inv_std = 1/sqrt(var + eps) (computed in x's dtype)."""
    n, _, s = x.shape
    m = n * s
    for c in range(c0, c1):
        if training:
            total = 0.0
            for i in range(n):
                for j in range(s):
                    total += x[i, c, j]
            mu = total / m if m > 0 else np.nan
            total = 0.0
            for i in range(n):
                for j in range(s):
                    d = x[i, c, j] - mu
                    total += d * d
            mean[c], var[c] = mu, (total / m if m > 0 else np.nan)
        mu_c = x.dtype.type(mean[c])
        inv = x.dtype.type(1) / np.sqrt(x.dtype.type(var[c]) + x.dtype.type(eps))
        inv_std[c] = inv
        g, b = gamma[c], beta[c]
        for i in range(n):
            for j in range(s):
                h = (x[i, c, j] - mu_c) * inv
                xhat[i, c, j] = h
                out[i, c, j] = h * g + b


def batch_norm_backward(dout: np.ndarray, cache: BatchNormCache
                        ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients (dx, dγ, dβ) of :func:`batch_norm_forward` (dγ, dβ None where γ, β were None). Math:
    see the forward and :mod:`scratch.functional.norm`."""
    xhat, inv_std, weight, has_bias, training, x_shape = cache
    dout3 = norm_dout("batch_norm_backward", dout, x_shape, xhat.dtype).reshape(xhat.shape)
    c = xhat.shape[1]
    gamma = np.ones(c, xhat.dtype) if weight is None else weight
    dx, dgamma, dbeta = np.empty_like(xhat), np.empty(c, xhat.dtype), np.empty(c, xhat.dtype)
    run("norm", _backward_kernel, _backward_parallel, xhat.size, c, dout3, xhat, inv_std, gamma, training,
        dx, dgamma, dbeta)
    return dx.reshape(x_shape), (None if weight is None else dgamma), (dbeta if has_bias else None)


@numba.njit(parallel=True, cache=True)
def _backward_parallel(dout, xhat, inv_std, gamma, training, dx, dgamma, dbeta, chunks):
    """:func:`_backward_kernel` over ``chunks`` ranges of channels, one per thread."""
    c = xhat.shape[1]
    for k in numba.prange(chunks):
        _backward_kernel(dout, xhat, inv_std, gamma, training, dx, dgamma, dbeta, k * c // chunks,
                         (k + 1) * c // chunks)


@numba.njit(cache=True)
def _backward_kernel(dout, xhat, inv_std, gamma, training, dx, dgamma, dbeta, c0, c1):
    """Channels c0 <= c < c1: dβ = Σ dout, dγ = Σ dout·x̂ (float64), then dx by the three-term formula
    (training) or the affine map's γ/σ·dout."""
    n, _, s = xhat.shape
    m = n * s
    for c in range(c0, c1):
        sum_d, sum_dh = 0.0, 0.0
        for i in range(n):
            for j in range(s):
                sum_d += dout[i, c, j]
                sum_dh += dout[i, c, j] * xhat[i, c, j]
        dbeta[c], dgamma[c] = sum_d, sum_dh
        scale = gamma[c] * inv_std[c]
        if training:
            k = scale / m
            for i in range(n):
                for j in range(s):
                    dx[i, c, j] = k * (m * dout[i, c, j] - sum_d - xhat[i, c, j] * sum_dh)
        else:
            for i in range(n):
                for j in range(s):
                    dx[i, c, j] = scale * dout[i, c, j]
