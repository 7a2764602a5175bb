"""Activation layers over :mod:`scratch.functional.activation` (torch's signatures and defaults).

``inplace`` arguments are accepted for signature compatibility and ignored: outputs are always new arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

import scratch.functional as F
from scratch.functional._checks.activation import module_dim
from scratch.nn.module import Module


class _Activation(Module):
    """An activation layer: ``forward`` keeps the op's cache, ``backward`` hands it to the op's backward."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def _saved(self) -> object:
        """The last forward's cache (a clear error before any forward, as Conv2d's)."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return self._cache


class ReLU(_Activation):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU`` (gradient 0 at x = 0). Shape: (*) -> (*)."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.relu_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.relu_backward(dout, self._saved())


class LeakyReLU(_Activation):
    """``x if x > 0 else negative_slope · x``, as ``torch.nn.LeakyReLU``. Shape: (*) -> (*)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` elementwise, as ``torch.nn.Sigmoid``. Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.sigmoid_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.sigmoid_backward(dout, self._saved())


class Tanh(_Activation):
    """``tanh(x)`` elementwise, as ``torch.nn.Tanh``. Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.tanh_backward(dout, self._saved())


class ScaledTanh(_Activation):
    """LeCun's squashing function ``1.7159 · tanh(2x/3)`` (LeNet-5). Shape: (*) -> (*)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.scaled_tanh_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.scaled_tanh_backward(dout, self._saved())


def _implicit_dim(name: str, ndim: int) -> int:
    """torch's legacy ``_get_softmax_dim``: 0 for 0-, 1- and 3-D inputs, else 1 (with torch's warning)."""
    warnings.warn(f"{name}: implicit dimension choice for softmax has been deprecated. "
                  "Pass dim=X explicitly.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(_Activation):
    """Softmax along ``dim``, as ``torch.nn.Softmax``. Shape: (*) -> (*).

    ``dim=None`` keeps torch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else 1) and warns;
    a dim that is not an int (True, 1.0) is a TypeError at construction, as in torch.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = module_dim("Softmax", dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        dim = _implicit_dim("Softmax", np.ndim(x)) if self.dim is None else self.dim
        out, self._cache = F.softmax_forward(x, dim)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.softmax_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(_Activation):
    """Log-softmax along ``dim``, as ``torch.nn.LogSoftmax``. Shape: (*) -> (*).

    ``dim=None`` keeps torch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else 1) and warns;
    a dim that is not an int (True, 1.0) is a TypeError at construction, as in torch.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = module_dim("LogSoftmax", dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        dim = _implicit_dim("LogSoftmax", np.ndim(x)) if self.dim is None else self.dim
        out, self._cache = F.log_softmax_forward(x, dim)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.log_softmax_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
