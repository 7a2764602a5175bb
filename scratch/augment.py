"""Data augmentation on NumPy float images with torchvision's math, signatures and parameter sampling.

Functional core (``affine``, ``rotate``, ``add_gaussian_noise``, ``normalize``) on (H, W), (C, H, W) and
(N, C, H, W) float32/float64 arrays (dtype kept), and torchvision-shaped transforms (``RandomRotation``,
``RandomAffine``, ``GaussianNoise``, ``Compose``, ``ToTensor``, ``Normalize``) drawing their parameters from
a NumPy ``Generator``.

Affine warp, as ``torchvision.transforms.v2.functional.affine`` on tensors: output pixel (i, j) samples
the input at M⁻¹ (j, i), M the forward map about the centre C::

    M = T · C · R(angle) · S(scale) · SHy(shear_y) · SHx(shear_x) · C⁻¹

The warp itself (torchvision's inverse matrix, ``affine_grid`` and ``grid_sample``'s sampling in
torch's order of operations) is :func:`scratch.functional.affine_warp` and
:func:`scratch.functional.inverse_affine_matrices`: the reference reads like the math in
``scratch/functional/augment.py``, the Numba engine is ``scratch/kernels/augment.py``, and the backend in
force picks one. This module parses and checks torchvision's arguments and draws the random parameters.

Angles are in degrees in image coordinates (x to the right, y down): a positive ``affine`` angle turns the
image clockwise on screen, a positive ``rotate`` angle counter-clockwise (``rotate(a)`` is
``affine(-a)``), as torchvision's.

Nothing here has a backward: augmentation runs on the data, before the model sees it.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import scratch.functional as F
from scratch.functional._checks import check_ndim, float_array
from scratch.functional._checks.augment import INTERPOLATIONS

Fill = float | Sequence[float] | None


# ----------------------------------------------------------------------------------------- argument checks

def _number(op: str, name: str, value: Any, finite: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: expected {name} to be a number, got {value!r} ({type(value).__name__})")
    if finite and not math.isfinite(value):
        raise ValueError(f"{op}: expected {name} to be a finite number (degrees), got {value!r}")
    return float(value)


def _pair(op: str, name: str, value: Any) -> tuple[float, float]:
    """Two numbers from a sequence; TypeError for a non-sequence, ValueError for another length (torchvision)."""
    if not isinstance(value, (Sequence, np.ndarray)) or isinstance(value, str):
        raise TypeError(f"{op}: expected {name} to be a sequence of two numbers, got {value!r} "
                        f"({type(value).__name__})")
    if len(value) != 2:
        raise ValueError(f"{op}: expected {name} to be a sequence of two numbers, got {value!r}")
    return _number(op, name, value[0]), _number(op, name, value[1])


def _shear_pair(op: str, shear: Any) -> tuple[float, float]:
    """torchvision's parsing: a number s -> (s, 0); [s] -> (s, s); [sx, sy] -> (sx, sy)."""
    if isinstance(shear, numbers.Real) and not isinstance(shear, bool):
        return _number(op, "shear", shear, finite=True), 0.0
    if isinstance(shear, (Sequence, np.ndarray)) and not isinstance(shear, str) and len(shear) in (1, 2):
        values = [_number(op, "shear", s, finite=True) for s in shear]
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
                            center: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """torchvision's ``_get_inverse_affine_matrix`` for M parameter sets, bit for bit (float64): see
    :func:`scratch.functional.inverse_affine_matrices`. Shapes: angle (M,), translate (M, 2), scale (M,),
    shear (M, 2) in degrees -> (M, 6)."""
    return F.inverse_affine_matrices(angle, translate, scale, shear, center)


def affine(img: np.ndarray, angle: float, translate: Sequence[float], scale: float,
           shear: float | Sequence[float], interpolation: str = "nearest", fill: Fill = 0,
           center: Sequence[float] | None = None) -> np.ndarray:
    """Rotate, translate, scale and shear an image about its centre, as torchvision's v2 ``F.affine``.

    Shapes:   img (H, W), (C, H, W) or (N, C, H, W) float32/float64 -> same shape and dtype; a batch gets
              the same parameters for every image (see :func:`affine_per_sample` for one set per image)
    Forward:  out[..., i, j] = sample(img, M⁻¹ (j, i)), M the forward map of the module docstring; angle
              in degrees, clockwise on screen (image coordinates, y down: a pixel right of the centre
              moves below it at 90), translate (tx, ty) in pixels (a sequence: a number is a TypeError,
              as in torchvision), shear in degrees (a number: x only; one value: both axes; two values:
              (x, y)); fill the value outside (number or one per channel; None: zero padding without
              torchvision's fill mask); center (x, y) in pixels from the top-left corner (None: image
              centre).
    """
    op = "affine"
    x, ndim = _image(op, img)
    angle = _number(op, "angle", angle, finite=True)
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
    return F.affine_warp(x, matrices, mode, fill_values, use_mask).reshape(np.shape(img))


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
    if not (np.all(np.isfinite(angle)) and np.all(np.isfinite(shear))):
        raise ValueError(f"{op}: expected finite angles and shears (degrees), got angle {angle.tolist()} and "
                         f"shear {shear.tolist()}")
    mode = _interpolation(op, interpolation)
    fill_values, use_mask = _fill_values(op, fill, x4.shape[1], x4.dtype)
    centre = _centre_offset(op, center, x4.shape[2], x4.shape[3])
    matrices = inverse_affine_matrices(angle, translate, scale, shear, centre)
    return F.affine_warp(x4, matrices, mode, fill_values, use_mask)


def rotate(img: np.ndarray, angle: float, interpolation: str = "nearest", expand: bool = False,
           center: Sequence[float] | None = None, fill: Fill = 0) -> np.ndarray:
    """Rotate by ``angle`` degrees about the centre, as torchvision's v2 ``F.rotate``: counter-clockwise on
    screen (image coordinates, y down: a pixel right of the centre moves above it at 90), i.e. the affine
    warp with angle ``-angle``.

    Shapes:  img (H, W), (C, H, W) or (N, C, H, W) -> same shape and dtype (``expand=True`` unsupported)
    Forward: angle taken mod 360; without ``center``, 0 copies, 180 (and 90, 270 on square images) are exact
             pixel permutations (torch.rot90); otherwise the affine warp with M = R(-angle).
    """
    op = "rotate"
    if expand:
        raise NotImplementedError(f"{op}: expand=True is not supported (the output keeps the input size)")
    x, _ = _image(op, img)
    angle = _number(op, "angle", angle, finite=True) % 360
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
    return F.affine_warp(x, matrices, mode, fill_values, use_mask).reshape(np.shape(img))


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
