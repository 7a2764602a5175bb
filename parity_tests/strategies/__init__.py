"""All Hypothesis strategies of the suite, one module per op family (conv, pool, dense, optim, ...).

Shared building blocks live here: arrays with distinct values (so a transposed or mis-routed gradient
cannot pass) and dtypes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

float_dtypes = st.sampled_from([np.float64, np.float32])


def distinct_array(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64,
                   low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Values spread over [low, high] in random order, all distinct (used for inputs and upstream grads)."""
    n = int(np.prod(shape))
    if n == 0:
        return np.zeros(shape, dtype=dtype)
    base = np.linspace(low, high, n) + rng.uniform(-0.25, 0.25, n) * (high - low) / max(n, 1)
    return rng.permutation(base).reshape(shape).astype(dtype)


seeds = st.integers(min_value=0, max_value=2**32 - 1)
