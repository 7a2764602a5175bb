"""2-D convolution (cross-correlation, as torch.nn.functional.conv2d): blocked im2col + GEMM, in Numba.

The batch is split into one chunk per thread (``prange``); each thread walks its images one block of
output rows at a time, so every buffer it touches is its own and stays in L1/L2. For one block,
``cols`` (K, T) is the im2col matrix, K = C_in·kH·kW (row k = (c·kH + u)·kW + v, so each group's rows are
contiguous) and T the block's output positions, laid out with row width R (t = r·R + j). Per group g
(o and k in g):

    forward   out[o, t]  = b[o] + Σ_k w[o, k] · cols[k, t]              out_g = w_g @ cols_g
    backward  dw[o, k]  += Σ_t dout[o, t] · cols[k, t]                  dw_gᵀ += cols_g @ dout_gᵀ
              dcols[k, t] = Σ_o w[o, k] · dout[o, t]                    dcols_g = w_gᵀ @ dout_g
              dx = col2im(dcols): each entry added back to the input pixel cols gathered it from

* stride 1: the image is first copied once into a zero-padded buffer of row width R = W + p_l + p_r;
  then row k of cols is ONE contiguous segment of it, starting at d_h·u·R + d_w·v (columns j >= W_out
  of each row are padding wrap-around: computed, never read out, and zeroed in dout so they add 0 to
  dw and dx). col2im is the mirror: one contiguous add per row of dcols, then the padding is cropped.
* stride > 1: cols is gathered element by element (R = W_out) and col2im scatters back the same way.

The im2col/col2im gathers, the bias and the layout changes are hand-written Numba loops. The three
products are BLAS GEMMs called from inside the ``prange`` with ``np.dot`` (Numba takes sgemm/dgemm from
SciPy's BLAS), except those with few output rows (:data:`_LOOP_GEMM_ROWS`, :data:`_SMALL_GEMM`: LeNet's
forwards and conv1's dw), where BLAS's packing costs more than the arithmetic and plain Numba loops
(:func:`_gemm_small`, :func:`_gemm_nt_small`) do them. Each BLAS call does fewer than
:data:`_BLAS_ONE_THREAD_MNK` multiply-adds: OpenBLAS (interface/gemm.c) runs a GEMM on
M·N·K / (65536·GEMM_MULTITHREAD_THRESHOLD=4) threads, so it stays on the calling thread and never
starts its own threads under Numba's, which would oversubscribe the cores and stall both pools.
float32 stays float32 end to end (sgemm), float64 uses dgemm.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from scratch.functional._checks.conv import PaddingArg, conv2d_args, dout_like
from scratch.kernels._parallel import chunks as parallel_chunks

_BLAS_ONE_THREAD_MNK = 2 * 65536 * 4
# The weight gradient as dwᵀ_g = cols_g @ (dout_g)ᵀ, through a transposed copy of dout, from this many
# output channels per group, else as dw_g = dout_g @ cols_gᵀ (BLAS reads colsᵀ in place). One thread,
# batch 256: LeNet's conv2 (16 channels) GEMM 1.6 ms + copy 0.1 ms against 2.6 ms; conv1 (6 channels)
# 0.81 ms against 0.93 ms + copy 0.5 ms (benchmarks/README.md).
_DW_TRANSPOSED_MIN_COG = 16
# Products with few output rows run as Numba loops, not OpenBLAS's sgemm, which spends most of their
# time packing: c = a @ b for an a of at most _LOOP_GEMM_ROWS rows, c = a @ bᵀ for a c of at most
# _SMALL_GEMM entries. One thread, µs per image (benchmarks/README.md): conv1's forward (6×25 @ 25×896)
# 12 by BLAS against 4.4, conv2's (16×150 @ 150×140) 14.6 against 9.1; conv1's dw (6×896 @ 896×25) 14
# against 2-4; conv2's dcols (150×16 @ 16×140) stays with BLAS (10 against 13).
_LOOP_GEMM_ROWS = 16
_SMALL_GEMM = 256


class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs: the 4-D x, the weight, whether there is a bias, groups, the
    geometry tuple (kH, kW, s_h, s_w, p_top, p_left, d_h, d_w, H_out, W_out), the im2col plan, and
    whether x came unbatched."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    groups: int
    geom: tuple
    plan: tuple
    unbatched: bool


def _chunks(n: int, weight: np.ndarray, h_out: int, w_out: int) -> int:
    """Ranges of images to split the batch into: one per thread once the multiply-adds pass the
    'conv' threshold, else 1."""
    return parallel_chunks("conv", n * weight.size * h_out * w_out, n)


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                   stride: int | tuple[int, int] = 1, padding: PaddingArg = 0,
                   dilation: int | tuple[int, int] = 1, groups: int = 1) -> tuple[np.ndarray, Conv2dCache]:
    """2-D cross-correlation over NCHW input, as torch.nn.functional.conv2d (zero padding).

    Same arguments, results and errors as :func:`scratch.functional.conv.conv2d_forward` (the math is
    there); computed by blocked im2col + GEMM (module doc).
    Cache:    x, weight, has_bias, groups, geom, plan, unbatched (backward rebuilds the im2col blocks).
    """
    x, weight, bias, geo = conv2d_args(x, weight, bias, stride, padding, dilation, groups)
    groups, unbatched = geo.groups, geo.unbatched
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    (sh, sw), (dil_h, dil_w), (pt, _, pl, _), (h_out, w_out) = geo.stride, geo.dilation, geo.pads, geo.out_hw

    geom = (kh, kw, sh, sw, pt, pl, dil_h, dil_w, h_out, w_out)
    plan = _conv2d_plan(c_in, c_out, groups, geom, (h, w))
    chan, off, row_width, block, src_shape = plan
    chunks = _chunks(n, weight, h_out, w_out)
    length = block * row_width
    out = np.empty((n, c_out, h_out, w_out), dtype=x.dtype)
    b = np.zeros(c_out, dtype=x.dtype) if bias is None else bias
    src = np.empty((chunks, *src_shape), dtype=x.dtype)
    cols = np.empty((chunks, chan.size * length), dtype=x.dtype)
    res = np.empty((chunks, c_out * length), dtype=x.dtype)
    w3 = weight.reshape(groups, c_out // groups, c_in_g * kh * kw)
    _conv2d_forward_kernel(x, w3, b, out, src, cols, res, chan, off, row_width, block, *geom)
    cache = Conv2dCache(x, weight, bias is not None, groups, geom, plan, unbatched)
    return (out[0] if unbatched else out), cache


def _conv2d_plan(c_in: int, c_out: int, groups: int, geom: tuple, size: tuple[int, int]) -> tuple:
    """(chan, off, row width R, rows per block, padded-source shape) of the im2col layout (module doc).

    For stride 1, row k of cols starts at src[chan[k], off[k] + i0·R] for a block starting at output row i0.
    Without padding the image itself is that source (R = W): the source shape is then (0, 0), no padded
    copy is made, and the kernels read x[n] (and write dx[n]) directly.
    """
    kh, kw, sh, sw, pt, pl, dil_h, dil_w, h_out, w_out = geom
    k = np.arange(c_in * kh * kw)
    if (sh, sw) == (1, 1):
        row_width = w_out + dil_w * (kw - 1)
        unpadded = pt == pl == 0 and (h_out + dil_h * (kh - 1), row_width) == size
        # + d_w·(kW-1): the last row's wrap-around columns read past the padded image
        src_shape = (0, 0) if unpadded else (c_in, (h_out + dil_h * (kh - 1)) * row_width + dil_w * (kw - 1))
        chan, off = k // (kh * kw), (k // kw % kh) * dil_h * row_width + (k % kw) * dil_w
    else:
        row_width, src_shape = w_out, (0, 0)
        chan, off = k, np.zeros_like(k)
    mnk_per_row = (c_out // groups) * (k.size // groups) * row_width
    rows = min(h_out, max(1, (_BLAS_ONE_THREAD_MNK - 1) // mnk_per_row))
    blocks = -(-h_out // rows)
    return chan, off, row_width, -(-h_out // blocks), src_shape


@numba.njit(parallel=True, cache=True)
def _conv2d_forward_kernel(x, w3, b, out, src, cols, res, chan, off, rw, block,
                           kh, kw, sh, sw, pt, pl, dil_h, dil_w, h_out, w_out):
    """out[n, g·C_out/g + o] = b + w3[g, o] @ cols_g, one block of output rows at a time (module doc)."""
    n_batch, c_in, h, w = x.shape
    groups, cog, kg = w3.shape
    k_all = chan.shape[0]
    c_out = groups * cog
    chunks = cols.shape[0]
    unpadded = src.shape[2] == 0 and sh == 1 and sw == 1
    for t in numba.prange(chunks):
        for n in range(t * n_batch // chunks, (t + 1) * n_batch // chunks):
            _pad_image(x[n], src[t], pt, pl, rw)
            s = x[n].reshape(c_in, h * w) if unpadded else src[t]
            for i0 in range(0, h_out, block):
                rows = min(block, h_out - i0)
                length = rows * rw
                cb = cols[t, :k_all * length].reshape(k_all, length)
                rb = res[t, :c_out * length].reshape(c_out, length)
                _im2col_block(x[n], s, cb, i0, rows, rw, chan, off, kh, kw, sh, sw, pt, pl, dil_h, dil_w, w_out)
                for g in range(groups):
                    _gemm(w3[g], cb[g * kg:(g + 1) * kg], rb[g * cog:(g + 1) * cog])
                for o in range(c_out):
                    bo = b[o]
                    for r in range(rows):
                        dst, row = out[n, o, i0 + r], rb[o, r * rw:r * rw + w_out]
                        for j in range(w_out):
                            dst[j] = row[j] + bo


def conv2d_backward(dout: np.ndarray, cache: Conv2dCache,
                    input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward` with respect to (x, weight, bias); db is None without bias.

    Math: see the forward. dx = col2im(wᵀ·dout): each input pixel gets w[o,c,u,v]·dout[n,o,i,j] from
    every (o, u, v, i, j) whose window read it; padding positions are dropped.
    ``input_grad=False`` skips dx (returned as None), as torch does for an input that does not require
    grad: a network's first layer needs only dw and db.
    """
    x, weight, has_bias, groups, geom, plan, unbatched = cache
    h_out, w_out = geom[-2:]
    n = x.shape[0]
    c_out = weight.shape[0]
    dout = dout_like("conv2d_backward", dout, x, (c_out, h_out, w_out) if unbatched else (n, c_out, h_out, w_out))
    if unbatched:
        dout = dout[None]

    chan, off, row_width, block, src_shape = plan
    chunks = _chunks(n, weight, h_out, w_out)
    length = block * row_width
    cog, kg = c_out // groups, weight.shape[1] * weight.shape[2] * weight.shape[3]
    wt = np.ascontiguousarray(weight.reshape(groups, cog, kg).transpose(0, 2, 1))
    dx = np.empty_like(x) if input_grad else np.empty((0,) + x.shape[1:], dtype=x.dtype)
    dw_t = cog >= _DW_TRANSPOSED_MIN_COG
    dw_parts = np.empty((chunks, groups) + ((kg, cog) if dw_t else (cog, kg)), dtype=x.dtype)
    src = np.empty((chunks, *src_shape), dtype=x.dtype)
    dsrc = np.empty((chunks, *src_shape), dtype=x.dtype)
    cols = np.empty((chunks, chan.size * length), dtype=x.dtype)
    dcols = np.empty((chunks, chan.size * length), dtype=x.dtype)
    dres = np.empty((chunks, c_out * length), dtype=x.dtype)
    dres_t = np.empty((chunks, c_out * length if dw_t else 0), dtype=x.dtype)
    dw_block = np.empty((chunks, *dw_parts.shape[2:]), dtype=x.dtype)
    db_parts = np.empty((n if has_bias else 0, c_out), dtype=x.dtype)
    db_cols = np.empty((chunks, c_out, w_out if has_bias else 0), dtype=x.dtype)
    args = (x, dout, wt, dx, dw_parts, db_parts, db_cols, src, dsrc, cols, dcols, dres, dres_t, dw_block)
    finite_w = bool(np.isfinite(weight).all())
    _conv2d_backward_kernel(*args, True, finite_w, chan, off, row_width, block, *geom)
    if not np.isfinite(dw_parts).all():  # x or dout has an inf/nan: redo with the wrap-arounds zeroed
        _conv2d_backward_kernel(*args, False, finite_w, chan, off, row_width, block, *geom)
    dw = dw_parts.sum(axis=0)
    dw = (dw.transpose(0, 2, 1) if dw_t else dw).reshape(weight.shape)
    db = db_parts.sum(axis=0) if has_bias else None
    if not input_grad:
        return None, dw, db
    return (dx[0] if unbatched else dx), dw, db


@numba.njit(parallel=True, cache=True)
def _conv2d_backward_kernel(x, dout, wt, dx, dw_parts, db_parts, db_cols, src, dsrc, cols, dcols, dres, dres_t,
                            dw_block, finite_x, finite_w, chan, off, rw, block, kh, kw, sh, sw, pt, pl, dil_h, dil_w,
                            h_out, w_out):
    """Chunk t of the batch: dw_parts[t] = its images' dw per group; db_parts[n, o] = Σ_{i,j} dout[n, o, i, j]
    by way of db_cols[t, o, j] = Σ_i dout[n, o, i, j] (a loop that vectorises; skipped for an empty db_parts:
    no bias; the caller sums over n); dx[n] = col2im(wᵀ @ dout[n]) (skipped for an empty dx: no input
    gradient wanted).

    wt[g, k, o] = w[g·C_out/g + o, k]. Per block, dout is laid out as dres (C_out, T), its wrap-around
    columns zero, for dcols_g = wt[g] @ dres_g. The weight gradient is either dwᵀ_g += cols_g @ dres_t[g]
    with dres_t (g, T, C_out/g) the transposed copy (dw_parts (.., kg, C_out/g), when dres_t is not empty),
    or dw_g += dres_g @ cols_gᵀ (dw_parts (.., C_out/g, kg)): see :data:`_DW_TRANSPOSED_MIN_COG`.
    The wrap-around columns are zeroed in cols too unless ``finite_x``, and in dcols unless ``finite_w``
    (else an inf pixel or weight times 0 puts a nan into dw or, via col2im, dx, where torch's result has
    none). The caller passes finite_x = True first and reruns with False only when dw came out
    non-finite, so finite inputs skip both passes (measured ~5% of LeNet's conv2 backward).
    """
    n_batch, c_in, h, w = x.shape
    groups, kg, cog = wt.shape
    k_all = chan.shape[0]
    c_out = groups * cog
    chunks = cols.shape[0]
    want_dx, want_db = dx.shape[0] > 0, db_parts.shape[0] > 0
    transposed = dres_t.shape[1] > 0
    unpadded = src.shape[2] == 0 and sh == 1 and sw == 1
    for t in numba.prange(chunks):
        dwp, dwb = dw_parts[t], dw_block[t]
        dwp[:] = 0
        for n in range(t * n_batch // chunks, (t + 1) * n_batch // chunks):
            _pad_image(x[n], src[t], pt, pl, rw)
            s = x[n].reshape(c_in, h * w) if unpadded else src[t]
            ds = dx[n].reshape(c_in, h * w) if want_dx and unpadded else dsrc[t]
            if want_dx and dsrc.shape[2]:
                dsrc[t, :] = 0
            elif want_dx:  # stride > 1 or no padding: col2im adds straight into dx
                dx[n] = 0
            if want_db:
                db_cols[t] = 0
            for i0 in range(0, h_out, block):
                rows = min(block, h_out - i0)
                length = rows * rw
                cb = cols[t, :k_all * length].reshape(k_all, length)
                dcb = dcols[t, :k_all * length].reshape(k_all, length)
                dr = dres[t, :c_out * length].reshape(c_out, length)
                _im2col_block(x[n], s, cb, i0, rows, rw, chan, off, kh, kw, sh, sw, pt, pl, dil_h, dil_w, w_out)
                if not finite_x:
                    _zero_wraparound(cb, rows, rw, w_out)
                for o in range(c_out):
                    for r in range(rows):
                        seg = dr[o, r * rw:(r + 1) * rw]
                        _copy(seg[:w_out], dout[n, o, i0 + r])
                        seg[w_out:] = 0  # wrap-around columns: they must add nothing
                        if want_db:
                            _add(db_cols[t, o], dout[n, o, i0 + r])
                for g in range(groups):
                    cbg, drg = cb[g * kg:(g + 1) * kg], dr[g * cog:(g + 1) * cog]
                    if transposed:
                        drt = dres_t[t, :groups * length * cog].reshape(groups, length, cog)
                        _transpose(drg, drt[g])
                        _gemm(cbg, drt[g], dwb)
                    else:
                        _gemm_nt(drg, cbg, dwb)
                    for k in range(dwb.shape[0]):
                        _add(dwp[g, k], dwb[k])
                    if want_dx:
                        _gemm(wt[g], drg, dcb[g * kg:(g + 1) * kg])
                if want_dx and not finite_w:
                    _zero_wraparound(dcb, rows, rw, w_out)
                if want_dx:
                    _col2im_block(dcb, ds, dx[n], i0, rows, rw, chan, off, kh, kw, sh, sw, pt, pl, dil_h, dil_w, w_out)
            if want_dx:
                _crop_image(dsrc[t], dx[n], pt, pl, rw)
            if want_db:
                for o in range(c_out):
                    db_parts[n, o] = db_cols[t, o].sum()


@numba.njit(cache=True)
def _transpose(a, at):
    """at[j, i] = a[i, j] (2-D, C-contiguous)."""
    for i in range(a.shape[0]):
        row = a[i]
        for j in range(a.shape[1]):
            at[j, i] = row[j]


@numba.njit(cache=True)
def _pad_image(xn, s, pt, pl, rw):
    """s[c] = xn[c] zero-padded, flattened with row width rw (no-op for an empty s: stride > 1)."""
    if s.size == 0:
        return
    c_in, h, w = xn.shape
    s[:] = 0
    for c in range(c_in):
        for r in range(h):
            start = (r + pt) * rw + pl
            _copy(s[c, start:start + w], xn[c, r])


@numba.njit(cache=True)
def _crop_image(ds, dxn, pt, pl, rw):
    """dxn[c] = the unpadded part of ds[c], the adjoint of :func:`_pad_image` (no-op for an empty ds)."""
    if ds.size == 0:
        return
    c_in, h, w = dxn.shape
    for c in range(c_in):
        for r in range(h):
            start = (r + pt) * rw + pl
            _copy(dxn[c, r], ds[c, start:start + w])


@numba.njit(cache=True)
def _im2col_block(xn, s, cb, i0, rows, rw, chan, off, kh, kw, sh, sw, pt, pl, dil_h, dil_w, w_out):
    """cb[k, r·rw + j] = xp[c, s_h·(i0+r) + d_h·u, s_w·j + d_w·v] for k = (c·kH + u)·kW + v.

    Stride 1: one contiguous copy per row from the padded image s, or from the image itself when it
    needs no padding (then the last row's wrap-around columns would read past its end: they get zeros).
    Otherwise: gathered from xn.
    """
    length = rows * rw
    if s.size:
        for k in range(cb.shape[0]):
            start = off[k] + i0 * rw
            avail = min(length, s.shape[1] - start)
            _copy(cb[k, :avail], s[chan[k], start:start + avail])
            cb[k, avail:] = 0
        return
    c_in, h, w = xn.shape
    for k in range(cb.shape[0]):
        c, u, v = k // (kh * kw), k // kw % kh, k % kw
        shift = v * dil_w - pl
        j0, j1 = _valid_columns(shift, sw, w, w_out)
        for r in range(rows):
            seg = cb[k, r * w_out:(r + 1) * w_out]
            src_row = (i0 + r) * sh + u * dil_h - pt
            if src_row < 0 or src_row >= h:
                seg[:] = 0
                continue
            seg[:j0] = 0
            for j in range(j0, j1):
                seg[j] = xn[c, src_row, j * sw + shift]
            seg[j1:] = 0


@numba.njit(cache=True)
def _col2im_block(dcb, ds, dxn, i0, rows, rw, chan, off, kh, kw, sh, sw, pt, pl, dil_h, dil_w, w_out):
    """The adjoint of :func:`_im2col_block`: add dcb back into ds, the padded image or dxn itself
    (stride 1; what lies past ds's end is a wrap-around column's, which is never read out), or into dxn."""
    length = rows * rw
    if ds.size:
        for k in range(dcb.shape[0]):
            start = off[k] + i0 * rw
            avail = min(length, ds.shape[1] - start)
            _add(ds[chan[k], start:start + avail], dcb[k, :avail])
        return
    c_in, h, w = dxn.shape
    for k in range(dcb.shape[0]):
        c, u, v = k // (kh * kw), k // kw % kh, k % kw
        shift = v * dil_w - pl
        j0, j1 = _valid_columns(shift, sw, w, w_out)
        for r in range(rows):
            dst_row = (i0 + r) * sh + u * dil_h - pt
            if 0 <= dst_row < h:
                for j in range(j0, j1):
                    dxn[c, dst_row, j * sw + shift] += dcb[k, r * w_out + j]


@numba.njit(cache=True)
def _zero_wraparound(cb, rows, rw, w_out):
    """cb[k, r·rw + j] = 0 for the wrap-around columns j >= W_out (none for stride > 1, where rw = W_out)."""
    for k in range(cb.shape[0]):
        row = cb[k]
        for r in range(rows):
            for t in range(r * rw + w_out, (r + 1) * rw):
                row[t] = 0


@numba.njit(cache=True)
def _valid_columns(shift, sw, w, w_out):
    """Output columns j in [j0, j1) read input column s_w·j + shift inside [0, w)."""
    j0 = min(w_out, max(0, (sw - 1 - shift) // sw))
    j1 = max(j0, min(w_out, (w - 1 - shift) // sw + 1))
    return j0, j1


@numba.njit(cache=True)
def _gemm(a, b, c):
    """c = a @ b: by :func:`_gemm_small` for an a of at most :data:`_LOOP_GEMM_ROWS` rows, else by BLAS in
    slices of rows of a small enough to keep BLAS on the calling thread."""
    if a.shape[0] <= _LOOP_GEMM_ROWS:
        _gemm_small(a, b, c)
    else:
        _gemm_blas(a, b, c)


@numba.njit(cache=True)
def _gemm_blas(a, b, c):
    """c = a @ b by BLAS, in slices of rows of a small enough to keep BLAS on the calling thread."""
    rows = max(1, (_BLAS_ONE_THREAD_MNK - 1) // (a.shape[1] * b.shape[1]))
    for i in range(0, a.shape[0], rows):
        np.dot(a[i:i + rows], b, c[i:i + rows])


@numba.njit(cache=True)
def _gemm_nt(a, b, c):
    """c = a @ bᵀ, bᵀ read in place: by :func:`_gemm_nt_small` for a small c (M·N <= :data:`_SMALL_GEMM`),
    else by BLAS."""
    if c.shape[0] * c.shape[1] <= _SMALL_GEMM:
        _gemm_nt_small(a, b, c)
    else:
        _gemm_blas(a, b.T, c)


@numba.njit(cache=True)
def _gemm_small(a, b, c):
    """c = a @ b for a with few rows: four rows of c at a time (:func:`_gemm_rows4`), then one at a time."""
    m = a.shape[0]
    for i in range(0, m - 3, 4):
        _gemm_rows4(a, b, c, i)
    for i in range(m - m % 4, m):
        _gemm_row(a, b, c, i)


@numba.njit(cache=True, fastmath={"contract"})
def _gemm_rows4(a, b, c, i):
    """c[i + r, t] = Σ_k a[i + r, k]·b[k, t] for r < 4, two k per pass: each pass over the t loop (which
    vectorises) reads two rows of b for eight multiply-adds per entry."""
    kk = a.shape[1]
    c0, c1, c2, c3 = c[i], c[i + 1], c[i + 2], c[i + 3]
    c0[:] = 0
    c1[:] = 0
    c2[:] = 0
    c3[:] = 0
    for k in range(0, kk - 1, 2):
        r, q = b[k], b[k + 1]
        a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
        e0, e1, e2, e3 = a[i, k + 1], a[i + 1, k + 1], a[i + 2, k + 1], a[i + 3, k + 1]
        for t in range(r.shape[0]):
            x, y = r[t], q[t]
            c0[t] += a0 * x + e0 * y
            c1[t] += a1 * x + e1 * y
            c2[t] += a2 * x + e2 * y
            c3[t] += a3 * x + e3 * y
    if kk % 2:
        r, k = b[kk - 1], kk - 1
        a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
        for t in range(r.shape[0]):
            x = r[t]
            c0[t] += a0 * x
            c1[t] += a1 * x
            c2[t] += a2 * x
            c3[t] += a3 * x


@numba.njit(cache=True, fastmath={"contract"})
def _gemm_row(a, b, c, i):
    """c[i, t] = Σ_k a[i, k]·b[k, t], two k per pass."""
    kk = a.shape[1]
    c0 = c[i]
    c0[:] = 0
    for k in range(0, kk - 1, 2):
        r, q, a0, e0 = b[k], b[k + 1], a[i, k], a[i, k + 1]
        for t in range(r.shape[0]):
            c0[t] += a0 * r[t] + e0 * q[t]
    if kk % 2:
        r, a0 = b[kk - 1], a[i, kk - 1]
        for t in range(r.shape[0]):
            c0[t] += a0 * r[t]


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _gemm_nt_small(a, b, c):
    """c[i, j] = Σ_t a[i, t]·b[j, t], as dot products of rows (a reduction the compiler may reorder, so
    it vectorises), two rows of a at a time."""
    m, n = c.shape
    for i in range(0, m - 1, 2):
        r0, r1 = a[i], a[i + 1]
        for j in range(n):
            row = b[j]
            s0, s1 = c.dtype.type(0), c.dtype.type(0)
            for t in range(row.shape[0]):
                s0 += r0[t] * row[t]
                s1 += r1[t] * row[t]
            c[i, j], c[i + 1, j] = s0, s1
    if m % 2:
        r0 = a[m - 1]
        for j in range(n):
            row = b[j]
            s0 = c.dtype.type(0)
            for t in range(row.shape[0]):
                s0 += r0[t] * row[t]
            c[m - 1, j] = s0


@numba.njit(cache=True)
def _copy(dst, src):
    """dst[e] = src[e] (1-D; a plain loop is several times faster than slice assignment in Numba)."""
    for e in range(dst.shape[0]):
        dst[e] = src[e]


@numba.njit(cache=True)
def _add(dst, src):
    """dst[e] += src[e] (1-D)."""
    for e in range(dst.shape[0]):
        dst[e] += src[e]
