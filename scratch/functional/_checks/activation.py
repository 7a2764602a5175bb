"""Argument checks of the activations, shared by the reference (:mod:`scratch.functional.activation`) and
the kernels (:mod:`scratch.kernels.activation`), so that both raise the same errors."""

from __future__ import annotations

from numbers import Real

import numpy as np

from scratch.functional._checks import check_same_dtype, check_shape, float_array, wrap_dim_fast


def activation_input(op: str, x: object) -> np.ndarray:
    """``x`` as a C-contiguous float32/float64 array (TypeError naming ``op`` otherwise)."""
    return float_array(op, "input", x)


def activation_dout(op: str, dout: object, like: np.ndarray) -> np.ndarray:
    """``dout`` checked to be a float array of the saved ``like``'s shape and dtype."""
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "output", like, "dout", dout)
    check_shape(op, "dout", dout, like.shape)
    return dout


def real_scalar(op: str, name: str, value: object, dtype: np.dtype) -> np.generic:
    """A real number (bool refused) as a scalar of ``dtype``: float32 inputs get float32 constants, as
    torch converts its scalar arguments to the tensor's dtype."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{op}: expected {name} to be a real number, got {value!r}")
    return dtype.type(value)


def leaky_relu_args(x: object, negative_slope: object) -> tuple[np.ndarray, np.generic]:
    """leaky_relu's input and its slope in the input's dtype."""
    x = activation_input("leaky_relu", x)
    return x, real_scalar("leaky_relu", "negative_slope", negative_slope, x.dtype)


def scaled_tanh_args(x: object, amplitude: object, slope: object) -> tuple[np.ndarray, np.generic, np.generic]:
    """scaled_tanh's input, amplitude and slope (the two in the input's dtype)."""
    x = activation_input("scaled_tanh", x)
    return (x, real_scalar("scaled_tanh", "amplitude", amplitude, x.dtype),
            real_scalar("scaled_tanh", "slope", slope, x.dtype))


def softmax_args(op: str, x: object, dim: object) -> tuple[np.ndarray, int]:
    """(log-)softmax's input and ``dim`` wrapped into ``[0, ndim)`` (a 0-D input counts as 1-D)."""
    x = activation_input(op, x)
    return x, wrap_dim_fast(op, "dim", dim, x.ndim)


def module_dim(op: str, dim: object) -> int | None:
    """``Softmax(dim=...)``'s argument: a Python int or None, else TypeError at construction, as torch."""
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool)):
        raise TypeError(f"{op}: dim must be an int or None, got {type(dim)}")
    return dim
