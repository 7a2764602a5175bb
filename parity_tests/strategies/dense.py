"""Strategies for the dense family: linear, flatten, activations and losses.

A case is a small frozen dataclass of drawn parameters (shapes, options, dtype, value magnitude, seed);
``case.arrays()`` builds its inputs and upstream gradient deterministically from ``seed`` with distinct
values, so ``@example(Case(...))`` can pin any corner. ``magnitude`` scales the values (up to 1e4 for the
stability corners); ``zeros``/``ties`` put exact zeros at the kinks (ReLU and LeakyReLU at 0, L1 at
input == target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from parity_tests.strategies import distinct_array, float_dtypes, seeds

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "scaled_tanh", "softmax", "log_softmax")
REDUCTIONS = ("none", "mean", "sum")
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


# -- linear -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearCase:
    """``x (*batch, in_features)``, weight ``(out_features, in_features)``, optional bias."""

    batch: tuple[int, ...]
    in_features: int
    out_features: int
    bias: bool
    dtype: Any
    seed: int
    magnitude: float = 1.0

    def __str__(self) -> str:
        return (f"linear x{self.batch + (self.in_features,)} w({self.out_features}, {self.in_features}) "
                f"bias={self.bias} {_name(self.dtype)} magnitude={self.magnitude} seed={self.seed}")

    @property
    def rows(self) -> int:
        """Number of rows the weight gradient sums over (product of the leading axes)."""
        return math.prod(self.batch)

    def arrays(self) -> dict[str, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        m = self.magnitude
        return {"x": distinct_array(rng, self.batch + (self.in_features,), self.dtype, -m, m),
                "w": distinct_array(rng, (self.out_features, self.in_features), self.dtype),
                "b": distinct_array(rng, (self.out_features,), self.dtype) if self.bias else None,
                "dout": distinct_array(rng, self.batch + (self.out_features,), self.dtype)}


def linear_cases(finite_difference: bool = False) -> st.SearchStrategy[LinearCase]:
    """Linear cases; ``finite_difference=True`` keeps to small float64 values of magnitude 1."""
    return st.builds(LinearCase,
                     batch=st.lists(st.integers(0, 4), max_size=3).map(tuple),
                     in_features=st.integers(1, 6), out_features=st.integers(1, 6), bias=st.booleans(),
                     dtype=_dtypes(finite_difference), seed=seeds,
                     magnitude=st.just(1.0) if finite_difference else st.sampled_from([1.0, 1e3]))


# -- flatten ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlattenCase:
    shape: tuple[int, ...]
    start_dim: int
    end_dim: int
    dtype: Any
    seed: int

    def __str__(self) -> str:
        return f"flatten x{self.shape} start_dim={self.start_dim} end_dim={self.end_dim} {_name(self.dtype)}"

    def arrays(self) -> dict[str, np.ndarray]:
        """``x`` and the upstream gradient's values as a 1-D array (reshape it to the output's shape)."""
        rng = np.random.default_rng(self.seed)
        return {"x": distinct_array(rng, self.shape, self.dtype),
                "dout_values": distinct_array(rng, (math.prod(self.shape),), self.dtype)}


@st.composite
def flatten_cases(draw) -> FlattenCase:
    """Any rank 0..4; start <= end after wrapping, each written as a positive or a negative dim."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    rank = max(len(shape), 1)
    start = draw(st.integers(0, rank - 1))
    end = draw(st.integers(start, rank - 1))
    start -= rank * draw(st.booleans())
    end -= rank * draw(st.booleans())
    return FlattenCase(shape, start, end, draw(float_dtypes), draw(seeds))


# -- activations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationCase:
    """One activation on ``x`` of ``shape`` with values in ±magnitude; ``dim`` for softmax/log_softmax."""

    name: str
    shape: tuple[int, ...]
    dtype: Any
    seed: int
    magnitude: float = 1.0
    zeros: bool = False
    negative_slope: float = 0.01
    dim: int = -1

    def __str__(self) -> str:
        extra = {"leaky_relu": f" negative_slope={self.negative_slope}",
                 "softmax": f" dim={self.dim}", "log_softmax": f" dim={self.dim}"}.get(self.name, "")
        return (f"{self.name} x{self.shape}{extra} {_name(self.dtype)} magnitude={self.magnitude} "
                f"zeros={self.zeros} seed={self.seed}")

    @property
    def reduction(self) -> int:
        """Length of the reduction behind each output: the size of ``dim`` for the softmaxes, else 1."""
        if self.name not in ("softmax", "log_softmax") or not self.shape:
            return 1
        return self.shape[self.dim]

    def arrays(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        x = distinct_array(rng, self.shape, self.dtype, -self.magnitude, self.magnitude)
        return {"x": _with_zeros(x) if self.zeros else x, "dout": distinct_array(rng, self.shape, self.dtype)}


@st.composite
def activation_cases(draw, finite_difference: bool = False) -> ActivationCase:
    """Any activation on rank 0..4; ``finite_difference=True``: float64, magnitude 1, no exact zeros."""
    name = draw(st.sampled_from(ACTIVATIONS))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    rank = max(len(shape), 1)
    dim = draw(st.integers(-rank, rank - 1))
    slope = draw(st.sampled_from([0.01, 0.2, 0.0, -0.5, 1.5])) if name == "leaky_relu" else 0.01
    return ActivationCase(name, shape, draw(_dtypes(finite_difference)), draw(seeds),
                          draw(_magnitudes(finite_difference)), not finite_difference and draw(st.booleans()),
                          slope, dim)



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

# -- class-score losses -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassLossCase:
    """cross_entropy or nll_loss on scores (C,) (``batch=None``) or (N, C, *spatial).

    ``target_kind`` is 'index' or 'prob'; ``ignore`` is 'none', 'some' or 'all' (index targets set to
    ``ignore_index``, which may also be a real class that targets hit on their own).
    """

    op: str
    batch: int | None
    classes: int
    spatial: tuple[int, ...]
    target_kind: str
    weighted: bool
    ignore_index: int
    ignore: str
    reduction: str
    label_smoothing: float
    dtype: Any
    seed: int
    magnitude: float = 3.0

    def __str__(self) -> str:
        return (f"{self.op} input{self.input_shape} target={self.target_kind} weighted={self.weighted} "
                f"ignore_index={self.ignore_index} ignore={self.ignore} reduction={self.reduction} "
                f"label_smoothing={self.label_smoothing} {_name(self.dtype)} magnitude={self.magnitude} "
                f"seed={self.seed}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.batch is None:
            return (self.classes,)
        return (self.batch, self.classes) + self.spatial

    @property
    def loss_shape(self) -> tuple[int, ...]:
        return () if self.batch is None else (self.batch,) + self.spatial

    @property
    def reduction_length(self) -> int:
        """Elements behind each compared value: all of the input for 'mean'/'sum', one row of C for 'none'."""
        return self.classes if self.reduction == "none" else max(1, math.prod(self.input_shape))

    def arrays(self) -> dict[str, np.ndarray | None]:
        rng = np.random.default_rng(self.seed)
        m = self.magnitude
        x = distinct_array(rng, self.input_shape, self.dtype, -m, m)
        if self.target_kind == "prob":
            logits = distinct_array(rng, self.input_shape, np.float64, -2.0, 2.0)
            axis = 0 if self.batch is None else 1
            e = np.exp(logits - logits.max(axis=axis, keepdims=True))
            target = (e / e.sum(axis=axis, keepdims=True)).astype(self.dtype)
        else:
            target = rng.integers(0, self.classes, size=self.loss_shape)
            flat = target.reshape(-1)
            if self.ignore == "all":
                flat[:] = self.ignore_index
            elif self.ignore == "some":
                flat[rng.random(flat.size) < 0.4] = self.ignore_index
            target = np.asarray(target, dtype=np.int64)
        weight = distinct_array(rng, (self.classes,), self.dtype, 0.1, 2.0) if self.weighted else None
        return {"x": x, "target": target, "weight": weight,
                "dout": _scalar_or(rng, self.loss_shape, self.dtype, self.reduction)}


@st.composite
def class_loss_cases(draw, finite_difference: bool = False) -> ClassLossCase:
    """cross_entropy / nll_loss cases; ``finite_difference=True``: float64 logits of magnitude <= 3."""
    op = draw(st.sampled_from(["cross_entropy", "nll_loss"]))
    batch = draw(st.one_of(st.none(), st.integers(0, 5)))
    classes = draw(st.integers(1, 6))
    spatial = () if batch is None else tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    target_kind = draw(st.sampled_from(["index", "prob"])) if op == "cross_entropy" else "index"
    if target_kind == "prob":
        ignore_index, ignore = draw(st.sampled_from([-100, -1])), "none"
    else:
        ignore_index = draw(st.one_of(st.just(-100), st.integers(0, classes - 1)))
        ignore = draw(st.sampled_from(["none", "some", "all"]))
    smoothing = 0.0
    if op == "cross_entropy":
        smoothing = draw(st.one_of(st.just(0.0), st.sampled_from([0.1, 1.0]), st.floats(0.0, 1.0)))
    return ClassLossCase(op, batch, classes, spatial, target_kind, draw(st.booleans()), ignore_index, ignore,
                         draw(st.sampled_from(REDUCTIONS)), smoothing, draw(_dtypes(finite_difference)),
                         draw(seeds), 3.0 if finite_difference else draw(magnitudes))


# -- regression losses ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RegressionLossCase:
    """mse_loss or l1_loss on two arrays of ``shape``; ``ties`` makes every third target equal the input."""

    op: str
    shape: tuple[int, ...]
    reduction: str
    dtype: Any
    seed: int
    magnitude: float = 1.0
    ties: bool = False

    def __str__(self) -> str:
        return (f"{self.op} x{self.shape} reduction={self.reduction} {_name(self.dtype)} "
                f"magnitude={self.magnitude} ties={self.ties} seed={self.seed}")

    @property
    def reduction_length(self) -> int:
        return 1 if self.reduction == "none" else max(1, math.prod(self.shape))

    def arrays(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        m = self.magnitude
        x = distinct_array(rng, self.shape, self.dtype, -m, m)
        target = distinct_array(rng, self.shape, self.dtype, -m, m)
        if self.ties:
            target.reshape(-1)[::3] = x.reshape(-1)[::3]
        return {"x": x, "target": target, "dout": _scalar_or(rng, self.shape, self.dtype, self.reduction)}


def regression_loss_cases(finite_difference: bool = False) -> st.SearchStrategy[RegressionLossCase]:
    """mse_loss / l1_loss cases; ``finite_difference=True``: float64, magnitude 1, no input == target."""
    return st.builds(RegressionLossCase, op=st.sampled_from(["mse_loss", "l1_loss"]),
                     shape=st.lists(st.integers(0, 4), max_size=4).map(tuple),
                     reduction=st.sampled_from(REDUCTIONS), dtype=_dtypes(finite_difference), seed=seeds,
                     magnitude=_magnitudes(finite_difference),
                     ties=st.just(False) if finite_difference else st.booleans())
