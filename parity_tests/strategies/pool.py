"""Strategies for the pooling family: max / avg / sum pooling cases with their input and upstream gradient.

A :class:`PoolCase` carries the op kind, the hyperparameters exactly as passed to both engines (ints or
pairs, stride ``None`` included), the input ``x`` and a distinct upstream gradient ``dout`` of torch's
output shape. :func:`pool_cases` draws the arrays themselves (``hypothesis.extra.numpy``), so a failure
shrinks to small readable values; :func:`pool_case` builds one case from a seed (for ``@example``).
``values`` picks the input: ``distinct`` (no ties, multiples of 1/1024, safe for finite differences),
``ties`` (integers 0..2, so windows hold several maxima), ``equal`` (one value everywhere), ``minus_inf``
(-inf everywhere), ``special`` (NaN, ±inf, 0, ±1, 2: torch's NaN propagation and argmax rules) or
``rounding`` (any float of the dtype in [-8, 8], full mantissas: float32 sums that round).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parity_tests.strategies import distinct_array, float_dtypes

KINDS = ("max", "avg", "sum")
VALUES = ("distinct", "ties", "equal", "special", "minus_inf", "rounding")
SPECIAL = (np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, 2.0)
LAYOUTS = ("contiguous", "strided", "transposed", "channels_last")


@dataclasses.dataclass
class PoolCase:
    kind: str
    x: np.ndarray
    dout: np.ndarray
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None
    values: str = "distinct"
    layout: str = "contiguous"

    def kwargs(self) -> dict:
        """Keyword arguments of ``<kind>_pool2d_forward`` (and of the torch reference)."""
        kw = dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                  ceil_mode=self.ceil_mode)
        if self.kind == "max":
            kw["dilation"] = self.dilation
        if self.kind == "avg":
            kw.update(count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)
        return kw

    @property
    def window(self) -> int:
        """kH·kW, the length of the longest sum behind one output (and behind one dx entry)."""
        kh, kw = _pair(self.kernel_size)
        return kh * kw

    def __str__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.kwargs().items())
        return (f"{self.kind}_pool2d x{tuple(self.x.shape)} {self.x.dtype} ({self.values} values, "
                f"{self.layout}) {params}")


def _pair(v) -> tuple[int, int]:
    """An int or a 1- or 2-sequence as (h, w), as torch expands it."""
    return (v, v) if isinstance(v, int) else (v[0], v[-1])


def torch_pool(kind: str, x: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, count_include_pad=True, divisor_override=None) -> torch.Tensor:
    """torch's reference of each kind; sum pooling is avg_pool2d with divisor_override=1."""
    if kind == "max":
        return TF.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)
    if kind == "avg":
        return TF.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return TF.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, True, divisor_override=1)


def _input(rng: np.random.Generator, shape: tuple[int, ...], dtype, values: str) -> np.ndarray:
    if values == "distinct":
        return distinct_array(rng, shape, dtype, -2.0, 2.0)
    if values == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    if values == "equal":
        return np.full(shape, 0.75, dtype=dtype)
    if values == "minus_inf":
        return np.full(shape, -np.inf, dtype=dtype)
    if values == "rounding":
        return (rng.standard_normal(shape) * 3).astype(dtype)
    return rng.choice(np.array(SPECIAL, dtype=dtype), size=shape, p=[0.15, 0.1, 0.15, 0.15, 0.15, 0.15, 0.15])


def _elements(values: str, dtype) -> st.SearchStrategy:
    """Hypothesis elements for an input drawn with ``values`` (see the module docstring)."""
    if values == "distinct":
        return st.integers(-8192, 8192).map(lambda i: i / 1024)
    if values == "ties":
        return st.integers(0, 2).map(float)
    if values == "equal":
        return st.just(0.75)
    if values == "minus_inf":
        return st.just(-np.inf)
    if values == "special":
        return st.sampled_from(SPECIAL)
    return st.floats(-8, 8, width=np.finfo(dtype).bits)


def draw_array(draw, shape: tuple[int, ...], dtype, values: str) -> np.ndarray:
    """An array of ``shape`` drawn with hypothesis.extra.numpy (``distinct`` values are all different)."""
    return draw(arrays(dtype, shape, elements=_elements(values, dtype), unique=values == "distinct"))


def draw_dout(draw, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A distinct upstream gradient in [-1, 1] (multiples of 1/8192: never all ones, never a tie)."""
    return draw(arrays(dtype, shape, elements=st.integers(-8192, 8192).map(lambda i: i / 8192), unique=True))


def _lay_out(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values in a non-contiguous view (positive strides, so torch.from_numpy shares it)."""
    if layout == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if layout == "transposed":
        return np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    if layout == "channels_last" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return x


def windows_touch_input(size: int, out: int, k: int, s: int, p: int, d: int) -> bool:
    """True when every window along one axis has a tap inside [0, size) (torch's backward needs it)."""
    return all(any(0 <= o * s - p + t * d < size for t in range(k)) for o in range(out))


def pool_case(kind: str, shape: tuple[int, ...], kernel_size, stride=None, padding=0, dilation=1,
              ceil_mode=False, count_include_pad=True, divisor_override=None, dtype=np.float64,
              values: str = "distinct", layout: str = "contiguous", seed: int = 0) -> PoolCase:
    """Build one case deterministically (used by the strategies and by ``@example``)."""
    rng = np.random.default_rng(seed)
    x = _input(rng, shape, dtype, values)
    case = PoolCase(kind, x, np.empty(0, dtype), kernel_size, stride, padding, dilation, ceil_mode,
                    count_include_pad, divisor_override, values, layout)
    out_shape = torch_pool(kind, torch.from_numpy(x), **case.kwargs()).shape
    case.dout = distinct_array(rng, tuple(out_shape), dtype, -1.0, 1.0)
    case.x = _lay_out(x, layout)
    return case


def _int_or_pair(draw, pair: tuple[int, int]):
    """Pass a hyperparameter as an int when both axes agree and the draw says so, else as a pair."""
    return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair


@st.composite
def pool_cases(draw, kind: str, values: tuple[str, ...] = ("distinct",), dtypes=float_dtypes,
               layouts: tuple[str, ...] = ("contiguous",), small: bool = False) -> PoolCase:
    """Random valid cases: N, C ≤ 3 (or 2 and 1 plane when ``small``), kernel ≤ 4, stride ≤ 4 or None,
    padding ≤ kernel // 2, dilation ≤ 3 (max only), ceil_mode, and H, W from the smallest size with an
    output up (with ceil_mode that includes inputs smaller than the padded kernel); x and dout drawn.

    Max-pool cases with a window of padding only (possible with dilation) are rejected: torch's
    backward writes out of bounds there.
    """
    axes = 1 if draw(st.booleans()) else 2  # 1: both axes share every hyperparameter
    k = [draw(st.integers(1, 3 if small else 4)) for _ in range(axes)]
    s = [draw(st.integers(1, 4)) for _ in range(axes)]
    d = [draw(st.integers(1, 3)) if kind == "max" else 1 for _ in range(axes)]
    p = [draw(st.integers(0, ki // 2)) for ki in k]
    k, s, d, p = (tuple(v * (3 - axes)) for v in (k, s, d, p))
    ceil_mode = draw(st.booleans())
    stride = None if draw(st.booleans()) else _int_or_pair(draw, s)
    s = k if stride is None else s
    sizes = []
    for ki, si, pi, di in zip(k, s, p, d, strict=True):  # smallest size with an output (ceil_mode: less)
        low = max(1, di * (ki - 1) + 1 - 2 * pi - (si - 1 if ceil_mode else 0))
        sizes.append(draw(st.integers(low, low + (3 if small else 6))))
    if small:
        lead = (1, draw(st.integers(1, 2)))
    else:
        lead = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape = lead + tuple(sizes) if draw(st.booleans()) else lead[1:] + tuple(sizes)
    dtype, value_kind = draw(dtypes), draw(st.sampled_from(values))
    case = PoolCase(kind, draw_array(draw, shape, dtype, value_kind), np.empty(0, dtype), _int_or_pair(draw, k),
                    stride, _int_or_pair(draw, p), _int_or_pair(draw, d), ceil_mode,
                    count_include_pad=draw(st.booleans()),
                    divisor_override=draw(st.sampled_from([None, None, 1, 3, -2])) if kind == "avg" else None,
                    values=value_kind, layout=draw(st.sampled_from(layouts)))
    with torch.no_grad():
        out_shape = tuple(torch_pool(kind, torch.from_numpy(case.x), **case.kwargs()).shape)
    case.dout = draw_dout(draw, out_shape, dtype)
    case.x = _lay_out(case.x, case.layout)
    if kind == "max":
        assume(all(windows_touch_input(n, o, ki, si, pi, di)
                   for n, o, ki, si, pi, di in zip(sizes, out_shape[-2:], k, s, p, d, strict=True)))
    return case
