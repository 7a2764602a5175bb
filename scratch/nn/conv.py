"""``Conv2d``: torch.nn.Conv2d's constructor, parameters and repr over :mod:`scratch.functional.conv`.

A padding mode other than 'zeros' pads x with ``pad2d_forward`` (reflect / replicate / circular) and then
convolves without padding, as torch.nn.Conv2d does with F.pad.
"""

from __future__ import annotations

import numpy as np

import scratch.functional as F
from scratch.functional._checks import FLOAT_DTYPES, to_int, to_pair
from scratch.functional._checks.conv import PaddingArg, conv_pair, resolve_padding
from scratch.nn.init import default_weight_and_bias
from scratch.nn.module import Module, Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """2-D convolution layer, as ``torch.nn.Conv2d``.

    ``padding_mode`` is 'zeros', 'reflect' (pad < H, W), 'replicate' or 'circular' (pad <= H, W), with any
    padding including 'same'. stride, padding and dilation take an int or a tuple of 1 or 2 ints;
    kernel_size an int or a pair (torch's Conv2d fails on a 1-tuple kernel_size too). The state dict is
    torch's (weight, bias) whatever the mode.

    Parameters: ``weight`` (C_out, C_in/groups, kH, kW) and ``bias`` (C_out,) or None, both drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in/groups · kH · kW (torch's default init).
    ``forward(x)`` keeps the cache; ``backward(dout)`` returns dx and accumulates ``weight.grad`` and
    ``bias.grad``. Subclasses may override :meth:`_effective_weight` (e.g. to apply a mask).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: PaddingArg = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, dtype=np.float32, rng: np.random.Generator | None = None):
        super().__init__()
        op = "Conv2d"
        in_channels = to_int(op, "in_channels", in_channels, 1)
        out_channels = to_int(op, "out_channels", out_channels, 1)
        groups = to_int(op, "groups", groups, 1)
        if in_channels % groups:
            raise ValueError(f"Conv2d: in_channels must be divisible by groups, "
                             f"got in_channels={in_channels}, groups={groups}")
        if out_channels % groups:
            raise ValueError(f"Conv2d: out_channels must be divisible by groups, "
                             f"got out_channels={out_channels}, groups={groups}")
        kernel_size = to_pair(op, "kernel_size", kernel_size, 1)
        stride = conv_pair(op, "stride", stride, 1)
        dilation = conv_pair(op, "dilation", dilation, 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: invalid padding string {padding!r}, "
                                 f"should be one of 'valid', 'same'")
            resolve_padding(op, padding, stride, dilation, kernel_size)
        else:
            padding = conv_pair(op, "padding", padding, 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {', '.join(map(repr, _PADDING_MODES))}, "
                             f"got padding_mode={padding_mode!r}")
        if np.dtype(dtype) not in FLOAT_DTYPES:
            raise TypeError(f"Conv2d: expected dtype float32 or float64, got {np.dtype(dtype)}")

        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode = padding_mode
        fan_in = in_channels // groups * kernel_size[0] * kernel_size[1]
        shape = (out_channels, in_channels // groups, *kernel_size)
        w, b = default_weight_and_bias(shape, fan_in, bool(bias), dtype, rng)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if b is not None else None
        self._cache = self._pad_cache = None

    def _effective_weight(self) -> np.ndarray:
        """The weight the convolution uses (``weight.data`` here)."""
        return self.weight.data

    def forward(self, x: np.ndarray) -> np.ndarray:
        bias = None if self.bias is None else self.bias.data
        padding, self._pad_cache = self.padding, None
        if self.padding_mode != "zeros":
            pt, pb, pl, pr = resolve_padding("Conv2d", padding, self.stride, self.dilation, self.kernel_size)
            x, self._pad_cache = F.pad2d_forward(x, (pl, pr, pt, pb), self.padding_mode)
            padding = 0
        out, self._cache = F.conv2d_forward(x, self._effective_weight(), bias, self.stride, padding,
                                            self.dilation, self.groups)
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if self._cache is None:
            raise RuntimeError("Conv2d: backward called before forward")
        dx, dw, db = F.conv2d_backward(dout, self._cache, input_grad)
        self.weight.accumulate_grad(dw)
        if self.bias is not None:
            self.bias.accumulate_grad(db)
        if dx is not None and self._pad_cache is not None:
            dx = F.pad2d_backward(dx, self._pad_cache)
        return dx

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
