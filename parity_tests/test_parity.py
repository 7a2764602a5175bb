"""The oracle itself: assert_parity catches what its docstring says it catches, and passes rounding."""

from __future__ import annotations

import numpy as np
import pytest

from parity_tests.parity import assert_parity, tolerance

pytestmark = pytest.mark.backend_independent


def _ref(dtype=np.float32, n: int = 1000) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rounding_passes(dtype) -> None:
    ref = _ref(dtype)
    assert_parity("x", np.nextafter(ref, np.inf), ref, "1 ulp up")
    assert_parity("x", ref, ref, "equal")


@pytest.mark.parametrize("reduction", [1, 25, 10_000])
@pytest.mark.parametrize("scale", [None, "terms"])
def test_one_entry_zeroed_and_one_sign_flipped_fail(reduction: int, scale) -> None:
    """The mutation the old normwise-only check let through (float32, a long reduction, a term-size scale)."""
    ref = _ref()
    ours = ref.copy()
    small = int(np.argsort(np.abs(ref))[100])  # an entry far below the largest, but not a rounding residue
    ours[small] = 0
    ours[small + 1] = -ours[small + 1]
    terms = np.abs(ref) * 3 if scale == "terms" else None
    with pytest.raises(AssertionError):
        assert_parity("x", ours, ref, "mutated", reduction, terms)


def test_large_reduction_scalar_scale_still_catches_a_zeroed_entry_normwise() -> None:
    """With a scalar scale as large as sqrt(K)·max|terms|, the elementwise limit is wide; the normwise
    check still sees a typical entry zeroed."""
    ref = _ref()
    ours = ref.copy()
    ours[int(np.argsort(np.abs(ref))[500])] = 0
    big = 1.5 * np.abs(ours - ref).max() / tolerance(np.float32, 10_000)  # elementwise limit above the error
    with pytest.raises(AssertionError, match="normwise"):
        assert_parity("x", ours, ref, "zeroed", 10_000, big)


def test_per_element_scale_judges_cancelled_entries_at_their_terms() -> None:
    ref = np.array([1.0, 1e-9, -2.0], dtype=np.float32)
    ours = ref + np.array([0, 1e-7, 0], dtype=np.float32)  # entry 1 cancelled from terms of size ~1
    with pytest.raises(AssertionError, match=r"at index \(1,\)"):
        assert_parity("x", ours, ref, "no scale")
    assert_parity("x", ours, ref, "terms", 4, np.array([1.0, 1.0, 2.0]))


def test_shape_dtype_and_nonfinite_pattern() -> None:
    ref = np.array([1.0, np.inf, np.nan], dtype=np.float32)
    assert_parity("x", ref.copy(), ref, "same")
    with pytest.raises(AssertionError, match="inf/nan pattern"):
        assert_parity("x", np.array([1.0, np.inf, 0.0], dtype=np.float32), ref, "nan lost")
    with pytest.raises(AssertionError, match="dtype"):
        assert_parity("x", ref.astype(np.float64), ref, "promoted")
    with pytest.raises(AssertionError, match="shape"):
        assert_parity("x", ref[:2], ref, "short")


def test_tolerance_rule() -> None:
    assert tolerance(np.float64, 10**6) == 1e-10
    assert tolerance(np.float32, 100) == pytest.approx(8 * 2.0**-23 * 10)
