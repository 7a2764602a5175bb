"""The loss kernels (:mod:`scratch.kernels.loss`) against the reference (:mod:`scratch.functional.loss`).

float64 to 1e-12 relative, float32 by the reduction-length rule (``parity.tolerance``), each entry judged
at the size of its terms (``ClassLossCase.term_sizes``; the regression losses are elementwise before their
reduction, whose scale is the sum of the absolute terms). The kernels sum sequentially where NumPy sums
pairwise, so the two differ by rounding only. Class weights are drawn positive, so W = Σ w_t does not
cancel (a cancelling W would amplify both rooms' rounding alike, proving nothing about either).
The loss kernels have no threaded path; the ``threads`` fixture still runs every case under both settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from parity_tests.parity import tolerance
from parity_tests.strategies.loss import (
    ClassLossCase,
    RegressionLossCase,
    class_case,
    class_loss_cases,
    regression_case,
    regression_loss_cases,
)
from scratch.functional import loss as reference
from scratch.kernels import loss as kernels

pytestmark = [pytest.mark.backend_independent, pytest.mark.filterwarnings("error")]
with_fixture = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                               HealthCheck.data_too_large])
TOL64 = 1e-12


def assert_close(name: str, ours: np.ndarray, ref: np.ndarray, scale, reduction: int, case) -> None:
    """Same shape, dtype and nan/inf pattern; ``|ours - ref| <= tol · scale`` entrywise (plus the smallest
    normal number), tol = 1e-12 (float64) or ``tolerance(float32, reduction)``."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (
        f"{name}: {ours.shape} {ours.dtype} vs reference {ref.shape} {ref.dtype} | {case}")
    finite = np.isfinite(ref)
    assert np.array_equal(np.isfinite(ours), finite) and np.array_equal(ours[~finite], ref[~finite],
                                                                        equal_nan=True), (
        f"{name}: inf/nan pattern differs from the reference | {case}")
    tol = TOL64 if ours.dtype == np.float64 else tolerance(ours.dtype, reduction)
    s = np.abs(ref) if scale is None else np.broadcast_to(np.asarray(scale, np.float64), ref.shape)
    err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    bound = tol * s + np.finfo(ours.dtype).tiny
    bad = finite & (err > bound)
    assert not bad.any(), (f"{name}: err {err[bad].max():.3e} > tol {tol:.1e} x scale at "
                           f"{np.argwhere(bad)[0].tolist()} | {case}")


def _run(module, case: ClassLossCase | RegressionLossCase) -> tuple[np.ndarray, np.ndarray, object]:
    kwargs = case.kwargs() if isinstance(case, ClassLossCase) else {"reduction": case.reduction}
    loss, cache = getattr(module, f"{case.op}_forward")(case.x, case.target, **kwargs)
    return loss, getattr(module, f"{case.op}_backward")(case.dout, cache), cache


def check_class(case: ClassLossCase) -> None:
    loss, dx, cache = _run(kernels, case)
    ref_loss, ref_dx, ref_cache = _run(reference, case)
    assert type(cache).__module__ == "scratch.kernels.loss"
    assert type(ref_cache).__module__ == "scratch.functional.loss"
    loss_scale, grad_scale = case.term_sizes()
    assert_close(f"{case.op}.loss", loss, ref_loss, loss_scale, case.reduction_length, case)
    assert_close(f"{case.op}.dinput", dx, ref_dx, grad_scale, case.reduction_length, case)


def check_regression(case: RegressionLossCase) -> None:
    loss, dx, cache = _run(kernels, case)
    ref_loss, ref_dx, ref_cache = _run(reference, case)
    assert type(cache).__module__ == "scratch.kernels.loss"
    assert type(ref_cache).__module__ == "scratch.functional.loss"
    terms = {"mse_loss": np.square, "l1_loss": np.abs}[case.op](case.x.astype(np.float64) - case.target)
    loss_scale = terms if case.reduction == "none" else np.nansum(terms)
    assert_close(f"{case.op}.loss", loss, ref_loss, loss_scale, case.reduction_length, case)
    assert_close(f"{case.op}.dinput", dx, ref_dx, None, 1, case)


@with_fixture
@given(case=class_loss_cases())
def test_class_losses_match_reference(case: ClassLossCase, threads: str) -> None:
    check_class(case)


@with_fixture
@given(case=regression_loss_cases())
def test_regression_losses_match_reference(case: RegressionLossCase, threads: str) -> None:
    check_regression(case)


# The evaluation batch (512) with 10 classes, every option: indices (ignored, weighted, smoothed), probabilities.
BATCH_512 = [
    ("cross_entropy", "index", False, -100, "none", "mean", 0.0),
    ("cross_entropy", "index", True, 3, "some", "sum", 0.1),
    ("cross_entropy", "index", True, -100, "some", "none", 0.25),
    ("cross_entropy", "prob", True, -100, "none", "mean", 0.2),
    ("cross_entropy", "prob", False, -100, "none", "none", 0.0),
    ("nll_loss", "index", True, 0, "some", "mean", 0.0),
    ("nll_loss", "index", False, -100, "none", "none", 0.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op, kind, weighted, ignore_index, ignore, reduction, smoothing", BATCH_512)
def test_class_losses_batch_512(threads: str, op, kind, weighted, ignore_index, ignore, reduction, smoothing,
                                dtype) -> None:
    check_class(class_case(op, 512, 10, (), kind, weighted, ignore_index, ignore, reduction, smoothing, dtype,
                           seed=512, magnitude=10.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_regression_losses_batch_512(threads: str, op: str, reduction: str, dtype) -> None:
    check_regression(regression_case(op, (512, 10), reduction, dtype, seed=512, ties=True, nans=True))


def test_spatial_class_losses_match_reference() -> None:
    """(N, C, H, W) scores, as a segmentation head makes them (the class axis moved last and back)."""
    for op in ("cross_entropy", "nll_loss"):
        check_class(class_case(op, 8, 5, (6, 7), "index", True, 2, "some", "none", 0.1, np.float64, 7))
        check_class(class_case(op, 8, 5, (6, 7), "index", True, -100, "none", "mean", 0.0, np.float32, 8))


_x, _t = np.zeros((3, 4)), np.array([0, 1, 2])
SAME_ERRORS = [
    ("cross_entropy_forward", (_x, np.array([0, 4, 7])), {}),
    ("cross_entropy_forward", (_x, np.array([0, 2**63, 1], np.uint64)), {}),
    ("cross_entropy_forward", (_x, np.array([0, 1])), {}),
    ("cross_entropy_forward", (_x, _t.astype(np.float32)), {}),
    ("cross_entropy_forward", (_x, np.zeros((3, 4))), {"ignore_index": 1}),
    ("cross_entropy_forward", (_x, _t), {"weight": np.ones(4, np.float32), "reduction": "avg"}),
    ("cross_entropy_forward", (_x, _t), {"label_smoothing": 2.0}),
    ("cross_entropy_forward", (np.zeros((2, 0)), np.array([0, 0])), {}),
    ("nll_loss_forward", (_x, np.array([-100, -3, 1])), {}),
    ("nll_loss_forward", (_x, _t), {"ignore_index": 2**64}),
    ("mse_loss_forward", (_x, _x[:1]), {}),
    ("l1_loss_forward", (_x, _x.astype(np.float32)), {}),
]


@pytest.mark.parametrize("name, args, kwargs", SAME_ERRORS, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                                  enumerate(SAME_ERRORS)])
def test_both_rooms_raise_the_same_error(name: str, args: tuple, kwargs: dict) -> None:
    errors = []
    for module in (kernels, reference):
        with pytest.raises((TypeError, ValueError)) as info:
            getattr(module, name)(*args, **kwargs)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_both_rooms_check_dout_alike(name: str) -> None:
    errors = []
    for module in (kernels, reference):
        _, cache = getattr(module, f"{name}_forward")(_x, _t, reduction="none")
        with pytest.raises(ValueError) as info:
            getattr(module, f"{name}_backward")(np.ones(2), cache)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
