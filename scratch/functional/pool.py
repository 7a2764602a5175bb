"""2-D pooling (max, average, sum) over NCHW input, as torch.nn.functional.max_pool2d / avg_pool2d:
the reference, in plain NumPy over the window taps.

A window has kH·kW taps (u, v); output (i, j) of tap (u, v) reads ``xp[s_h·i + d_h·u, s_w·j + d_w·v]``
of the padded input ``xp``. For one tap, those entries over every (i, j) form one strided slice of xp
(:func:`_tap`, shape (N·C, H_out, W_out)), so each op is a loop over the taps in row-major window order:
max pooling keeps a running maximum and its index (torch's scan: a larger value or a NaN takes over),
average and sum pooling a running sum from 0 in x's dtype, which is torch's order: float32 results are
torch's bit for bit. Checks and output shape: :mod:`scratch.functional._checks.pool`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from scratch.functional._checks.pool import IntPair, PoolGeometry, avg_options, pool_dout, pool_geometry

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "sum_pool2d_forward", "sum_pool2d_backward"]


class MaxPool2dCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs: the argmax of each window and the input's shape and dtype."""

    indices: np.ndarray
    x_shape: tuple[int, ...]
    dtype: np.dtype


class WindowSumCache(NamedTuple):
    """What the average/sum pooling backward needs: the geometry and the divisor of each output."""

    geometry: PoolGeometry
    divisor: np.ndarray


def _taps(g: PoolGeometry) -> Iterator[tuple[int, int]]:
    """The taps (u, v) of a window in row-major order."""
    return itertools.product(range(g.kernel[0]), range(g.kernel[1]))


def _tap(xp: np.ndarray, g: PoolGeometry, u: int, v: int) -> np.ndarray:
    """What tap (u, v) of every window reads: xp[..., s_h·i + d_h·u, s_w·j + d_w·v] over all (i, j)."""
    (s_h, s_w), (d_h, d_w), (h_out, w_out) = g.stride, g.dilation, g.out_shape[-2:]
    return xp[..., d_h * u: d_h * u + s_h * (h_out - 1) + 1: s_h, d_w * v: d_w * v + s_w * (w_out - 1) + 1: s_w]


def _pad(a: np.ndarray, g: PoolGeometry, value: float) -> np.ndarray:
    """``a`` (..., H, W) padded with ``value``: p before, and after as far as the last window reaches."""
    pads = [(0, 0)] * (a.ndim - 2)
    for size, out, k, s, p, d in zip(a.shape[-2:], g.out_shape[-2:], g.kernel, g.stride, g.padding, g.dilation,
                                     strict=True):
        pads.append((p, max(0, (out - 1) * s + d * (k - 1) + 1 - size - p)))
    return np.pad(a, pads, constant_values=value)


def _crop(ap: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """The input's part of a padded ``ap`` (the inverse of :func:`_pad`)."""
    (p_h, p_w), (h, w) = g.padding, g.x_shape[-2:]
    return ap[..., p_h: p_h + h, p_w: p_w + w]


def max_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, dilation: IntPair = 1,
                       ceil_mode: bool = False) -> tuple[np.ndarray, MaxPool2dCache]:
    """Max pooling over dilated kH×kW windows, as torch.nn.functional.max_pool2d (CPU).

    Shapes:   x (N, C, H, W) or unbatched (C, H, W) -> out (N, C, H_out, W_out) (or (C, H_out, W_out)),
              H_out = floor((H + 2p - d(kH-1) - 1 + (s-1 if ceil_mode else 0)) / s) + 1, minus 1 when
              ceil_mode and (H_out-1)·s >= H + p; likewise W_out. stride defaults to kernel_size;
              padding must be at most half the kernel (per axis).
    Forward:  out[n,c,i,j] = max_{u,v} xp[n,c, s·i+d·u, s·j+d·v], xp padded with -inf. The argmax is
              the first maximum in row-major window order; a NaN in the window wins (the last NaN),
              so NaN propagates. A window of -inf only picks its first real element.
    Backward: dx[n,c, argmax(n,c,i,j)] += dout[n,c,i,j]  (overlapping windows accumulate).
    Cache:    the argmax of each window as a flat index into its H×W plane (torch's ``return_indices``;
              -1 for a window holding no real element, possible only with dilation, whose gradient is
              dropped) and the input's shape and dtype.
    """
    x3, g = pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    h, w = g.x_shape[-2:]
    xp = _pad(x3, g, -np.inf)                                           # (N·C, H + pads, W + pads)
    flat = _pad(np.arange(h * w, dtype=np.int64).reshape(h, w), g, -1)  # index in the plane; -1: padding
    out = np.full((len(x3), *g.out_shape[-2:]), -np.inf, dtype=x3.dtype)  # (N·C, H_out, W_out)
    indices = np.full(out.shape, -1, dtype=np.int64)
    for u, v in _taps(g):  # torch's scan: the first real tap, then any larger value or NaN, takes over
        value, index = _tap(xp, g, u, v), _tap(flat, g, u, v)
        take = (index >= 0) & ((indices < 0) | (value > out) | np.isnan(value))
        out, indices = np.where(take, value, out), np.where(take, index, indices)
    return out.reshape(g.out_shape), MaxPool2dCache(indices.reshape(g.out_shape), g.x_shape, x3.dtype)


def max_pool2d_backward(dout: np.ndarray, cache: MaxPool2dCache) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward` with respect to x. Math: see the forward."""
    indices, x_shape, dtype = cache
    dout3 = pool_dout("max_pool2d_backward", dout, indices.shape, dtype)  # (N·C, H_out, W_out)
    indices = indices.reshape(dout3.shape)
    plane = np.broadcast_to(np.arange(len(dout3))[:, None, None], indices.shape)
    real = indices >= 0  # a window of padding only has no argmax: its gradient is dropped
    dx = np.zeros((len(dout3), x_shape[-2] * x_shape[-1]), dtype=dtype)  # (N·C, H·W)
    np.add.at(dx, (plane[real], indices[real]), dout3[real])  # dx[argmax] += dout, in output order as torch
    return dx.reshape(x_shape)


def avg_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                       divisor_override: int | None = None) -> tuple[np.ndarray, WindowSumCache]:
    """Average pooling over kH×kW windows, as torch.nn.functional.avg_pool2d (CPU).

    Shapes:   x (N, C, H, W) or unbatched (C, H, W) -> out (N, C, H_out, W_out) (or (C, H_out, W_out)),
              H_out = floor((H + 2p - kH + (s-1 if ceil_mode else 0)) / s) + 1, minus 1 when ceil_mode
              and (H_out-1)·s >= H + p; likewise W_out. stride defaults to kernel_size; padding must be
              at most half the kernel (per axis).
    Forward:  out[n,c,i,j] = (1/D[i,j]) Σ_{u,v} xp[n,c, s·i+u, s·j+v], xp zero-padded, where
              D = divisor_override if given; else with count_include_pad the window's size clipped to
              the padded input [-p, H+p) (a ceil_mode window never counts beyond it); else the number
              of real elements in the window. The sum runs from 0 in row-major window order in x's dtype.
    Backward: dx[n,c, s·i+u-p, s·j+v-p] += dout[n,c,i,j] / D[i,j]  (every real (u,v) of the window).
    Cache:    the geometry and the divisor table D (H_out, W_out), in x's dtype.
    """
    op = "avg_pool2d"
    x3, g = pool_geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = avg_options(op, count_include_pad, divisor_override)
    divisor = _divisor(g, count_include_pad, divisor_override, x3.dtype)
    out = _window_sum(x3, g) / divisor
    return out.reshape(g.out_shape), WindowSumCache(g, divisor)


def avg_pool2d_backward(dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward` with respect to x. Math: see the forward."""
    return _window_sum_backward("avg_pool2d_backward", dout, cache)


def sum_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, ceil_mode: bool = False) -> tuple[np.ndarray, WindowSumCache]:
    """Sum pooling over kH×kW windows: avg_pool2d × kH·kW, i.e. the plain sum of each window.

    Equals torch.nn.functional.avg_pool2d(x, ..., divisor_override=1), and avg_pool2d · kH·kW wherever
    no window is cut by the border.

    Shapes:   as :func:`avg_pool2d_forward`.
    Forward:  out[n,c,i,j] = Σ_{u,v} xp[n,c, s·i+u, s·j+v], xp zero-padded (from 0, row-major, in x's dtype).
    Backward: dx[n,c, s·i+u-p, s·j+v-p] += dout[n,c,i,j]  (every real (u,v) of the window).
    Cache:    the geometry and a divisor table of ones.
    """
    x3, g = pool_geometry("sum_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    out = _window_sum(x3, g)
    return out.reshape(g.out_shape), WindowSumCache(g, np.ones(out.shape[-2:], dtype=x3.dtype))


def sum_pool2d_backward(dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """Gradient of :func:`sum_pool2d_forward` with respect to x. Math: see the forward."""
    return _window_sum_backward("sum_pool2d_backward", dout, cache)


def _window_sum(x3: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """Σ_{u,v} xp[p, s·i+u, s·j+v] over every window, xp zero-padded: from 0, tap by tap in row-major
    order, in x's dtype (torch's order, so float32 rounds as torch's does)."""
    xp = _pad(x3, g, 0)
    total = np.zeros((len(x3), *g.out_shape[-2:]), dtype=x3.dtype)  # (N·C, H_out, W_out)
    with np.errstate(invalid="ignore"):  # inf + -inf = nan, silently, as torch
        for u, v in _taps(g):
            total += _tap(xp, g, u, v)
    return total


def _divisor(g: PoolGeometry, count_include_pad: bool, divisor_override: int | None,
             dtype: np.dtype) -> np.ndarray:
    """D[i,j] of :func:`avg_pool2d_forward`: per axis, the length of window o = [s·o - p, s·o - p + k)
    clipped to [-p, H+p) (count_include_pad) or to the input [0, H); D = their product."""
    if divisor_override is not None:
        return np.full(g.out_shape[-2:], divisor_override, dtype=dtype)
    lengths = []
    for size, out, k, s, p in zip(g.x_shape[-2:], g.out_shape[-2:], g.kernel, g.stride, g.padding, strict=True):
        start = np.arange(out) * s - p
        low, high = (-p, size + p) if count_include_pad else (0, size)
        lengths.append(np.minimum(start + k, high) - np.maximum(start, low))
    return np.outer(*lengths).astype(dtype)


def _window_sum_backward(op: str, dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """dx[p, s·i+u-p, s·j+v-p] += dout[p,i,j] / D[i,j] for every tap of every window."""
    g, divisor = cache
    share = pool_dout(op, dout, g.out_shape, divisor.dtype) / divisor  # (N·C, H_out, W_out)
    dxp = _pad(np.zeros((len(share), *g.x_shape[-2:]), dtype=divisor.dtype), g, 0)
    with np.errstate(invalid="ignore"):
        for u, v in reversed(list(_taps(g))):  # last tap first: each dx entry sums its windows in output order
            window = _tap(dxp, g, u, v)
            window += share
    return _crop(dxp, g).reshape(g.x_shape)
