"""The batch-norm engine (:mod:`scratch.kernels.norm`) against the reference (:mod:`scratch.functional.norm`).

The two rooms sum in different orders (the kernel in float64 per channel, the reference with NumPy's
reductions in x's dtype), so results are compared entry by entry against the size of the terms summed
into each (:func:`parity_tests.strategies.norm.term_sizes`): float64 to 1e-12 of it (round-off of a sum
of m terms is below m·eps64 ≈ 1e-13 for every m here), float32 by the reduction-length rule
(``parity.tolerance(float32, m)``). Every case runs on the kernels' serial and threaded paths
(``threads``: chunks of channels), and the evaluation batch (512) checks every channel of a large input;
a channel a thread skipped would hold garbage and fail. Dropout has no kernel: both rooms run the
reference, which :func:`test_dropout_has_no_kernel` pins.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

import scratch.functional as F
from parity_tests.parity import tolerance
from parity_tests.strategies.norm import BatchNormCase, batch_norm_case, batch_norm_cases, term_sizes
from scratch.functional import norm as reference
from scratch.kernels import norm as kernels

pytestmark = pytest.mark.backend_independent

with_fixture = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                               HealthCheck.data_too_large])


def _close(name: str, k, r, scale, case: BatchNormCase) -> None:
    assert (k is None) == (r is None), f"{name}: one room returned None | {case}"
    if k is None:
        return
    assert k.shape == r.shape and k.dtype == r.dtype == case.x.dtype, (
        f"{name}: {k.shape} {k.dtype} vs reference {r.shape} {r.dtype} | {case}")
    tol = 1e-12 if case.x.dtype == np.float64 else tolerance(np.float32, case.m)
    err = np.abs(k.astype(np.float64) - r.astype(np.float64))
    bound = tol * np.broadcast_to(scale, err.shape) + np.finfo(case.x.dtype).tiny
    bad = ~(err <= bound)  # NaN (garbage in a skipped channel) counts as bad
    assert not bad.any(), (f"{name}: kernel differs from the reference in {int(bad.sum())} of {bad.size} entries "
                           f"(worst err {err.max():.3e}, first at {np.argwhere(bad)[0]}) | {case}")


def assert_kernel_is_reference(case: BatchNormCase) -> None:
    """out, the updated running statistics, dx, dγ, dβ of the kernel against the reference."""
    k_args, r_args = case.args(), case.args()
    k_out, k_cache = kernels.batch_norm_forward(*k_args)
    r_out, r_cache = reference.batch_norm_forward(*r_args)
    assert type(k_cache).__module__ == kernels.__name__ and type(r_cache).__module__ == reference.__name__
    sizes = term_sizes(case)
    _close("batch_norm.out", k_out, r_out, sizes["out"], case)
    if case.training and case.running_mean is not None:
        _close("batch_norm.running_mean", k_args[1], r_args[1], sizes["running_mean"], case)
        _close("batch_norm.running_var", k_args[2], r_args[2], sizes["running_var"], case)
    (k_dx, k_dw, k_db), (r_dx, r_dw, r_db) = (kernels.batch_norm_backward(case.dout, k_cache),
                                              reference.batch_norm_backward(case.dout, r_cache))
    _close("batch_norm.dx", k_dx, r_dx, sizes["dx"], case)
    _close("batch_norm.dweight", k_dw, r_dw, sizes["dweight"], case)
    _close("batch_norm.dbias", k_db, r_db, sizes["dbias"], case)


@example(case=batch_norm_case((4, 3), training=True))
@example(case=batch_norm_case((3, 5, 4, 4), np.float32, training=False))
@example(case=batch_norm_case((2, 4, 7), np.float32, training=True, affine=False, running=False, offset=4.0))
@given(case=batch_norm_cases(max_side=6))
@with_fixture
def test_kernel_is_reference(case, threads):
    assert_kernel_is_reference(case)


EVAL_BATCH = 512


@pytest.mark.parametrize("case", [
    batch_norm_case((EVAL_BATCH, 9, 30, 30), np.float32, training=True, seed=1),
    batch_norm_case((EVAL_BATCH, 9, 30, 30), np.float32, training=False, seed=2),
    batch_norm_case((EVAL_BATCH, 6, 14, 14), np.float64, training=True, seed=3, offset=2.0),
    batch_norm_case((EVAL_BATCH, 36), np.float64, training=True, affine=False, seed=4),
], ids=str)
def test_kernel_is_reference_at_the_evaluation_batch(case, threads):
    """Batch 512 (18k to 4M elements): on the threaded path every chunk of channels is checked."""
    assert_kernel_is_reference(case)


def test_backward_runs_where_the_forward_ran():
    """A cache made by one room is taken back there, whatever backend is in force at the backward."""
    import scratch

    case = batch_norm_case((3, 2, 4, 4))
    for made, used, module in (("numba", "reference", kernels), ("reference", "numba", reference)):
        with scratch.backend(made):
            _, cache = F.batch_norm_forward(*case.args())
        with scratch.backend(used):
            dx = F.batch_norm_backward(case.dout, cache)[0]
        assert type(cache).__module__ == module.__name__
        assert np.array_equal(dx, module.batch_norm_backward(case.dout, cache)[0])


def test_bad_input_errors_are_the_same_in_both_rooms():
    x = np.ones((1, 3))
    for module in (kernels, reference):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            module.batch_norm_forward(x, None, None, training=True)
        with pytest.raises(ValueError, match="running_mean should contain 3 elements not 2"):
            module.batch_norm_forward(x, np.zeros(2), np.ones(2))


def test_dropout_has_no_kernel():
    import scratch
    from scratch._backend import implementation

    with scratch.backend("numba"):
        assert implementation("norm", "dropout_forward") is reference.dropout_forward
        assert implementation("norm", "batch_norm_forward") is kernels.batch_norm_forward
