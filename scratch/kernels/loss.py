"""Losses: cross-entropy, negative log-likelihood, mean squared error, L1 (as ``torch.nn.functional``).

Class-score layouts, as torch: ``input`` (N, C) with ``target`` (N,), ``input`` (N, C, d1, ..., dK) with
``target`` (N, d1, ..., dK), or an unbatched ``input`` (C,) with a 0-D ``target``. Internally the class
axis is moved last and every other axis is flattened into M = N·d1·...·dK rows of C scores.

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

Class-index targets (the common case) run through two small Numba kernels, one per direction, that
check the targets, pick each row's score and reduce in one pass; every loss here is tiny next to the
network, so what they save is per-call overhead (a dozen NumPy calls and temporaries each way).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numba
import numpy as np

from scratch.functional._checks import check_same_dtype, check_shape, float_array, to_int
from scratch.functional.activation import _softmax_kernel, log_softmax_rows

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(op: str, reduction: object) -> str:
    """Return ``reduction`` if it is 'none', 'mean' or 'sum', else raise ValueError naming ``op``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{op}: expected reduction to be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


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


def _upstream(op: str, dout: Any, reduction: str, loss_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``dout`` as an array of ``dtype``: a 0-D scalar for 'mean'/'sum', the loss's shape for 'none'."""
    if reduction != "none" and isinstance(dout, Real) and not isinstance(dout, (bool, np.bool_)):
        return np.asarray(dout, dtype=dtype)
    dout = float_array(op, "dout", dout)
    if dout.dtype != dtype:
        raise TypeError(f"{op}: expected dout of the input's dtype {dtype}, got {dout.dtype}")
    check_shape(op, "dout", dout, loss_shape if reduction == "none" else ())
    return dout


def _class_rows(x: np.ndarray) -> np.ndarray:
    """(C,) or (N, C, d1, ..., dK) scores as (M, C) rows, class axis last."""
    if x.ndim == 2:
        return x
    if x.ndim < 2:
        return x.reshape(-1, x.shape[-1])
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_class_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_class_rows`: (M, C) rows back to the C-contiguous layout ``shape``."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = rows.reshape((shape[0],) + shape[2:] + (shape[1],))
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def _class_scores(op: str, x: Any, name: str = "input") -> np.ndarray:
    """``x`` checked to be a float array of rank >= 1 with at least one class."""
    x = float_array(op, name, x)
    if x.ndim == 0:
        raise ValueError(f"{op}: expected {name} to be (C,), (N, C) or (N, C, d1, ..., dK), got 0-D")
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    if n_classes == 0:
        raise ValueError(f"{op}: expected at least one class, got {name} of shape {x.shape}")
    return x


def _class_weight(op: str, weight: Any, x: np.ndarray, n_classes: int) -> np.ndarray | None:
    """The optional per-class ``weight``, checked to be (C,) of the input's dtype."""
    if weight is None:
        return None
    weight = float_array(op, "weight", weight)
    check_same_dtype(op, "input", x, "weight", weight)
    if weight.shape != (n_classes,):
        raise ValueError(f"{op}: expected weight of shape ({n_classes},) (one per class), got {weight.shape}")
    return weight


def _index(op: str, ignore_index: object) -> int:
    """``ignore_index`` checked by :func:`to_int`, skipped for the usual plain int."""
    return ignore_index if type(ignore_index) is int else to_int(op, "ignore_index", ignore_index)


def _class_targets(op: str, x: np.ndarray, target: Any, ignore_index: int, scores: np.ndarray,
                   weight: np.ndarray | None, reduction: str,
                   log_softmax: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """Check class-index ``target`` against ``x`` and pick each row's score from ``scores`` (M, C), or from
    its row-wise log-softmax with ``log_softmax`` (cross-entropy: both in one kernel call).

    Returns ``(logp, t, w_t, out, W)``: logp the log-softmax (``scores`` itself without ``log_softmax``),
    t (M,) int64 targets with -1 on ignored rows, w_t = weight[t] (1 without weight, 0 on ignored rows),
    ``out`` the loss -w_t · logp[i, t] (0 on ignored rows) reduced as ``reduction`` says (an array of x's
    dtype: the per-sample losses in the target's shape, their sum, or their sum / W, nan for 0/0 as torch)
    and W = Σ w_t. Raises TypeError for a non-integer target, ValueError when its shape does not match
    ``x``'s layout or a non-ignored target lies outside [0, C).
    """
    if not isinstance(target, np.ndarray):
        if not isinstance(target, Integral) or isinstance(target, (bool, np.bool_)):
            raise TypeError(f"{op}: expected target to be a numpy.ndarray, got {type(target).__name__}")
        target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected target of an integer dtype (class indices), got {target.dtype}")
    expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        layout = ("a 0-D target for a (C,) input" if x.ndim == 1
                  else "target (N, d1, ..., dK) for input (N, C, d1, ..., dK)")
        raise ValueError(f"{op}: expected target of shape {expected} ({layout}), got {target.shape} "
                         f"for input of shape {x.shape}")
    flat = target.reshape(-1) if target.ndim != 1 else target
    if flat.dtype != np.int64:
        flat = flat.astype(np.int64)
    w = _NO_WEIGHT[scores.dtype.char] if weight is None else weight
    mean = reduction == "mean"
    if log_softmax:
        bad, logp, t, w_t_loss, total, denominator = _log_softmax_pick_kernel(scores, flat, w, ignore_index, mean)
    else:
        logp = scores
        bad, t, w_t_loss, total, denominator = _pick_kernel(scores, flat, w, ignore_index, mean)
    if bad >= 0:
        raise ValueError(f"{op}: target {int(flat[bad])} is out of bounds: expected class "
                         f"indices in [0, {scores.shape[1] - 1}] or ignore_index={ignore_index}")
    out = w_t_loss[1].reshape(expected) if reduction == "none" else np.asarray(total, dtype=scores.dtype)
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
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, dict]:
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
              dlogp[i, c] = -g_i · ((1-ε) · w_{t_i} · [c = t_i] + (ε/C) · w_c)   (indices)
              dlogp[i, c] = -g_i · w_c · q[i, c]                                    (probabilities)
              dinput = dlogp - softmax(input) · Σ_c dlogp[i, c]
    Cache:    log-probabilities and what the gradient formula above needs.
    """
    op = "cross_entropy"
    x = _class_scores(op, input)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    reduction = check_reduction(op, reduction)
    ignore_index = _index(op, ignore_index)
    if type(label_smoothing) is not float and (isinstance(label_smoothing, (bool, np.bool_))
                                               or not isinstance(label_smoothing, Real)):
        raise TypeError(f"{op}: expected label_smoothing to be a float, got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    w = _class_weight(op, weight, x, n_classes)
    dt = x.dtype.type
    loss_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    cache = {"input_shape": x.shape, "loss_shape": loss_shape, "weight": w,
             "reduction": reduction, "label_smoothing": float(label_smoothing)}

    if not (isinstance(target, np.ndarray) and target.dtype.kind == "f"):
        logp, t, w_t, nll, denominator = _class_targets(op, x, target, ignore_index, _class_rows(x), w,
                                                        reduction, log_softmax=True)
        cache.update(kind="indices", logp=logp, target=t, w_t=w_t, denominator=denominator)
        if label_smoothing == 0:
            return nll, cache
        # The two parts are reduced separately, as torch does (so W = 0 gives nan, not inf).
        a, b = dt(1 - label_smoothing), dt(label_smoothing / n_classes)
        smooth = np.where(t >= 0, -np.sum(logp if w is None else logp * w, axis=1), dt(0))
        return np.asarray(a * nll + b * _reduce(smooth.reshape(loss_shape), reduction, denominator)), cache

    check_same_dtype(op, "input", x, "target", target)
    if target.shape != x.shape:
        raise ValueError(f"{op}: expected class-probability target of the input's shape {x.shape}, "
                         f"got {target.shape}")
    if ignore_index >= 0:
        raise ValueError(f"{op}: ignore_index is not supported for class-probability targets "
                         f"(got ignore_index={ignore_index})")
    logp = log_softmax_rows(_class_rows(x))
    q = _class_rows(np.ascontiguousarray(target))
    if label_smoothing > 0:
        q = q * dt(1 - label_smoothing) + dt(label_smoothing / n_classes)
    weighted_q = q if w is None else q * w
    denominator = dt(logp.shape[0])
    cache.update(kind="probabilities", logp=logp, weighted_q=weighted_q, denominator=denominator)
    loss = -np.sum(weighted_q * logp, axis=1)
    return _reduce(loss.reshape(loss_shape), reduction, denominator), cache


def cross_entropy_backward(dout: Any, cache: dict) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to ``input``. Math: see the forward.

    Shapes:   dout 0-D ('mean'/'sum') or the per-sample loss shape ('none') -> dinput (input's shape)
    """
    op = "cross_entropy_backward"
    logp, w, reduction = cache["logp"], cache["weight"], cache["reduction"]
    dt = logp.dtype.type
    dout = _upstream(op, dout, reduction, cache["loss_shape"], logp.dtype)
    n_rows, n_classes = logp.shape
    eps = cache["label_smoothing"]
    # torch's weighted mean with W = 0 yields inf · 0 = nan in the gradient, silently: so do we.
    if cache["kind"] == "indices":
        dx = np.empty_like(logp)
        w_c = np.ones(n_classes, logp.dtype) if w is None else w
        _cross_entropy_backward_kernel(logp, cache["target"], cache["w_t"], w_c,
                                       dout.reshape(-1), _divisor(reduction, cache["denominator"]),
                                       dt(1 - eps), dt(eps / n_classes), eps > 0, dx)
        return _from_class_rows(dx, cache["input_shape"])
    with np.errstate(divide="ignore", invalid="ignore"):
        if reduction == "none":
            g = dout.reshape(-1)
        else:
            scale = dout / cache["denominator"] if reduction == "mean" else dout
            g = np.full(n_rows, scale, dtype=logp.dtype)
        dlogp = -g[:, None] * cache["weighted_q"]
        drows = dlogp - np.exp(logp) * np.sum(dlogp, axis=1, keepdims=True)
    return _from_class_rows(drows, cache["input_shape"])


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
                     ignore_index: int = -100, reduction: str = "mean") -> tuple[np.ndarray, dict]:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    Shapes:   input (C,), (N, C) or (N, C, d1, ..., dK); target integer class indices 0-D, (N,) or
              (N, d1, ..., dK); weight (C,) or None -> out: the target's shape ('none') or 0-D.
    Forward:  loss_i = -m_i · w_{t_i} · input[i, t_i],  m_i = [t_i != ignore_index], w = 1 if None
              'mean' = Σ_i loss_i / W,  W = Σ_i m_i · w_{t_i}   (nan when W = 0, as torch)
    Backward: dinput[i, t_i] = -g_i · w_{t_i} on non-ignored rows, 0 elsewhere, with g_i = dout_i
              ('none'), dout ('sum') or dout / W ('mean')
    Cache:    targets, mask, target weights, W and the input's shape.
    """
    op = "nll_loss"
    x = _class_scores(op, input)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    reduction = check_reduction(op, reduction)
    ignore_index = _index(op, ignore_index)
    w = _class_weight(op, weight, x, n_classes)
    _, t, w_t, out, denominator = _class_targets(op, x, target, ignore_index, _class_rows(x), w, reduction)
    loss_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    cache = {"input_shape": x.shape, "dtype": x.dtype, "target": t, "w_t": w_t,
             "denominator": denominator, "reduction": reduction, "loss_shape": loss_shape}
    return out, cache


def nll_loss_backward(dout: Any, cache: dict) -> np.ndarray:
    """Gradient of :func:`nll_loss_forward` with respect to ``input``. Math: see the forward.

    Shapes:   dout 0-D ('mean'/'sum') or the target's shape ('none') -> dinput (input's shape)
    """
    op = "nll_loss_backward"
    dtype, reduction, t = cache["dtype"], cache["reduction"], cache["target"]
    dout = _upstream(op, dout, reduction, cache["loss_shape"], dtype)
    shape = cache["input_shape"]
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    drows = np.zeros((t.size, n_classes), dtype=dtype)
    _nll_backward_kernel(t, cache["w_t"], dout.reshape(-1), _divisor(reduction, cache["denominator"]), drows)
    return _from_class_rows(drows, shape)


@numba.njit(cache=True, error_model="numpy")
def _nll_backward_kernel(t, w_t, g, divisor, dx):
    """dx[i, t_i] = -(g_i · w_t[i]) on non-ignored rows (t_i >= 0; dx is zero elsewhere), g_i = g[i] / divisor
    (g[0] / divisor for a scalar upstream gradient)."""
    n_rows = dx.shape[0]
    for i in range(n_rows):
        if t[i] >= 0:
            dx[i, t[i]] = -((g[i] if g.shape[0] == n_rows else g[0]) / divisor) * w_t[i]


def _pair(op: str, input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``input`` and ``target`` checked to be float arrays of one dtype and one shape."""
    x = float_array(op, "input", input)
    y = float_array(op, "target", target)
    check_same_dtype(op, "input", x, "target", y)
    if x.shape != y.shape:
        raise ValueError(f"{op}: expected target of the input's shape {x.shape}, got {y.shape} "
                         "(broadcasting is not supported)")
    return x, y


def mse_loss_forward(input: np.ndarray, target: np.ndarray,
                     reduction: str = "mean") -> tuple[np.ndarray, tuple[np.ndarray, str]]:
    """Mean squared error, as ``torch.nn.functional.mse_loss`` (same shapes required, no broadcasting).

    Shapes:   input (*), target (*) -> out (*) ('none') or 0-D ('mean'/'sum')
    Forward:  loss = (input - target)², reduced by sum, or by mean over all n elements (nan if n = 0)
    Backward: dinput = (2/n) · (input - target) · dout ('mean'), 2 · (input - target) · dout otherwise
    Cache:    (input - target, reduction).
    """
    op = "mse_loss"
    reduction = check_reduction(op, reduction)
    x, y = _pair(op, input, target)
    diff = x - y
    return _reduce(diff * diff, reduction, x.dtype.type(x.size)), (diff, reduction)


def mse_loss_backward(dout: Any, cache: tuple[np.ndarray, str]) -> np.ndarray:
    """Gradient of :func:`mse_loss_forward` with respect to ``input``. Math: see the forward."""
    diff, reduction = cache
    dout = _upstream("mse_loss_backward", dout, reduction, diff.shape, diff.dtype)
    norm = 2.0 / diff.size if reduction == "mean" and diff.size else 2.0
    return diff.dtype.type(norm) * diff * dout


def l1_loss_forward(input: np.ndarray, target: np.ndarray,
                    reduction: str = "mean") -> tuple[np.ndarray, tuple[np.ndarray, str]]:
    """Mean absolute error, as ``torch.nn.functional.l1_loss`` (same shapes required, no broadcasting).

    Shapes:   input (*), target (*) -> out (*) ('none') or 0-D ('mean'/'sum')
    Forward:  loss = |input - target|, reduced by sum, or by mean over all n elements (nan if n = 0)
    Backward: dinput = sign(input - target) · dout / n ('mean'; without / n otherwise), and
              sign(0) = 0, so the gradient where input == target is 0, as torch's
    Cache:    (input - target, reduction).
    """
    op = "l1_loss"
    reduction = check_reduction(op, reduction)
    x, y = _pair(op, input, target)
    diff = x - y
    return _reduce(np.abs(diff), reduction, x.dtype.type(x.size)), (diff, reduction)


def l1_loss_backward(dout: Any, cache: tuple[np.ndarray, str]) -> np.ndarray:
    """Gradient of :func:`l1_loss_forward` with respect to ``input``. Math: see the forward."""
    diff, reduction = cache
    dout = _upstream("l1_loss_backward", dout, reduction, diff.shape, diff.dtype)
    if reduction == "mean" and diff.size:
        dout = dout / diff.dtype.type(diff.size)
    return np.sign(diff) * dout
