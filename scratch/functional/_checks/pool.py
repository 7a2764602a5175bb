"""Argument checks and output geometry shared by both tiers of the pooling family (identical errors on both).

:func:`pool_geometry` validates x and the window hyperparameters as torch does and resolves the output
shape, :func:`avg_options` checks average pooling's options, :func:`pool_dout` checks an upstream
gradient. Integer pairs follow torch's expansion rule for max_pool2d / avg_pool2d: an int, or a sequence
of 1 int (used for both axes) or 2 ints; an empty ``stride`` (``()``, ``[]``) means the default, the
kernel size, as ``None`` does.

Output size per axis (torch's ``pooling_output_shape``), with effective kernel ``e = d·(k-1) + 1``::

    H_out = floor((H + 2p - e + (s-1 if ceil_mode else 0)) / s) + 1
    ceil_mode only: H_out -= 1 if (H_out-1)·s >= H + p   (a last window starting in the right padding
                                                            is dropped)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from scratch.functional._checks import check_ndim, check_shape, float_array, to_int

IntPair = int | tuple[int, int] | tuple[int]


class PoolGeometry(NamedTuple):
    """A pooling call's resolved arguments, each an (h, w) pair, and the input's and output's shapes
    (``out_shape`` has x's leading axes: (N, C, H_out, W_out), or (C, H_out, W_out) unbatched)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool
    x_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def check_bool(op: str, name: str, value: object) -> bool:
    """``value`` as a bool; anything but a (NumPy) bool is a TypeError, as in torch."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: expected {name} to be a bool, got {value!r} ({type(value).__name__})")
    return bool(value)


def pool_pair(op: str, name: str, value: object, minimum: int) -> tuple[int, int]:
    """``value`` as ``(h, w)``: an int, or a sequence of 1 int (used for both axes, as torch) or 2 ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) not in (1, 2):
            raise ValueError(f"{op}: expected {name} to be an int or a tuple of 1 or 2 ints, got {value!r}")
        return (to_int(op, name, value[0], minimum), to_int(op, name, value[-1], minimum))
    v = to_int(op, name, value, minimum)
    return (v, v)


def output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: floor division; ceil_mode never starts a window in the right padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_geometry(op: str, x: object, kernel_size: object, stride: object, padding: object, dilation: object,
                  ceil_mode: object) -> tuple[np.ndarray, PoolGeometry]:
    """Validate x and the hyperparameters as torch does; return x as (N·C, H, W) planes and the geometry."""
    x = float_array(op, "x", x)
    check_ndim(op, "x", x, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    if 0 in x.shape[-3:]:
        raise ValueError(f"{op}: expected x with non-zero C, H and W (only the batch may be empty), "
                         f"got shape {x.shape}")
    plain = (_plain_pair(kernel_size) and _plain_pair(stride) and _plain_pair(padding) and _plain_pair(dilation)
             and type(ceil_mode) is bool)
    geometry = (_cached_geometry if plain else _geometry)(op, x.shape, kernel_size, stride, padding, dilation,
                                                          ceil_mode)
    return x.reshape(-1, *x.shape[-2:]), geometry


def _plain_pair(value: object) -> bool:
    """None, an int or a pair of ints, exactly (not bools or NumPy integers, which a cache key would
    confuse with ints and so skip their validation)."""
    return (value is None or type(value) is int
            or (type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int))


def _geometry(op: str, shape: tuple[int, ...], kernel_size: object, stride: object, padding: object,
              dilation: object, ceil_mode: object) -> PoolGeometry:
    """The hyperparameters checked as torch checks them, and the output shape for inputs of ``shape``."""
    kernel = pool_pair(op, "kernel_size", kernel_size, 1)
    empty = isinstance(stride, Sequence) and not isinstance(stride, str) and len(stride) == 0
    stride = kernel if stride is None or empty else pool_pair(op, "stride", stride, 1)
    padding = pool_pair(op, "padding", padding, 0)
    dilation = pool_pair(op, "dilation", dilation, 1)
    ceil_mode = check_bool(op, "ceil_mode", ceil_mode)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding={padding} "
                         f"with kernel_size={kernel}")
    out = tuple(output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(shape[-2:], kernel, stride, padding, dilation, strict=True))
    if min(out) <= 0:
        h, w = shape[-2:]
        raise ValueError(f"{op}: kernel_size={kernel} with dilation={dilation} is larger than the "
                         f"padded input ({h + 2 * padding[0]} x {w + 2 * padding[1]}): output size would be "
                         f"({out[0]} x {out[1]}), expected at least (1 x 1)")
    return PoolGeometry(kernel, stride, padding, dilation, ceil_mode, shape, shape[:-2] + out)


_cached_geometry = functools.lru_cache(maxsize=128)(_geometry)  # a training loop repeats its arguments


def avg_options(op: str, count_include_pad: object, divisor_override: object) -> tuple[bool, int | None]:
    """avg_pool2d's ``count_include_pad`` (a bool) and ``divisor_override`` (None or a non-zero int)."""
    count_include_pad = check_bool(op, "count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor_override = to_int(op, "divisor_override", divisor_override)
        if divisor_override == 0:
            raise ValueError(f"{op}: expected divisor_override to be non-zero (or None), got 0")
    return count_include_pad, divisor_override


def pool_dout(op: str, dout: object, out_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient checked against the forward's output shape and dtype, as (N·C, H_out, W_out)."""
    dout = float_array(op, "dout", dout)
    if dout.dtype != dtype:
        raise TypeError(f"{op}: expected dout to have the dtype of the forward input ({dtype}), "
                        f"got {dout.dtype}")
    check_shape(op, "dout", dout, out_shape)
    return dout.reshape(-1, *out_shape[-2:])
