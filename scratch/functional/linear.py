"""Fully connected layer, the reference: ``out = x @ weight.T + bias`` over the last axis, as
``torch.nn.functional.linear``. The engine: :mod:`scratch.kernels.linear`."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from scratch.functional._checks import linear as checks

__all__ = ["linear_forward", "linear_backward"]


class LinearCache(NamedTuple):
    x: np.ndarray
    weight: np.ndarray
    has_bias: bool


def linear_forward(x: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray | None = None) -> tuple[np.ndarray, LinearCache]:
    """Affine map of the last axis, as ``torch.nn.functional.linear(x, weight, bias)``.

    Shapes:   x (*, in_features), weight (out_features, in_features), bias (out_features,) or None
              -> out (*, out_features); ``*`` is any number (zero included) of leading axes.
    Forward:  out[..., o] = Σ_i x[..., i] · weight[o, i] + bias[o]   (in_features = 0: out = bias)
    Backward: dx[..., i] = Σ_o dout[..., o] · weight[o, i]
              dweight[o, i] = Σ_rows dout[row, o] · x[row, i]   (rows: every leading index)
              dbias[o] = Σ_rows dout[row, o]
    Cache:    (x, weight, has_bias).
    """
    x, weight, bias = checks.linear_args(x, weight, bias)
    out = x @ weight.T  # (*, out_features)
    if bias is not None:
        out += bias
    return out, LinearCache(x, weight, bias is not None)


def linear_backward(dout: np.ndarray, cache: LinearCache,
                    input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear_forward`: ``(dx, dweight, dbias)`` (``dbias`` is None without a bias;
    ``dx`` is None with ``input_grad=False``, as torch skips it for an input that does not require grad).

    Shapes:   dout (*, out_features) -> dx (*, in_features), dweight (out_features, in_features),
              dbias (out_features,)
    Math:     see the forward.
    """
    x, weight, has_bias = cache
    dout = checks.linear_dout(dout, x, weight)
    (out_features, in_features), rows = weight.shape, math.prod(x.shape[:-1])
    x_rows, dout_rows = x.reshape(rows, in_features), dout.reshape(rows, out_features)
    dx = dout @ weight if input_grad else None  # (*, in_features)
    dw = dout_rows.T @ x_rows  # (out_features, in_features)
    db = dout_rows.sum(axis=0) if has_bias else None
    return dx, dw, db
