"""Fully connected layer: ``out = x @ W^T + b`` over the last axis, as ``torch.nn.functional.linear``.

Pure NumPy: the work is two matrix products, which BLAS does better than any hand-written kernel.
"""

from __future__ import annotations

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
    out = x @ weight.T
    if bias is not None:
        bias = float_array(op, "bias", bias)
        check_same_dtype(op, "input", x, "bias", bias)
        check_shape(op, "bias", bias, (weight.shape[0],))
        out += bias
    return out, (x, weight, bias is not None)


def linear_backward(dout: np.ndarray,
                    cache: LinearCache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear_forward`: ``(dx, dweight, dbias)`` (``dbias`` is None without a bias).

    Shapes:   dout (*, out_features) -> dx (*, in_features), dweight (out_features, in_features),
              dbias (out_features,)
    Math:     see the forward.
    """
    op = "linear_backward"
    x, weight, has_bias = cache
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "input", x, "dout", dout)
    check_shape(op, "dout", dout, x.shape[:-1] + (weight.shape[0],))
    dx = dout @ weight
    dout2 = dout.reshape(-1, weight.shape[0])
    dw = dout2.T @ x.reshape(-1, weight.shape[1])
    db = dout2.sum(axis=0) if has_bias else None
    return dx, dw, db
