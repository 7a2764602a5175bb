"""Losses: cross-entropy, negative log-likelihood, mean squared error, L1 (as ``torch.nn.functional``).

Class scores: ``input`` (C,), (N, C) or (N, C, d1, ..., dK); every op here works on their M = N·d1·...·dK
rows of C scores, class axis last (``class_rows``), and puts the gradient back in the input's layout.

Reductions: ``'none'`` returns the per-element losses (shape of ``target`` for class indices), ``'sum'``
their sum, ``'mean'`` their weighted mean; scalar results are 0-D arrays of the input's dtype. Each
``<loss>_backward(dout, cache)`` returns the gradient with respect to ``input`` only; ``dout`` is a scalar
(Python number or 0-D array) for ``'mean'``/``'sum'`` and an array of the loss's shape for ``'none'``.

Weighted means follow torch exactly: the class-index mean divides by W = Σ_i w[t_i] over non-ignored
targets, so when every target is ignored (or W = 0) the mean is nan, as in torch, while the gradient of
ignored rows stays 0. Deviations from torch, all stricter: integer targets of any integer dtype are
accepted (torch wants int64 or uint8); mismatched float dtypes (input vs target or weight) raise
TypeError instead of promoting; ``mse_loss``/``l1_loss`` raise ValueError on shape mismatch instead of
broadcasting with a warning; a negative ``label_smoothing`` raises ValueError (torch treats it as 0);
C = 0 classes raises ValueError.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from scratch.functional._checks import loss as checks
from scratch.functional._checks.loss import class_rows, from_class_rows

__all__ = ["cross_entropy_forward", "cross_entropy_backward", "nll_loss_forward", "nll_loss_backward",
           "mse_loss_forward", "mse_loss_backward", "l1_loss_forward", "l1_loss_backward"]


class ClassLossCache(NamedTuple):
    """What the class-score backwards need: dlogp = -g_i · wq[i, c], then (cross-entropy) the softmax's
    backward from logp; g_i = dout_i / divisor on kept rows, 0 on ignored ones."""

    logp: np.ndarray | None  # (M, C) log-probabilities (cross-entropy), None for nll_loss
    wq: np.ndarray           # (M, C) w_c · q[i, c]: the weighted target distribution, 0 on ignored rows
    keep: np.ndarray         # (M,) bool, t_i != ignore_index
    divisor: Any             # W or M for 'mean', 1 otherwise (a scalar of the input's dtype)
    reduction: str
    input_shape: tuple[int, ...]


class RegressionCache(NamedTuple):
    """What the regression backwards need."""

    diff: np.ndarray  # input - target
    reduction: str


def _reduce(loss: np.ndarray, reduction: str, n: Any) -> np.ndarray:
    """``loss`` itself ('none'), Σ loss ('sum') or Σ loss / n ('mean'; 0/0 is nan, as torch), as an array."""
    if reduction == "none":
        return loss
    total = loss.sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # a mean over nothing is nan, as torch
        return np.asarray(total / n if reduction == "mean" else total)


def _log_softmax(rows: np.ndarray) -> np.ndarray:
    """logp[i, c] = s[i, c] - log Σ_k exp s[i, k], with s = rows - max of each row (so exp cannot overflow)."""
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _class_backward(dout: Any, cache: ClassLossCache, op: str) -> np.ndarray:
    """dlogp[i, c] = -g_i · wq[i, c]; cross-entropy: dinput = dlogp - softmax · Σ_c dlogp[i, c]."""
    logp, wq, keep, divisor, reduction, shape = cache
    dout = checks.upstream(op, dout, reduction, checks.loss_shape(shape), wq.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):  # W = 0: inf · 0 = nan, silently, as torch
        g = np.where(keep, np.broadcast_to(dout.reshape(-1), keep.shape) / divisor, 0)  # (M,)
        dlogp = -g[:, None] * wq
        if logp is None:
            return from_class_rows(dlogp, shape)
        return from_class_rows(dlogp - np.exp(logp) * dlogp.sum(axis=1, keepdims=True), shape)


def cross_entropy_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                          ignore_index: int = -100, reduction: str = "mean",
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, ClassLossCache]:
    """Cross-entropy of logits, as ``torch.nn.functional.cross_entropy`` (log-softmax + NLL, smoothed).

    Shapes:   input (C,), (N, C) or (N, C, d1, ..., dK); target either class indices (an integer array:
              0-D, (N,) or (N, d1, ..., dK)) or class probabilities (a float array shaped like input);
              weight (C,) or None -> out: 'none' the shape of the per-sample loss ((), (N,) or
              (N, d1, ..., dK)), 'mean'/'sum' 0-D.
    Forward:  logp = log_softmax(input, class axis); ε = label_smoothing; w_c = weight[c] (1 if None).
              Class indices t_i, m_i = [t_i != ignore_index]:
                  loss_i = m_i · ((1-ε) · w_{t_i} · (-logp[i, t_i]) + (ε/C) · Σ_c w_c · (-logp[i, c]))
                  'mean' = Σ_i loss_i / W with W = Σ_i m_i · w_{t_i}   (nan when W = 0, as torch)
              Probabilities p: q = (1-ε) · p + ε/C,  loss_i = -Σ_c w_c · q[i, c] · logp[i, c],
                  'mean' = Σ_i loss_i / M  (M = number of samples, weights do not enter the divisor)
    Backward: g_i = dout_i ('none'), dout ('sum') or dout / W (resp. dout / M) ('mean'), 0 on ignored rows;
              dlogp[i, c] = -g_i · w_c · q[i, c], with q = (1-ε) · onehot(t_i) + ε/C for class indices;
              dinput = dlogp - softmax(input) · Σ_c dlogp[i, c]
    Cache:    ClassLossCache(logp, wq, keep, divisor, reduction, input_shape), wq = w_c · q[i, c] · m_i.
    """
    op = "cross_entropy"
    x, weight, ignore, reduction = checks.class_loss_args(op, input, weight, ignore_index, reduction)
    eps = checks.label_smoothing(op, label_smoothing)
    logp = _log_softmax(class_rows(x))                                  # (M, C)
    (M, C), shape = logp.shape, checks.loss_shape(x)
    w = np.ones(C, x.dtype) if weight is None else weight
    if checks.is_probabilities(target):
        p = class_rows(checks.probability_target(op, x, target, ignore))  # (M, C)
        q = (1 - eps) * p + eps / C if eps > 0 else p
        loss = -(logp * q * w).sum(axis=1).reshape(shape)
        divisor = x.dtype.type(M if reduction == "mean" else 1)
        return _reduce(loss, reduction, divisor), ClassLossCache(logp, w * q, np.ones(M, bool), divisor,
                                                                 reduction, x.shape)
    t, keep = checks.class_indices(op, x, target, ignore)              # (M,), (M,)
    W = np.where(keep, w[t], 0).sum()                                   # Σ_i m_i · w_{t_i}
    loss = _reduce(np.where(keep, -w[t] * logp[np.arange(M), t], 0).reshape(shape), reduction, W)
    if eps > 0:  # torch reduces the two parts separately (so W = 0 gives nan, not inf)
        smooth = np.where(keep, -(logp * w).sum(axis=1), 0).reshape(shape)
        loss = np.asarray((1 - eps) * loss + eps / C * _reduce(smooth, reduction, W))
    wq = np.where(keep[:, None], w * ((1 - eps) * np.eye(C, dtype=x.dtype)[t] + eps / C), 0)
    divisor = W if reduction == "mean" else x.dtype.type(1)
    return loss, ClassLossCache(logp, wq, keep, divisor, reduction, x.shape)


def cross_entropy_backward(dout: Any, cache: ClassLossCache) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to ``input``. Math: see the forward.

    Shapes:   dout 0-D ('mean'/'sum') or the per-sample loss shape ('none') -> dinput (input's shape)
    """
    return _class_backward(dout, cache, "cross_entropy_backward")


def nll_loss_forward(input: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
                     ignore_index: int = -100, reduction: str = "mean") -> tuple[np.ndarray, ClassLossCache]:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    Shapes:   input (C,), (N, C) or (N, C, d1, ..., dK); target integer class indices 0-D, (N,) or
              (N, d1, ..., dK); weight (C,) or None -> out: the target's shape ('none') or 0-D.
    Forward:  loss_i = -m_i · w_{t_i} · input[i, t_i],  m_i = [t_i != ignore_index], w = 1 if None
              'mean' = Σ_i loss_i / W,  W = Σ_i m_i · w_{t_i}   (nan when W = 0, as torch)
    Backward: dinput[i, t_i] = -g_i · w_{t_i} on non-ignored rows, 0 elsewhere, with g_i = dout_i
              ('none'), dout ('sum') or dout / W ('mean')
    Cache:    ClassLossCache(None, wq, keep, divisor, reduction, input_shape), wq = m_i · w_{t_i} · onehot(t_i).
    """
    op = "nll_loss"
    x, weight, ignore, reduction = checks.class_loss_args(op, input, weight, ignore_index, reduction)
    rows = class_rows(x)                                                # (M, C)
    M, C = rows.shape
    t, keep = checks.class_indices(op, x, target, ignore)              # (M,), (M,)
    w_t = np.where(keep, 1 if weight is None else weight[t], 0).astype(x.dtype)  # m_i · w_{t_i}
    W = w_t.sum()
    loss = np.where(keep, -w_t * rows[np.arange(M), t], 0).reshape(checks.loss_shape(x))
    divisor = W if reduction == "mean" else x.dtype.type(1)
    wq = w_t[:, None] * np.eye(C, dtype=x.dtype)[t]
    return _reduce(loss, reduction, W), ClassLossCache(None, wq, keep, divisor, reduction, x.shape)


def nll_loss_backward(dout: Any, cache: ClassLossCache) -> np.ndarray:
    """Gradient of :func:`nll_loss_forward` with respect to ``input``. Math: see the forward.

    Shapes:   dout 0-D ('mean'/'sum') or the target's shape ('none') -> dinput (input's shape)
    """
    return _class_backward(dout, cache, "nll_loss_backward")


def mse_loss_forward(input: np.ndarray, target: np.ndarray,
                     reduction: str = "mean") -> tuple[np.ndarray, RegressionCache]:
    """Mean squared error, as ``torch.nn.functional.mse_loss`` (same shapes required, no broadcasting).

    Shapes:   input (*), target (*) -> out (*) ('none') or 0-D ('mean'/'sum')
    Forward:  loss = (input - target)², reduced by sum, or by mean over all n elements (nan if n = 0)
    Backward: dinput = (2/n) · (input - target) · dout ('mean'), 2 · (input - target) · dout otherwise
    Cache:    RegressionCache(diff, reduction), diff = input - target.
    """
    reduction = checks.check_reduction("mse_loss", reduction)
    x, y = checks.regression_pair("mse_loss", input, target)
    diff = x - y
    return _reduce(diff * diff, reduction, diff.size), RegressionCache(diff, reduction)


def mse_loss_backward(dout: Any, cache: RegressionCache) -> np.ndarray:
    """Gradient of :func:`mse_loss_forward` with respect to ``input``. Math: see the forward."""
    diff, reduction = cache
    dout = checks.upstream("mse_loss_backward", dout, reduction, diff.shape, diff.dtype)
    n = diff.size if reduction == "mean" and diff.size else 1
    return (2 / n) * diff * dout


def l1_loss_forward(input: np.ndarray, target: np.ndarray,
                    reduction: str = "mean") -> tuple[np.ndarray, RegressionCache]:
    """Mean absolute error, as ``torch.nn.functional.l1_loss`` (same shapes required, no broadcasting).

    Shapes:   input (*), target (*) -> out (*) ('none') or 0-D ('mean'/'sum')
    Forward:  loss = |input - target|, reduced by sum, or by mean over all n elements (nan if n = 0)
    Backward: dinput = sign(input - target) · dout / n ('mean'; without / n otherwise), with sign(0) = 0
              and sign(nan) = 0 as torch.sign, so the gradient where input == target or either is nan is 0
    Cache:    RegressionCache(diff, reduction), diff = input - target.
    """
    reduction = checks.check_reduction("l1_loss", reduction)
    x, y = checks.regression_pair("l1_loss", input, target)
    diff = x - y
    return _reduce(np.abs(diff), reduction, diff.size), RegressionCache(diff, reduction)


def l1_loss_backward(dout: Any, cache: RegressionCache) -> np.ndarray:
    """Gradient of :func:`l1_loss_forward` with respect to ``input``. Math: see the forward."""
    diff, reduction = cache
    dout = checks.upstream("l1_loss_backward", dout, reduction, diff.shape, diff.dtype)
    n = diff.size if reduction == "mean" and diff.size else 1
    sign = (diff > 0).astype(diff.dtype) - (diff < 0)                   # 0 at 0 and at nan
    return sign * (dout / n)
