"""Strategies for the dense family: linear, flatten and activations (losses: :mod:`.loss`).

A case is a small frozen dataclass holding its arrays, drawn with ``hypothesis.extra.numpy.arrays`` so that
a failure shrinks to a few small, readable values; upstream gradients are drawn ``unique`` (distinct, so
a transposed or mis-routed gradient cannot pass). Activation inputs mix exact zeros (the kinks of ReLU and
LeakyReLU), the magnitude's extremes (up to 1e4, the stability corners) and, unless a finite-difference
case is asked for, NaN and ±inf (torch's NaN propagation and its limits at infinity). ``Case.seeded(...)``
builds a case from a seed instead (``distinct_array``), for ``@example`` pins and batch-512 sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity_tests.strategies import distinct_array, float_dtypes

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "scaled_tanh", "softmax", "log_softmax")
REDUCTIONS = ("none", "mean", "sum")
SPECIALS = (0.0, math.nan, math.inf, -math.inf)
magnitudes = st.sampled_from([1.0, 1.0, 30.0, 1e4])


def _dtypes(finite_difference: bool) -> st.SearchStrategy:
    return st.just(np.float64) if finite_difference else float_dtypes


def _magnitudes(finite_difference: bool) -> st.SearchStrategy:
    return st.just(1.0) if finite_difference else magnitudes


def _name(dtype: Any) -> str:
    return np.dtype(dtype).name


def _with_zeros(x: np.ndarray, every: int = 3) -> np.ndarray:
    """``x`` with every ``every``-th element set to exactly 0."""
    x = x.copy()
    x.reshape(-1)[::every] = 0
    return x


def _scalar_or(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, reduction: str) -> np.ndarray:
    """Upstream gradient of a loss: distinct values of the loss's shape, or a 0-D value away from 1."""
    if reduction == "none":
        return distinct_array(rng, shape, dtype)
    return np.asarray(rng.uniform(0.5, 2.0), dtype=dtype)


def floats(dtype: Any, bound: float = 1.0, specials: bool = False, away_from_zero: bool = False
           ) -> st.SearchStrategy[float]:
    """Floats in [-bound, bound] exact in ``dtype``; with ``specials`` also 0, NaN and ±inf; with
    ``away_from_zero`` only |v| >= 2^-10 (finite differences away from the kinks)."""
    width = np.dtype(dtype).itemsize * 8
    if away_from_zero:
        magnitude = st.floats(2.0**-10, bound, width=width)
        return st.tuples(st.booleans(), magnitude).map(lambda t: -t[1] if t[0] else t[1])
    finite = st.floats(-bound, bound, width=width)
    return st.one_of(finite, st.sampled_from(SPECIALS)) if specials else st.one_of(finite, st.just(0.0))


def arrays(dtype: Any, shape: tuple[int, ...], elements: st.SearchStrategy[float] | None = None,
           unique: bool = False) -> st.SearchStrategy[np.ndarray]:
    """``hypothesis.extra.numpy.arrays`` of ``dtype`` and ``shape`` (elements in ±1 by default)."""
    return hnp.arrays(dtype, shape, elements=floats(dtype) if elements is None else elements, unique=unique)


def _summary(x: np.ndarray) -> str:
    """Small arrays in full, larger ones by their extremes and their count of NaN / inf."""
    if x.size <= 12:
        return np.array2string(x.reshape(-1), precision=4)
    finite = x[np.isfinite(x)]
    top = float(np.max(np.abs(finite))) if finite.size else 0.0
    return f"max|finite| {top:.3g}, nan {int(np.isnan(x).sum())}, inf {int(np.isinf(x).sum())}"


# -- linear -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LinearCase:
    """``x (*batch, in_features)``, ``w (out_features, in_features)``, optional bias ``b``, ``dout``."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    dout: np.ndarray

    def __str__(self) -> str:
        return (f"linear x{self.x.shape} w{self.w.shape} bias={self.b is not None} {_name(self.x.dtype)} "
                f"x: {_summary(self.x)}")

    @property
    def in_features(self) -> int:
        return self.w.shape[1]

    @property
    def out_features(self) -> int:
        return self.w.shape[0]

    @property
    def rows(self) -> int:
        """Number of rows the weight gradient sums over (product of the leading axes)."""
        return math.prod(self.x.shape[:-1])

    @classmethod
    def seeded(cls, batch: tuple[int, ...], in_features: int, out_features: int, bias: bool, dtype: Any,
               seed: int, magnitude: float = 1.0) -> LinearCase:
        """A case of distinct values from ``seed`` (for pins and sizes too large to draw)."""
        rng = np.random.default_rng(seed)
        return cls(distinct_array(rng, batch + (in_features,), dtype, -magnitude, magnitude),
                   distinct_array(rng, (out_features, in_features), dtype),
                   distinct_array(rng, (out_features,), dtype) if bias else None,
                   distinct_array(rng, batch + (out_features,), dtype))


@st.composite
def linear_cases(draw, finite_difference: bool = False) -> LinearCase:
    """Linear on up to 3 leading axes, in/out features 0..6; ``finite_difference=True`` keeps to float64
    values in ±1."""
    batch = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    n_in, n_out = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    dtype = draw(_dtypes(finite_difference))
    m = 1.0 if finite_difference else draw(st.sampled_from([1.0, 1e3]))
    x = draw(arrays(dtype, batch + (n_in,), floats(dtype, m)))
    w = draw(arrays(dtype, (n_out, n_in), unique=True))
    b = draw(arrays(dtype, (n_out,))) if draw(st.booleans()) else None
    return LinearCase(x, w, b, draw(arrays(dtype, batch + (n_out,), unique=True)))


# -- flatten ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FlattenCase:
    """``x``, the dims to merge, and the upstream gradient's values (reshape them to the output's shape)."""

    x: np.ndarray
    start_dim: int
    end_dim: int
    dout_values: np.ndarray

    def __str__(self) -> str:
        return f"flatten x{self.x.shape} start_dim={self.start_dim} end_dim={self.end_dim} {_name(self.x.dtype)}"

    @classmethod
    def seeded(cls, shape: tuple[int, ...], start_dim: int, end_dim: int, dtype: Any, seed: int) -> FlattenCase:
        rng = np.random.default_rng(seed)
        return cls(distinct_array(rng, shape, dtype), start_dim, end_dim,
                   distinct_array(rng, (math.prod(shape),), dtype))


@st.composite
def flatten_cases(draw) -> FlattenCase:
    """Any rank 0..4; start <= end after wrapping, each written as a positive or a negative dim."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    rank = max(len(shape), 1)
    start = draw(st.integers(0, rank - 1))
    end = draw(st.integers(start, rank - 1))
    start -= rank * draw(st.booleans())
    end -= rank * draw(st.booleans())
    dtype = draw(float_dtypes)
    return FlattenCase(draw(arrays(dtype, shape)), start, end,
                       draw(arrays(dtype, (math.prod(shape),), unique=True)))


# -- activations ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ActivationCase:
    """One activation on ``x`` with upstream gradient ``dout``; ``negative_slope`` for leaky_relu, ``dim``
    for softmax/log_softmax."""

    name: str
    x: np.ndarray
    dout: np.ndarray
    negative_slope: float = 0.01
    dim: int = -1

    def __str__(self) -> str:
        extra = {"leaky_relu": f" negative_slope={self.negative_slope}",
                 "softmax": f" dim={self.dim}", "log_softmax": f" dim={self.dim}"}.get(self.name, "")
        return f"{self.name} x{self.x.shape}{extra} {_name(self.x.dtype)} x: {_summary(self.x)}"

    @property
    def args(self) -> tuple:
        """The op's arguments after ``x``."""
        return {"leaky_relu": (self.negative_slope,), "softmax": (self.dim,),
                "log_softmax": (self.dim,)}.get(self.name, ())

    @property
    def reduction(self) -> int:
        """Length of the reduction behind each output: the size of ``dim`` for the softmaxes, else 1."""
        if self.name not in ("softmax", "log_softmax") or not self.x.shape:
            return 1
        return self.x.shape[self.dim]

    @classmethod
    def seeded(cls, name: str, shape: tuple[int, ...], dtype: Any, seed: int, magnitude: float = 1.0,
               zeros: bool = False, negative_slope: float = 0.01, dim: int = -1) -> ActivationCase:
        """A case of distinct values in ±magnitude from ``seed``; ``zeros``: every third x exactly 0."""
        rng = np.random.default_rng(seed)
        x = distinct_array(rng, shape, dtype, -magnitude, magnitude)
        return cls(name, _with_zeros(x) if zeros else x, distinct_array(rng, shape, dtype), negative_slope, dim)


@st.composite
def activation_cases(draw, finite_difference: bool = False, names: tuple[str, ...] = ACTIVATIONS
                     ) -> ActivationCase:
    """Any activation on rank 0..4 (sides 0..5); ``finite_difference=True``: float64, |x| in [2^-10, 1],
    no NaN or inf."""
    name = draw(st.sampled_from(names))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    rank = max(len(shape), 1)
    dim = draw(st.integers(-rank, rank - 1))
    slope = draw(st.sampled_from([0.01, 0.2, 0.0, -0.5, 1.5])) if name == "leaky_relu" else 0.01
    dtype = draw(_dtypes(finite_difference))
    m = draw(_magnitudes(finite_difference))
    elements = (floats(dtype, m, away_from_zero=True) if finite_difference
                else floats(dtype, m, specials=draw(st.booleans())))
    x = draw(arrays(dtype, shape, elements))
    return ActivationCase(name, x, draw(arrays(dtype, shape, unique=True)), slope, dim)


def sigmoid_sweep(dtype: Any) -> np.ndarray:
    """Deterministic inputs for sigmoid over every regime of its exp(-|x|) in ``dtype``, both signs, sorted.

    A dense grid over ±(6 past the underflow of exp(-|x|) to 0): ±110 in float32, ±760 in float64; finer
    grids (every float in float32) across ±0.01 of the three thresholds of exp(-|x|): subnormal below
    ln(tiny), the smallest subnormal at ln(2^-149) (float64: 2^-1074), 0 below ln of half of that; tiny and
    subnormal |x|; 0, -0, ±largest, ±inf and NaN.
    """
    info = np.finfo(dtype)
    bound = 110.0 if info.bits == 32 else 760.0
    smallest = float(info.smallest_subnormal)
    thresholds = (math.log(float(info.tiny)), math.log(smallest), math.log(smallest) - math.log(2.0))
    magnitudes = [np.linspace(0.0, bound, 220_001), np.geomspace(smallest, 1.0, 4001),
                  *(np.linspace(-c - 0.01, -c + 0.01, 4001) for c in thresholds),
                  np.array([float(info.tiny), float(info.max), np.inf])]
    v = np.concatenate(magnitudes).astype(dtype)
    return np.sort(np.concatenate([v, -v, np.array([np.nan], dtype)]))
