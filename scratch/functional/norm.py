"""Batch normalization and dropout, as torch.nn.functional.batch_norm / dropout / dropout2d: the reference,
in plain NumPy.

Batch norm normalizes each channel c of x (N, C, *) over its m = N·S values (S: the product of the
spatial axes), then applies the per-channel affine map::

    x̂ = (x - μ) / σ,   σ = sqrt(v + eps),   out = γ·x̂ + β

with (μ, v) the batch mean and *biased* variance (1/m) Σ (x - μ)² in training, and the running estimates
in evaluation. Training also moves the running estimates towards the batch's, with the *unbiased*
variance (as torch): ``r ← (1 - momentum)·r + momentum·b``, b = μ or v·m/(m-1).

The backward, from the chain rule through μ and v (both depend on every x_j of the channel)::

    ∂x̂_j/∂x_i = (δ_ij - 1/m)/σ - x̂_i x̂_j/(m σ)      (∂μ/∂x_i = 1/m, ∂v/∂x_i = 2(x_i - μ)/m)

so, with dx̂ = γ·dout, summing dx̂_j ∂x̂_j/∂x_i over j gives the three-term formula::

    dx = (1/m)·(γ/σ)·(m·dout - Σ dout - x̂·Σ(dout·x̂))

(the sums run over the channel's m values). With fixed statistics (evaluation) μ and σ are constants
and the backward is the affine map's: dx = γ/σ·dout. In both modes dγ = Σ dout·x̂ and dβ = Σ dout.

Dropout (inverted): out = x·noise with noise = keep/(1-p), keep ~ Bernoulli(1-p) drawn from a NumPy
Generator, so the expected output is x and evaluation is the identity; dx = dout·noise. As torch:
p = 0 or evaluation returns x itself, p = 1 gives x·0 (zeros; NaN stays NaN). Channel-wise dropout
(dropout2d) draws one keep per (n, c) and zeroes whole channels. Checks:
:mod:`scratch.functional._checks.norm`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch.functional._checks.norm import batch_norm_args, dropout_args, feature_shape, norm_dout

__all__ = ["batch_norm_forward", "batch_norm_backward", "dropout_forward", "dropout_backward",
           "dropout2d_forward", "dropout2d_backward"]


class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_backward` needs: x̂ (N, C, S), 1/σ (C,), γ (or None), whether there is a
    β, whether batch statistics were used, and x's shape."""

    xhat: np.ndarray
    inv_std: np.ndarray
    weight: np.ndarray | None
    has_bias: bool
    training: bool
    x_shape: tuple[int, ...]


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs: the noise x was multiplied by (keep/(1-p), broadcasting over
    x; None for the identity), and x's shape and dtype."""

    noise: np.ndarray | None
    x_shape: tuple[int, ...]
    dtype: np.dtype


def batch_norm_forward(x: np.ndarray, running_mean: np.ndarray | None, running_var: np.ndarray | None,
                       weight: np.ndarray | None = None, bias: np.ndarray | None = None, training: bool = False,
                       momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalization over the channels of x, as torch.nn.functional.batch_norm (CPU).

    Shapes:   x (N, C, *) -> out of x's shape; running_mean, running_var, weight (γ), bias (β): (C,) or None.
    Forward:  out = γ·(x - μ)/sqrt(v + eps) + β per channel (module docstring); training: μ, v the batch
              mean and biased variance over the N·S values, and running_mean/running_var (when given)
              updated in place, r ← (1 - momentum)·r + momentum·b with the unbiased variance; else μ, v
              the running statistics.
    Backward: dx = (1/m)·(γ/σ)·(m·dout - Σ dout - x̂·Σ(dout·x̂)) in training, γ/σ·dout in evaluation;
              dγ = Σ dout·x̂, dβ = Σ dout (sums over n and the spatial axes).
    Cache:    x̂, 1/σ, γ, whether β is given, training, x's shape.
    """
    x3, running_mean, running_var, weight, bias, training, momentum, eps = batch_norm_args(
        "batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps)
    m = x3.shape[0] * x3.shape[2]                     # values per channel
    if training:
        mean, var = x3.mean(axis=(0, 2)), x3.var(axis=(0, 2))           # (C,), biased: (1/m) Σ (x - μ)²
        if running_mean is not None and m > 0:
            running_mean[...] = momentum * mean + (1 - momentum) * running_mean
            running_var[...] = momentum * var * (m / (m - 1)) + (1 - momentum) * running_var
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + x3.dtype.type(eps))                     # (C,)
    xhat = (x3 - mean[:, None]) * inv_std[:, None]                      # (N, C, S)
    out = xhat if weight is None else xhat * weight[:, None]
    out = out if bias is None else out + bias[:, None]
    return out.reshape(x.shape), BatchNormCache(xhat, inv_std, weight, bias is not None, training, x.shape)


def batch_norm_backward(dout: np.ndarray, cache: BatchNormCache
                        ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients (dx, dγ, dβ) of :func:`batch_norm_forward` (dγ, dβ None where γ, β were None). Math:
    see the forward and the module docstring."""
    xhat, inv_std, weight, has_bias, training, x_shape = cache
    dout3 = norm_dout("batch_norm_backward", dout, x_shape, xhat.dtype).reshape(xhat.shape)   # (N, C, S)
    m = xhat.shape[0] * xhat.shape[2]
    gamma = np.ones_like(inv_std) if weight is None else weight
    sum_dout, sum_dout_xhat = dout3.sum(axis=(0, 2)), (dout3 * xhat).sum(axis=(0, 2))     # (C,)
    if training:   # the three-term formula
        dx = (gamma * inv_std / m)[:, None] * (m * dout3 - sum_dout[:, None] - xhat * sum_dout_xhat[:, None])
    else:          # fixed statistics: the affine map's
        dx = (gamma * inv_std)[:, None] * dout3
    return (dx.reshape(x_shape), None if weight is None else sum_dout_xhat, sum_dout if has_bias else None)


def dropout_forward(x: np.ndarray, p: float = 0.5, training: bool = True,
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout, as torch.nn.functional.dropout (CPU).

    Shapes:   x (any) -> out of x's shape.
    Forward:  out = x·keep/(1-p), keep ~ Bernoulli(1-p) per element from ``rng`` (default: the generator
              of :func:`scratch.nn.init.manual_seed`); x itself when p = 0 or not training; x·0 when p = 1.
    Backward: dx = dout·keep/(1-p) (dout itself for the identity).
    Cache:    the noise keep/(1-p) (None for the identity), x's shape and dtype.
    """
    x, p, training = dropout_args("dropout", x, p, training)
    return _dropout(x, p, training, x.shape, rng)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Gradient of :func:`dropout_forward` with respect to x: dout·noise. Math: see the forward."""
    noise, x_shape, dtype = cache
    dout = norm_dout("dropout_backward", dout, x_shape, dtype)
    return dout if noise is None else dout * noise


def dropout2d_forward(x: np.ndarray, p: float = 0.5, training: bool = True,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, DropoutCache]:
    """Channel-wise dropout, as torch.nn.functional.dropout2d (CPU): whole channels are zeroed.

    Shapes:   x (N, C, H, W), or (N, C, L) as torch reads a 3-D input -> out of x's shape.
    Forward:  out[n,c] = x[n,c]·keep[n,c]/(1-p), one keep ~ Bernoulli(1-p) per (n, c); the identity and
              p = 1 as :func:`dropout_forward`.
    Backward: dx[n,c] = dout[n,c]·keep[n,c]/(1-p).
    Cache:    the noise keep/(1-p) of shape (N, C, 1, 1) (or (N, C, 1); None for the identity), x's shape
              and dtype.
    """
    x, p, training = dropout_args("dropout2d", x, p, training)
    return _dropout(x, p, training, feature_shape("dropout2d", x), rng)


def dropout2d_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Gradient of :func:`dropout2d_forward` with respect to x: dout·noise (broadcast over each channel)."""
    return dropout_backward(dout, cache)


def _dropout(x: np.ndarray, p: float, training: bool, shape: tuple[int, ...],
             rng: np.random.Generator | None) -> tuple[np.ndarray, DropoutCache]:
    """x·noise, noise = Bernoulli(1-p) of ``shape`` / (1-p), in torch's order (noise first, then the
    product); the identity and p = 1 as torch's ``_dropout_impl``."""
    if p == 0 or not training or x.size == 0:
        return x, DropoutCache(None, x.shape, x.dtype)
    if p == 1:
        noise = np.zeros((), dtype=x.dtype)
    else:
        rng = _default_rng() if rng is None else rng
        noise = (rng.random(shape) < 1 - p).astype(x.dtype) / x.dtype.type(1 - p)
    with np.errstate(invalid="ignore"):  # inf·0 = nan, silently, as torch
        return x * noise, DropoutCache(noise, x.shape, x.dtype)


def _default_rng() -> np.random.Generator:
    """The generator of :mod:`scratch.nn.init` (reseeded by ``manual_seed``), as torch's dropout draws from
    the generator that ``torch.manual_seed`` seeds (imported here: scratch.nn imports this package)."""
    from scratch.nn.init import default_rng

    return default_rng()
