"""The engine room of the losses: cross-entropy, NLL, MSE and L1 with :mod:`scratch.functional.loss`'s
signatures, checks and results (read the math there).

Class-index targets (the common case) run through two small Numba kernels, one per direction, that
check the targets, pick each row's score and reduce in one pass; every loss here is tiny next to the
network, so what they save is per-call overhead (a dozen NumPy calls and temporaries each way).
Class-probability targets and the regression losses are a few whole-array NumPy expressions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from scratch.functional import loss as reference
from scratch.functional._checks import loss as checks
from scratch.functional._checks.loss import class_rows, from_class_rows
from scratch.kernels.activation import _softmax_kernel, log_softmax_rows

__all__ = ["cross_entropy_forward", "cross_entropy_backward", "nll_loss_forward", "nll_loss_backward",
           "mse_loss_forward", "mse_loss_backward", "l1_loss_forward", "l1_loss_backward"]


class CrossEntropyCache(NamedTuple):
    """What :func:`cross_entropy_backward` needs (``kind`` 'indices' or 'probabilities')."""

    kind: str
    logp: np.ndarray                 # (M, C) log-probabilities
    target: np.ndarray | None        # (M,) int64 class indices, -1 on ignored rows (indices)
    w_t: np.ndarray | None           # (M,) weight[t_i], 0 on ignored rows (indices)
    weighted_q: np.ndarray | None    # (M, C) w_c · q[i, c] (probabilities)
    weight: np.ndarray | None        # (C,) class weights or None
    denominator: Any                 # W (indices) or M (probabilities), a scalar of the input's dtype
    reduction: str
    label_smoothing: float
    input_shape: tuple[int, ...]


class NLLLossCache(NamedTuple):
    """What :func:`nll_loss_backward` needs."""

    target: np.ndarray      # (M,) int64 class indices, -1 on ignored rows
    w_t: np.ndarray         # (M,) weight[t_i], 0 on ignored rows
    denominator: Any        # W, a scalar of the input's dtype
    reduction: str
    input_shape: tuple[int, ...]


class RegressionCache(reference.RegressionCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


def _reduce(loss: np.ndarray, reduction: str, denominator: np.generic) -> np.ndarray:
    """``loss`` itself, its sum, or its sum / ``denominator`` (0/0 gives nan, as torch)."""
    if reduction == "none":
        return loss
    total = np.sum(loss, dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    if denominator != 0:
        return np.asarray(total / denominator)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 = nan, as torch
        return np.asarray(total / denominator)


def _pick(op: str, x: np.ndarray, target: Any, ignore_index: int, scores: np.ndarray,
          weight: np.ndarray | None, reduction: str,
          log_softmax: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """Check class-index ``target`` against ``x`` and pick each row's score from ``scores`` (M, C), or from
    its row-wise log-softmax with ``log_softmax`` (cross-entropy: both in one kernel call).

    Returns ``(logp, t, w_t, out, W)``: logp the log-softmax (``scores`` itself without ``log_softmax``),
    t (M,) int64 targets with -1 on ignored rows, w_t = weight[t] (1 without weight, 0 on ignored rows),
    ``out`` the loss -w_t · logp[i, t] (0 on ignored rows) reduced as ``reduction`` says (an array of x's
    dtype: the per-sample losses in the target's shape, their sum, or their sum / W, nan for 0/0 as torch)
    and W = Σ w_t. Raises as :func:`scratch.functional._checks.loss.class_indices`.
    """
    flat = checks.index_target(op, x, target)
    w = _NO_WEIGHT[scores.dtype.char] if weight is None else weight
    mean = reduction == "mean"
    if log_softmax:
        bad, logp, t, w_t_loss, total, denominator = _log_softmax_pick_kernel(scores, flat, w, ignore_index, mean)
    else:
        logp = scores
        bad, t, w_t_loss, total, denominator = _pick_kernel(scores, flat, w, ignore_index, mean)
    if bad >= 0:
        raise checks.out_of_bounds(op, np.asarray(target).reshape(-1)[bad], scores.shape[1], ignore_index)
    shape = checks.loss_shape(x)
    out = w_t_loss[1].reshape(shape) if reduction == "none" else np.asarray(total, dtype=scores.dtype)
    return logp, t, w_t_loss[0], out, scores.dtype.type(denominator)


_NO_WEIGHT = {np.dtype(d).char: np.empty(0, dtype=d) for d in (np.float32, np.float64)}


@numba.njit(cache=True, error_model="numpy")
def _pick_kernel(scores, target, weight, ignore_index, mean):
    """Row i: t = target, or -1 where target == ignore_index; w_t = weight[t] (1 for an empty ``weight``,
    0 if ignored); loss = -w_t · scores[i, t] (0 if ignored). Returns (first out-of-range row or -1, t,
    [w_t, loss] as one (2, M) array, Σ loss (/ Σ w_t with ``mean``), Σ w_t); the sums in the scores' dtype."""
    rows, n_classes = scores.shape
    t = np.empty(rows, dtype=np.int64)
    w_t_loss = np.zeros((2, rows), dtype=scores.dtype)
    one = scores.dtype.type(1)
    total, denominator = scores.dtype.type(0), scores.dtype.type(0)
    for i in range(rows):
        c = target[i]
        t[i] = -1
        if c == ignore_index:
            continue
        if c < 0 or c >= n_classes:
            return i, t, w_t_loss, total, denominator
        wc = weight[c] if weight.shape[0] else one
        t[i] = c
        w_t_loss[0, i] = wc
        w_t_loss[1, i] = -wc * scores[i, c]
        total += w_t_loss[1, i]
        denominator += wc
    if mean:
        total = total / denominator  # 0/0 = nan, as torch
    return -1, t, w_t_loss, total, denominator


@numba.njit(cache=True, error_model="numpy")
def _log_softmax_pick_kernel(scores, target, weight, ignore_index, mean):
    """:func:`_pick_kernel` on the rows' log-softmax, which is returned too (cross-entropy in one call)."""
    rows, n_classes = scores.shape
    logp = np.empty_like(scores)
    _softmax_kernel(scores.reshape(rows, n_classes, 1), logp.reshape(rows, n_classes, 1), True)
    bad, t, w_t_loss, total, denominator = _pick_kernel(logp, target, weight, ignore_index, mean)
    return bad, logp, t, w_t_loss, total, denominator


def cross_entropy_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                          ignore_index: int = -100, reduction: str = "mean",
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, CrossEntropyCache]:
    """Cross-entropy of logits, as ``torch.nn.functional.cross_entropy``: the math, shapes and checks of
    :func:`scratch.functional.loss.cross_entropy_forward`. Cache: :class:`CrossEntropyCache`."""
    op = "cross_entropy"
    x, w, ignore_index, reduction = checks.class_loss_args(op, input, weight, ignore_index, reduction)
    eps = checks.label_smoothing(op, label_smoothing)
    n_classes = checks.n_classes(x)
    dt = x.dtype.type

    if not checks.is_probabilities(target):
        logp, t, w_t, nll, denominator = _pick(op, x, target, ignore_index, class_rows(x), w, reduction,
                                               log_softmax=True)
        cache = CrossEntropyCache("indices", logp, t, w_t, None, w, denominator, reduction, eps, x.shape)
        if eps == 0:
            return nll, cache
        # The two parts are reduced separately, as torch does (so W = 0 gives nan, not inf).
        a, b = dt(1 - eps), dt(eps / n_classes)
        smooth = np.where(t >= 0, -np.sum(logp if w is None else logp * w, axis=1), dt(0))
        return np.asarray(a * nll + b * _reduce(smooth.reshape(checks.loss_shape(x)), reduction, denominator)), cache

    q = class_rows(checks.probability_target(op, x, target, ignore_index))
    logp = log_softmax_rows(class_rows(x))
    if eps > 0:
        q = q * dt(1 - eps) + dt(eps / n_classes)
    weighted_q = q if w is None else q * w
    denominator = dt(logp.shape[0])
    cache = CrossEntropyCache("probabilities", logp, None, None, weighted_q, w, denominator, reduction, eps, x.shape)
    loss = -np.sum(weighted_q * logp, axis=1)
    return _reduce(loss.reshape(checks.loss_shape(x)), reduction, denominator), cache


def cross_entropy_backward(dout: Any, cache: CrossEntropyCache) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to ``input`` (math: the reference's)."""
    op = "cross_entropy_backward"
    logp, w, reduction = cache.logp, cache.weight, cache.reduction
    dt = logp.dtype.type
    dout = checks.upstream(op, dout, reduction, checks.loss_shape(cache.input_shape), logp.dtype)
    n_rows, n_classes = logp.shape
    eps = cache.label_smoothing
    # torch's weighted mean with W = 0 yields inf · 0 = nan in the gradient, silently: so do we.
    if cache.kind == "indices":
        dx = np.empty_like(logp)
        w_c = np.ones(n_classes, logp.dtype) if w is None else w
        _cross_entropy_backward_kernel(logp, cache.target, cache.w_t, w_c,
                                       dout.reshape(-1), _divisor(reduction, cache.denominator),
                                       dt(1 - eps), dt(eps / n_classes), eps > 0, dx)
        return from_class_rows(dx, cache.input_shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        if reduction == "none":
            g = dout.reshape(-1)
        else:
            scale = dout / cache.denominator if reduction == "mean" else dout
            g = np.full(n_rows, scale, dtype=logp.dtype)
        dlogp = -g[:, None] * cache.weighted_q
        drows = dlogp - np.exp(logp) * np.sum(dlogp, axis=1, keepdims=True)
    return from_class_rows(drows, cache.input_shape)


def _divisor(reduction: str, denominator: np.generic) -> np.generic:
    """What the upstream gradient is divided by: W for 'mean', 1 otherwise."""
    return denominator if reduction == "mean" else denominator.dtype.type(1)


@numba.njit(cache=True, error_model="numpy")
def _cross_entropy_backward_kernel(logp, t, w_t, w_c, g, divisor, keep, share, smooth, dx):
    """dx[i] = dlogp[i] - exp(logp[i]) · Σ_c dlogp[i, c], with g_i = g[i] / divisor (g[0] / divisor for a
    scalar upstream gradient; 0 on ignored rows, t_i = -1) and dlogp[i, c] = -(share · g_i) · w_c[c] (only when
    ``smooth``) - [c = t_i] · (keep · g_i) · w_t[i]; keep = 1 - ε, share = ε / C."""
    n_rows, n_classes = logp.shape
    zero = logp.dtype.type(0)
    for i in range(n_rows):
        gi = (g[i] if g.shape[0] == n_rows else g[0]) / divisor if t[i] >= 0 else zero
        total = zero
        for c in range(n_classes):
            d = -(share * gi) * w_c[c] if smooth else zero
            if c == t[i]:
                d -= keep * gi * w_t[i]
            dx[i, c] = d
            total += d
        for c in range(n_classes):
            dx[i, c] -= np.exp(logp[i, c]) * total


def nll_loss_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                     ignore_index: int = -100, reduction: str = "mean") -> tuple[np.ndarray, NLLLossCache]:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``: the math, shapes
    and checks of :func:`scratch.functional.loss.nll_loss_forward`. Cache: :class:`NLLLossCache`."""
    op = "nll_loss"
    x, w, ignore_index, reduction = checks.class_loss_args(op, input, weight, ignore_index, reduction)
    _, t, w_t, out, denominator = _pick(op, x, target, ignore_index, class_rows(x), w, reduction)
    return out, NLLLossCache(t, w_t, denominator, reduction, x.shape)


def nll_loss_backward(dout: Any, cache: NLLLossCache) -> np.ndarray:
    """Gradient of :func:`nll_loss_forward` with respect to ``input`` (math: the reference's)."""
    t, w_t, denominator, reduction, shape = cache
    dtype = w_t.dtype
    dout = checks.upstream("nll_loss_backward", dout, reduction, checks.loss_shape(shape), dtype)
    drows = np.zeros((t.size, checks.n_classes(shape)), dtype=dtype)
    _nll_backward_kernel(t, w_t, dout.reshape(-1), _divisor(reduction, denominator), drows)
    return from_class_rows(drows, shape)


@numba.njit(cache=True, error_model="numpy")
def _nll_backward_kernel(t, w_t, g, divisor, dx):
    """dx[i, t_i] = -(g_i · w_t[i]) on non-ignored rows (t_i >= 0; dx is zero elsewhere), g_i = g[i] / divisor
    (g[0] / divisor for a scalar upstream gradient)."""
    n_rows = dx.shape[0]
    for i in range(n_rows):
        if t[i] >= 0:
            dx[i, t[i]] = -((g[i] if g.shape[0] == n_rows else g[0]) / divisor) * w_t[i]


def mse_loss_forward(input: np.ndarray, target: np.ndarray,
                     reduction: str = "mean") -> tuple[np.ndarray, RegressionCache]:
    """Mean squared error, as ``torch.nn.functional.mse_loss``: see
    :func:`scratch.functional.loss.mse_loss_forward`."""
    reduction = checks.check_reduction("mse_loss", reduction)
    x, y = checks.regression_pair("mse_loss", input, target)
    diff = x - y
    return _reduce(diff * diff, reduction, x.dtype.type(x.size)), RegressionCache(diff, reduction)


def mse_loss_backward(dout: Any, cache: RegressionCache) -> np.ndarray:
    """Gradient of :func:`mse_loss_forward` with respect to ``input`` (math: the reference's)."""
    diff, reduction = cache
    dout = checks.upstream("mse_loss_backward", dout, reduction, diff.shape, diff.dtype)
    norm = 2.0 / diff.size if reduction == "mean" and diff.size else 2.0
    return diff.dtype.type(norm) * diff * dout


def l1_loss_forward(input: np.ndarray, target: np.ndarray,
                    reduction: str = "mean") -> tuple[np.ndarray, RegressionCache]:
    """Mean absolute error, as ``torch.nn.functional.l1_loss``: see
    :func:`scratch.functional.loss.l1_loss_forward`."""
    reduction = checks.check_reduction("l1_loss", reduction)
    x, y = checks.regression_pair("l1_loss", input, target)
    diff = x - y
    return _reduce(np.abs(diff), reduction, x.dtype.type(x.size)), RegressionCache(diff, reduction)


def l1_loss_backward(dout: Any, cache: RegressionCache) -> np.ndarray:
    """Gradient of :func:`l1_loss_forward` with respect to ``input``; sign(nan) = 0, as torch.sign."""
    diff, reduction = cache
    dout = checks.upstream("l1_loss_backward", dout, reduction, diff.shape, diff.dtype)
    if reduction == "mean" and diff.size:
        dout = dout / diff.dtype.type(diff.size)
    return np.sign(np.where(np.isnan(diff), diff.dtype.type(0), diff)) * dout
