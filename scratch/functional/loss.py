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
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from scratch.functional._checks import check_same_dtype, check_shape, float_array, to_int
from scratch.functional.activation import log_softmax_forward

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
    with np.errstate(divide="ignore", invalid="ignore"):
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
    if x.ndim == 1:
        return x.reshape(1, -1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_class_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_class_rows`: (M, C) rows back to the C-contiguous layout ``shape``."""
    if len(shape) == 1:
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


def _class_targets(op: str, x: np.ndarray, target: Any, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-index targets as (M,) int64 rows (ignored rows set to class 0) and the (M,) non-ignored mask.

    Raises ValueError when ``target``'s shape does not match ``x``'s layout or a non-ignored target lies
    outside [0, C).
    """
    expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        layout = ("a 0-D target for a (C,) input" if x.ndim == 1
                  else "target (N, d1, ..., dK) for input (N, C, d1, ..., dK)")
        raise ValueError(f"{op}: expected target of shape {expected} ({layout}), got {target.shape} "
                         f"for input of shape {x.shape}")
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    t = target.reshape(-1).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise ValueError(f"{op}: target {int(t[np.argmax(bad)])} is out of bounds: expected class indices in "
                         f"[0, {n_classes - 1}] or ignore_index={ignore_index}")
    return np.where(valid, t, 0), valid


def _integer_target(op: str, target: Any) -> np.ndarray:
    """``target`` as an integer array (Python/NumPy integer scalars become 0-D arrays)."""
    if isinstance(target, Integral) and not isinstance(target, (bool, np.bool_)):
        target = np.asarray(target)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}: expected target to be a numpy.ndarray, got {type(target).__name__}")
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{op}: expected target of an integer dtype (class indices), got {target.dtype}")
    return target


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
    ignore_index = to_int(op, "ignore_index", ignore_index)
    if isinstance(label_smoothing, (bool, np.bool_)) or not isinstance(label_smoothing, Real):
        raise TypeError(f"{op}: expected label_smoothing to be a float, got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    w = _class_weight(op, weight, x, n_classes)
    dt = x.dtype.type
    a, b = dt(1 - label_smoothing), dt(label_smoothing / n_classes)
    logp, _ = log_softmax_forward(_class_rows(x), dim=1)
    loss_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    cache = {"input_shape": x.shape, "loss_shape": loss_shape, "logp": logp, "weight": w,
             "reduction": reduction, "label_smoothing": float(label_smoothing)}

    if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating):
        check_same_dtype(op, "input", x, "target", target)
        if target.shape != x.shape:
            raise ValueError(f"{op}: expected class-probability target of the input's shape {x.shape}, "
                             f"got {target.shape}")
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index is not supported for class-probability targets "
                             f"(got ignore_index={ignore_index})")
        q = _class_rows(np.ascontiguousarray(target))
        if label_smoothing > 0:
            q = q * a + b
        weighted_q = q if w is None else q * w
        denominator = dt(logp.shape[0])
        cache.update(kind="probabilities", weighted_q=weighted_q, denominator=denominator)
        loss = -np.sum(weighted_q * logp, axis=1)
        return _reduce(loss.reshape(loss_shape), reduction, denominator), cache

    t, valid = _class_targets(op, x, _integer_target(op, target), ignore_index)
    w_t = np.ones(t.size, dtype=x.dtype) if w is None else w[t]
    denominator = np.sum(np.where(valid, w_t, dt(0)), dtype=x.dtype)
    cache.update(kind="indices", target=t, valid=valid, w_t=w_t, denominator=denominator)
    nll = _reduce(np.where(valid, -w_t * logp[np.arange(t.size), t], dt(0)).reshape(loss_shape), reduction,
                  denominator)
    if label_smoothing == 0:
        return nll, cache
    # The two parts are reduced separately, as torch does (so W = 0 gives nan, not inf).
    smooth = np.where(valid, -np.sum(logp if w is None else logp * w, axis=1), dt(0))
    return np.asarray(a * nll + b * _reduce(smooth.reshape(loss_shape), reduction, denominator)), cache


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
    with np.errstate(divide="ignore", invalid="ignore"):
        if reduction == "none":
            g = dout.reshape(-1)
        else:
            scale = dout / cache["denominator"] if reduction == "mean" else dout
            g = np.full(n_rows, scale, dtype=logp.dtype)
        if cache["kind"] == "probabilities":
            dlogp = -g[:, None] * cache["weighted_q"]
        else:
            t, valid = cache["target"], cache["valid"]
            g = np.where(valid, g, dt(0))
            if eps > 0:
                w_c = np.ones(n_classes, logp.dtype) if w is None else w
                dlogp = (-dt(eps / n_classes) * g)[:, None] * w_c
            else:
                dlogp = np.zeros_like(logp)
            rows = np.flatnonzero(valid)
            dlogp[rows, t[rows]] -= dt(1 - eps) * g[rows] * cache["w_t"][rows]
        drows = dlogp - np.exp(logp) * np.sum(dlogp, axis=1, keepdims=True)
    return _from_class_rows(drows, cache["input_shape"])


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
    ignore_index = to_int(op, "ignore_index", ignore_index)
    w = _class_weight(op, weight, x, n_classes)
    dt = x.dtype.type
    t, valid = _class_targets(op, x, _integer_target(op, target), ignore_index)
    w_t = np.ones(t.size, dtype=x.dtype) if w is None else w[t]
    loss = np.where(valid, -w_t * _class_rows(x)[np.arange(t.size), t], dt(0))
    denominator = np.sum(np.where(valid, w_t, dt(0)), dtype=x.dtype)
    loss_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    cache = {"input_shape": x.shape, "dtype": x.dtype, "target": t, "valid": valid, "w_t": w_t,
             "denominator": denominator, "reduction": reduction, "loss_shape": loss_shape}
    return _reduce(loss.reshape(loss_shape), reduction, denominator), cache


def nll_loss_backward(dout: Any, cache: dict) -> np.ndarray:
    """Gradient of :func:`nll_loss_forward` with respect to ``input``. Math: see the forward.

    Shapes:   dout 0-D ('mean'/'sum') or the target's shape ('none') -> dinput (input's shape)
    """
    op = "nll_loss_backward"
    dtype, reduction, t, valid = cache["dtype"], cache["reduction"], cache["target"], cache["valid"]
    dout = _upstream(op, dout, reduction, cache["loss_shape"], dtype)
    shape = cache["input_shape"]
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    rows = np.flatnonzero(valid)
    with np.errstate(divide="ignore", invalid="ignore"):
        if reduction == "none":
            g = dout.reshape(-1)[rows]
        else:
            scale = dout / cache["denominator"] if reduction == "mean" else dout
            g = np.full(rows.size, scale, dtype=dtype)
        drows = np.zeros((t.size, n_classes), dtype=dtype)
        drows[rows, t[rows]] = -g * cache["w_t"][rows]
    return _from_class_rows(drows, shape)


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
