"""The affine warp, the reference: torchvision's inverse affine matrix and grid_sample's sampling in NumPy.

As ``torchvision.transforms.v2.functional.affine`` on tensors: output pixel (i, j) samples the input at
the point its inverse matrix θ (2×3, from :func:`inverse_affine_matrices`) maps it to, computed in the
image dtype in torch's order of operations (``affine_grid`` then ``grid_sample``, align_corners=False)::

    (u, v) = (j - (W-1)/2, i - (H-1)/2)                       pixel offsets from the centre
    g = (θ / (W/2, H/2)) · (u, v, 1)                           normalised grid (affine_grid)
    source x = (g_x + 1)·W/2 - 1/2,  y = (g_y + 1)·H/2 - 1/2   (grid_sample; one fused multiply-add)

"nearest" reads pixel (rint(y), rint(x)) (ties to even) where it exists and ``fill`` elsewhere;
"bilinear" blends the four neighbours of a zero-padded image, then ``out = (v - fill)·m + fill`` with m
the same blend of an all-ones image (torchvision's fill mask; ``use_mask=False`` keeps the zero padding).
Points outside (-1, W) × (-1, H) get ``fill`` (0 without the mask).

The last step of the source point is one rounding of a·W/2 - 1/2 (a = g + 1), as torch's vectorised
``grid_sample`` computes it with an fma; it decides which pixel nearest picks on pixel boundaries (scale
0.5, right angles on even sizes). NumPy has no fma; :func:`_unnormalize` gets the same single rounding
exactly (its docstring has the argument). The engine: :mod:`scratch.kernels.augment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from scratch.functional._checks.augment import inverse_affine_args, warp_args

__all__ = ["inverse_affine_matrices", "affine_warp"]


def inverse_affine_matrices(angle: np.ndarray, translate: np.ndarray, scale: np.ndarray, shear: np.ndarray,
                            center: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """torchvision's ``_get_inverse_affine_matrix`` for M parameter sets, bit for bit (float64, libm's math).

    Shapes:  angle (M,), translate (M, 2), scale (M,), shear (M, 2) in degrees -> (M, 6), row-major 2×3
    Formula: a = cos(r - sy)/cos(sy), b = -(a·tan(sx) + sin(r)), c = sin(r - sy)/cos(sy),
             d = cos(r) - c·tan(sx);  M⁻¹ = [[d, -b], [-c, a]] / scale, offset so that the centre (cx, cy),
             relative to the image centre, stays fixed after undoing the translation.
    """
    angle, translate, scale, shear, cx, cy = inverse_affine_args(angle, translate, scale, shear, center)
    out = np.empty((angle.shape[0], 6))
    for k in range(angle.shape[0]):
        rot, sx, sy = (math.radians(float(v)) for v in (angle[k], shear[k, 0], shear[k, 1]))
        a = math.cos(rot - sy) / math.cos(sy)
        b = -(a * math.tan(sx) + math.sin(rot))
        c = math.sin(rot - sy) / math.cos(sy)
        d = math.cos(rot) - c * math.tan(sx)
        s, tx, ty = float(scale[k]), cx + float(translate[k, 0]), cy + float(translate[k, 1])
        m0, m1, m3, m4 = d / s, -b / s, -c / s, a / s
        out[k] = m0, m1, 0.0 + (cx - m0 * tx - m1 * ty), m3, m4, 0.0 + (cy - m3 * tx - m4 * ty)
    return out


def affine_warp(x: np.ndarray, matrices: np.ndarray, interpolation: str = "nearest",
                fill: float | Sequence[float] = 0.0, use_mask: bool = True) -> np.ndarray:
    """Sample x (N, C, H, W) at the points inverse matrices ((1, 6): one for all, (N, 6): one per image) map
    each output pixel to: see the module docstring. fill: a number or C values. Returns (N, C, H, W)."""
    x, matrices, interpolation, fill, use_mask = warp_args(x, matrices, interpolation, fill, use_mask)
    if x.size == 0:
        return np.empty_like(x)
    with np.errstate(invalid="ignore", over="ignore"):  # inf·0 and far-away points: nan / inf, as torch
        ix, iy = _source_points(matrices, *x.shape[2:], x.dtype)  # (N, H, W) each
        if interpolation == "nearest":
            return _nearest(x, ix, iy, fill)
        return _bilinear(x, ix, iy, fill, use_mask)


def _source_points(matrices: np.ndarray, height: int, width: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """The source point (x, y) of every output pixel, (N, H, W) each, in ``dtype`` as torch computes it."""
    theta = matrices.astype(dtype)
    r = np.concatenate([theta[:, :3] / dtype.type(0.5 * width), theta[:, 3:] / dtype.type(0.5 * height)],
                       axis=1)[:, :, None, None]                    # (N, 6, 1, 1)
    u = (np.arange(width) - (width - 1) / 2).astype(dtype)          # (W,)
    v = (np.arange(height) - (height - 1) / 2).astype(dtype)[:, None]  # (H, 1)
    gx = u * r[:, 0] + v * r[:, 1] + r[:, 2]                        # (N, H, W), affine_grid
    gy = u * r[:, 3] + v * r[:, 4] + r[:, 5]
    return _unnormalize(gx + 1, width), _unnormalize(gy + 1, height)


def _unnormalize(a: np.ndarray, size: int) -> np.ndarray:
    """a·size/2 - 1/2 rounded once (torch's fma), for a = g + 1 with g in the image dtype.

    a is a multiple of 2^-24 (float32) or 2^-53 (float64): g and 1 are multiples of it whenever
    |g| >= 1/2, and a lies in (1/2, 3/2) otherwise. size/2 is taken in the image dtype, as torch does (a
    multiple of 1/2; size < 2^26, so at most 26 bits in float64, 24 in float32).
    float32: in float64, a·size/2 (24 × 24 bits) and then a·size/2 - 1/2 (a multiple of 2^-25 below
    2^28) are exact, so casting to float32 is the one rounding. float64: a = hi + lo, hi the nearest
    multiple of 2^-26 and lo = a - hi (exact, |lo| <= 2^-27, a multiple of 2^-53: 27 bits), so
    hi·size/2 - 1/2 (a multiple of 2^-27 below 2^26) and lo·size/2 (27 × 26 bits) are exact and their
    sum is the one rounding. Both hold for points within 2^26 pixels of the image (|result| < 2^26);
    farther points, and ±inf (nan here), fall outside every image either way.
    """
    half = float(a.dtype.type(size / 2))
    if a.dtype == np.float32:
        return (a.astype(np.float64) * half - 0.5).astype(np.float32)
    hi = np.round(a * 2.0**26) / 2.0**26
    return (hi * half - 0.5) + (a - hi) * half


def _nearest(x: np.ndarray, ix: np.ndarray, iy: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """out[n, c, i, j] = x[n, c, rint(iy), rint(ix)] where that pixel exists, else fill[c]."""
    n, _, height, width = x.shape
    col, row = np.rint(ix), np.rint(iy)
    inside = (col >= 0) & (col <= width - 1) & (row >= 0) & (row <= height - 1)  # (N, H, W)
    col, row = (np.where(inside, t, 0).astype(np.intp) for t in (col, row))
    picked = x.transpose(0, 2, 3, 1)[np.arange(n)[:, None, None], row, col]       # (N, H, W, C)
    return np.where(inside[..., None], picked, fill).transpose(0, 3, 1, 2).copy()


def _bilinear(x: np.ndarray, ix: np.ndarray, iy: np.ndarray, fill: np.ndarray, use_mask: bool) -> np.ndarray:
    """v = Σ over the 4 neighbours of xp·(1-|ix-col|)·(1-|iy-row|), xp the image padded with zeros;
    m = the same sum over an all-ones image; out = (v - fill)·m + fill with the mask, else v."""
    n, _, height, width = x.shape
    inside = (ix > -1) & (ix < width) & (iy > -1) & (iy < height)                 # (N, H, W)
    ix, iy = np.where(inside, ix, 0), np.where(inside, iy, 0)
    left, top = np.floor(ix), np.floor(iy)
    wx1, wy1 = ix - left, iy - top
    wx0, wy0 = 1 - wx1, 1 - wy1
    xp = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))         # (N, H+2, W+2, C)
    ones = np.pad(np.ones((height, width), x.dtype), 1)                           # (H+2, W+2)
    col, row = left.astype(np.intp) + 1, top.astype(np.intp) + 1                  # top-left neighbour in xp
    img = np.arange(n)[:, None, None]
    corners = [(row, col, wx0 * wy0), (row, col + 1, wx1 * wy0), (row + 1, col, wx0 * wy1),
               (row + 1, col + 1, wx1 * wy1)]                                      # nw, ne, sw, se
    v = sum(xp[img, r, c] * w[..., None] for r, c, w in corners)                  # (N, H, W, C)
    if use_mask:
        mask = sum(ones[r, c] * w for r, c, w in corners)                         # (N, H, W)
        v = (v - fill) * mask[..., None] + fill
    return np.where(inside[..., None], v, fill if use_mask else 0).transpose(0, 3, 1, 2).copy()
