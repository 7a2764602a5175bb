"""The affine warp's Numba kernels against the NumPy reference, bit for bit.

Both compute the source point in the image dtype in torch's order of operations, the last step rounded
once (LLVM's fma in the kernel, an exact split in the reference), and sample with the same formulas, so
every output pixel is identical, nan and inf included (asserted with ``assert_array_equal``, which also
treats -0 and +0 as equal: the zero padding may differ in the sign of a zero). Drawn cases cover right
angles and scales 0.5 / 2 (points on pixel boundaries), per-image and shared matrices, both
interpolations, fills and the fill mask; the ``threads`` fixture runs each on the serial and the threaded
path, and a 512-image batch (the evaluation batch) is split over every thread.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

import scratch.functional.augment as reference
import scratch.kernels.augment as kernels
from parity_tests.strategies import distinct_array, seeds
from parity_tests.strategies.augment import angles, describe, scales, shears, translates, warp_cases

pytestmark = pytest.mark.backend_independent

# the threads fixture sets the thresholds once for all examples of a test (no per-example state)
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _matrices(params: dict) -> np.ndarray:
    return reference.inverse_affine_matrices(params["angle"], params["translate"], params["scale"],
                                             params["shear"], params["center"])


@fixture_ok
@given(case=warp_cases())
@example(case={"x": np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 16,
               "params": {"angle": [0.0], "translate": [(0, 0)], "scale": [0.5], "shear": [(0.0, 0.0)],
                          "center": (0.0, 0.0)}, "interpolation": "nearest", "fill": [0.5], "use_mask": True})
@example(case={"x": np.where(np.eye(6) > 0, np.nan, 0.5).reshape(1, 1, 6, 6),
               "params": {"angle": [0.0], "translate": [(-0.5, -0.5)], "scale": [1.0], "shear": [(0.0, 0.0)],
                          "center": (0.0, 0.0)}, "interpolation": "bilinear", "fill": [0.25], "use_mask": True})
def test_affine_warp_kernel_equals_reference(case, threads):
    matrices = _matrices(case["params"])
    args = (case["x"], matrices, case["interpolation"], case["fill"], case["use_mask"])
    ours, ref = kernels.affine_warp(*args), reference.affine_warp(*args)
    np.testing.assert_array_equal(ours, ref, strict=True, err_msg=f"affine_warp [{threads}] | {describe(case)}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_affine_warp_evaluation_batch(dtype, interpolation, threads):
    """512 images of 28×28, one parameter set each: the threaded path splits them over every thread."""
    rng = np.random.default_rng(512)
    x = distinct_array(rng, (512, 1, 28, 28), dtype, 0.0, 1.0)
    matrices = reference.inverse_affine_matrices(rng.uniform(-30, 30, 512), rng.integers(-3, 4, (512, 2)),
                                                 rng.uniform(0.8, 1.2, 512), rng.uniform(-10, 10, (512, 2)))
    args = (x, matrices, interpolation, np.float64(0.25), True)
    ours, ref = kernels.affine_warp(*args), reference.affine_warp(*args)
    np.testing.assert_array_equal(ours, ref, strict=True, err_msg=f"affine_warp N=512 {interpolation} [{threads}]")


@given(angle=angles, translate=translates, scale=scales, shear=shears, seed=seeds)
def test_inverse_affine_matrices_kernel_equals_reference(angle, translate, scale, shear, seed):
    shear_pair = (shear, 0.0) if np.ndim(shear) == 0 else (shear * 2)[:2]
    rng = np.random.default_rng(seed)
    args = (np.array([angle, -angle]), np.array([translate, translate[::-1]], dtype=np.float64),
            np.array([scale, 1 / scale]), np.array([shear_pair, shear_pair[::-1]]), tuple(rng.uniform(-5, 5, 2)))
    np.testing.assert_array_equal(kernels.inverse_affine_matrices(*args), reference.inverse_affine_matrices(*args),
                                  strict=True, err_msg=f"inverse_affine_matrices {args}")


BAD = [
    (lambda m: m.affine_warp(np.zeros((4, 4)), np.zeros((1, 6))), ValueError, "affine_warp: expected x to be 4-D"),
    (lambda m: m.affine_warp(np.zeros((2, 1, 4, 4)), np.zeros((3, 6))), ValueError, r"\(1, 6\) or \(2, 6\)"),
    (lambda m: m.affine_warp(np.zeros((1, 2, 4, 4)), np.zeros((1, 6)), fill=[0, 0, 0]), ValueError,
     "expected 2 fill values"),
    (lambda m: m.affine_warp(np.zeros((1, 1, 4, 4)), np.zeros((1, 6)), "bicubic"), ValueError, "interpolation"),
    (lambda m: m.affine_warp(np.zeros((1, 1, 4, 4), np.int64), np.zeros((1, 6))), TypeError, "float32 or float64"),
    (lambda m: m.inverse_affine_matrices([np.inf], [[0, 0]], [1], [[0, 0]]), ValueError, "finite angles"),
    (lambda m: m.inverse_affine_matrices([0], [[0, 0]], [0], [[0, 0]]), ValueError, "scale must be positive"),
    (lambda m: m.inverse_affine_matrices([0, 1], [[0, 0]], [1, 1], [[0, 0]] * 2), ValueError, "2 parameter sets"),
]


@pytest.mark.parametrize("module", [reference, kernels], ids=["reference", "numba"])
@pytest.mark.parametrize(("call", "error", "match"), BAD, ids=[b[2] for b in BAD])
def test_bad_input_raises_the_same_on_both(module, call, error, match):
    with pytest.raises(error, match=match):
        call(module)
