"""Parameter initialisation with PyTorch's default distributions, drawn from a seedable NumPy generator.

``torch.nn.Linear`` and ``torch.nn.Conv2d`` initialise ``weight`` with ``kaiming_uniform_(a=sqrt(5))``,
i.e. U(-b, b) with b = gain·sqrt(3 / fan_in) and gain = sqrt(2 / (1 + a²)) = sqrt(1/3), so b = 1/sqrt(fan_in);
``bias`` is U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in = in_features, or C_in/groups · kH · kW for a conv.
"""

from __future__ import annotations

import math

import numpy as np

_default_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator that layers draw from when no ``rng`` is passed (as ``torch.manual_seed``)."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)
    return _default_rng


def default_rng() -> np.random.Generator:
    """The generator layers use when constructed without ``rng``."""
    return _default_rng


def uniform(shape: tuple[int, ...], bound: float, dtype, rng: np.random.Generator | None) -> np.ndarray:
    """U(-bound, bound) samples of ``shape`` in ``dtype``."""
    rng = _default_rng if rng is None else rng
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def default_weight_and_bias(weight_shape: tuple[int, ...], fan_in: int, bias: bool, dtype,
                            rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray | None]:
    """torch's default (weight, bias) for Linear/Conv2d: both U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    w = uniform(weight_shape, bound, dtype, rng)
    b = uniform((weight_shape[0],), bound, dtype, rng) if bias else None
    return w, b
