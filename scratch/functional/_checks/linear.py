"""Argument checks of the dense layers, linear (shared by :mod:`scratch.functional.linear` and
:mod:`scratch.kernels.linear`, so that both raise the same errors) and flatten."""

from __future__ import annotations

import numpy as np

from scratch.functional._checks import check_ndim, check_same_dtype, check_shape, float_array, wrap_dim_fast


def linear_args(x: object, weight: object, bias: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """linear's ``x (*, in_features)``, ``weight (out_features, in_features)`` and ``bias (out_features,)``
    or None, as C-contiguous arrays of one float dtype."""
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
    if bias is not None:
        bias = float_array(op, "bias", bias)
        check_same_dtype(op, "input", x, "bias", bias)
        check_shape(op, "bias", bias, (weight.shape[0],))
    return x, weight, bias


def linear_dout(dout: object, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """linear_backward's ``dout``: a float array of x's dtype and shape (*, out_features)."""
    op = "linear_backward"
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "input", x, "dout", dout)
    check_shape(op, "dout", dout, x.shape[:-1] + (weight.shape[0],))
    return dout


def flatten_dims(x: object, start_dim: object, end_dim: object) -> tuple[int, int]:
    """flatten's ``start_dim`` and ``end_dim`` wrapped into ``[0, ndim)`` (0-D counts as 1-D), start <= end."""
    op = "flatten"
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: expected input to be a numpy.ndarray, got {type(x).__name__}")
    start = wrap_dim_fast(op, "start_dim", start_dim, x.ndim)
    end = wrap_dim_fast(op, "end_dim", end_dim, x.ndim)
    if start > end:
        raise ValueError(f"{op}: start_dim cannot come after end_dim, got start_dim={start_dim} "
                         f"(dim {start}) and end_dim={end_dim} (dim {end}) for a {x.ndim}-D input")
    return start, end


def flatten_dout(dout: object, out_shape: tuple[int, ...]) -> np.ndarray:
    """flatten_backward's ``dout``: an array of the forward output's shape."""
    op = "flatten_backward"
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{op}: expected dout to be a numpy.ndarray, got {type(dout).__name__}")
    check_shape(op, "dout", dout, out_shape)
    return dout
