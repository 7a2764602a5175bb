"""Activations: ReLU, LeakyReLU, sigmoid, tanh, LeCun's scaled tanh, softmax, log-softmax.

All but the scaled tanh mirror ``torch.nn.functional``. Elementwise ops work on any shape; softmax and
log-softmax normalise along ``dim`` (negative dims allowed). Everything is vectorised NumPy
(memory-bound elementwise work, where Numba gains nothing), written so that |x| up to ~1e4 neither
overflows nor produces inf/nan where torch is finite: sigmoid only ever exponentiates -|x|, softmax and
log-softmax subtract the maximum along ``dim``. Sigmoid, tanh and softmax differentiate through their
saved output, as torch's autograd does.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from scratch.functional._checks import check_same_dtype, check_shape, float_array, wrap_dim


def _dout(op: str, dout: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``dout`` checked to be a float array of ``like``'s shape and dtype."""
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "output", like, "dout", dout)
    check_shape(op, "dout", dout, like.shape)
    return dout


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit, as ``torch.relu``.

    Shapes:   x (*) -> out (*)
    Forward:  out = max(x, 0)
    Backward: dx = dout where out > 0, else 0   (so the gradient at x = 0 is 0, as torch's)
    Cache:    out.
    """
    x = float_array("relu", "input", x)
    out = np.maximum(x, x.dtype.type(0))
    return out, out


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu_forward`. Math: see the forward."""
    out = cache
    dout = _dout("relu_backward", dout, out)
    return np.where(out <= 0, dout.dtype.type(0), dout)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, tuple]:
    """Leaky ReLU, as ``torch.nn.functional.leaky_relu(x, negative_slope)``.

    Shapes:   x (*) -> out (*)
    Forward:  out = x if x > 0 else negative_slope · x
    Backward: dx = dout if x > 0 else negative_slope · dout   (at x = 0 the slope is negative_slope,
              as torch's ``leaky_relu_backward``, which tests ``x > 0``)
    Cache:    (x, negative_slope in x's dtype).
    """
    op = "leaky_relu"
    x = float_array(op, "input", x)
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, Real):
        raise TypeError(f"{op}: expected negative_slope to be a real number, got {negative_slope!r}")
    slope = x.dtype.type(negative_slope)
    out = np.where(x > 0, x, x * slope)
    return out, (x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`leaky_relu_forward`. Math: see the forward."""
    x, slope = cache
    dout = _dout("leaky_relu_backward", dout, x)
    return np.where(x > 0, dout, dout * slope)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic sigmoid, as ``torch.sigmoid``, computed without overflow for any |x|.

    Shapes:   x (*) -> out (*)
    Forward:  out = 1 / (1 + exp(-x)), evaluated as 1 / (1 + z) for x >= 0 and z / (1 + z) for x < 0
              with z = exp(-|x|) <= 1
    Backward: dx = dout · out · (1 - out)
    Cache:    out.
    """
    x = float_array("sigmoid", "input", x)
    one = x.dtype.type(1)
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, one / (one + z), z / (one + z))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient of :func:`sigmoid_forward` from its saved output. Math: see the forward."""
    out = cache
    dout = _dout("sigmoid_backward", dout, out)
    return dout * (out.dtype.type(1) - out) * out


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hyperbolic tangent, as ``torch.tanh``.

    Shapes:   x (*) -> out (*)
    Forward:  out = tanh(x)
    Backward: dx = dout · (1 - out²)
    Cache:    out.
    """
    x = float_array("tanh", "input", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient of :func:`tanh_forward` from its saved output. Math: see the forward."""
    out = cache
    dout = _dout("tanh_backward", dout, out)
    return dout * (out.dtype.type(1) - out * out)


def scaled_tanh_forward(x: np.ndarray, amplitude: float = 1.7159,
                        slope: float = 2.0 / 3.0) -> tuple[np.ndarray, tuple]:
    """LeCun's scaled tanh (LeNet-5), ``amplitude · tanh(slope · x)``, as ``1.7159 * torch.tanh(x * (2/3))``.

    Shapes:   x (*) -> out (*)
    Forward:  t = tanh(slope · x),  out = amplitude · t
    Backward: dx = ((dout · amplitude) · (1 - t²)) · slope   (from the saved t)
    Cache:    (t, amplitude, slope in x's dtype).
    """
    op = "scaled_tanh"
    x = float_array(op, "input", x)
    for name, value in (("amplitude", amplitude), ("slope", slope)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            raise TypeError(f"{op}: expected {name} to be a real number, got {value!r}")
    a, s = x.dtype.type(amplitude), x.dtype.type(slope)
    t = np.tanh(x * s)
    return a * t, (t, a, s)


def scaled_tanh_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`scaled_tanh_forward` from its saved tanh. Math: see the forward."""
    t, a, s = cache
    dout = _dout("scaled_tanh_backward", dout, t)
    return (dout * a) * (t.dtype.type(1) - t * t) * s


def softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple[np.ndarray, int]]:
    """Softmax along ``dim``, as ``torch.softmax(x, dim)``; stable for logits of any spread.

    Shapes:   x (*) -> out (*), each slice along ``dim`` sums to 1
    Forward:  out = exp(x - m) / Σ_dim exp(x - m),  m = max_dim x
    Backward: dx = out · (dout - Σ_dim dout · out)
    Cache:    (out, dim).
    """
    x = float_array("softmax", "input", x)
    axis = wrap_dim("softmax", "dim", dim, x.ndim)
    shape, x = x.shape, x.reshape(x.shape or (1,))  # a 0-D input is a 1-element axis, as in torch
    if x.size == 0:
        out = np.empty_like(x)
    else:
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)
    out = out.reshape(shape)
    return out, (out, axis)


def softmax_backward(dout: np.ndarray, cache: tuple[np.ndarray, int]) -> np.ndarray:
    """Gradient of :func:`softmax_forward` from its saved output. Math: see the forward."""
    out, axis = cache
    dout = _dout("softmax_backward", dout, out)
    shape = out.shape or (1,)
    y, g = out.reshape(shape), dout.reshape(shape)
    dx = y * (g - np.sum(g * y, axis=axis, keepdims=True))
    return dx.reshape(out.shape)


def log_softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, tuple[np.ndarray, int]]:
    """Log-softmax along ``dim``, as ``torch.log_softmax(x, dim)``; finite for logits of any spread.

    Shapes:   x (*) -> out (*)
    Forward:  out = (x - m) - log Σ_dim exp(x - m),  m = max_dim x
    Backward: dx = dout - exp(out) · Σ_dim dout
    Cache:    (out, dim).
    """
    x = float_array("log_softmax", "input", x)
    axis = wrap_dim("log_softmax", "dim", dim, x.ndim)
    shape, x = x.shape, x.reshape(x.shape or (1,))  # a 0-D input is a 1-element axis, as in torch
    if x.size == 0:
        out = np.empty_like(x)
    else:
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    out = out.reshape(shape)
    return out, (out, axis)


def log_softmax_backward(dout: np.ndarray, cache: tuple[np.ndarray, int]) -> np.ndarray:
    """Gradient of :func:`log_softmax_forward` from its saved output. Math: see the forward."""
    out, axis = cache
    dout = _dout("log_softmax_backward", dout, out)
    shape = out.shape or (1,)
    y, g = out.reshape(shape), dout.reshape(shape)
    dx = g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)
    return dx.reshape(out.shape)
