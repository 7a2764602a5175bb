"""Strategies for the losses: cross-entropy and NLL on class scores, MSE and L1.

A case holds its arrays, drawn with ``hypothesis.extra.numpy`` (so a failure shrinks to small, readable
values): logits and upstream gradients distinct (``unique=True``), targets of every kind, optional class
weights. :func:`class_case` / :func:`regression_case` build a case from a seed instead, for ``@example``
pins. ``ClassLossCase.term_sizes`` gives the per-entry scales the oracle needs (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity_tests.strategies import distinct_array, float_dtypes

REDUCTIONS = ("none", "mean", "sum")
MAGNITUDES = (1.0, 1.0, 30.0, 1e4)


def _rows(a: np.ndarray) -> np.ndarray:
    """(C,) or (N, C, *spatial) as (M, C) rows, class axis last."""
    return a.reshape(1, -1) if a.ndim == 1 else np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) <= 2:
        return rows.reshape(shape)
    return np.moveaxis(rows.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _floats(dtype: Any, low: float, high: float) -> st.SearchStrategy:
    """Finite normal floats of ``dtype`` in [low, high] (bounds exactly representable in float32)."""
    return hnp.from_dtype(np.dtype(dtype), min_value=low, max_value=high, allow_nan=False,
                          allow_infinity=False, allow_subnormal=False)


def _values(dtype: Any, shape: tuple[int, ...], low: float, high: float, unique: bool = False) -> st.SearchStrategy:
    return hnp.arrays(np.dtype(dtype), shape, elements=_floats(dtype, low, high), unique=unique)


def _upstream(draw, dtype: Any, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    """Distinct values of the loss's shape ('none'), else a 0-D value in [0.5, 2]."""
    if reduction == "none":
        return draw(_values(dtype, shape, -1.0, 1.0, unique=True))
    return np.asarray(draw(_floats(dtype, 0.5, 2.0)), dtype=dtype)


# -- class-score losses -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClassLossCase:
    """cross_entropy or nll_loss: scores x (C,) or (N, C, *spatial), class-index (integer) or class-probability
    (float, cross_entropy only) ``target``, optional ``weight`` (C,), upstream gradient ``dout``."""

    op: str
    x: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    dout: np.ndarray
    ignore_index: int = -100
    reduction: str = "mean"
    label_smoothing: float = 0.0

    def __str__(self) -> str:
        arrays = (f" x={self.x.tolist()} target={self.target.tolist()} weight="
                  f"{None if self.weight is None else self.weight.tolist()} dout={self.dout.tolist()}"
                  if self.x.size <= 24 else "")
        return (f"{self.op} input{self.x.shape} target={self.target_kind} weighted={self.weight is not None} "
                f"ignore_index={self.ignore_index} reduction={self.reduction} "
                f"label_smoothing={self.label_smoothing} {self.x.dtype}{arrays}")

    @property
    def classes(self) -> int:
        return self.x.shape[0] if self.x.ndim == 1 else self.x.shape[1]

    @property
    def loss_shape(self) -> tuple[int, ...]:
        return self.x.shape[:1] + self.x.shape[2:] if self.x.ndim > 1 else ()

    @property
    def target_kind(self) -> str:
        return "prob" if self.target.dtype.kind == "f" else "index"

    @property
    def reduction_length(self) -> int:
        """Elements behind each compared value: all of the input for 'mean'/'sum', one row of C for 'none'."""
        return self.classes if self.reduction == "none" else max(1, self.x.size)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the op besides input and target."""
        kwargs = {"weight": self.weight, "ignore_index": self.ignore_index, "reduction": self.reduction}
        if self.op == "cross_entropy":
            kwargs["label_smoothing"] = self.label_smoothing
        return kwargs

    def term_sizes(self) -> tuple[Any, Any]:
        """(loss scale, input-gradient scale): the size of the terms summed into each entry, or (None, None)
        where the mean divides by a total weight W = 0 (a nan loss).

        With wq[i, c] = |w_c| · q[i, c] (q the smoothed one-hot or probability target, 0 on ignored rows):
        a row's loss sums wq · (|x| + max|x| + 1) (log-softmax = x - max - log Σ exp, each part rounded;
        nll_loss: wq · |x|), reduced as the loss; the gradient's entry is |g_i| · (wq[i, c] + p[i, c] ·
        Σ_c wq[i, c]) (cross-entropy: dlogp minus the softmax p times the row's sum, which cancel on
        confidently right rows; nll_loss: the first term only), g_i the row's upstream gradient.
        """
        x = _rows(self.x.astype(np.float64))
        rows, classes = x.shape
        signed = np.ones(classes) if self.weight is None else self.weight.astype(np.float64)
        w = np.abs(signed)
        eps = self.label_smoothing if self.op == "cross_entropy" else 0.0
        if self.target_kind == "prob":
            q, total_weight = (1 - eps) * _rows(self.target.astype(np.float64)) + eps / classes, float(rows)
        else:
            t = self.target.reshape(-1)
            keep = t != self.ignore_index
            t = np.where(keep, t, 0)
            q = np.where(keep[:, None], (1 - eps) * np.eye(classes)[t] + eps / classes, 0.0)
            total_weight = float(np.sum(signed[t][keep]))
        if self.reduction == "mean" and total_weight == 0:
            return None, None
        divisor = abs(total_weight) if self.reduction == "mean" else 1.0
        wq = w * q
        ce = self.op == "cross_entropy"
        rounding = np.max(np.abs(x), axis=1, keepdims=True) + 1.0 if ce and rows else 0.0
        per_row = np.sum(wq * (np.abs(x) + rounding), axis=1)
        loss = per_row.reshape(self.loss_shape) if self.reduction == "none" else np.sum(per_row) / divisor
        dout = np.abs(self.dout.astype(np.float64))
        g = dout.reshape(-1) if self.reduction == "none" else np.full(rows, float(dout) / divisor)
        p = _softmax_rows(x) if ce and rows else 0.0
        grad = g[:, None] * (wq + p * np.sum(wq, axis=1, keepdims=True))
        return loss, _from_rows(grad, self.x.shape)


def class_case(op: str, batch: int | None, classes: int, spatial: tuple[int, ...], target_kind: str,
               weighted: bool, ignore_index: int, ignore: str, reduction: str, label_smoothing: float,
               dtype: Any, seed: int, magnitude: float = 3.0) -> ClassLossCase:
    """A case built from ``seed`` (for ``@example``): ``ignore`` 'none', 'some' or 'all' targets set to
    ``ignore_index``; ``batch=None`` for unbatched (C,) scores."""
    rng = np.random.default_rng(seed)
    shape = (classes,) if batch is None else (batch, classes) + spatial
    loss_shape = () if batch is None else (batch,) + spatial
    x = distinct_array(rng, shape, dtype, -magnitude, magnitude)
    if target_kind == "prob":
        probs = _softmax_rows(_rows(distinct_array(rng, shape, np.float64, -2.0, 2.0)))
        target = np.ascontiguousarray(_from_rows(probs, shape)).astype(dtype)
    else:
        target = np.asarray(rng.integers(0, classes, size=loss_shape), dtype=np.int64)
        flat = target.reshape(-1)
        flat[rng.random(flat.size) < {"none": 0.0, "some": 0.4, "all": 1.1}[ignore]] = ignore_index
    weight = distinct_array(rng, (classes,), dtype, 0.1, 2.0) if weighted else None
    dout = (distinct_array(rng, loss_shape, dtype) if reduction == "none"
            else np.asarray(rng.uniform(0.5, 2.0), dtype=dtype))
    return ClassLossCase(op, x, target, weight, dout, ignore_index, reduction, label_smoothing)


@st.composite
def class_loss_cases(draw, finite_difference: bool = False, batch: st.SearchStrategy | None = None,
                     classes: st.SearchStrategy | None = None) -> ClassLossCase:
    """cross_entropy / nll_loss cases; ``finite_difference=True``: float64 logits of magnitude <= 3."""
    op = draw(st.sampled_from(["cross_entropy", "nll_loss"]))
    n = draw(batch if batch is not None else st.one_of(st.none(), st.integers(0, 5)))
    c = draw(classes if classes is not None else st.integers(1, 6))
    spatial = () if n is None else tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape, loss_shape = ((c,), ()) if n is None else ((n, c) + spatial, (n,) + spatial)
    dtype = np.float64 if finite_difference else draw(float_dtypes)
    m = 3.0 if finite_difference else draw(st.sampled_from(MAGNITUDES))
    x = draw(_values(dtype, shape, -m, m, unique=True))
    if op == "cross_entropy" and draw(st.booleans()):
        probs = _softmax_rows(_rows(draw(_values(np.float64, shape, -2.0, 2.0))))
        target = np.ascontiguousarray(_from_rows(probs, shape)).astype(dtype)
        ignore_index = draw(st.sampled_from([-100, -1]))
    else:
        ignore_index = draw(st.one_of(st.just(-100), st.integers(0, c - 1)))
        ignore = draw(st.sampled_from(["none", "some", "all"]))
        classes_drawn = st.integers(0, c - 1)
        elements = {"none": classes_drawn, "some": classes_drawn | st.just(ignore_index),
                    "all": st.just(ignore_index)}[ignore]
        target = draw(hnp.arrays(np.int64, loss_shape, elements=elements))
    weight = draw(_values(dtype, (c,), 0.125, 2.0)) if draw(st.booleans()) else None
    reduction = draw(st.sampled_from(REDUCTIONS))
    smoothing = 0.0
    if op == "cross_entropy":
        smoothing = draw(st.one_of(st.just(0.0), st.sampled_from([0.1, 1.0]), st.floats(0.0, 1.0)))
    return ClassLossCase(op, x, target, weight, _upstream(draw, dtype, loss_shape, reduction), ignore_index,
                         reduction, smoothing)


# -- regression losses ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RegressionLossCase:
    """mse_loss or l1_loss on ``x`` and ``target`` of one shape, upstream gradient ``dout``."""

    op: str
    x: np.ndarray
    target: np.ndarray
    dout: np.ndarray
    reduction: str = "mean"

    def __str__(self) -> str:
        arrays = (f" x={self.x.tolist()} target={self.target.tolist()} dout={self.dout.tolist()}"
                  if self.x.size <= 24 else "")
        return f"{self.op} x{self.x.shape} reduction={self.reduction} {self.x.dtype}{arrays}"

    @property
    def reduction_length(self) -> int:
        return 1 if self.reduction == "none" else max(1, self.x.size)


def _with_ties_and_nans(case: RegressionLossCase, ties: bool, nans: bool) -> RegressionLossCase:
    """``ties``: every third target equals the input (L1's kink); ``nans``: every fourth input is nan."""
    x, target = case.x.copy(), case.target.copy()
    if ties:
        target.reshape(-1)[::3] = x.reshape(-1)[::3]
    if nans:
        x.reshape(-1)[1::4] = np.nan
    return replace(case, x=x, target=target)


def regression_case(op: str, shape: tuple[int, ...], reduction: str, dtype: Any, seed: int,
                    magnitude: float = 1.0, ties: bool = False, nans: bool = False) -> RegressionLossCase:
    """A case built from ``seed`` (for ``@example``)."""
    rng = np.random.default_rng(seed)
    x = distinct_array(rng, shape, dtype, -magnitude, magnitude)
    target = distinct_array(rng, shape, dtype, -magnitude, magnitude)
    dout = (distinct_array(rng, shape, dtype) if reduction == "none"
            else np.asarray(rng.uniform(0.5, 2.0), dtype=dtype))
    return _with_ties_and_nans(RegressionLossCase(op, x, target, dout, reduction), ties, nans)


@st.composite
def regression_loss_cases(draw, finite_difference: bool = False,
                          shapes: st.SearchStrategy | None = None) -> RegressionLossCase:
    """mse_loss / l1_loss cases; ``finite_difference=True``: float64, magnitude 1, no ties, no nan."""
    shape = draw(shapes if shapes is not None else hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                                    max_side=4))
    dtype = np.float64 if finite_difference else draw(float_dtypes)
    m = 1.0 if finite_difference else draw(st.sampled_from(MAGNITUDES))
    reduction = draw(st.sampled_from(REDUCTIONS))
    case = RegressionLossCase(draw(st.sampled_from(["mse_loss", "l1_loss"])),
                              draw(_values(dtype, shape, -m, m, unique=True)), draw(_values(dtype, shape, -m, m)),
                              _upstream(draw, dtype, shape, reduction), reduction)
    if finite_difference:
        return case
    return _with_ties_and_nans(case, draw(st.booleans()), draw(st.booleans()))
