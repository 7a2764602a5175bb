"""Strategies for optimizers, ReduceLROnPlateau and EarlyStopping.

An optimizer case draws parameter shapes, how they split into param groups, the constructor's options
(each one present or left to the default) and per-group overrides; the gradients themselves are drawn per
step from ``seed`` by the test (distinct values, some steps with ``grad = None``). Metric and loss sequences
are built from moves that hit the corners: repeats, plateaus, values exactly at the threshold or delta
from the previous or best value, nan and inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parity_tests.strategies import float_dtypes, seeds

OPTIMIZER_KINDS = ("sgd", "adam", "adamw")


@dataclass
class OptimCase:
    """One optimizer run: ``kind``, parameter ``shapes``, ``groups`` (param indices per group),
    constructor ``defaults``, per-group ``overrides``, number of ``steps`` and the gradient ``seed``."""

    kind: str
    dtype: Any
    shapes: list[tuple[int, ...]]
    groups: list[list[int]]
    defaults: dict[str, Any]
    overrides: list[dict[str, Any]]
    steps: int = 32
    seed: int = 0
    grad_prob: float = 0.85

    def __str__(self) -> str:
        return (f"{self.kind} {np.dtype(self.dtype).name} shapes={self.shapes} groups={self.groups} "
                f"defaults={self.defaults} overrides={self.overrides} steps={self.steps} seed={self.seed} "
                f"grad_prob={self.grad_prob}")


_lrs = st.one_of(st.sampled_from([0.0, 1e-3, 0.1, 0.5]), st.floats(1e-4, 0.5))


@st.composite
def sgd_options(draw) -> dict[str, Any]:
    """SGD keyword arguments, each present or left to its default; nesterov only where torch allows it."""
    momentum = draw(st.one_of(st.just(0.0), st.sampled_from([0.5, 0.9, 0.99]), st.floats(0.01, 0.99)))
    dampening = draw(st.one_of(st.just(0.0), st.sampled_from([0.5, 1.0]), st.floats(0.0, 1.0)))
    opts = {"lr": draw(_lrs), "momentum": momentum, "dampening": dampening,
            "weight_decay": draw(st.one_of(st.just(0.0), st.floats(1e-4, 0.1))),
            "nesterov": momentum > 0 and dampening == 0 and draw(st.booleans()),
            "maximize": draw(st.booleans())}
    return _some_omitted(draw, opts, keep_together=("nesterov", "momentum", "dampening"))


@st.composite
def adam_options(draw, dtype: Any = np.float64) -> dict[str, Any]:
    """Adam/AdamW keyword arguments, each present or left to its default (betas hit lerp's 0.5 switch).

    float32 cases keep beta2 >= 0.5: with beta2 near 0, sqrt(v_t) is |g_t| itself and the update m_t/|g_t|
    amplifies rounding by 1/|g_t| (ill-conditioned); float64 cases cover beta2 down to 0, where the math is
    checked to 1e-10.
    """
    beta1 = draw(st.one_of(st.sampled_from([0.0, 0.5, 0.9]), st.floats(0.0, 0.99)))
    low = 0.5 if np.dtype(dtype) == np.float32 else 0.0
    beta2 = draw(st.one_of(st.sampled_from([b for b in (0.0, 0.5, 0.999) if b >= low]), st.floats(low, 0.9999)))
    opts = {"lr": draw(st.one_of(st.sampled_from([0.0, 1e-3, 0.1]), st.floats(1e-4, 0.1))),
            "betas": (beta1, beta2), "eps": draw(st.sampled_from([1e-8, 1e-6, 1e-3, 0.1])),
            "weight_decay": draw(st.one_of(st.just(0.0), st.floats(1e-4, 0.1))),
            "amsgrad": draw(st.booleans()), "maximize": draw(st.booleans())}
    return _some_omitted(draw, opts)


def _some_omitted(draw, opts: dict[str, Any], keep_together: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop a drawn subset of the options (the constructor's defaults apply); ``keep_together`` go as one."""
    out = {}
    together = bool(keep_together) and draw(st.booleans())
    for key, value in opts.items():
        keep = together if key in keep_together else draw(st.booleans())
        if keep:
            out[key] = value
    return out


@st.composite
def optim_cases(draw, kind: str) -> OptimCase:
    """Up to three small parameters in up to three groups; groups after the first override options."""
    n_params = draw(st.integers(1, 3))
    shapes = [tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))) for _ in range(n_params)]
    n_groups = draw(st.integers(1, n_params))
    cuts = sorted(draw(st.lists(st.integers(1, n_params - 1), min_size=n_groups - 1, max_size=n_groups - 1,
                                unique=True))) if n_groups > 1 else []
    bounds = [0, *cuts, n_params]
    groups = [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    dtype = draw(float_dtypes)
    options = sgd_options() if kind == "sgd" else adam_options(dtype)
    defaults = draw(options)
    overrides = [{}] + [draw(options) for _ in groups[1:]]
    return OptimCase(kind=kind, dtype=dtype, shapes=shapes, groups=groups, defaults=defaults,
                     overrides=overrides, steps=draw(st.integers(30, 36)), seed=draw(seeds),
                     grad_prob=draw(st.sampled_from([1.0, 0.85])))


@dataclass
class AdamStepCase:
    """Arrays and options for one run of Adam steps: ``param``, one gradient per step (``grads[t]``),
    the keyword options, and whether the parameter is a non-contiguous view (``transposed``)."""

    param: np.ndarray
    grads: np.ndarray
    options: dict[str, Any]
    amsgrad: bool
    transposed: bool

    def __str__(self) -> str:
        return (f"{self.param.dtype} shape={self.param.shape} steps={self.grads.shape[0]} options={self.options} "
                f"amsgrad={self.amsgrad} transposed={self.transposed} param={self.param.tolist()} "
                f"grads={self.grads.tolist()}")


def _values(dtype: Any) -> st.SearchStrategy[float]:
    """Mostly finite values in [-4, 4] (so failures shrink to small numbers), now and then 0, -0 or nan."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.one_of(st.floats(-4, 4, width=width), st.sampled_from([0.0, -0.0, math.nan]))


@st.composite
def adam_step_cases(draw) -> AdamStepCase:
    """A parameter (up to 3-D, sometimes a 512-row one), 1..12 steps of drawn gradients, Adam's options
    with every switch (lerp's |1-β1| < 0.5 test, coupled/decoupled decay, amsgrad, maximize)."""
    dtype = draw(float_dtypes)
    shape = draw(st.sampled_from([(512, 3)]) | st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple))
    steps = draw(st.integers(1, 12))
    param = draw(arrays(dtype, shape, elements=_values(dtype)))
    grads = draw(arrays(dtype, (steps, *shape), elements=_values(dtype)))
    options = {"lr": draw(st.sampled_from([1e-3, 0.1]) | st.floats(1e-4, 0.5)),
               "beta1": draw(st.sampled_from([0.0, 0.5, 0.9]) | st.floats(0.0, 0.99)),
               "beta2": draw(st.sampled_from([0.0, 0.5, 0.999]) | st.floats(0.0, 0.9999)),
               "eps": draw(st.sampled_from([1e-8, 1e-3])), "weight_decay": draw(st.sampled_from([0.0, 0.01, 0.1])),
               "maximize": draw(st.booleans()), "decoupled_weight_decay": draw(st.booleans())}
    return AdamStepCase(param=param, grads=grads, options=options, amsgrad=draw(st.booleans()),
                        transposed=len(shape) >= 2 and draw(st.booleans()))


@dataclass
class PlateauCase:
    """ReduceLROnPlateau keyword arguments, the groups' initial ``lrs`` and the ``metrics`` fed to step."""

    kwargs: dict[str, Any]
    lrs: list[float]
    metrics: list[float] = field(default_factory=list)
    resume_at: int = 0

    def __str__(self) -> str:
        return f"kwargs={self.kwargs} lrs={self.lrs} resume_at={self.resume_at} metrics={self.metrics}"


_MOVES = ("grid", "grid", "repeat", "repeat", "prev", "prev", "best", "best", "away", "nan", "inf")


def _tied_sequence(draw, length: int, step: float, mode: str) -> list[float]:
    """Values on a grid of quarters, with moves that repeat the previous value or land exactly at the
    threshold (``v·(1 ∓ step)`` or ``v ∓ step``, as the schedulers compute it) from the previous value or
    the running best, one step the other way, and a rare nan or ±inf."""
    seq: list[float] = []
    sign = -1.0 if mode == "min" else 1.0
    for _ in range(length):
        finite = [v for v in seq if math.isfinite(v)]
        move = draw(st.sampled_from(_MOVES)) if finite else "grid"
        if move == "grid":
            seq.append(draw(st.integers(-8, 8)) / 4)
        elif move == "repeat":
            seq.append(seq[-1])
        elif move == "nan":
            seq.append(math.nan)
        elif move == "inf":
            seq.append(draw(st.sampled_from([math.inf, -math.inf])))
        else:
            base = {"prev": finite[-1], "best": min(finite) if mode == "min" else max(finite),
                    "away": finite[-1]}[move]
            direction = -sign if move == "away" else sign
            rel = draw(st.booleans())
            seq.append(base * (1.0 + direction * step) if rel else base + direction * step)
    return seq


@st.composite
def plateau_cases(draw) -> PlateauCase:
    """Options in both modes and threshold modes, with cooldown, scalar or per-group min_lr, and eps."""
    n_groups = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["min", "max"]))
    threshold = draw(st.one_of(st.sampled_from([0.0, 1e-4, 0.25, 0.5]), st.floats(0.0, 0.5)))
    min_lr = draw(st.one_of(st.sampled_from([0.0, 1e-3, 0.01]),
                            st.lists(st.sampled_from([0.0, 1e-4, 0.01, 0.05]), min_size=n_groups,
                                     max_size=n_groups)))
    kwargs = {"mode": mode, "factor": draw(st.one_of(st.sampled_from([0.0, 0.1, 0.5]), st.floats(0.0, 0.99))),
              "patience": draw(st.integers(0, 4)), "threshold": threshold,
              "threshold_mode": draw(st.sampled_from(["rel", "abs"])), "cooldown": draw(st.integers(0, 3)),
              "min_lr": min_lr, "eps": draw(st.sampled_from([1e-8, 0.0, 1e-3, 0.05]))}
    lrs = draw(st.lists(st.sampled_from([1.0, 0.1, 0.05, 0.01, 1e-3]), min_size=n_groups, max_size=n_groups))
    metrics = _tied_sequence(draw, draw(st.integers(5, 40)), threshold, mode)
    return PlateauCase(kwargs=kwargs, lrs=lrs, metrics=metrics, resume_at=draw(st.integers(0, len(metrics))))


@dataclass
class StoppingCase:
    """EarlyStopping options and the score sequence fed to it, one score per epoch."""

    patience: int
    delta: float
    mode: str
    scores: list[float]
    seed: int = 0
    resume_at: int = 0

    def __str__(self) -> str:
        return (f"patience={self.patience} delta={self.delta} mode={self.mode} seed={self.seed} "
                f"resume_at={self.resume_at} scores={self.scores}")


@st.composite
def stopping_cases(draw) -> StoppingCase:
    """Score sequences with plateaus and improvements of exactly ``delta`` (quarters are exact in binary)."""
    mode = draw(st.sampled_from(["min", "max"]))
    delta = draw(st.one_of(st.sampled_from([0.0, 0.25, 0.5]), st.floats(0.0, 1.0)))
    scores = _tied_sequence(draw, draw(st.integers(3, 30)), delta, mode)
    return StoppingCase(patience=draw(st.integers(1, 5)), delta=delta, mode=mode, scores=scores,
                        seed=draw(seeds), resume_at=draw(st.integers(0, len(scores))))
