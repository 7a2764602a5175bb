"""The affine warp, the engine: one Numba pass per image that computes each output pixel's source point
and samples it, with the reference's signatures, checks and results (:mod:`scratch.functional.augment`).

The source point is computed in the image dtype in torch's order of operations, the last step with
LLVM's fma (one rounding, as torch's vectorised ``grid_sample``). Images are split over Numba's threads
through :func:`scratch.kernels._parallel.run` (threshold ``"affine"``, in pixels). Out-of-image
neighbours of a bilinear point read 0 (zero padding), so a nan or inf in the image reaches only the
points that blend it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
from numba.core import types
from numba.core.extending import intrinsic

from scratch.functional._checks.augment import inverse_affine_args, warp_args
from scratch.kernels._parallel import run

__all__ = ["inverse_affine_matrices", "affine_warp"]


def inverse_affine_matrices(angle: np.ndarray, translate: np.ndarray, scale: np.ndarray, shear: np.ndarray,
                            center: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """torchvision's ``_get_inverse_affine_matrix`` for M parameter sets: see
    :func:`scratch.functional.inverse_affine_matrices` (one compiled loop instead of M Python iterations)."""
    angle, translate, scale, shear, cx, cy = inverse_affine_args(angle, translate, scale, shear, center)
    out = np.empty((angle.shape[0], 6), dtype=np.float64)
    _inverse_affine_kernel(angle, translate, scale, shear, cx, cy, out)
    return out


@numba.njit(cache=True)
def _inverse_affine_kernel(angle, translate, scale, shear, cx, cy, out):
    deg2rad = math.pi / 180.0  # the constant CPython's math.radians multiplies by
    for m in range(angle.shape[0]):
        rot = angle[m] * deg2rad
        sx = shear[m, 0] * deg2rad
        sy = shear[m, 1] * deg2rad
        cos_sy = math.cos(sy)
        tan_sx = math.tan(sx)
        rot_minus_sy = rot - sy
        cx_plus_tx = cx + translate[m, 0]
        cy_plus_ty = cy + translate[m, 1]
        a = math.cos(rot_minus_sy) / cos_sy
        b = -(a * tan_sx + math.sin(rot))
        c = math.sin(rot_minus_sy) / cos_sy
        d = math.cos(rot) - c * tan_sx
        s = scale[m]
        m0, m1, m3, m4 = d / s, -b / s, -c / s, a / s
        out[m, 0] = m0
        out[m, 1] = m1
        out[m, 2] = 0.0 + (cx - m0 * cx_plus_tx - m1 * cy_plus_ty)
        out[m, 3] = m3
        out[m, 4] = m4
        out[m, 5] = 0.0 + (cy - m3 * cx_plus_tx - m4 * cy_plus_ty)


def affine_warp(x: np.ndarray, matrices: np.ndarray, interpolation: str = "nearest",
                fill: float | Sequence[float] = 0.0, use_mask: bool = True) -> np.ndarray:
    """Sample x (N, C, H, W) through inverse matrices ((1, 6) or (N, 6)): see
    :func:`scratch.functional.affine_warp`. Returns (N, C, H, W)."""
    x, matrices, interpolation, fill, use_mask = warp_args(x, matrices, interpolation, fill, use_mask)
    n_img, _, height, width = x.shape
    dtype = x.dtype.type
    theta = matrices.astype(x.dtype)
    coef = np.empty_like(theta)
    coef[:, :3] = theta[:, :3] / dtype(0.5 * width)
    coef[:, 3:] = theta[:, 3:] / dtype(0.5 * height)
    base_x = (np.arange(width) - (width - 1) / 2).astype(x.dtype)
    base_y = (np.arange(height) - (height - 1) / 2).astype(x.dtype)
    consts = np.array([1.0, 0.5 * width, 0.5 * height, -0.5], dtype=x.dtype)
    out = np.empty_like(x)
    if x.size:
        run("affine", _affine_kernel, _affine_parallel, x.size, n_img, x, coef, base_x, base_y, consts, fill,
            use_mask, interpolation == "bilinear", out)
    return out


@numba.njit(cache=True, parallel=True)
def _affine_parallel(x, coef, base_x, base_y, consts, fill, use_mask, bilinear, out, chunks):
    n = x.shape[0]
    for c in numba.prange(chunks):
        _affine_kernel(x, coef, base_x, base_y, consts, fill, use_mask, bilinear, out, c * n // chunks,
                       (c + 1) * n // chunks)


@numba.njit(cache=True)
def _affine_kernel(x, coef, base_x, base_y, consts, fill, use_mask, bilinear, out, lo, hi):
    """Warp images lo..hi-1: grid point -> source point in the image dtype (torch's order of ops), sample."""
    _, channels, height, width = x.shape
    one, half_w, half_h, minus_half = consts[0], consts[1], consts[2], consts[3]
    zero = one - one
    wf = half_w + half_w
    hf = half_h + half_h
    for n in range(lo, hi):
        r0, r1, r2, r3, r4, r5 = coef[n, 0], coef[n, 1], coef[n, 2], coef[n, 3], coef[n, 4], coef[n, 5]
        for i in range(height):
            for j in range(width):
                gx = base_x[j] * r0 + base_y[i] * r1 + r2
                gy = base_x[j] * r3 + base_y[i] * r4 + r5
                ix = _fma(gx + one, half_w, minus_half)
                iy = _fma(gy + one, half_h, minus_half)
                if not bilinear:
                    rx = np.rint(ix)
                    ry = np.rint(iy)
                    if rx >= zero and rx <= wf - one and ry >= zero and ry <= hf - one:
                        xi, yi = int(rx), int(ry)
                        for c in range(channels):
                            out[n, c, i, j] = x[n, c, yi, xi]
                    else:
                        for c in range(channels):
                            out[n, c, i, j] = fill[c]
                    continue
                if not (ix > -one and ix < wf and iy > -one and iy < hf):
                    for c in range(channels):
                        out[n, c, i, j] = fill[c] if use_mask else zero
                    continue
                fx = np.floor(ix)
                fy = np.floor(iy)
                x0, y0 = int(fx), int(fy)
                wx1 = ix - fx
                wy1 = iy - fy
                wx0 = one - wx1
                wy0 = one - wy1
                in_x0 = x0 >= 0
                in_x1 = x0 + 1 < width
                in_y0 = y0 >= 0
                in_y1 = y0 + 1 < height
                w_nw = wx0 * wy0 if in_x0 and in_y0 else zero
                w_ne = wx1 * wy0 if in_x1 and in_y0 else zero
                w_sw = wx0 * wy1 if in_x0 and in_y1 else zero
                w_se = wx1 * wy1 if in_x1 and in_y1 else zero
                mask = w_nw + w_ne + w_sw + w_se
                for c in range(channels):
                    v_nw = x[n, c, y0, x0] if in_x0 and in_y0 else zero
                    v_ne = x[n, c, y0, x0 + 1] if in_x1 and in_y0 else zero
                    v_sw = x[n, c, y0 + 1, x0] if in_x0 and in_y1 else zero
                    v_se = x[n, c, y0 + 1, x0 + 1] if in_x1 and in_y1 else zero
                    v = v_nw * w_nw + v_ne * w_ne + v_sw * w_sw + v_se * w_se
                    if use_mask:
                        v = (v - fill[c]) * mask + fill[c]
                    out[n, c, i, j] = v


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once (LLVM's fma), for float32 or float64 operands of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen
