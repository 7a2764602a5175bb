"""Data augmentation on NumPy float images with torchvision's math, signatures and parameter sampling.

Functional core (``affine``, ``rotate``, ``add_gaussian_noise``, ``normalize``) on (H, W), (C, H, W) and
(N, C, H, W) float32/float64 arrays (dtype kept), and torchvision-shaped transforms (``RandomRotation``,
``RandomAffine``, ``GaussianNoise``, ``Compose``, ``ToTensor``, ``Normalize``) drawing their parameters from
a NumPy ``Generator``.

Affine warp, as ``torchvision.transforms.v2.functional.affine`` on tensors (inverse mapping, output pixel
(i, j) samples the input at a point computed from torchvision's ``_get_inverse_affine_matrix``):

    M = T · C · R(angle) · S(scale) · SHy(shear_y) · SHx(shear_x) · C⁻¹     (forward map, centre C)
    θ = M⁻¹ (2×3, float64, then rounded to the image dtype);  base point (u, v) = (j - (W-1)/2, i - (H-1)/2)
    g = (θ / (W/2, H/2)) · (u, v, 1)              (normalised grid, computed in the image dtype like torch)
    source x = (g_x + 1)·W/2 - 1/2,  y = (g_y + 1)·H/2 - 1/2        (grid_sample, align_corners=False)

The source point is computed in the image dtype in torch's order of operations, the last step as one
fused multiply-add like torch's vectorised CPU ``grid_sample``, so nearest sampling picks torch's pixel
even where a point falls on a pixel boundary (e.g. scale 0.5, or right angles on even sizes).

"nearest" reads the pixel at (rint(y), rint(x)) (ties to even) and ``fill`` outside; "bilinear" blends
the four neighbours with zero padding, then ``out = (v - fill)·m + fill`` where m is the same blend of an
all-ones image (torchvision's fill mask; ``fill=None`` skips it and leaves zero padding).

Nothing here has a backward: augmentation runs on the data, before the model sees it.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba.core import types
from numba.core.extending import intrinsic

from scratch.functional._checks import check_ndim, float_array

INTERPOLATIONS = ("nearest", "bilinear")

Fill = float | Sequence[float] | None


# ----------------------------------------------------------------------------------------- argument checks

def _number(op: str, name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: expected {name} to be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _pair(op: str, name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"{op}: expected {name} to be a sequence of two numbers, got {value!r}")
    return _number(op, name, value[0]), _number(op, name, value[1])


def _shear_pair(op: str, shear: Any) -> tuple[float, float]:
    """torchvision's parsing: a number s -> (s, 0); [s] -> (s, s); [sx, sy] -> (sx, sy)."""
    if isinstance(shear, numbers.Real) and not isinstance(shear, bool):
        return float(shear), 0.0
    if isinstance(shear, (Sequence, np.ndarray)) and not isinstance(shear, str) and len(shear) in (1, 2):
        values = [_number(op, "shear", s) for s in shear]
        return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
    raise ValueError(f"{op}: expected shear to be a number or a sequence of one or two numbers, "
                     f"got {shear!r}")


def _interpolation(op: str, interpolation: Any) -> str:
    mode = getattr(interpolation, "value", interpolation)
    if mode not in INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    return mode


def _image(op: str, img: Any) -> tuple[np.ndarray, int]:
    """The input as a C-contiguous (N, C, H, W) float array, and its original ndim."""
    x = float_array(op, "img", img)
    check_ndim(op, "img", x, (2, 3, 4), "(H, W), (C, H, W) or (N, C, H, W)")
    ndim = x.ndim
    while x.ndim < 4:
        x = x[None]
    return x, ndim


def _fill_values(op: str, fill: Fill, channels: int, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    """Per-channel fill values in ``dtype`` and whether torchvision's fill mask applies (fill is not None)."""
    if fill is None:
        return np.zeros(channels, dtype=dtype), False
    if isinstance(fill, numbers.Real) and not isinstance(fill, bool):
        return np.full(channels, fill, dtype=dtype), True
    if isinstance(fill, (Sequence, np.ndarray)) and not isinstance(fill, str):
        values = [_number(op, "fill", f) for f in fill]
        if len(values) == 1:
            return np.full(channels, values[0], dtype=dtype), True
        if len(values) == channels:
            return np.asarray(values, dtype=dtype), True
        raise ValueError(f"{op}: fill has {len(values)} values but the image has {channels} channels")
    raise ValueError(f"{op}: expected fill to be None, a number or a sequence of numbers, got {fill!r}")


def _centre_offset(op: str, center: Any, height: int, width: int) -> tuple[float, float]:
    """torchvision's centre: (cx - W/2, cy - H/2) in pixels from the image centre; (0, 0) when None."""
    if center is None:
        return 0.0, 0.0
    cx, cy = _pair(op, "center", center)
    return cx - width * 0.5, cy - height * 0.5


# ----------------------------------------------------------------------------------------- affine warp

def inverse_affine_matrices(angle: np.ndarray, translate: np.ndarray, scale: np.ndarray, shear: np.ndarray,
                            center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """torchvision's ``_get_inverse_affine_matrix`` for M parameter sets, bit for bit (float64).

    Shapes:  angle (M,), translate (M, 2), scale (M,), shear (M, 2) in degrees -> (M, 6) row-major 2×3
    Formula: a = cos(r - sy)/cos(sy), b = -(a·tan(sx) + sin(r)), c = sin(r - sy)/cos(sy),
             d = cos(r) - c·tan(sx);  M⁻¹ = [[d, -b], [-c, a]] / scale, offset so that the centre (relative
             to the image centre) is fixed after undoing the translation.
    """
    angle = np.ascontiguousarray(angle, dtype=np.float64)
    translate = np.ascontiguousarray(translate, dtype=np.float64).reshape(-1, 2)
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    shear = np.ascontiguousarray(shear, dtype=np.float64).reshape(-1, 2)
    out = np.empty((angle.shape[0], 6), dtype=np.float64)
    _inverse_affine_kernel(angle, translate, scale, shear, float(center[0]), float(center[1]), out)
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


# Batches below this many pixels run serially: one training batch (64·28·28) takes ~0.5 ms on one core,
# while waking a thread pool per call costs more than it saves on a busy 2-core machine.
_PARALLEL_MIN_PIXELS = 1 << 20


def _warp(x: np.ndarray, matrices: np.ndarray, interpolation: str, fill: np.ndarray,
          use_mask: bool) -> np.ndarray:
    """Apply inverse matrices ((1, 6): one for all, (N, 6): one per sample) to x (N, C, H, W)."""
    n_img, _, height, width = x.shape
    dtype = x.dtype.type
    theta = matrices.astype(x.dtype)
    coef = np.empty_like(theta)
    coef[:, :3] = theta[:, :3] / dtype(0.5 * width)
    coef[:, 3:] = theta[:, 3:] / dtype(0.5 * height)
    coef = np.ascontiguousarray(np.broadcast_to(coef, (n_img, 6)))
    base_x = (np.arange(width) - (width - 1) / 2).astype(x.dtype)
    base_y = (np.arange(height) - (height - 1) / 2).astype(x.dtype)
    consts = np.array([1.0, 0.5 * width, 0.5 * height, -0.5], dtype=x.dtype)
    out = np.empty_like(x)
    if x.size:
        kernel = _affine_kernel_parallel if x.size >= _PARALLEL_MIN_PIXELS else _affine_kernel
        kernel(x, coef, base_x, base_y, consts, fill, use_mask, interpolation == "bilinear", out)
    return out


@numba.njit(cache=True)
def _affine_kernel(x, coef, base_x, base_y, consts, fill, use_mask, bilinear, out):
    for n in range(x.shape[0]):
        _affine_image(x, n, coef, base_x, base_y, consts, fill, use_mask, bilinear, out)


@numba.njit(cache=True, parallel=True)
def _affine_kernel_parallel(x, coef, base_x, base_y, consts, fill, use_mask, bilinear, out):
    for n in numba.prange(x.shape[0]):
        _affine_image(x, n, coef, base_x, base_y, consts, fill, use_mask, bilinear, out)


@numba.njit(cache=True)
def _affine_image(x, n, coef, base_x, base_y, consts, fill, use_mask, bilinear, out):
    """Warp image n: grid point -> source point in the image dtype (torch's order of operations), sample."""
    _, channels, height, width = x.shape
    one, half_w, half_h, minus_half = consts[0], consts[1], consts[2], consts[3]
    zero = one - one
    wf = half_w + half_w
    hf = half_h + half_h
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
            xa = x0 if in_x0 else 0
            xb = x0 + 1 if in_x1 else 0
            ya = y0 if in_y0 else 0
            yb = y0 + 1 if in_y1 else 0
            for c in range(channels):
                v = (x[n, c, ya, xa] * w_nw + x[n, c, ya, xb] * w_ne
                     + x[n, c, yb, xa] * w_sw + x[n, c, yb, xb] * w_se)
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


def affine(img: np.ndarray, angle: float, translate: Sequence[float], scale: float,
           shear: float | Sequence[float], interpolation: str = "nearest", fill: Fill = 0,
           center: Sequence[float] | None = None) -> np.ndarray:
    """Rotate, translate, scale and shear an image about its centre, as torchvision's v2 ``F.affine``.

    Shapes:   img (H, W), (C, H, W) or (N, C, H, W) float32/float64 -> same shape and dtype; a batch gets
              the same parameters for every image (see :func:`affine_per_sample` for one set per image)
    Forward:  out[..., i, j] = sample(img, M⁻¹ (j, i)), M the forward map of the module docstring; angle
              in degrees (counter-clockwise on screen), translate (tx, ty) in pixels, shear in degrees (a
              number: x only; one value: both axes; two values: (x, y)); fill the value outside (number or
              one per channel; None: zero padding without torchvision's fill mask); center (x, y) in
              pixels from the top-left corner (None: image centre).
    """
    op = "affine"
    x, ndim = _image(op, img)
    angle = _number(op, "angle", angle)
    tx, ty = _pair(op, "translate", translate)
    scale = _number(op, "scale", scale)
    if not scale > 0:
        raise ValueError(f"{op}: scale must be positive, got {scale}")
    sx, sy = _shear_pair(op, shear)
    mode = _interpolation(op, interpolation)
    fill_values, use_mask = _fill_values(op, fill, x.shape[1], x.dtype)
    centre = _centre_offset(op, center, x.shape[2], x.shape[3])
    matrices = inverse_affine_matrices(np.array([angle]), np.array([[tx, ty]]), np.array([scale]),
                                       np.array([[sx, sy]]), centre)
    return _warp(x, matrices, mode, fill_values, use_mask).reshape(np.shape(img))


def affine_per_sample(x: np.ndarray, angle: np.ndarray, translate: np.ndarray, scale: np.ndarray,
                      shear: np.ndarray, interpolation: str = "nearest", fill: Fill = 0,
                      center: Sequence[float] | None = None) -> np.ndarray:
    """:func:`affine` with one parameter set per image of a batch, in one parallel kernel call.

    Shapes:  x (N, C, H, W); angle (N,), translate (N, 2), scale (N,), shear (N, 2) -> (N, C, H, W)
    Forward: out[n] = affine(x[n], angle[n], translate[n], scale[n], shear[n], ...) exactly.
    """
    op = "affine_per_sample"
    x4 = float_array(op, "x", x)
    check_ndim(op, "x", x4, 4, "(N, C, H, W)")
    n = x4.shape[0]
    angle = np.asarray(angle, dtype=np.float64).reshape(-1)
    translate = np.asarray(translate, dtype=np.float64).reshape(-1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    shear = np.asarray(shear, dtype=np.float64).reshape(-1, 2)
    for name, arr in (("angle", angle), ("translate", translate), ("scale", scale), ("shear", shear)):
        if arr.shape[0] != n:
            raise ValueError(f"{op}: expected {name} to hold {n} parameter sets (one per image), "
                             f"got shape {arr.shape}")
    if not np.all(scale > 0):
        raise ValueError(f"{op}: scale must be positive, got min {scale.min()}")
    mode = _interpolation(op, interpolation)
    fill_values, use_mask = _fill_values(op, fill, x4.shape[1], x4.dtype)
    centre = _centre_offset(op, center, x4.shape[2], x4.shape[3])
    matrices = inverse_affine_matrices(angle, translate, scale, shear, centre)
    return _warp(x4, matrices, mode, fill_values, use_mask)


def rotate(img: np.ndarray, angle: float, interpolation: str = "nearest", expand: bool = False,
           center: Sequence[float] | None = None, fill: Fill = 0) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the centre, as torchvision's v2 ``F.rotate``.

    Shapes:  img (H, W), (C, H, W) or (N, C, H, W) -> same shape and dtype (``expand=True`` unsupported)
    Forward: angle taken mod 360; without ``center``, 0 copies, 180 (and 90, 270 on square images) are exact
             pixel permutations (torch.rot90); otherwise the affine warp with M = R(angle).
    """
    op = "rotate"
    if expand:
        raise NotImplementedError(f"{op}: expand=True is not supported (the output keeps the input size)")
    x, _ = _image(op, img)
    angle = _number(op, "angle", angle) % 360
    mode = _interpolation(op, interpolation)
    fill_values, use_mask = _fill_values(op, fill, x.shape[1], x.dtype)
    height, width = x.shape[2], x.shape[3]
    if center is None:
        quarter = {0.0: 0, 180.0: 2} if height != width else {0.0: 0, 90.0: 1, 180.0: 2, 270.0: 3}
        if angle in quarter:
            return np.ascontiguousarray(np.rot90(np.asarray(img), k=quarter[angle], axes=(-2, -1)))
    centre = _centre_offset(op, center, height, width)
    no_shift = np.zeros((1, 2))
    matrices = inverse_affine_matrices(np.array([-angle]), no_shift, np.ones(1), no_shift, centre)
    return _warp(x, matrices, mode, fill_values, use_mask).reshape(np.shape(img))


def add_gaussian_noise(img: np.ndarray, std: float, rng: np.random.Generator, mean: float = 0.0,
                       clip: bool = True) -> np.ndarray:
    """Add i.i.d. normal noise, as torchvision's v2 ``F.gaussian_noise`` on float images.

    Shapes:  img any float array -> same shape and dtype
    Forward: out = img + (mean + std·z), z ~ N(0, 1) from ``rng`` in the image dtype; clipped to [0, 1]
             when ``clip``.
    """
    op = "add_gaussian_noise"
    x = float_array(op, "img", img)
    std = _number(op, "std", std)
    if std < 0:
        raise ValueError(f"{op}: std must be non-negative, got {std}")
    dtype = x.dtype.type
    out = rng.standard_normal(size=x.shape, dtype=x.dtype)
    out *= dtype(std)
    out += dtype(_number(op, "mean", mean))
    out += x
    if clip:
        np.clip(out, dtype(0), dtype(1), out=out)
    return out


def normalize(img: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Per-channel standardisation, as torchvision's ``F.normalize``.

    Shapes:  img (C, H, W) or (N, C, H, W) float -> same shape and dtype; mean, std: C values (or 1)
    Forward: out[..., c, :, :] = (img[..., c, :, :] - mean[c]) / std[c], mean and std cast to img's dtype.
    """
    op = "normalize"
    x = float_array(op, "img", img)
    check_ndim(op, "img", x, (3, 4), "(C, H, W) or (N, C, H, W)")
    m = np.asarray(mean, dtype=x.dtype).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=x.dtype).reshape(-1, 1, 1)
    if m.shape[0] not in (1, x.shape[-3]) or s.shape[0] not in (1, x.shape[-3]):
        raise ValueError(f"{op}: mean and std need 1 or {x.shape[-3]} values, got {m.shape[0]} and "
                         f"{s.shape[0]}")
    if np.any(s == 0):
        raise ValueError(f"{op}: std evaluated to zero, leading to division by zero")
    return (x - m) / s


# ----------------------------------------------------------------------------------------- transforms

class Transform:
    """Base of the transforms: ``t(x, rng=None)``; random ones draw from ``rng`` or their own generator.

    ``random``: whether the output depends on the draws (False for the deterministic ones).
    """

    random = False

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Compose(Transform):
    """Apply transforms in order (each random one with the same ``rng`` when one is given)."""

    def __init__(self, transforms: Sequence[Transform | Callable[[np.ndarray], np.ndarray]]) -> None:
        self.transforms = list(transforms)

    @property
    def random(self) -> bool:
        return any(getattr(t, "random", False) for t in self.transforms)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng=rng) if isinstance(t, Transform) else t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor(Transform):
    """torchvision's ``ToTensor`` on NumPy: (H, W) or (H, W, C) -> (C, H, W); uint8 becomes float32 / 255."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an (H, W) or (H, W, C) image, got shape {arr.shape}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        out = np.ascontiguousarray(arr.transpose(2, 0, 1))
        if out.dtype == np.uint8:
            return out.astype(np.float32) / np.float32(255)
        return out


class Normalize(Transform):
    """torchvision's ``Normalize(mean, std)``: see :func:`normalize`."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return normalize(x, self.mean, self.std)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def _setup_angle(name: str, value: Any, sizes: tuple[int, ...]) -> list[float]:
    """torchvision's ``_setup_angle``: a number d >= 0 -> [-d, d]; else a sequence of ``sizes`` numbers."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        return [-float(value), float(value)]
    if not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, str) or len(value) not in sizes:
        raise ValueError(f"{name} should be a number or a sequence of length {' or '.join(map(str, sizes))}.")
    out = [_number("RandomAffine", name, v) for v in value]
    for lo, hi in zip(out[::2], out[1::2], strict=True):
        if lo > hi:
            raise ValueError(f"{name} range ({lo}, {hi}) has its lower bound above its upper bound")
    return out


class _RandomGeometric(Transform):
    """Shared parts of RandomRotation and RandomAffine: generator, interpolation, fill, per-sample mode."""

    random = True

    def __init__(self, interpolation: str, fill: Fill, center: Sequence[float] | None, per_sample: bool,
                 rng: np.random.Generator | int | None) -> None:
        self.interpolation = _interpolation(type(self).__name__, interpolation)
        self.fill = fill
        if center is not None:
            _pair(type(self).__name__, "center", center)
        self.center = center
        self.per_sample = per_sample
        self.rng = np.random.default_rng(rng)

    def _count(self, x: np.ndarray) -> int | None:
        return x.shape[0] if self.per_sample and np.ndim(x) == 4 else None


class RandomRotation(_RandomGeometric):
    """Rotate by an angle drawn uniformly from ``degrees``, as torchvision's v2 ``RandomRotation``.

    degrees: d (range [-d, d]) or (min, max). ``per_sample=True`` (scratch extension) draws one angle per
    image of an (N, C, H, W) batch; otherwise the whole input gets one angle, as torchvision does.
    """

    def __init__(self, degrees: float | Sequence[float], interpolation: str = "nearest", expand: bool = False,
                 center: Sequence[float] | None = None, fill: Fill = 0, *, per_sample: bool = False,
                 rng: np.random.Generator | int | None = None) -> None:
        if expand:
            raise NotImplementedError("RandomRotation: expand=True is not supported")
        self.degrees = _setup_angle("degrees", degrees, (2,))
        super().__init__(interpolation, fill, center, per_sample, rng)

    def make_params(self, n: int | None = None, rng: np.random.Generator | None = None) -> dict[str, Any]:
        """{"angle": float} (or an (n,) array), uniform on [degrees[0], degrees[1])."""
        rng = self.rng if rng is None else rng
        return {"angle": rng.uniform(self.degrees[0], self.degrees[1], size=n) if n else
                float(rng.uniform(self.degrees[0], self.degrees[1]))}

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        n = self._count(x)
        angle = self.make_params(n, rng)["angle"]
        if n is None:
            return rotate(x, angle, self.interpolation, center=self.center, fill=self.fill)
        turned = -(angle % 360)
        zeros = np.zeros((n, 2))
        return affine_per_sample(x, turned, zeros, np.ones(n), zeros, self.interpolation, self.fill,
                                 self.center)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, interpolation={self.interpolation!r}, per_sample={self.per_sample}"


class RandomAffine(_RandomGeometric):
    """Random affine transform keeping the centre, as torchvision's v2 ``RandomAffine`` (same sampling).

    degrees: d or (min, max); translate: (a, b) fractions, tx = round(U(-a·W, a·W)), ty likewise;
    scale: (min, max); shear: s (x in [-s, s]), (min, max) for x, or four values for x then y.
    ``per_sample=True`` (scratch extension) draws one parameter set per image of an (N, C, H, W) batch.
    """

    def __init__(self, degrees: float | Sequence[float], translate: Sequence[float] | None = None,
                 scale: Sequence[float] | None = None, shear: float | Sequence[float] | None = None,
                 interpolation: str = "nearest", fill: Fill = 0, center: Sequence[float] | None = None, *,
                 per_sample: bool = False, rng: np.random.Generator | int | None = None) -> None:
        self.degrees = _setup_angle("degrees", degrees, (2,))
        if translate is not None:
            translate = list(_pair("RandomAffine", "translate", translate))
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            scale = list(_pair("RandomAffine", "scale", scale))
            if not all(s > 0 for s in scale):
                raise ValueError("scale values should be positive")
            if scale[0] > scale[1]:
                raise ValueError(f"scale range {scale} has its lower bound above its upper bound")
        self.scale = scale
        self.shear = None if shear is None else _setup_angle("shear", shear, (2, 4))
        super().__init__(interpolation, fill, center, per_sample, rng)

    def make_params(self, height: int, width: int, n: int | None = None,
                    rng: np.random.Generator | None = None) -> dict[str, Any]:
        """torchvision's ``make_params``: angle, translate (tx, ty) integers, scale, shear (sx, sy).

        With ``n``, each entry holds n draws: angle (n,), translate (n, 2), scale (n,), shear (n, 2).
        """
        rng = self.rng if rng is None else rng
        size = n or 1
        angle = rng.uniform(self.degrees[0], self.degrees[1], size=size)
        if self.translate is not None:
            max_dx = float(self.translate[0] * width)
            max_dy = float(self.translate[1] * height)
            tx = np.rint(rng.uniform(-max_dx, max_dx, size=size))
            ty = np.rint(rng.uniform(-max_dy, max_dy, size=size))
        else:
            tx = ty = np.zeros(size)
        scale = np.ones(size) if self.scale is None else rng.uniform(self.scale[0], self.scale[1], size=size)
        shear_x = shear_y = np.zeros(size)
        if self.shear is not None:
            shear_x = rng.uniform(self.shear[0], self.shear[1], size=size)
            if len(self.shear) == 4:
                shear_y = rng.uniform(self.shear[2], self.shear[3], size=size)
        if n:
            return {"angle": angle, "translate": np.stack([tx, ty], axis=1), "scale": scale,
                    "shear": np.stack([shear_x, shear_y], axis=1)}
        return {"angle": float(angle[0]), "translate": (int(tx[0]), int(ty[0])), "scale": float(scale[0]),
                "shear": (float(shear_x[0]), float(shear_y[0]))}

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        height, width = np.shape(x)[-2:]
        n = self._count(x)
        params = self.make_params(height, width, n, rng)
        if n is None:
            return affine(x, **params, interpolation=self.interpolation, fill=self.fill, center=self.center)
        return affine_per_sample(x, **params, interpolation=self.interpolation, fill=self.fill,
                                 center=self.center)

    def extra_repr(self) -> str:
        return (f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, interpolation={self.interpolation!r}, per_sample={self.per_sample}")


class GaussianNoise(Transform):
    """Add N(mean, sigma²) noise to every pixel and clip to [0, 1], as torchvision's v2 ``GaussianNoise``."""

    random = True

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True, *,
                 rng: np.random.Generator | int | None = None) -> None:
        if sigma < 0:
            raise ValueError(f"sigma shouldn't be negative. Got {sigma}")
        self.mean, self.sigma, self.clip = mean, sigma, clip
        self.rng = np.random.default_rng(rng)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return add_gaussian_noise(x, self.sigma, self.rng if rng is None else rng, self.mean, self.clip)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, sigma={self.sigma}, clip={self.clip}"


def scale_range(scale: float | Sequence[float] | None) -> list[float] | None:
    """The scale option of the training augmentation as a range: s -> [1 - s, 1 + s]; (a, b) -> [a, b]."""
    if scale is None:
        return None
    if isinstance(scale, numbers.Real):
        return None if scale == 0 else [1.0 - float(scale), 1.0 + float(scale)]
    return list(_pair("default_train_augmentation", "scale", scale))


def default_train_augmentation(rotation: float = 10.0, translate: float = 0.1,
                               scale: float | Sequence[float] | None = (0.9, 1.1), shear: float = 0.0,
                               noise_std: float = 0.0, interpolation: str = "bilinear",
                               seed: int | np.random.Generator | None = None) -> Compose:
    """The training augmentation: RandomAffine (one parameter set per image) then optional GaussianNoise.

    rotation: degrees (range [-r, r]); translate: fraction of the size (both axes); scale: (min, max) or a
    number s meaning (1 - s, 1 + s); shear: degrees along x; noise_std: sigma of clipped Gaussian noise
    (0: none). Works on float (N, C, H, W) batches in [0, 1] before normalisation; keeps the dtype. All
    transforms share one generator seeded by ``seed``. :func:`torch_impl.augment.default_train_augmentation`
    builds the torchvision equivalent from the same options.
    """
    rng = np.random.default_rng(seed)
    scales = scale_range(scale)
    steps: list[Transform] = []
    if rotation or translate or shear or scales is not None:
        steps.append(RandomAffine(degrees=rotation, translate=(translate, translate) if translate else None,
                                  scale=scales, shear=shear or None, interpolation=interpolation, fill=0,
                                  per_sample=True, rng=rng))
    if noise_std:
        steps.append(GaussianNoise(mean=0.0, sigma=noise_std, clip=True, rng=rng))
    return Compose(steps)


def preview_grid(images: np.ndarray, labels: Sequence[int], transform: Callable[..., np.ndarray],
                 out_path: str | os.PathLike, class_names: Sequence[str] | None = None, n: int = 8,
                 rng: np.random.Generator | int | None = None, augmented_rows: int = 2) -> Path:
    """Save a PNG grid: ``n`` originals in the top row, ``augmented_rows`` augmented versions below.

    images: float (N, 1, H, W) or (N, H, W) in [0, 1]; labels: N class indices (titles use ``class_names``
    when given). Each image is augmented on its own; the PNG is written atomically; returns its path.
    """
    from scratch.plots import new_figure, save_figure  # matplotlib only when a preview is drawn

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"preview_grid: expected images of shape (N, 1, H, W) or (N, H, W), "
                         f"got {np.shape(images)}")
    if len(labels) < x.shape[0]:
        raise ValueError(f"preview_grid: {len(labels)} labels for {x.shape[0]} images")
    n = min(n, x.shape[0])
    gen = np.random.default_rng(rng)
    rows = [x[:n]]
    for _ in range(augmented_rows):
        if isinstance(transform, Transform):
            rows.append(np.concatenate([transform(x[i:i + 1], rng=gen) for i in range(n)]))
        else:
            rows.append(np.concatenate([transform(x[i:i + 1]) for i in range(n)]))
    fig = new_figure((1.25 * n, 1.5 * len(rows)), dpi=100)
    for r, row in enumerate(rows):
        for i in range(n):
            ax = fig.add_subplot(len(rows), n, r * n + i + 1)
            img = row[i]
            shown = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
            ax.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            label = int(labels[i])
            name = class_names[label] if class_names is not None else str(label)
            ax.set_title(name if r == 0 else f"{name} (aug)", fontsize=8)
            if i == 0:
                ax.set_ylabel("original" if r == 0 else "augmented", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_path)
