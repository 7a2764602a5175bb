"""Strategies for the augmentation family: images in [0, 1] and affine/rotation/noise parameters.

Parameters mix continuous draws with the corners that matter (right angles, scale 0.5 and 2 which put
sample points exactly on pixel boundaries, integer and fractional shifts, 1-pixel images, per-channel
fills, off-centre rotation centres).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parity_tests.strategies import distinct_array, float_dtypes, seeds


def _finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


angles = st.sampled_from([0.0, 90.0, -90.0, 180.0, 45.0, 270.0, 30.0]) | _finite(-360.0, 360.0)
scales = st.sampled_from([1.0, 0.5, 2.0, 0.25, 4.0]) | _finite(0.25, 4.0)
translates = st.tuples(st.integers(-6, 6), st.integers(-6, 6)) | st.tuples(_finite(-6, 6), _finite(-6, 6))
shears = st.sampled_from([0.0, [0.0, 0.0]]) | _finite(-50, 50) | st.lists(_finite(-50, 50), min_size=1,
                                                                           max_size=2)
interpolations = st.sampled_from(["nearest", "bilinear"])


@st.composite
def images(draw, max_side: int = 12) -> dict:
    """An image (H, W), (C, H, W) or (N, C, H, W) of distinct values in [0, 1], as {"x", "layout"}."""
    dtype = draw(float_dtypes)
    layout = draw(st.sampled_from(["HW", "CHW", "NCHW"]))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    c = 1 if layout == "HW" else draw(st.integers(1, 3))
    n = draw(st.integers(1, 3)) if layout == "NCHW" else 1
    shape = {"HW": (h, w), "CHW": (c, h, w), "NCHW": (n, c, h, w)}[layout]
    x = distinct_array(np.random.default_rng(draw(seeds)), shape, dtype, 0.0, 1.0)
    return {"x": x, "layout": layout, "channels": c}


@st.composite
def fills(draw, channels: int):
    """None (zero padding, no fill mask), a number, or one value per channel."""
    return draw(st.sampled_from([None, 0, 0.5, 1.0]) | st.lists(_finite(0, 1), min_size=channels,
                                                                 max_size=channels))


@st.composite
def centers(draw, height: int, width: int):
    return draw(st.none() | st.tuples(_finite(0, width), _finite(0, height)))


@st.composite
def affine_cases(draw) -> dict:
    """An image and fixed affine parameters for scratch.augment.affine vs torchvision's F.affine."""
    img = draw(images())
    h, w = img["x"].shape[-2:]
    return {**img, "angle": draw(angles), "translate": list(draw(translates)), "scale": draw(scales),
            "shear": draw(shears), "interpolation": draw(interpolations),
            "fill": draw(fills(img["channels"])), "center": draw(centers(h, w))}


@st.composite
def rotate_cases(draw) -> dict:
    """An image and a fixed rotation (right angles included, for torchvision's rot90 fast paths)."""
    img = draw(images())
    h, w = img["x"].shape[-2:]
    return {**img, "angle": draw(angles), "interpolation": draw(interpolations),
            "fill": draw(fills(img["channels"])), "center": draw(centers(h, w))}


def _range(lo: float, hi: float) -> st.SearchStrategy[list[float]]:
    return st.tuples(_finite(lo, hi), _finite(lo, hi)).map(sorted)


@st.composite
def random_affine_args(draw) -> dict:
    """Constructor arguments of RandomAffine in every accepted form (number / range, 2 or 4 shears)."""
    degrees = draw(_finite(0, 180) | _range(-180, 180))
    translate = draw(st.none() | st.tuples(_finite(0, 1), _finite(0, 1)).map(list))
    scale = draw(st.none() | _range(0.1, 3).filter(lambda r: r[0] > 0))
    shear = draw(st.none() | _finite(0, 45) | _range(-45, 45)
                 | st.tuples(_range(-45, 45), _range(-45, 45)).map(lambda p: p[0] + p[1]))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    return {"degrees": degrees, "translate": translate, "scale": scale, "shear": shear, "height": height,
            "width": width}


@st.composite
def warp_cases(draw, max_side: int = 9) -> dict:
    """Arguments of ``affine_warp`` for the kernel-vs-reference suite: an (N, C, H, W) image drawn value by
    value (in [0, 1], now and then nan or inf), inverse matrices (one for all or one per image, from the
    parameters above), interpolation, per-channel fill and the fill mask switch."""
    dtype = draw(float_dtypes)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    width = 32 if np.dtype(dtype) == np.float32 else 64
    x = draw(arrays(dtype, (n, c, h, w), elements=st.floats(0, 1, width=width)))
    for i in draw(st.lists(st.integers(0, x.size - 1), max_size=2)):
        x.flat[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    m = draw(st.sampled_from([1, n]))
    pair = st.tuples(_finite(-50, 50), _finite(-50, 50)) | st.just((0.0, 0.0))
    params = {"angle": [draw(angles) for _ in range(m)], "translate": [draw(translates) for _ in range(m)],
              "scale": [draw(scales) for _ in range(m)], "shear": [draw(pair) for _ in range(m)],
              "center": draw(st.just((0.0, 0.0)) | st.tuples(_finite(-w, w), _finite(-h, h)))}
    return {"x": x, "params": params, "interpolation": draw(interpolations),
            "fill": draw(st.lists(_finite(0, 1), min_size=c, max_size=c)), "use_mask": draw(st.booleans())}


def describe(case: dict) -> str:
    """The case as one line for failure messages (arrays by shape and dtype)."""
    parts = []
    for k, v in case.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k}={v.dtype} {v.shape}")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)
