"""Hypothesis strategies for 2-D convolution: one drawn :class:`ConvCase` carries every hyperparameter,
:func:`conv_draws` adds its arrays (:class:`ConvDraw`).

Shapes stay small (a few channels, H, W <= ~12) so a case runs in milliseconds; hyperparameters are
drawn in every form torch accepts (int, 1-tuple or pair; padding also 'valid'/'same'; the Conv2d padding
modes), and H, W are drawn so the dilated kernel always fits the padded input (and a reflect pad stays
below the size of its axis). The arrays are drawn by ``hypothesis.extra.numpy`` (so a failure shrinks to
small readable values, dout with distinct entries) where the case has at most :data:`MAX_DRAWN` values,
else built from the case's seed with distinct values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from parity_tests.strategies import distinct_array, float_dtypes, seeds

Pair = int | tuple[int] | tuple[int, int]
MAX_DRAWN = 600
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[-1])


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
    padding_mode: str = "zeros"

    def kwargs(self) -> dict:
        """The functional arguments (a padding mode other than 'zeros' needs the module)."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def module_kwargs(self) -> dict:
        """nn.Conv2d's constructor arguments."""
        return dict(in_channels=self.c_in, out_channels=self.c_out, kernel_size=self.kernel,
                    bias=self.bias, padding_mode=self.padding_mode, **self.kwargs())

    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right), torch's rules ('same': the odd extra row/column at the end)."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            (dil_h, dil_w), (kh, kw) = _pair(self.dilation), self.kernel
            th, tw = dil_h * (kh - 1), dil_w * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        ph, pw = _pair(self.padding)
        return (ph, ph, pw, pw)

    def out_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.pads()
        (sh, sw), (dil_h, dil_w), (kh, kw) = _pair(self.stride), _pair(self.dilation), self.kernel
        return ((self.h + pt + pb - dil_h * (kh - 1) - 1) // sh + 1,
                (self.w + pl + pr - dil_w * (kw - 1) - 1) // sw + 1)

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

    def seeded(self) -> ConvDraw:
        """This case with the arrays of :meth:`arrays` (for ``@example``)."""
        return ConvDraw(self, *self.arrays())

    def __str__(self) -> str:
        batch = "unbatched" if self.unbatched else f"N={self.n}"
        return (f"{batch} C_in={self.c_in} C_out={self.c_out} groups={self.groups} {self.h}x{self.w} "
                f"k={self.kernel} stride={self.stride} padding={self.padding!r} dilation={self.dilation} "
                f"bias={self.bias} padding_mode={self.padding_mode} {np.dtype(self.dtype).name} seed={self.seed}")


class ConvDraw(NamedTuple):
    """A case and its arrays (x, weight, bias or None, dout)."""

    case: ConvCase
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    dout: np.ndarray

    def __str__(self) -> str:
        return str(self.case)


def _int_or_pair(low: int, high: int) -> st.SearchStrategy[Pair]:
    one = st.integers(low, high)
    return st.one_of(one, st.tuples(one), st.tuples(one, one))


@st.composite
def conv_cases(draw, max_channels: int = 3, max_kernel: int = 4, max_extra: int = 6,
               dtypes: st.SearchStrategy = float_dtypes, max_batch: int = 3,
               padding_modes: tuple[str, ...] = ("zeros",)) -> ConvCase:
    """A ConvCase with C_in/groups and C_out/groups in [1, max_channels], groups in [1, 3]."""
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, max_channels))
    c_out = groups * draw(st.integers(1, max_channels))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    dilation = draw(_int_or_pair(1, 2))
    padding = draw(st.one_of(_int_or_pair(0, 2), st.sampled_from(["valid", "same"])))
    stride = 1 if padding == "same" else draw(_int_or_pair(1, 3))
    unbatched = draw(st.booleans()) and draw(st.booleans())
    n = 1 if unbatched else draw(st.integers(1, max_batch))
    mode = draw(st.sampled_from(padding_modes))
    if mode != "zeros" and isinstance(padding, tuple) and len(padding) == 1:
        padding = padding[0]  # torch.nn.Conv2d then pads W only (its F.pad gets 2 numbers), or fails on 4-D
    case = ConvCase(n, c_in, c_out, groups, 1, 1, kernel, stride, padding, dilation, draw(st.booleans()),
                    draw(dtypes), draw(seeds), unbatched, mode)
    pt, pb, pl, pr = case.pads()
    (dil_h, dil_w), (kh, kw) = _pair(dilation), kernel
    low_h, low_w = dil_h * (kh - 1) + 1 - pt - pb, dil_w * (kw - 1) + 1 - pl - pr
    if mode == "reflect":  # torch: a reflect pad must be smaller than its axis
        low_h, low_w = max(low_h, pt + 1, pb + 1), max(low_w, pl + 1, pr + 1)
    elif mode == "circular":
        low_h, low_w = max(low_h, pt, pb), max(low_w, pl, pr)
    h = max(1, low_h) + draw(st.integers(0, max_extra))
    w = max(1, low_w) + draw(st.integers(0, max_extra))
    return ConvCase(n, c_in, c_out, groups, h, w, kernel, stride, padding, dilation, case.bias, case.dtype,
                    case.seed, unbatched, mode)


def _floats(dtype: type, bound: float) -> st.SearchStrategy[float]:
    return st.floats(-bound, bound, width=8 * np.dtype(dtype).itemsize, allow_subnormal=False)


@st.composite
def conv_draws(draw, cases: st.SearchStrategy[ConvCase] | None = None) -> ConvDraw:
    """A case from ``cases`` (default :func:`conv_cases`) with arrays drawn by hypothesis.extra.numpy
    (dout's entries distinct) when it has at most MAX_DRAWN values, else seeded distinct arrays."""
    case = draw(conv_cases() if cases is None else cases)
    shapes = [case.x_shape(), case.w_shape(), (case.c_out,) if case.bias else (0,), case.out_shape()]
    if sum(math.prod(s) for s in shapes) > MAX_DRAWN:
        return case.seeded()
    x, w, b = (draw(hnp.arrays(case.dtype, s, elements=_floats(case.dtype, 1.0), fill=st.nothing()))
               for s in shapes[:3])
    dout = draw(hnp.arrays(case.dtype, shapes[3], elements=_floats(case.dtype, 2.0), unique=True))
    return ConvDraw(case, x, w, b if case.bias else None, dout)


small_conv_cases = conv_cases(max_channels=2, max_kernel=3, max_extra=3, dtypes=st.just(np.float64))
padding_mode_cases = conv_cases(max_channels=2, max_kernel=3, max_extra=3, max_batch=2,
                                padding_modes=PADDING_MODES)


@dataclass(frozen=True)
class PadCase:
    """pad2d of x (N, C, H, W) or unbatched (C, H, W) by pad = (left, right, top, bottom) in ``mode``."""

    shape: tuple[int, ...]
    pad: tuple[int, int, int, int]
    mode: str
    dtype: type = np.float64

    def __str__(self) -> str:
        return f"x{self.shape} pad={self.pad} mode={self.mode} {np.dtype(self.dtype).name}"


@st.composite
def pad_draws(draw) -> tuple[PadCase, np.ndarray, np.ndarray]:
    """(case, x, dout): a reflect pad below, a circular pad at most, the size of its axis."""
    mode = draw(st.sampled_from(("constant", "reflect", "replicate", "circular")))
    shape = draw(st.sampled_from([(), (1,), (2,)])) + (draw(st.integers(1, 2)),
                                                        draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    h, w = shape[-2:]
    cap_h, cap_w = {"reflect": (h - 1, w - 1), "circular": (h, w)}.get(mode, (3, 3))
    pad = tuple(draw(st.integers(0, cap)) for cap in (cap_w, cap_w, cap_h, cap_h))
    case = PadCase(shape, pad, mode, draw(float_dtypes))
    x = draw(hnp.arrays(case.dtype, shape, elements=_floats(case.dtype, 1.0), fill=st.nothing()))
    out_shape = (*shape[:-2], h + pad[2] + pad[3], w + pad[0] + pad[1])
    dout = draw(hnp.arrays(case.dtype, out_shape, elements=_floats(case.dtype, 2.0), unique=True))
    return case, x, dout
