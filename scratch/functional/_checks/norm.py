"""Argument checks shared by both tiers of the normalization family (batch norm, dropout): identical
errors on both, worded as torch's where torch has a message.

:func:`batch_norm_args` validates a batch-norm call (x (N, C, *), the per-channel vectors, the mode and
the factors) and returns x as (N, C, S) with S the product of the spatial axes; :func:`norm_dout` checks
an upstream gradient; :func:`dropout_args` validates a dropout call and :func:`feature_shape` gives the
shape of a channel-wise (Dropout2d) mask.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from scratch.functional._checks import check_ndim, check_shape, float_array
from scratch.functional._checks.pool import check_bool


def _real(op: str, name: str, value: object) -> float:
    """``value`` as a float (a real number, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{op}: expected {name} to be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _channel_vector(op: str, name: str, v: object, x: np.ndarray, in_place: bool) -> np.ndarray | None:
    """None, or an array of shape (C,) with x's dtype (running statistics stay the caller's array: they
    are updated in place, as torch updates its buffers)."""
    if v is None:
        return None
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray or None, got {type(v).__name__}")
    c = x.shape[1]
    if v.shape != (c,):
        raise ValueError(f"{op}: {name} should contain {c} elements not {v.size} (one per channel of x, "
                         f"shape {x.shape}; got {name} of shape {v.shape})")
    if v.dtype != x.dtype:
        raise TypeError(f"{op}: expected {name} to have the dtype of x ({x.dtype}), got {v.dtype} "
                        f"(torch: mixed dtype (CPU): all inputs must share same datatype)")
    if in_place and not v.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only; the running statistics are updated in place")
    return v if in_place else np.ascontiguousarray(v)


def batch_norm_args(op: str, x: object, running_mean: object, running_var: object, weight: object,
                    bias: object, training: object, momentum: object,
                    eps: object) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None,
                                          np.ndarray | None, bool, float, float]:
    """A batch-norm call checked as torch checks it: x (N, C, *) as (N, C, S), the vectors, training,
    momentum and eps (> 0 in training, >= 0 in evaluation, as torch). Training needs more than one value
    per channel (N·S > 1); evaluation needs the running statistics."""
    x = float_array(op, "x", x)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected x of shape (N, C, *) (at least 2-D), got {x.ndim}-D with shape {x.shape}")
    x3 = x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # (N, C, S)
    running_mean = _channel_vector(op, "running_mean", running_mean, x, True)
    running_var = _channel_vector(op, "running_var", running_var, x, True)
    weight = _channel_vector(op, "weight", weight, x, False)
    bias = _channel_vector(op, "bias", bias, x, False)
    training = check_bool(op, "training", training)
    momentum, eps = _real(op, "momentum", momentum), _real(op, "eps", eps)
    if training and not eps > 0:
        raise ValueError(f"{op}: eps must be positive during training, but got {eps}")
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be non-negative, but got {eps}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: expected running_mean and running_var both given or both None")
    if training and x3.shape[0] * x3.shape[2] == 1:
        raise ValueError(f"{op}: Expected more than 1 value per channel when training, got input size "
                         f"{tuple(x.shape)}")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean must be defined in evaluation mode (training=False uses the "
                         f"running statistics)")
    return x3, running_mean, running_var, weight, bias, training, momentum, eps


def norm_dout(op: str, dout: object, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient checked against the forward's output shape and dtype."""
    dout = float_array(op, "dout", dout)
    if dout.dtype != dtype:
        raise TypeError(f"{op}: expected dout to have the dtype of the forward input ({dtype}), got {dout.dtype}")
    check_shape(op, "dout", dout, shape)
    return dout


def dropout_args(op: str, x: object, p: object, training: object) -> tuple[np.ndarray, float, bool]:
    """x (any shape), p in [0, 1] (torch's message) and training (a bool)."""
    x = float_array(op, "x", x)
    p = _real(op, "p", p)
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return x, p, check_bool(op, "training", training)


def feature_shape(op: str, x: np.ndarray) -> tuple[int, ...]:
    """The mask shape of channel-wise dropout: (N, C, 1, 1) for (N, C, H, W), (N, C, 1) for (N, C, L)
    (torch's dropout2d reading of a 3-D input)."""
    check_ndim(op, "x", x, (3, 4), "(N, C, H, W) or (N, C, L)")
    return x.shape[:2] + (1,) * (x.ndim - 2)
