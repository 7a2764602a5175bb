"""Hypothesis strategies for 2-D convolution: one drawn :class:`ConvCase` carries every hyperparameter.

Shapes stay small (a few channels, H, W <= ~12) so a case runs in milliseconds; hyperparameters are
drawn in every form torch accepts (int or pair; padding also 'valid'/'same'), and H, W are drawn so the
dilated kernel always fits the padded input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from parity_tests.strategies import distinct_array, float_dtypes, seeds

Pair = int | tuple[int, int]


def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@dataclass(frozen=True)
class ConvCase:
    """One conv2d configuration; ``kwargs()`` are the functional arguments shared by scratch and torch."""

    n: int
    c_in: int
    c_out: int
    groups: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: Pair = 1
    padding: Pair | str = 0
    dilation: Pair = 1
    bias: bool = True
    dtype: type = np.float64
    seed: int = 0
    unbatched: bool = False

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right), torch's rules ('same': the odd extra row/column at the end)."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            (dh, dw), (kh, kw) = _pair(self.dilation), self.kernel
            th, tw = dh * (kh - 1), dw * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        ph, pw = _pair(self.padding)
        return (ph, ph, pw, pw)

    def out_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.pads()
        (sh, sw), (dh, dw), (kh, kw) = _pair(self.stride), _pair(self.dilation), self.kernel
        return ((self.h + pt + pb - dh * (kh - 1) - 1) // sh + 1,
                (self.w + pl + pr - dw * (kw - 1) - 1) // sw + 1)

    def x_shape(self) -> tuple[int, ...]:
        shape = (self.n, self.c_in, self.h, self.w)
        return shape[1:] if self.unbatched else shape

    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in // self.groups, *self.kernel)

    def out_shape(self) -> tuple[int, ...]:
        shape = (self.n, self.c_out, *self.out_hw())
        return shape[1:] if self.unbatched else shape

    def reductions(self) -> dict[str, int]:
        """Longest sum behind each tensor: out sums C_in/g·kH·kW terms, dx at most C_out/g·kH·kW,
        dw and db N·H_out·W_out."""
        kh, kw = self.kernel
        spatial = max(1, self.n * self.out_hw()[0] * self.out_hw()[1])
        return dict(out=self.c_in // self.groups * kh * kw, dx=self.c_out // self.groups * kh * kw,
                    dw=spatial, db=spatial)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """(x, weight, bias or None, dout) with distinct values, dout distinct from everything else."""
        rng = np.random.default_rng(self.seed)
        x = distinct_array(rng, self.x_shape(), self.dtype)
        w = distinct_array(rng, self.w_shape(), self.dtype)
        b = distinct_array(rng, (self.c_out,), self.dtype) if self.bias else None
        dout = distinct_array(rng, self.out_shape(), self.dtype, -2.0, 2.0)
        return x, w, b, dout

    def __str__(self) -> str:
        batch = "unbatched" if self.unbatched else f"N={self.n}"
        return (f"{batch} C_in={self.c_in} C_out={self.c_out} groups={self.groups} {self.h}x{self.w} "
                f"k={self.kernel} stride={self.stride} padding={self.padding!r} dilation={self.dilation} "
                f"bias={self.bias} {np.dtype(self.dtype).name} seed={self.seed}")


def _int_or_pair(low: int, high: int) -> st.SearchStrategy[Pair]:
    one = st.integers(low, high)
    return st.one_of(one, st.tuples(one, one))


@st.composite
def conv_cases(draw, max_channels: int = 3, max_kernel: int = 4, max_extra: int = 6,
               dtypes: st.SearchStrategy = float_dtypes) -> ConvCase:
    """A ConvCase with C_in/groups and C_out/groups in [1, max_channels], groups in [1, 3]."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max_channels))
    c_out = groups * draw(st.integers(1, max_channels))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    dilation = draw(_int_or_pair(1, 2))
    padding = draw(st.one_of(_int_or_pair(0, 2), st.sampled_from(["valid", "same"])))
    stride = 1 if padding == "same" else draw(_int_or_pair(1, 3))
    unbatched = draw(st.booleans()) and draw(st.booleans())
    n = 1 if unbatched else draw(st.integers(1, 3))
    case = ConvCase(n, c_in, c_out, groups, 1, 1, kernel, stride, padding, dilation, draw(st.booleans()),
                    draw(dtypes), draw(seeds), unbatched)
    pt, pb, pl, pr = case.pads()
    (dh, dw), (kh, kw) = _pair(dilation), kernel
    h = max(1, dh * (kh - 1) + 1 - pt - pb) + draw(st.integers(0, max_extra))
    w = max(1, dw * (kw - 1) + 1 - pl - pr) + draw(st.integers(0, max_extra))
    return ConvCase(n, c_in, c_out, groups, h, w, kernel, stride, padding, dilation, case.bias, case.dtype,
                    case.seed, unbatched)


small_conv_cases = conv_cases(max_channels=2, max_kernel=3, max_extra=3, dtypes=st.just(np.float64))
