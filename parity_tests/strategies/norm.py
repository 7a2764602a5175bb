"""Strategies for the normalization family: batch-norm calls and dropout inputs.

A :class:`BatchNormCase` carries x (N, C, *) (2-D to 4-D), the per-channel vectors (weight and bias may
be None, running statistics None for a batch-statistics-only call), the mode, momentum, eps and a
distinct upstream gradient. :func:`batch_norm_cases` draws the arrays themselves
(``hypothesis.extra.numpy``: distinct multiples of 1/1024, so a failure shrinks to small readable values);
``spread=True`` keeps every channel's standard deviation at least 0.25 (finite differences need a smooth
1/σ). :func:`batch_norm_case` builds one case from a seed (for ``@example`` and the large batches);
:func:`term_sizes` gives, per entry of each result, the size of the terms summed into it (the
oracle's scale).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parity_tests.strategies import distinct_array, float_dtypes


@dataclasses.dataclass
class BatchNormCase:
    x: np.ndarray
    dout: np.ndarray
    weight: np.ndarray | None
    bias: np.ndarray | None
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    training: bool
    momentum: float = 0.1
    eps: float = 1e-5

    @property
    def m(self) -> int:
        """Values per channel: the length of the statistics' reductions."""
        return self.x.size // self.x.shape[1]

    def args(self) -> tuple:
        """Positional arguments of ``batch_norm_forward`` (copies of the running statistics: the call
        updates them in place)."""
        copy = lambda a: None if a is None else a.copy()
        return (self.x, copy(self.running_mean), copy(self.running_var), self.weight, self.bias, self.training,
                self.momentum, self.eps)

    def __str__(self) -> str:
        return (f"batch_norm x{tuple(self.x.shape)} {self.x.dtype} training={self.training} "
                f"weight={'yes' if self.weight is not None else 'None'} "
                f"bias={'yes' if self.bias is not None else 'None'} "
                f"running={'yes' if self.running_mean is not None else 'None'} momentum={self.momentum} "
                f"eps={self.eps}")


def _distinct(draw, shape: tuple[int, ...], dtype, limit: int = 8192, scale: float = 1024) -> np.ndarray:
    return draw(arrays(dtype, shape, elements=st.integers(-limit, limit).map(lambda i: i / scale), unique=True))


@st.composite
def batch_norm_cases(draw, dtypes=float_dtypes, training=None, spread: bool = False,
                     max_side: int = 4) -> BatchNormCase:
    """A batch-norm call: x (N, C), (N, C, L) or (N, C, H, W) with N, C, spatial sides in 1..max_side
    (more than one value per channel in training), optional γ, β and running statistics; ``training``: a
    strategy of bools (default: both modes)."""
    dtype = draw(dtypes)
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)),
             *(draw(st.integers(1, max_side)) for _ in range(ndim - 2)))
    is_training = draw(st.booleans() if training is None else training)
    assume(not is_training or np.prod(shape) // shape[1] > 1)
    x = _distinct(draw, shape, dtype)
    if spread:
        axes = (0, *range(2, ndim))
        assume(float(np.min(x.astype(np.float64).std(axis=axes))) >= 0.25)
    c = shape[1]
    weight = _distinct(draw, (c,), dtype, 2048) if draw(st.booleans()) else None
    bias = _distinct(draw, (c,), dtype, 2048) if draw(st.booleans()) else None
    running = draw(st.booleans()) or not is_training
    rm = _distinct(draw, (c,), dtype, 1024) if running else None
    rv = draw(arrays(dtype, (c,), elements=st.integers(64, 4096).map(lambda i: i / 1024))) if running else None
    momentum = draw(st.sampled_from([0.1, 0.0, 1.0, 0.35]))
    eps = draw(st.sampled_from([1e-5, 1e-3] if is_training else [1e-5, 1e-3, 0.0]))  # torch: > 0 in training
    dout = _distinct(draw, shape, dtype, 8192, 8192)
    return BatchNormCase(x, dout, weight, bias, rm, rv, is_training, momentum, eps)


def batch_norm_case(shape: tuple[int, ...], dtype=np.float64, training: bool = True, affine: bool = True,
                    running: bool = True, momentum: float = 0.1, eps: float = 1e-5, seed: int = 0,
                    offset: float = 0.0) -> BatchNormCase:
    """One case from a seed: x distinct in [-2, 2] (+ ``offset``), γ in [0.5, 1.5], β, running statistics."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (distinct_array(rng, shape, np.float64, -2.0, 2.0) + offset).astype(dtype)
    weight = rng.uniform(0.5, 1.5, c).astype(dtype) if affine else None
    bias = rng.uniform(-1, 1, c).astype(dtype) if affine else None
    rm = rng.uniform(-1, 1, c).astype(dtype) if running else None
    rv = rng.uniform(0.5, 2, c).astype(dtype) if running else None
    return BatchNormCase(x, distinct_array(rng, shape, dtype), weight, bias, rm, rv, training, momentum, eps)


def term_sizes(case: BatchNormCase) -> dict[str, np.ndarray]:
    """Per entry, the size of the terms behind out, dx, dγ, dβ and the updated running statistics, in
    float64: x̂ counts as (|x| + |μ|)/σ (the terms of x - μ), dx as the three terms of its formula."""
    x = case.x.astype(np.float64)
    c, m = x.shape[1], case.m
    x3 = x.reshape(x.shape[0], c, -1)
    if case.training:
        mean, var = x3.mean(axis=(0, 2)), x3.var(axis=(0, 2))
    else:
        mean, var = case.running_mean.astype(np.float64), case.running_var.astype(np.float64)
    inv = 1 / np.sqrt(var + case.eps)
    xs = (np.abs(x3) + np.abs(mean)[:, None]) * inv[:, None]               # bounds |x̂| and its error's terms
    gamma = np.ones(c) if case.weight is None else np.abs(case.weight.astype(np.float64))
    beta = np.zeros(c) if case.bias is None else np.abs(case.bias.astype(np.float64))
    d = np.abs(case.dout.astype(np.float64)).reshape(x3.shape)
    out = gamma[:, None] * xs + beta[:, None]
    if case.training:
        dx = (gamma * inv)[:, None] * (d + d.mean(axis=(0, 2))[:, None] + xs * (d * xs).mean(axis=(0, 2))[:, None])
    else:
        dx = (gamma * inv)[:, None] * d
    sizes = {"out": out.reshape(x.shape), "dx": dx.reshape(x.shape), "dweight": (d * xs).sum(axis=(0, 2)),
             "dbias": d.sum(axis=(0, 2))}
    if case.running_mean is not None and case.training:
        mo = case.momentum
        sizes["running_mean"] = mo * np.abs(x3).mean(axis=(0, 2)) + (1 - mo) * np.abs(case.running_mean)
        sizes["running_var"] = (mo * ((np.abs(x3) + np.abs(mean)[:, None]) ** 2).mean(axis=(0, 2)) * m / (m - 1)
                                + (1 - mo) * np.abs(case.running_var))
    return sizes


@st.composite
def dropout_inputs(draw, dtypes=float_dtypes, ndims=(1, 2, 3, 4)) -> np.ndarray:
    """x of 1..4 dims (sides 1..5), distinct multiples of 1/1024, never 0 (a zero would hide the mask)."""
    dtype = draw(dtypes)
    ndim = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    return draw(arrays(dtype, shape, elements=st.integers(1, 8192).map(lambda i: i / 1024)
                       .flatmap(lambda v: st.sampled_from([v, -v])), unique=True))


probabilities = st.sampled_from([0.0, 0.1, 0.5, 0.75, 1.0]) | st.floats(0, 1, exclude_max=True)
