"""Argument checks of the affine warp family, shared by the reference and the kernels (identical errors)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scratch.functional._checks import check_ndim, float_array

INTERPOLATIONS = ("nearest", "bilinear")


def inverse_affine_args(angle: object, translate: object, scale: object, shear: object,
                        center: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float,
                                                          float]:
    """M parameter sets as float64 arrays angle (M,), translate (M, 2), scale (M,), shear (M, 2), and the
    centre (cx, cy); angles and shears finite (cos/tan of ±inf have no value), scales positive."""
    op = "inverse_affine_matrices"
    angle = np.ascontiguousarray(angle, dtype=np.float64).reshape(-1)
    translate = np.ascontiguousarray(translate, dtype=np.float64).reshape(-1, 2)
    scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
    shear = np.ascontiguousarray(shear, dtype=np.float64).reshape(-1, 2)
    m = angle.shape[0]
    for name, a in (("translate", translate), ("scale", scale), ("shear", shear)):
        if a.shape[0] != m:
            raise ValueError(f"{op}: expected {name} to hold {m} parameter sets (one per angle), got {a.shape[0]}")
    if not (np.all(np.isfinite(angle)) and np.all(np.isfinite(shear))):
        raise ValueError(f"{op}: expected finite angles and shears (degrees), got angle {angle.tolist()} and "
                         f"shear {shear.tolist()}")
    if not np.all(scale > 0):
        raise ValueError(f"{op}: scale must be positive, got {scale.tolist()}")
    cx, cy = (float(c) for c in center)
    return angle, translate, scale, shear, cx, cy


def warp_args(x: object, matrices: object, interpolation: object, fill: object,
              use_mask: object) -> tuple[np.ndarray, np.ndarray, str, np.ndarray, bool]:
    """x as a C-contiguous (N, C, H, W) float array; matrices (1, 6) or (N, 6) float64 (as (N, 6));
    interpolation one of :data:`INTERPOLATIONS`; fill (a number or C values) as (C,) in x's dtype; use_mask a
    bool. Sides of 2^26 pixels or more are refused (the exactness argument of the source points needs less)."""
    op = "affine_warp"
    x = float_array(op, "x", x)
    check_ndim(op, "x", x, 4, "(N, C, H, W)")
    n, channels, height, width = x.shape
    if max(height, width) >= 1 << 26:
        raise ValueError(f"{op}: expected image sides below 2**26 pixels, got {height}x{width}")
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    if matrices.ndim != 2 or matrices.shape[1] != 6 or matrices.shape[0] not in (1, n):
        raise ValueError(f"{op}: expected matrices of shape (1, 6) or ({n}, 6), got {matrices.shape}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    fill = np.ascontiguousarray(fill, dtype=x.dtype).reshape(-1)
    if fill.shape == (1,):
        fill = np.full(channels, fill[0])
    if fill.shape != (channels,):
        raise ValueError(f"{op}: expected {channels} fill values (one per channel), got {fill.shape[0]}")
    return x, np.broadcast_to(matrices, (n, 6)), str(interpolation), fill, bool(use_mask)
