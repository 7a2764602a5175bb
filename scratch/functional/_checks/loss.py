"""Argument checks and layout helpers of the losses, shared by both rooms so their errors are identical.

Class-score layouts, as torch: ``input`` (N, C) with ``target`` (N,), ``input`` (N, C, d1, ..., dK) with
``target`` (N, d1, ..., dK), or an unbatched ``input`` (C,) with a 0-D ``target``. :func:`class_rows` moves
the class axis last and flattens the rest into M = N·d1·...·dK rows of C scores; :func:`from_class_rows`
undoes it.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from scratch.functional._checks import check_same_dtype, check_shape, float_array, to_int

REDUCTIONS = ("none", "mean", "sum")
_INT64 = np.iinfo(np.int64)


def check_reduction(op: str, reduction: object) -> str:
    """Return ``reduction`` if it is 'none', 'mean' or 'sum', else raise ValueError naming ``op``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{op}: expected reduction to be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def class_scores(op: str, x: Any, name: str = "input") -> np.ndarray:
    """``x`` checked to be a float array (C,), (N, C) or (N, C, d1, ..., dK) with at least one class."""
    x = float_array(op, name, x)
    if x.ndim == 0:
        raise ValueError(f"{op}: expected {name} to be (C,), (N, C) or (N, C, d1, ..., dK), got 0-D")
    if n_classes(x) == 0:
        raise ValueError(f"{op}: expected at least one class, got {name} of shape {x.shape}")
    return x


def n_classes(x: np.ndarray | tuple[int, ...]) -> int:
    """C for scores ``x`` (or their shape): the length of the class axis (axis 0 of (C,), else axis 1)."""
    shape = x if isinstance(x, tuple) else x.shape
    return shape[0] if len(shape) == 1 else shape[1]


def loss_shape(x: np.ndarray | tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample loss's shape for scores ``x`` (or their shape): (), (N,) or (N, d1, ..., dK)."""
    shape = x if isinstance(x, tuple) else x.shape
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def class_weight(op: str, weight: Any, x: np.ndarray) -> np.ndarray | None:
    """The optional per-class ``weight``, checked to be (C,) of the input's dtype."""
    if weight is None:
        return None
    weight = float_array(op, "weight", weight)
    check_same_dtype(op, "input", x, "weight", weight)
    if weight.shape != (n_classes(x),):
        raise ValueError(f"{op}: expected weight of shape ({n_classes(x)},) (one per class), got {weight.shape}")
    return weight


def ignore_index(op: str, value: object) -> int:
    """``ignore_index`` as an int64-sized Python int (the usual plain int in range passes unchecked)."""
    if type(value) is not int:
        value = to_int(op, "ignore_index", value)
    if not _INT64.min <= value <= _INT64.max:
        raise ValueError(f"{op}: expected ignore_index to fit in int64, got {value}")
    return value


def label_smoothing(op: str, value: object) -> float:
    """``label_smoothing`` checked to be a real number in [0, 1], as a float."""
    if type(value) is not float and (isinstance(value, (bool, np.bool_)) or not isinstance(value, Real)):
        raise TypeError(f"{op}: expected label_smoothing to be a float, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {value}")
    return float(value)


def is_probabilities(target: Any) -> bool:
    """Whether a cross-entropy ``target`` holds class probabilities (a float array), not class indices."""
    return isinstance(target, np.ndarray) and target.dtype.kind == "f"


def probability_target(op: str, x: np.ndarray, target: np.ndarray, ignore: int) -> np.ndarray:
    """A class-probability ``target``: the input's dtype and shape, C-contiguous; no ``ignore_index``."""
    check_same_dtype(op, "input", x, "target", target)
    if target.shape != x.shape:
        raise ValueError(f"{op}: expected class-probability target of the input's shape {x.shape}, "
                         f"got {target.shape}")
    if ignore >= 0:
        raise ValueError(f"{op}: ignore_index is not supported for class-probability targets "
                         f"(got ignore_index={ignore})")
    return np.ascontiguousarray(target)


def index_target(op: str, x: np.ndarray, target: Any) -> np.ndarray:
    """Class-index ``target`` checked against the layout of ``x``, as (M,) int64 (the range is not checked:
    see :func:`class_indices`). Raises TypeError for a non-integer target, ValueError for a wrong shape or a
    value that int64 cannot hold (a uint64 above 2**63 - 1, out of bounds whatever C is)."""
    if not isinstance(target, np.ndarray):
        if not isinstance(target, Integral) or isinstance(target, (bool, np.bool_)):
            raise TypeError(f"{op}: expected target to be a numpy.ndarray, got {type(target).__name__}")
        target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected target of an integer dtype (class indices), got {target.dtype}")
    expected = loss_shape(x)
    if target.shape != expected:
        layout = ("a 0-D target for a (C,) input" if x.ndim == 1
                  else "target (N, d1, ..., dK) for input (N, C, d1, ..., dK)")
        raise ValueError(f"{op}: expected target of shape {expected} ({layout}), got {target.shape} "
                         f"for input of shape {x.shape}")
    flat = target.reshape(-1)
    if flat.dtype == np.uint64 and flat.size and flat.max() > _INT64.max:
        raise out_of_bounds(op, flat[np.argmax(flat > _INT64.max)], n_classes(x), None)
    return flat if flat.dtype == np.int64 else flat.astype(np.int64)


def class_indices(op: str, x: np.ndarray, target: Any, ignore: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked class-index ``target`` as ``(t, keep)``: t (M,) int64 with 0 on ignored rows, keep (M,) bool
    ``t != ignore_index``. Raises as :func:`index_target`, and for the first kept target outside [0, C)."""
    flat = index_target(op, x, target)
    keep = flat != ignore
    bad = keep & ((flat < 0) | (flat >= n_classes(x)))
    if bad.any():
        raise out_of_bounds(op, np.asarray(target).reshape(-1)[np.argmax(bad)], n_classes(x), ignore)
    return np.where(keep, flat, 0), keep


def out_of_bounds(op: str, value: Any, classes: int, ignore: int | None) -> ValueError:
    """The error for a class-index target ``value`` outside [0, C) (reported as given, never wrapped)."""
    allowed = "" if ignore is None else f" or ignore_index={ignore}"
    return ValueError(f"{op}: target {int(value)} is out of bounds: expected class indices in "
                      f"[0, {classes - 1}]{allowed}")


def regression_pair(op: str, input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``input`` and ``target`` checked to be float arrays of one dtype and one shape (no broadcasting)."""
    x = float_array(op, "input", input)
    y = float_array(op, "target", target)
    check_same_dtype(op, "input", x, "target", y)
    if x.shape != y.shape:
        raise ValueError(f"{op}: expected target of the input's shape {x.shape}, got {y.shape} "
                         "(broadcasting is not supported)")
    return x, y


def upstream(op: str, dout: Any, reduction: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``dout`` as an array of ``dtype``: a 0-D scalar for 'mean'/'sum' (a Python number is accepted), the
    loss's ``shape`` for 'none'."""
    if reduction != "none" and isinstance(dout, Real) and not isinstance(dout, (bool, np.bool_)):
        return np.asarray(dout, dtype=dtype)
    dout = float_array(op, "dout", dout)
    if dout.dtype != dtype:
        raise TypeError(f"{op}: expected dout of the input's dtype {dtype}, got {dout.dtype}")
    check_shape(op, "dout", dout, shape if reduction == "none" else ())
    return dout


def class_rows(x: np.ndarray) -> np.ndarray:
    """(C,) or (N, C, d1, ..., dK) scores as (M, C) rows, class axis last (a view where the layout allows)."""
    if x.ndim == 2:
        return x
    if x.ndim < 2:
        return x.reshape(1, -1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def from_class_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`class_rows`: (M, C) rows back to the C-contiguous layout ``shape``."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = rows.reshape((shape[0],) + shape[2:] + (shape[1],))
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def class_loss_args(op: str, input: Any, weight: Any, ignore: object,
                    reduction: object) -> tuple[np.ndarray, np.ndarray | None, int, str]:
    """The checked ``(input, weight, ignore_index, reduction)`` of cross_entropy / nll_loss."""
    x = class_scores(op, input)
    reduction = check_reduction(op, reduction)
    return x, class_weight(op, weight, x), ignore_index(op, ignore), reduction
