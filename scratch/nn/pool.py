"""Pooling layers over :mod:`scratch.functional.pool`: torch's MaxPool2d and AvgPool2d, LeNet's SumPool2d."""

from __future__ import annotations

import numpy as np

import scratch.functional as F
from scratch.nn.module import Module

IntPair = int | tuple[int, int]


class MaxPool2d(Module):
    """Max pooling, as torch.nn.MaxPool2d; see :func:`F.max_pool2d_forward`.

    With ``return_indices=True`` the forward returns ``(out, indices)``, the flat argmax of each window
    in its H×W plane (torch's int64 indices, usable by an unpooling layer); ``backward`` takes ``dout``.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        out, self._cache = F.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                                self.dilation, self.ceil_mode)
        if self.return_indices:
            return out, self._cache.indices.copy()
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.max_pool2d_backward(dout, _cache_of(self))

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling, as torch.nn.AvgPool2d; see :func:`F.avg_pool2d_forward`."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                                self.ceil_mode, self.count_include_pad,
                                                self.divisor_override)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.avg_pool2d_backward(dout, _cache_of(self))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class SumPool2d(Module):
    """Sum pooling, LeNet's subsampling (AvgPool2d × kH·kW); see :func:`F.sum_pool2d_forward`.

    torch has no such layer; its reference is torch.nn.AvgPool2d(..., divisor_override=1).
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = F.sum_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                                self.ceil_mode)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.sum_pool2d_backward(dout, _cache_of(self))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _cache_of(module: Module):
    if module._cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return module._cache
