"""2-D pooling (max, average, sum) over NCHW input, as torch.nn.functional.max_pool2d / avg_pool2d.

Geometry (torch's ``pooling_output_shape``, per axis, with effective kernel ``e = d·(k-1) + 1``)::

    H_out = floor((H + 2p - e + (s-1 if ceil_mode else 0)) / s) + 1
    ceil_mode only: H_out -= 1 if (H_out-1)·s >= H + p   (a last window starting in the right padding
                                                            is dropped)

Output row ``i`` reads input rows ``s·i - p + d·u`` (u = 0..k-1); only those inside ``[0, H)`` are real.
The first real tap and the number of real taps of every output row/column (``_Geometry``) are computed
once per input shape and hyperparameters and then reused (an LRU cache: a training loop calls with the
same arguments every step). Average and sum pooling share one kernel pair that divides each window sum
by a per-output divisor table (all ones for sum pooling).

Each kernel is a serial loop over a range of the ``N·C`` planes; inputs of at least
:data:`_PARALLEL_MIN_SIZE` elements run it over one chunk of planes per thread (``prange``), smaller ones
on the calling thread, where waking the thread pool would cost more than it saves (tens of µs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np

from scratch.functional._checks import (
    check_ndim,
    check_shape,
    float_array,
    to_int,
    to_pair,
)

IntPair = int | tuple[int, int]
_PARALLEL_MIN_SIZE = 350_000  # on 2 cores: LeNet's pool1 at batch 64 (301k) is faster serial, pool2 at 256 (410k) not


class _Geometry(NamedTuple):
    """Window bounds: output row i covers the h_count[i] real input rows h_start[i] + d_h·t; same for w.

    ``pairs``: every window is the 2×2 block at (2i, 2j) (kernel 2, stride 2, no padding or dilation,
    no window cut by the border: LeNet's pooling), which the window-sum kernels run without the tables.
    """

    h_start: np.ndarray
    h_count: np.ndarray
    w_start: np.ndarray
    w_count: np.ndarray
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    x_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    pairs: bool


class MaxPool2dCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs: the argmax of each window and the input's shape and dtype."""

    indices: np.ndarray
    x_shape: tuple[int, ...]
    dtype: np.dtype


class WindowSumCache(NamedTuple):
    """What the average/sum pooling backward needs: the geometry and the divisor of each output."""

    geometry: _Geometry
    divisor: np.ndarray


def _check_bool(op: str, name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: expected {name} to be a bool, got {value!r} ({type(value).__name__})")
    return bool(value)


def _output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: floor division; ceil_mode never starts a window in the right padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _geometry(op: str, x: object, kernel_size: IntPair, stride: IntPair | None, padding: IntPair,
              dilation: IntPair, ceil_mode: bool) -> tuple[np.ndarray, _Geometry]:
    """Validate the input and hyperparameters as torch does; return x as (N·C, H, W) and the geometry."""
    x = float_array(op, "x", x)
    check_ndim(op, "x", x, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    if 0 in x.shape[-3:]:
        raise ValueError(f"{op}: expected x with non-zero C, H and W (only the batch may be empty), "
                         f"got shape {x.shape}")
    args = (op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    plain = (_plain_pair(kernel_size) and _plain_pair(stride) and _plain_pair(padding) and _plain_pair(dilation)
             and type(ceil_mode) is bool)
    geom = (_cached_geometry if plain else _window_geometry)(*args)
    return x.reshape(-1, *x.shape[-2:]), geom


def _plain_pair(value: object) -> bool:
    """None, an int or a pair of ints, exactly (not bools or NumPy integers, which a cache key would
    confuse with ints and so skip their validation)."""
    return (value is None or type(value) is int
            or (type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int))


def _window_geometry(op: str, shape: tuple[int, ...], kernel_size: IntPair, stride: IntPair | None,
                     padding: IntPair, dilation: IntPair, ceil_mode: bool) -> _Geometry:
    """The hyperparameters checked as torch checks them, and the window bounds for inputs of ``shape``."""
    kh, kw = to_pair(op, "kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else to_pair(op, "stride", stride, 1)
    ph, pw = to_pair(op, "padding", padding, 0)
    dh, dw = to_pair(op, "dilation", dilation, 1)
    ceil_mode = _check_bool(op, "ceil_mode", ceil_mode)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding=({ph}, {pw}) "
                         f"with kernel_size=({kh}, {kw})")
    h, w = shape[-2:]
    h_out = _output_size(h, kh, sh, ph, dh, ceil_mode)
    w_out = _output_size(w, kw, sw, pw, dw, ceil_mode)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"{op}: kernel_size=({kh}, {kw}) with dilation=({dh}, {dw}) is larger than the "
                         f"padded input ({h + 2 * ph} x {w + 2 * pw}): output size would be "
                         f"({h_out} x {w_out}), expected at least (1 x 1)")
    hs, hn = _window_bounds(h, h_out, kh, sh, ph, dh)
    ws, wn = _window_bounds(w, w_out, kw, sw, pw, dw)
    for table in (hs, hn, ws, wn):
        table.flags.writeable = False  # shared by every call with these arguments (see _cached_geometry)
    pairs = (kh, kw, sh, sw, ph, pw, dh, dw) == (2, 2, 2, 2, 0, 0, 1, 1) and hn.min() == 2 and wn.min() == 2
    return _Geometry(hs, hn, ws, wn, (kh, kw), (sh, sw), (ph, pw), (dh, dw), shape, shape[:-2] + (h_out, w_out),
                     bool(pairs))


_cached_geometry = functools.lru_cache(maxsize=128)(_window_geometry)


def _run(kernel: Callable, parallel: Callable, size: int, *args: object) -> None:
    """``kernel(*args, 0, planes)`` on this thread, or ``parallel(*args, chunks)`` (one chunk of planes
    per thread) when the input has at least :data:`_PARALLEL_MIN_SIZE` elements."""
    planes = args[0].shape[0]
    chunks = 1 if size < _PARALLEL_MIN_SIZE else min(planes, numba.get_num_threads())
    if chunks < 2:
        kernel(*args, 0, planes)
    else:
        parallel(*args, chunks)


@numba.njit(cache=True)
def _window_bounds(size, out, k, s, p, d):
    """First real tap and number of real taps of every window along one axis (torch's clipping).

    Window o has taps s·o - p + d·t (t < k); the real ones lie in [0, size).
    """
    start = np.empty(out, dtype=np.int64)
    count = np.empty(out, dtype=np.int64)
    for o in range(out):
        raw = o * s - p
        first = raw + (-raw + d - 1) // d * d if raw < 0 else raw
        stop = min(raw + d * (k - 1) + 1, size)
        start[o] = first
        count[o] = max(stop - first + d - 1, 0) // d
    return start, count


def _check_dout(op: str, dout: object, out_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    dout = float_array(op, "dout", dout)
    if dout.dtype != dtype:
        raise TypeError(f"{op}: expected dout to have the dtype of the forward input ({dtype}), "
                        f"got {dout.dtype}")
    check_shape(op, "dout", dout, out_shape)
    return dout.reshape(-1, *out_shape[-2:])


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
    op = "max_pool2d"
    x3, geom = _geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = np.empty(geom.out_shape, dtype=x3.dtype)
    indices = np.empty(geom.out_shape, dtype=np.int64)
    h_out, w_out = geom.out_shape[-2:]
    _run(_max_pool2d_kernel, _max_pool2d_parallel, x3.size, x3, out.reshape(-1, h_out, w_out),
         indices.reshape(-1, h_out, w_out), geom.h_start, geom.h_count, geom.w_start, geom.w_count,
         *geom.dilation)
    return out, MaxPool2dCache(indices, geom.x_shape, x3.dtype)


@numba.njit(parallel=True, cache=True)
def _max_pool2d_parallel(x, out, indices, hs, hn, ws, wn, dh, dw, chunks):
    """:func:`_max_pool2d_kernel` over ``chunks`` ranges of planes, one per thread."""
    planes = x.shape[0]
    for c in numba.prange(chunks):
        _max_pool2d_kernel(x, out, indices, hs, hn, ws, wn, dh, dw, c * planes // chunks,
                           (c + 1) * planes // chunks)


@numba.njit(cache=True)
def _max_pool2d_kernel(x, out, indices, hs, hn, ws, wn, dh, dw, p0, p1):
    """Planes p0 <= p < p1: out[p,i,j] = max of x[p, hs[i] + dh·u, ws[j] + dw·t] (u < hn[i], t < wn[j]);
    indices = flat argmax.

    torch's rule: start from -inf at the first real tap, visit taps row-major, take v when v > best or
    v is NaN. Windows of exactly 2×2 real taps (LeNet's pooling) first take an unrolled NaN-blind scan,
    exact unless the window sum is NaN; only then (a NaN, or inf - inf) the general scan runs.
    """
    w = x.shape[2]
    h_out, w_out = out.shape[1:]
    neg_inf = x.dtype.type(-np.inf)
    for p in range(p0, p1):
        xp, outp, idxp = x[p], out[p], indices[p]
        for i in range(h_out):
            h0, nh = hs[i], hn[i]
            for j in range(w_out):
                w0, nw = ws[j], wn[j]
                done = nh == 2 and nw == 2
                if done:
                    h1, w1 = h0 + dh, w0 + dw
                    v00, v01, v10, v11 = xp[h0, w0], xp[h0, w1], xp[h1, w0], xp[h1, w1]
                    best, arg = v00, h0 * w + w0
                    best, arg = (v01, h0 * w + w1) if v01 > best else (best, arg)
                    best, arg = (v10, h1 * w + w0) if v10 > best else (best, arg)
                    best, arg = (v11, h1 * w + w1) if v11 > best else (best, arg)
                    total = v00 + v01 + v10 + v11
                    done = total == total
                if not done:
                    best = neg_inf
                    arg = h0 * w + w0 if nh > 0 and nw > 0 else -1
                    for u in range(nh):
                        r = h0 + u * dh
                        for t in range(nw):
                            c = w0 + t * dw
                            v = xp[r, c]
                            if v > best or v != v:
                                best, arg = v, r * w + c
                outp[i, j] = best
                idxp[i, j] = arg


def max_pool2d_backward(dout: np.ndarray, cache: MaxPool2dCache) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward` with respect to x. Math: see the forward."""
    op = "max_pool2d_backward"
    indices, x_shape, dtype = cache
    dout3 = _check_dout(op, dout, indices.shape, dtype)
    dx = np.empty(x_shape, dtype=dtype)
    h, w = x_shape[-2:]
    _run(_max_pool2d_backward_kernel, _max_pool2d_backward_parallel, dx.size, dout3,
         indices.reshape(dout3.shape), dx.reshape(-1, h * w))
    return dx


@numba.njit(parallel=True, cache=True)
def _max_pool2d_backward_parallel(dout, indices, dx, chunks):
    """:func:`_max_pool2d_backward_kernel` over ``chunks`` ranges of planes, one per thread."""
    planes = dout.shape[0]
    for c in numba.prange(chunks):
        _max_pool2d_backward_kernel(dout, indices, dx, c * planes // chunks, (c + 1) * planes // chunks)


@numba.njit(cache=True)
def _max_pool2d_backward_kernel(dout, indices, dx, p0, p1):
    """Planes p0 <= p < p1: dx[p] = 0, then dx[p, indices[p,i,j]] += dout[p,i,j] in output order (as torch
    accumulates)."""
    h_out, w_out = dout.shape[1:]
    for p in range(p0, p1):
        dx[p] = 0
        for i in range(h_out):
            for j in range(w_out):
                k = indices[p, i, j]
                if k >= 0:
                    dx[p, k] += dout[p, i, j]


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
              of real elements in the window.
    Backward: dx[n,c, s·i+u-p, s·j+v-p] += dout[n,c,i,j] / D[i,j]  (every real (u,v) of the window).
    Cache:    the window bounds and the divisor table D (H_out, W_out), in x's dtype.
    """
    op = "avg_pool2d"
    x3, geom = _geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = _check_bool(op, "count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor_override = to_int(op, "divisor_override", divisor_override)
        if divisor_override == 0:
            raise ValueError(f"{op}: expected divisor_override to be non-zero (or None), got 0")
    divisor = _divisor_table(geom.x_shape[-2:], geom.out_shape[-2:], geom.kernel, geom.stride, geom.padding,
                             count_include_pad, divisor_override, x3.dtype)
    return _window_sum_forward(x3, geom, divisor)


@functools.lru_cache(maxsize=128)
def _divisor_table(size: tuple[int, int], out_size: tuple[int, int], kernel: tuple[int, int],
                   stride: tuple[int, int], padding: tuple[int, int], count_include_pad: bool,
                   divisor_override: int | None, dtype: np.dtype) -> np.ndarray:
    """The (H_out, W_out) divisors D of average pooling (see :func:`avg_pool2d_forward`), read-only."""
    (h, w), (h_out, w_out), (kh, kw), (sh, sw), (ph, pw) = size, out_size, kernel, stride, padding
    if divisor_override is not None:
        divisor = np.full((h_out, w_out), divisor_override, dtype=dtype)
    elif count_include_pad:
        divisor = np.outer(_padded_extent(h_out, h, kh, sh, ph), _padded_extent(w_out, w, kw, sw, pw))
    else:
        divisor = np.outer(_window_bounds(h, h_out, kh, sh, ph, 1)[1], _window_bounds(w, w_out, kw, sw, pw, 1)[1])
    divisor = divisor.astype(dtype)
    divisor.flags.writeable = False
    return divisor


def _padded_extent(out: int, size: int, k: int, s: int, p: int) -> np.ndarray:
    """Length of each window clipped to the padded input [-p, size+p) (torch's count_include_pad size)."""
    raw = np.arange(out, dtype=np.int64) * s - p
    return np.minimum(raw + k, size + p) - raw


def avg_pool2d_backward(dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward` with respect to x. Math: see the forward."""
    return _window_sum_backward("avg_pool2d_backward", dout, cache)


def sum_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, ceil_mode: bool = False) -> tuple[np.ndarray, WindowSumCache]:
    """Sum pooling over kH×kW windows: avg_pool2d × kH·kW, i.e. the plain sum of each window.

    Equals torch.nn.functional.avg_pool2d(x, ..., divisor_override=1), and avg_pool2d · kH·kW wherever
    no window is cut by the border.

    Shapes:   as :func:`avg_pool2d_forward`.
    Forward:  out[n,c,i,j] = Σ_{u,v} xp[n,c, s·i+u, s·j+v], xp zero-padded.
    Backward: dx[n,c, s·i+u-p, s·j+v-p] += dout[n,c,i,j]  (every real (u,v) of the window).
    Cache:    the window bounds (and a divisor table of ones).
    """
    x3, geom = _geometry("sum_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    return _window_sum_forward(x3, geom, _divisor_table(geom.x_shape[-2:], geom.out_shape[-2:], geom.kernel,
                                                        geom.stride, geom.padding, True, 1, x3.dtype))


def sum_pool2d_backward(dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """Gradient of :func:`sum_pool2d_forward` with respect to x. Math: see the forward."""
    return _window_sum_backward("sum_pool2d_backward", dout, cache)


def _window_sum_forward(x3: np.ndarray, geom: _Geometry,
                        divisor: np.ndarray) -> tuple[np.ndarray, WindowSumCache]:
    out = np.empty(geom.out_shape, dtype=x3.dtype)
    _run(_window_sum_kernel, _window_sum_parallel, x3.size, x3, out.reshape(-1, *divisor.shape),
         geom.h_start, geom.h_count, geom.w_start, geom.w_count, divisor, geom.pairs)
    return out, WindowSumCache(geom, divisor)


@numba.njit(parallel=True, cache=True)
def _window_sum_parallel(x, out, hs, hn, ws, wn, divisor, pairs, chunks):
    """:func:`_window_sum_kernel` over ``chunks`` ranges of planes, one per thread."""
    planes = x.shape[0]
    for c in numba.prange(chunks):
        _window_sum_kernel(x, out, hs, hn, ws, wn, divisor, pairs, c * planes // chunks,
                           (c + 1) * planes // chunks)


@numba.njit(cache=True, error_model="numpy")
def _window_sum_kernel(x, out, hs, hn, ws, wn, divisor, pairs, p0, p1):
    """Planes p0 <= p < p1: out[p,i,j] = (0 + Σ of the window, row-major as torch) / divisor[i,j]; window
    (i,j) is x[p, hs[i]:hs[i]+hn[i], ws[j]:ws[j]+wn[j]]. 2×2 windows (LeNet's pooling) take an unrolled
    path, and with ``pairs`` (every window the 2×2 block at (2i, 2j)) a loop without the tables."""
    h_out, w_out = out.shape[1:]
    zero = x.dtype.type(0)
    for p in range(p0, p1):
        xp, outp = x[p], out[p]
        if pairs:
            for i in range(h_out):
                r0, r1, o, d = xp[2 * i], xp[2 * i + 1], outp[i], divisor[i]
                for j in range(w_out):
                    o[j] = (zero + r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1]) / d[j]
            continue
        for i in range(h_out):
            h0, h1 = hs[i], hs[i] + hn[i]
            for j in range(w_out):
                w0, w1 = ws[j], ws[j] + wn[j]
                if h1 - h0 == 2 and w1 - w0 == 2:
                    acc = zero + xp[h0, w0] + xp[h0, w0 + 1] + xp[h0 + 1, w0] + xp[h0 + 1, w0 + 1]
                else:
                    acc = zero
                    for r in range(h0, h1):
                        for c in range(w0, w1):
                            acc += xp[r, c]
                outp[i, j] = acc / divisor[i, j]


def _window_sum_backward(op: str, dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    geom, divisor = cache
    dout3 = _check_dout(op, dout, geom.out_shape, divisor.dtype)
    dx = np.empty(geom.x_shape, dtype=divisor.dtype)
    _run(_window_sum_backward_kernel, _window_sum_backward_parallel, dx.size, dout3,
         dx.reshape(-1, *geom.x_shape[-2:]), geom.h_start, geom.h_count, geom.w_start, geom.w_count, divisor,
         geom.pairs)
    return dx


@numba.njit(parallel=True, cache=True)
def _window_sum_backward_parallel(dout, dx, hs, hn, ws, wn, divisor, pairs, chunks):
    """:func:`_window_sum_backward_kernel` over ``chunks`` ranges of planes, one per thread."""
    planes = dout.shape[0]
    for c in numba.prange(chunks):
        _window_sum_backward_kernel(dout, dx, hs, hn, ws, wn, divisor, pairs, c * planes // chunks,
                                    (c + 1) * planes // chunks)


@numba.njit(cache=True, error_model="numpy")
def _window_sum_backward_kernel(dout, dx, hs, hn, ws, wn, divisor, pairs, p0, p1):
    """Planes p0 <= p < p1: dx[p] = 0, then dx[p, window(i,j)] += dout[p,i,j] / divisor[i,j] in output
    order (as torch). With ``pairs`` the windows do not overlap: each block is written once (0 + g) and
    only the rows and columns no window covers are zeroed."""
    h_out, w_out = dout.shape[1:]
    zero = dx.dtype.type(0)
    for p in range(p0, p1):
        doutp, dxp = dout[p], dx[p]
        if pairs:
            dxp[2 * h_out:] = 0
            dxp[:, 2 * w_out:] = 0
            for i in range(h_out):
                r0, r1, gi, d = dxp[2 * i], dxp[2 * i + 1], doutp[i], divisor[i]
                for j in range(w_out):
                    g = zero + gi[j] / d[j]
                    r0[2 * j] = g
                    r0[2 * j + 1] = g
                    r1[2 * j] = g
                    r1[2 * j + 1] = g
            continue
        dxp[:] = 0
        for i in range(h_out):
            h0, h1 = hs[i], hs[i] + hn[i]
            for j in range(w_out):
                w0, w1 = ws[j], ws[j] + wn[j]
                g = doutp[i, j] / divisor[i, j]
                if h1 - h0 == 2 and w1 - w0 == 2:
                    dxp[h0, w0] += g
                    dxp[h0, w0 + 1] += g
                    dxp[h0 + 1, w0] += g
                    dxp[h0 + 1, w0 + 1] += g
                else:
                    for r in range(h0, h1):
                        for c in range(w0, w1):
                            dxp[r, c] += g
