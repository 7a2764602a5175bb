"""Input validation shared by every op: clear ``TypeError``/``ValueError`` messages that name the op.

Every public ``*_forward`` validates its inputs with these helpers before any Numba kernel sees them,
so a user never meets a Numba typing error or an IndexError from deep inside a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(op: str, name: str, x: object) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 array, or raise a TypeError naming ``op``.

    Non-contiguous arrays (slices, transposes) are copied to C order; the dtype is never changed.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: expected {name} of dtype float32 or float64, got {x.dtype}")
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def check_ndim(op: str, name: str, x: np.ndarray, ndims: int | tuple[int, ...], layout: str = "") -> None:
    """Raise ValueError unless ``x.ndim`` is one of ``ndims`` (``layout`` describes the expected axes)."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        extra = f" {layout}" if layout else ""
        raise ValueError(f"{op}: expected {name} to be {want}{extra}, got {x.ndim}-D with shape {x.shape}")


def check_shape(op: str, name: str, x: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise ValueError unless ``x.shape == shape``."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{op}: expected {name} of shape {tuple(shape)}, got {tuple(x.shape)}")


def check_same_dtype(op: str, name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise TypeError when two float arrays of one op have different dtypes (torch refuses to mix)."""
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: expected {name_b} to have the dtype of {name_a} ({a.dtype}), got {b.dtype}")


def to_int(op: str, name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int (bool refused), checking ``value >= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{op}: expected {name} to be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        kind = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: expected {name} to be {kind}, got {value}")
    return value


def to_pair(op: str, name: str, value: object, minimum: int | None = None) -> tuple[int, int]:
    """Return an int or a sequence of two ints as ``(h, w)``, checking each is ``>= minimum``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{op}: expected {name} to be an int or a pair of ints, got {value!r}")
        return (to_int(op, name, value[0], minimum), to_int(op, name, value[1], minimum))
    v = to_int(op, name, value, minimum)
    return (v, v)


def wrap_dim(op: str, name: str, dim: object, ndim: int) -> int:
    """Return ``dim`` in ``[0, max(ndim, 1))``, accepting negative dims as torch does (0-D counts as 1-D)."""
    dim = to_int(op, name, dim)
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise ValueError(f"{op}: {name} out of range: expected a dim in [{-rank}, {rank - 1}] for a "
                         f"{ndim}-D input, got {dim}")
    return dim % rank


def wrap_dim_fast(op: str, name: str, dim: object, ndim: int) -> int:
    """:func:`wrap_dim`, skipping its checks for the usual plain int in range (they cost more than the
    ops that call this on small arrays)."""
    rank = max(ndim, 1)
    if type(dim) is int and -rank <= dim < rank:
        return dim % rank
    return wrap_dim(op, name, dim, ndim)
