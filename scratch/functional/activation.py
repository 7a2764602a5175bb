"""Activations, the reference: ReLU, LeakyReLU, sigmoid, tanh, LeCun's scaled tanh, softmax, log-softmax.

All but the scaled tanh mirror ``torch.nn.functional``. Elementwise ops work on any shape; softmax and
log-softmax normalise along ``dim`` (negative dims allowed). |x| up to ~1e4 neither overflows nor gives
inf/nan where torch is finite: sigmoid only ever exponentiates -|x|, the softmaxes subtract the maximum
along ``dim``. Sigmoid, tanh and the softmaxes differentiate through their saved output, as torch's
autograd does. NaN propagates as in torch, and the gradients at the kinks are torch's.

Scalars are made in the input's dtype (float32 stays float32). ``np.asarray`` keeps a 0-D input's result
an array (NumPy's arithmetic on 0-D arrays returns scalars). The engine: :mod:`scratch.kernels.activation`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch.functional._checks import activation as checks

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward", "sigmoid_forward",
           "sigmoid_backward", "tanh_forward", "tanh_backward", "scaled_tanh_forward", "scaled_tanh_backward",
           "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward"]


class ReluCache(NamedTuple):
    out: np.ndarray


class LeakyReluCache(NamedTuple):
    x: np.ndarray
    negative_slope: np.generic


class SigmoidCache(NamedTuple):
    out: np.ndarray


class TanhCache(NamedTuple):
    out: np.ndarray


class ScaledTanhCache(NamedTuple):
    t: np.ndarray
    amplitude: np.generic
    slope: np.generic


class SoftmaxCache(NamedTuple):
    out: np.ndarray
    dim: int


class LogSoftmaxCache(NamedTuple):
    out: np.ndarray
    dim: int


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ReluCache]:
    """Rectified linear unit, as ``torch.relu``.

    Shapes:   x (*) -> out (*)
    Forward:  out = max(x, 0)   (NaN stays NaN)
    Backward: dx = 0 where out <= 0, else dout   (the gradient at x = 0 is 0; at NaN it is dout, as
              torch's ``threshold_backward``)
    Cache:    out.
    """
    x = checks.activation_input("relu", x)
    out = np.where(x <= 0, 0, x)  # NaN <= 0 is false: NaN propagates
    return out, ReluCache(out)


def relu_backward(dout: np.ndarray, cache: ReluCache) -> np.ndarray:
    """Gradient of :func:`relu_forward`. Math: see the forward."""
    dout = checks.activation_dout("relu_backward", dout, cache.out)
    return np.where(cache.out <= 0, 0, dout)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, LeakyReluCache]:
    """Leaky ReLU, as ``torch.nn.functional.leaky_relu(x, negative_slope)``.

    Shapes:   x (*) -> out (*)
    Forward:  out = x if x > 0 else negative_slope · x
    Backward: dx = dout if x > 0 else negative_slope · dout   (at x = 0 the slope is negative_slope,
              as torch's ``leaky_relu_backward``, which tests ``x > 0``)
    Cache:    (x, negative_slope in x's dtype).
    """
    x, slope = checks.leaky_relu_args(x, negative_slope)  # slope = x.dtype.type(negative_slope)
    return np.where(x > 0, x, x * slope), LeakyReluCache(x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReluCache) -> np.ndarray:
    """Gradient of :func:`leaky_relu_forward`. Math: see the forward."""
    x, slope = cache
    dout = checks.activation_dout("leaky_relu_backward", dout, x)
    return np.where(x > 0, dout, dout * slope)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, SigmoidCache]:
    """Logistic sigmoid, as ``torch.sigmoid``, computed without overflow for any |x|.

    Shapes:   x (*) -> out (*)
    Forward:  out = 1 / (1 + exp(-x)), evaluated as 1 / (1 + z) for x >= 0 and z / (1 + z) for x < 0
              with z = exp(-|x|) <= 1
    Backward: dx = dout · (1 - out) · out
    Cache:    out.
    """
    x = checks.activation_input("sigmoid", x)
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, SigmoidCache(out)


def sigmoid_backward(dout: np.ndarray, cache: SigmoidCache) -> np.ndarray:
    """Gradient of :func:`sigmoid_forward` from its saved output. Math: see the forward."""
    out = cache.out
    dout = checks.activation_dout("sigmoid_backward", dout, out)
    return np.asarray(dout * (1 - out) * out)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, TanhCache]:
    """Hyperbolic tangent, as ``torch.tanh``.

    Shapes:   x (*) -> out (*)
    Forward:  out = tanh(x)
    Backward: dx = dout · (1 - out²)
    Cache:    out.
    """
    out = np.asarray(np.tanh(checks.activation_input("tanh", x)))
    return out, TanhCache(out)


def tanh_backward(dout: np.ndarray, cache: TanhCache) -> np.ndarray:
    """Gradient of :func:`tanh_forward` from its saved output. Math: see the forward."""
    out = cache.out
    dout = checks.activation_dout("tanh_backward", dout, out)
    return np.asarray(dout * (1 - out * out))


def scaled_tanh_forward(x: np.ndarray, amplitude: float = 1.7159,
                        slope: float = 2.0 / 3.0) -> tuple[np.ndarray, ScaledTanhCache]:
    """LeCun's scaled tanh (LeNet-5), ``amplitude · tanh(slope · x)``, as ``1.7159 * torch.tanh(x * (2/3))``.

    Shapes:   x (*) -> out (*)
    Forward:  t = tanh(slope · x),  out = amplitude · t
    Backward: dx = ((dout · amplitude) · (1 - t²)) · slope   (from the saved t)
    Cache:    (t, amplitude, slope in x's dtype).
    """
    x, a, s = checks.scaled_tanh_args(x, amplitude, slope)
    t = np.asarray(np.tanh(x * s))
    return np.asarray(a * t), ScaledTanhCache(t, a, s)


def scaled_tanh_backward(dout: np.ndarray, cache: ScaledTanhCache) -> np.ndarray:
    """Gradient of :func:`scaled_tanh_forward` from its saved tanh. Math: see the forward."""
    t, a, s = cache
    dout = checks.activation_dout("scaled_tanh_backward", dout, t)
    return np.asarray(dout * a * (1 - t * t) * s)


def softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, SoftmaxCache]:
    """Softmax along ``dim``, as ``torch.softmax(x, dim)``; stable for logits of any spread.

    Shapes:   x (*) -> out (*), each slice along ``dim`` sums to 1
    Forward:  out = exp(x - m) / Σ_dim exp(x - m),  m = max_dim x   (NaN in a slice, or a slice of
              -inf, makes the slice NaN, as torch)
    Backward: dx = out · (dout - Σ_dim dout · out)
    Cache:    (out, dim).
    """
    x, dim = checks.softmax_args("softmax", x, dim)
    e = np.exp(_minus_max(x, dim))
    out = (e / e.sum(axis=dim, keepdims=True)).reshape(x.shape)
    return out, SoftmaxCache(out, dim)


def softmax_backward(dout: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """Gradient of :func:`softmax_forward` from its saved output. Math: see the forward."""
    y, dim = np.atleast_1d(cache.out), cache.dim
    g = np.atleast_1d(checks.activation_dout("softmax_backward", dout, cache.out))
    return (y * (g - np.sum(g * y, axis=dim, keepdims=True))).reshape(cache.out.shape)


def log_softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, LogSoftmaxCache]:
    """Log-softmax along ``dim``, as ``torch.log_softmax(x, dim)``; finite for logits of any spread.

    Shapes:   x (*) -> out (*)
    Forward:  out = (x - m) - log Σ_dim exp(x - m),  m = max_dim x
    Backward: dx = dout - exp(out) · Σ_dim dout
    Cache:    (out, dim).
    """
    x, dim = checks.softmax_args("log_softmax", x, dim)
    z = _minus_max(x, dim)
    with np.errstate(divide="ignore"):  # Σ is 0 only for an empty slice, whose -inf log no entry uses
        out = (z - np.log(np.exp(z).sum(axis=dim, keepdims=True))).reshape(x.shape)
    return out, LogSoftmaxCache(out, dim)


def log_softmax_backward(dout: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """Gradient of :func:`log_softmax_forward` from its saved output. Math: see the forward."""
    y, dim = np.atleast_1d(cache.out), cache.dim
    g = np.atleast_1d(checks.activation_dout("log_softmax_backward", dout, cache.out))
    return (g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)).reshape(cache.out.shape)


def _minus_max(x: np.ndarray, dim: int) -> np.ndarray:
    """``x - max_dim x`` (a 0-D x as 1-D; ``initial`` gives an empty slice a maximum; NaN propagates)."""
    x = np.atleast_1d(x)
    return x - np.max(x, axis=dim, keepdims=True, initial=-np.inf)
