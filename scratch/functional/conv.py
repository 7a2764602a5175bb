"""2-D convolution (cross-correlation, as torch.nn.functional.conv2d) and 2-D padding, in plain NumPy.

conv2d is a loop over the kernel taps (u, v): tap (u, v) meets, for every output position (i, j), the
input pixel xp[s·i + d·u, s·j + d·v] of the zero-padded input xp, so the strided window slice
``xp[..., d·u : d·u + s·(H_out-1) + 1 : s, ...]`` holds them all at once, and one einsum per tap
contracts it with w[:, :, u, v] over the input channels. Groups are an extra axis g of x, w and out
(channels split into G blocks), so no channel ever meets a weight of another group. The backward runs the
same loop with the einsums transposed. The engine with the same results is :mod:`scratch.kernels.conv`.

pad2d is torch.nn.functional.pad over the last two dims (what nn.Conv2d uses for its padding modes):
each output pixel copies one input pixel, so the backward adds each dout entry back where it came from.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratch.functional._checks.conv import PaddingArg, conv2d_args, dout_like, pad2d_args

__all__ = ["conv2d_forward", "conv2d_backward", "pad2d_forward", "pad2d_backward"]


class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs: the zero-padded input (N, C_in, Hp, Wp), the weight, the
    geometry (stride, dilation, (top, bottom, left, right) pads, groups), and flags for bias / unbatched."""

    xp: np.ndarray
    w: np.ndarray
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]
    groups: int
    has_bias: bool
    unbatched: bool


def _taps(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
          out_hw: tuple[int, int]):
    """For each tap (u, v): (u, v, the slice of xp it meets for all output positions)."""
    (kh, kw), (sh, sw), (dil_h, dil_w), (h_out, w_out) = kernel, stride, dilation, out_hw
    for u in range(kh):
        for v in range(kw):
            yield u, v, (..., slice(dil_h * u, dil_h * u + sh * (h_out - 1) + 1, sh),
                         slice(dil_w * v, dil_w * v + sw * (w_out - 1) + 1, sw))


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                   stride: int | tuple[int, int] = 1, padding: PaddingArg = 0,
                   dilation: int | tuple[int, int] = 1, groups: int = 1) -> tuple[np.ndarray, Conv2dCache]:
    """2-D cross-correlation over NCHW input, as torch.nn.functional.conv2d (zero padding).

    Shapes:   x (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_out, C_in/g, kH, kW); bias (C_out,)
              -> out (N, C_out, H_out, W_out) (unbatched in, unbatched out), with
              H_out = (H + 2p - d(kH-1) - 1) // s + 1 and likewise W_out (per-axis s, p, d).
              stride, padding, dilation: an int, or a tuple of 1 (both axes) or 2 ints; padding='valid'
              is p = 0; padding='same' (s = 1 only) pads d(k-1) in total per axis, the odd extra
              row/column at the bottom/right, so H_out = H.
    Forward:  out[n,o,i,j] = b[o] + Σ_{c∈group(o), u, v} w[o,c,u,v] · xp[n,c, s·i+d·u, s·j+d·v]
              with xp the zero-padded x and group(o) the C_in/g input channels of o's group.
    Backward: dx[n,c, s·i+d·u-p, s·j+d·v-p] += Σ_{o∈group(c)} w[o,c,u,v] · dout[n,o,i,j]  (inside x only)
              dw[o,c,u,v] = Σ_{n,i,j} dout[n,o,i,j] · xp[n,c, s·i+d·u, s·j+d·v]
              db[o]       = Σ_{n,i,j} dout[n,o,i,j]
    Cache:    xp, w, stride, dilation, pads, groups, has_bias, unbatched.
    """
    x, weight, bias, geo = conv2d_args(x, weight, bias, stride, padding, dilation, groups)
    (n, c_in), (c_out, _, kh, kw), (pt, pb, pl, pr), g = x.shape[:2], weight.shape, geo.pads, geo.groups
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))            # (N, C_in, Hp, Wp)
    xg = xp.reshape(n, g, c_in // g, *xp.shape[2:])                  # (N, g, C_in/g, Hp, Wp)
    wg = weight.reshape(g, c_out // g, *weight.shape[1:])            # (g, C_out/g, C_in/g, kH, kW)
    out = np.zeros((n, g, c_out // g, *geo.out_hw), dtype=x.dtype)  # (N, g, C_out/g, H_out, W_out)
    for u, v, win in _taps((kh, kw), geo.stride, geo.dilation, geo.out_hw):
        out += np.einsum("ngchw,goc->ngohw", xg[win], wg[..., u, v])
    out = out.reshape(n, c_out, *geo.out_hw)
    if bias is not None:
        out += bias[:, None, None]
    cache = Conv2dCache(xp, weight, geo.stride, geo.dilation, geo.pads, g, bias is not None, geo.unbatched)
    return (out[0] if geo.unbatched else out), cache


def conv2d_backward(dout: np.ndarray, cache: Conv2dCache,
                    input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward` with respect to (x, weight, bias); db is None without bias.

    Math: see the forward. Per tap (u, v) the window slice of xp gives dw[:, :, u, v], and dout·w[:, :, u, v]
    is added back into the same slice of dxp; dx is dxp without its padding. ``input_grad=False`` skips dx
    (returned as None), as torch does for an input that does not require grad.
    """
    xp, w, stride, dilation, (pt, pb, pl, pr), g, has_bias, unbatched = cache
    (n, c_in, hp, wp), (c_out, _, kh, kw) = xp.shape, w.shape
    out_hw = tuple((size - d * (k - 1) - 1) // s + 1
                   for size, k, s, d in zip((hp, wp), (kh, kw), stride, dilation, strict=True))
    dout = dout_like("conv2d_backward", dout, xp, (c_out, *out_hw) if unbatched else (n, c_out, *out_hw))
    dout = dout[None] if unbatched else dout
    xg = xp.reshape(n, g, c_in // g, hp, wp)                        # (N, g, C_in/g, Hp, Wp)
    wg = w.reshape(g, c_out // g, *w.shape[1:])                      # (g, C_out/g, C_in/g, kH, kW)
    dg = dout.reshape(n, g, c_out // g, *out_hw)                     # (N, g, C_out/g, H_out, W_out)
    dxg, dwg = np.zeros_like(xg) if input_grad else None, np.empty_like(wg)
    for u, v, win in _taps((kh, kw), stride, dilation, out_hw):
        dwg[..., u, v] = np.einsum("ngohw,ngchw->goc", dg, xg[win])      # dw = Σ dout · xp
        if input_grad:
            dxg[win] += np.einsum("ngohw,goc->ngchw", dg, wg[..., u, v])  # dxp += w · dout
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    if not input_grad:
        return None, dwg.reshape(w.shape), db
    dx = dxg.reshape(xp.shape)[:, :, pt:hp - pb, pl:wp - pr]
    return (dx[0] if unbatched else dx), dwg.reshape(w.shape), db


class Pad2dCache(NamedTuple):
    """What :func:`pad2d_backward` needs: x's shape and dtype, and the source row / column of each padded
    row / column (index H or W: the zero of constant padding)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    rows: np.ndarray
    cols: np.ndarray


def _source(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The source index of each of the before + size + after padded positions along one axis."""
    i = np.arange(-before, size + after)
    if mode == "reflect":
        return (size - 1) - np.abs((size - 1) - np.abs(i))   # mirrored at the edge, the edge not repeated
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    if mode == "circular":
        return i % size
    return np.where((i >= 0) & (i < size), i, size)          # constant: index size holds the zero


def pad2d_forward(x: np.ndarray, pad: tuple[int, int, int, int],
                  mode: str = "constant") -> tuple[np.ndarray, Pad2dCache]:
    """Pad the last two dims, as torch.nn.functional.pad(x, pad, mode) with the value 0 for 'constant'.

    Shapes:   x (N, C, H, W) or (C, H, W); pad = (left, right, top, bottom), each >= 0
              -> out (..., top + H + bottom, left + W + right)
    Forward:  out[..., i, j] = x[..., r(i), c(j)], with r, c the source row / column under ``mode``:
              'constant' 0 outside x, 'reflect' mirrored at the edge without repeating it (pad < size),
              'replicate' the edge pixel, 'circular' wrapped around (pad <= size).
    Backward: dx[..., r(i), c(j)] += dout[..., i, j]   (every padded pixel adds back to its source)
    Cache:    shape, dtype, rows, cols.
    """
    x, (pt, pb, pl, pr), mode = pad2d_args(x, pad, mode)
    h, w = x.shape[-2:]
    rows, cols = _source(h, pt, pb, mode), _source(w, pl, pr, mode)
    xz = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, 1), (0, 1)])  # a zero row and column at index H, W
    return xz[..., rows[:, None], cols], Pad2dCache(x.shape, x.dtype, rows, cols)


def pad2d_backward(dout: np.ndarray, cache: Pad2dCache) -> np.ndarray:
    """Gradient of :func:`pad2d_forward` with respect to x: each dout entry added back to its source pixel."""
    shape, dtype, rows, cols = cache
    dout = dout_like("pad2d_backward", dout, np.empty(0, dtype), (*shape[:-2], rows.size, cols.size))
    dxz = np.zeros((*shape[:-2], shape[-2] + 1, shape[-1] + 1), dtype=dtype)
    np.add.at(dxz, (..., rows[:, None], cols), dout)
    return dxz[..., :-1, :-1]
