"""2-D pooling (max, average, sum) over NCHW input, as torch.nn.functional.max_pool2d / avg_pool2d: the
Numba engine, with the signatures, checks (:mod:`scratch.functional._checks.pool`) and results of the
reference :mod:`scratch.functional.pool`.

Output row ``i`` reads input rows ``s·i - p + d·u`` (u = 0..k-1); only those inside ``[0, H)`` are real.
Instead of padding, the kernels loop over the real taps only: the first real tap and the number of real
taps of every output row/column (``_Windows``) are computed once per geometry and then reused (an LRU
cache: a training loop calls with the same arguments every step). Average and sum pooling share one
kernel pair that divides each window sum by a per-output divisor table (all ones for sum pooling).

Each kernel is a serial loop over a range of the ``N·C`` planes; :func:`scratch.kernels._parallel.run`
runs it over one chunk of planes per thread (``prange``) from ``THRESHOLDS["pool"]`` input elements on,
else on the calling thread, where waking the thread pool would cost more than it saves (tens of µs).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np

from scratch.functional import pool as reference
from scratch.functional._checks.pool import IntPair, PoolGeometry, avg_options, pool_dout, pool_geometry
from scratch.kernels._parallel import run

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "sum_pool2d_forward", "sum_pool2d_backward"]


class _Windows(NamedTuple):
    """Window bounds: output row i covers the h_count[i] real input rows h_start[i] + d_h·t; same for w.

    ``pairs``: every window is the 2×2 block at (2i, 2j) (kernel 2, stride 2, no padding or dilation,
    no window cut by the border: LeNet's pooling), which the window-sum kernels run without the tables.
    """

    h_start: np.ndarray
    h_count: np.ndarray
    w_start: np.ndarray
    w_count: np.ndarray
    geometry: PoolGeometry
    pairs: bool


class MaxPool2dCache(reference.MaxPool2dCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class WindowSumCache(NamedTuple):
    """What the average/sum pooling backward needs: the window bounds and the divisor of each output."""

    windows: _Windows
    divisor: np.ndarray


@functools.lru_cache(maxsize=128)
def _windows(g: PoolGeometry) -> _Windows:
    """The window bounds of geometry ``g`` (read-only: shared by every call with these arguments)."""
    (h, w), (h_out, w_out) = g.x_shape[-2:], g.out_shape[-2:]
    hs, hn = _window_bounds(h, h_out, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0])
    ws, wn = _window_bounds(w, w_out, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1])
    for table in (hs, hn, ws, wn):
        table.flags.writeable = False
    pairs = (g.kernel, g.stride, g.padding, g.dilation) == ((2, 2), (2, 2), (0, 0), (1, 1)) and min(
        hn.min(), wn.min()) == 2
    return _Windows(hs, hn, ws, wn, g, bool(pairs))


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


def max_pool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None = None,
                       padding: IntPair = 0, dilation: IntPair = 1,
                       ceil_mode: bool = False) -> tuple[np.ndarray, MaxPool2dCache]:
    """The engine room's :func:`scratch.functional.pool.max_pool2d_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x3, g = pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    win = _windows(g)
    out = np.empty(g.out_shape, dtype=x3.dtype)
    indices = np.empty(g.out_shape, dtype=np.int64)
    h_out, w_out = g.out_shape[-2:]
    run("pool", _max_pool2d_kernel, _max_pool2d_parallel, x3.size, len(x3), x3, out.reshape(-1, h_out, w_out),
        indices.reshape(-1, h_out, w_out), win.h_start, win.h_count, win.w_start, win.w_count, *g.dilation)
    return out, MaxPool2dCache(indices, g.x_shape, x3.dtype)


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
    dout3 = pool_dout(op, dout, indices.shape, dtype)
    dx = np.empty(x_shape, dtype=dtype)
    h, w = x_shape[-2:]
    run("pool", _max_pool2d_backward_kernel, _max_pool2d_backward_parallel, dx.size, len(dout3), dout3,
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
    """The engine room's :func:`scratch.functional.pool.avg_pool2d_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    op = "avg_pool2d"
    x3, g = pool_geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = avg_options(op, count_include_pad, divisor_override)
    return _window_sum_forward(x3, g, _divisor_table(g, count_include_pad, divisor_override, x3.dtype))


@functools.lru_cache(maxsize=128)
def _divisor_table(g: PoolGeometry, count_include_pad: bool, divisor_override: int | None,
                   dtype: np.dtype) -> np.ndarray:
    """The (H_out, W_out) divisors D of average pooling (see :func:`avg_pool2d_forward`), read-only."""
    (h, w), (h_out, w_out) = g.x_shape[-2:], g.out_shape[-2:]
    (kh, kw), (sh, sw), (ph, pw) = g.kernel, g.stride, g.padding
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
    """The engine room's :func:`scratch.functional.pool.sum_pool2d_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x3, g = pool_geometry("sum_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    return _window_sum_forward(x3, g, _divisor_table(g, True, 1, x3.dtype))


def sum_pool2d_backward(dout: np.ndarray, cache: WindowSumCache) -> np.ndarray:
    """Gradient of :func:`sum_pool2d_forward` with respect to x. Math: see the forward."""
    return _window_sum_backward("sum_pool2d_backward", dout, cache)


def _window_sum_forward(x3: np.ndarray, g: PoolGeometry,
                        divisor: np.ndarray) -> tuple[np.ndarray, WindowSumCache]:
    win = _windows(g)
    out = np.empty(g.out_shape, dtype=x3.dtype)
    run("pool", _window_sum_kernel, _window_sum_parallel, x3.size, len(x3), x3, out.reshape(-1, *divisor.shape),
        win.h_start, win.h_count, win.w_start, win.w_count, divisor, win.pairs)
    return out, WindowSumCache(win, divisor)


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
    win, divisor = cache
    g = win.geometry
    dout3 = pool_dout(op, dout, g.out_shape, divisor.dtype)
    dx = np.empty(g.x_shape, dtype=divisor.dtype)
    run("pool", _window_sum_backward_kernel, _window_sum_backward_parallel, dx.size, len(dout3), dout3,
        dx.reshape(-1, *g.x_shape[-2:]), win.h_start, win.h_count, win.w_start, win.w_count, divisor, win.pairs)
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
