"""Strategies for the data layer: IDX arrays, split lengths, DataLoader settings, resize shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from parity_tests.strategies import distinct_array, float_dtypes, seeds

# IDX type code -> big-endian dtype, as stored in the file.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """``array`` written as an IDX file with element type ``code``."""
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


@st.composite
def idx_cases(draw) -> tuple[np.ndarray, int, str]:
    """An array of any IDX element type with 1–3 dims, its type code and a case string."""
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(seeds))
    dtype = np.dtype(IDX_TYPES[code]).newbyteorder("=")
    if dtype.kind == "f":
        array = distinct_array(rng, shape, dtype, -1e3, 1e3)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return array, code, f"type 0x{code:02X} ({dtype.name}) shape {shape}"


@st.composite
def split_cases(draw) -> tuple[int, list[int | float]]:
    """``(n, lengths)``: ints summing to n, or fractions w_i / Σw (whose float sum may miss 1, as in use)."""
    n = draw(st.integers(0, 150))
    k = draw(st.integers(1, 4))
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, n), min_size=k - 1, max_size=k - 1)))
        return n, [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    weights = draw(st.lists(st.integers(0, 10), min_size=k, max_size=k).filter(lambda w: sum(w) > 0))
    return n, [w / sum(weights) for w in weights]


loader_cases = st.fixed_dictionaries({
    "n": st.integers(1, 40),
    "batch_size": st.integers(1, 17),
    "shuffle": st.booleans(),
    "drop_last": st.booleans(),
    "seed": seeds,
})


@st.composite
def resize_cases(draw) -> tuple[np.ndarray, tuple[int, int], str]:
    """An input (N, C, H, W) with distinct values, an output size (down- or upsampling) and a case string."""
    dtype = draw(float_dtypes)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = (draw(st.integers(1, 30)), draw(st.integers(1, 30)))
    x = distinct_array(np.random.default_rng(draw(seeds)), (n, c, h, w), dtype)
    return x, size, f"x {x.shape} -> {size} {np.dtype(dtype).name}"
