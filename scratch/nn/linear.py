"""Dense layers: :class:`Linear`, :class:`Flatten`, :class:`Identity` (torch's signatures and defaults)."""

from __future__ import annotations

from typing import Any

import numpy as np

import scratch.functional as F
from scratch.functional._checks import to_int
from scratch.nn.init import default_weight_and_bias
from scratch.nn.module import Module, Parameter


def _saved(module: Module) -> Any:
    """``module``'s last forward cache (a clear error before any forward, as Conv2d's)."""
    if module._cache is None:
        raise RuntimeError(f"{type(module).__name__}: backward called before forward")
    return module._cache


class Linear(Module):
    """``out = x @ weight.T + bias`` over the last axis, as ``torch.nn.Linear``.

    Parameters ``weight`` (out_features, in_features) and ``bias`` (out_features,) (None with
    ``bias=False``) are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), torch's default init.

    Shape: input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = np.float32, rng: np.random.Generator | None = None):
        super().__init__()
        self.in_features = to_int("Linear", "in_features", in_features, minimum=0)
        self.out_features = to_int("Linear", "out_features", out_features, minimum=0)
        w, b = default_weight_and_bias((self.out_features, self.in_features), self.in_features, bool(bias),
                                       np.dtype(dtype), rng)
        self.weight = Parameter(w)
        self.bias = None if b is None else Parameter(b)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        bias = None if self.bias is None else self.bias.data
        out, self._cache = F.linear_forward(x, self.weight.data, bias)
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        dx, dw, db = F.linear_backward(dout, _saved(self), input_grad)
        self.weight.accumulate_grad(dw)
        if db is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        has_bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={has_bias}"


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one, as ``torch.nn.Flatten`` (default: all but the batch axis).

    Shape: input (N, *) -> output (N, prod(*)) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = to_int("Flatten", "start_dim", start_dim)
        self.end_dim = to_int("Flatten", "end_dim", end_dim)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.flatten_forward(x, self.start_dim, self.end_dim)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.flatten_backward(dout, _saved(self))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged, as ``torch.nn.Identity`` (constructor arguments are ignored)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout
