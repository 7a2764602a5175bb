"""The pooling engine (:mod:`scratch.kernels.pool`) against the reference (:mod:`scratch.functional.pool`).

Both rooms compute the same float operations in the same order (max: torch's scan of the window
row-major; avg/sum: the window summed from 0 row-major in x's dtype, divided by the same divisor, dx
accumulated over the windows in output order), so their results are compared bit for bit, a stronger
check than the reduction-length tolerance. Every case runs on the kernels' serial and threaded paths
(``threads``), and the evaluation batch (512) runs every ``prange`` wrapper over several chunks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import scratch
import scratch.functional as F
from parity_tests.strategies.pool import LAYOUTS, VALUES, PoolCase, pool_case, pool_cases
from scratch.functional import pool as reference
from scratch.kernels import pool as kernels

pytestmark = pytest.mark.backend_independent

NAMES = {"max": "max_pool2d", "avg": "avg_pool2d", "sum": "sum_pool2d"}
with_fixture = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                               HealthCheck.data_too_large])


def _forward(module, case: PoolCase):
    return getattr(module, f"{NAMES[case.kind]}_forward")(case.x, **case.kwargs())


def _backward(module, case: PoolCase, cache):
    return getattr(module, f"{NAMES[case.kind]}_backward")(case.dout, cache)


def _assert_same(name: str, k: np.ndarray, r: np.ndarray, case: PoolCase) -> None:
    assert k.shape == r.shape and k.dtype == r.dtype, f"{name}: {k.shape} {k.dtype} vs reference {r.shape} {r.dtype}"
    off = ~((k == r) | (np.isnan(k) & np.isnan(r)))
    assert not off.any(), (f"{name}: kernel differs from the reference in {int(off.sum())} of {off.size} entries "
                           f"(first at {np.argwhere(off)[0]}) | {case}")


def assert_kernel_is_reference(case: PoolCase) -> None:
    """out, max pooling's indices, then dx of the kernel equal the reference's exactly, dtype included
    (the forward first: a backward over garbage indices would write out of bounds)."""
    (k_out, k_cache), (r_out, r_cache) = _forward(kernels, case), _forward(reference, case)
    assert type(k_cache).__module__ == kernels.__name__ and type(r_cache).__module__ == reference.__name__
    assert k_out.dtype == case.x.dtype, f"{case.kind}: out dtype {k_out.dtype} | {case}"
    _assert_same(f"{case.kind}_pool2d.out", k_out, r_out, case)
    if case.kind == "max":
        _assert_same("max_pool2d.indices", k_cache.indices, r_cache.indices, case)
    _assert_same(f"{case.kind}_pool2d.dx", _backward(kernels, case, k_cache), _backward(reference, case, r_cache),
                 case)


@example(case=pool_case("max", (2, 1, 7, 6), (3, 2), (2, 1), (1, 1), (2, 3), values="special"))
@example(case=pool_case("avg", (1, 2, 5, 5), 3, 2, 1, ceil_mode=True, count_include_pad=False,
                        dtype=np.float32, values="rounding"))
@example(case=pool_case("sum", (4, 6, 28, 28), 2, dtype=np.float32, values="rounding"))
@given(case=st.sampled_from(("max", "avg", "sum")).flatmap(
    lambda kind: pool_cases(kind, values=VALUES, layouts=LAYOUTS)))
@with_fixture
def test_kernel_is_reference(case, threads):
    assert_kernel_is_reference(case)


EVAL_BATCH = 512


@pytest.mark.parametrize("case", [
    pool_case("max", (EVAL_BATCH, 6, 28, 28), 2, dtype=np.float32, values="rounding"),
    pool_case("max", (EVAL_BATCH, 16, 10, 10), 2, dtype=np.float64, values="ties"),
    pool_case("max", (EVAL_BATCH, 3, 15, 15), 3, 2, 1, 2, ceil_mode=True, dtype=np.float32, values="special"),
    pool_case("avg", (EVAL_BATCH, 6, 28, 28), 2, dtype=np.float32, values="rounding"),
    pool_case("avg", (EVAL_BATCH, 4, 13, 13), 3, 2, 1, ceil_mode=True, count_include_pad=False,
              dtype=np.float32, values="rounding"),
    pool_case("sum", (EVAL_BATCH, 16, 10, 10), 2, dtype=np.float32, values="rounding"),
    pool_case("sum", (EVAL_BATCH, 6, 28, 28), (2, 3), 1, (1, 0), dtype=np.float64, values="rounding"),
], ids=lambda case: str(case))
def test_kernel_is_reference_at_the_evaluation_batch(case, threads):
    """Batch 512 (0.3M to 2.4M input elements): on the threaded path every chunk of planes is checked."""
    assert_kernel_is_reference(case)


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_backward_runs_where_the_forward_ran(kind):
    """A cache made by one room is taken back there, whatever backend is in force at the backward."""
    case = pool_case(kind, (2, 3, 6, 6), 2)
    name = NAMES[kind]
    for made, used, module in (("numba", "reference", kernels), ("reference", "numba", reference)):
        with scratch.backend(made):
            out, cache = getattr(F, f"{name}_forward")(case.x, **case.kwargs())
        with scratch.backend(used):
            dx = getattr(F, f"{name}_backward")(case.dout, cache)
        assert type(cache).__module__ == module.__name__
        assert np.array_equal(dx, getattr(module, f"{name}_backward")(case.dout, cache))
