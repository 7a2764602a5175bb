"""Activation layers over :mod:`scratch.functional.activation` (torch's signatures and defaults).

``inplace`` arguments are accepted for signature compatibility and ignored: outputs are always new arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

from scratch.functional import activation as F
from scratch.nn.module import Module


class ReLU(Module):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU`` (gradient 0 at x = 0). Shape: (*) -> (*)."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.relu_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.relu_backward(dout, self._cache)


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope · x``, as ``torch.nn.LeakyReLU``. Shape: (*) -> (*)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise, as ``torch.nn.Sigmoid``. Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.sigmoid_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.sigmoid_backward(dout, self._cache)


class Tanh(Module):
    """``tanh(x)`` elementwise, as ``torch.nn.Tanh``. Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.tanh_backward(dout, self._cache)


class ScaledTanh(Module):
    """LeCun's squashing function ``1.7159 · tanh(2x/3)`` (LeNet-5). Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.scaled_tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.scaled_tanh_backward(dout, self._cache)


def _implicit_dim(name: str, ndim: int) -> int:
    """torch's legacy ``_get_softmax_dim``: 0 for 0-, 1- and 3-D inputs, else 1 (with torch's warning)."""
    warnings.warn(f"{name}: implicit dimension choice for softmax has been deprecated. "
                  "Pass dim=X explicitly.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim``, as ``torch.nn.Softmax``. Shape: (*) -> (*).

    ``dim=None`` keeps torch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else 1) and warns.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        dim = _implicit_dim("Softmax", np.ndim(x)) if self.dim is None else self.dim
        out, self._cache = F.softmax_forward(x, dim)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.softmax_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``, as ``torch.nn.LogSoftmax``. Shape: (*) -> (*).

    ``dim=None`` keeps torch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else 1) and warns.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        dim = _implicit_dim("LogSoftmax", np.ndim(x)) if self.dim is None else self.dim
        out, self._cache = F.log_softmax_forward(x, dim)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.log_softmax_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
