"""Adam's Numba step against its NumPy reference, bit for bit (the same operations in the same order and dtype).

Runs of 1..12 steps from drawn parameters and gradients (nan, 0 and -0 included: amsgrad's max must
propagate nan like the reference), every option switch, contiguous and non-contiguous parameters (the
kernel's write-back path), float32 and float64. SGD has no kernel: its reference runs on both backends.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import scratch.functional.optim as reference
import scratch.kernels.optim as kernels
from parity_tests.strategies.optim import AdamStepCase, adam_step_cases

pytestmark = pytest.mark.backend_independent

STATE = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _run(adam_step, case: AdamStepCase) -> list[np.ndarray]:
    param = case.param.T.copy().T if case.transposed else case.param.copy()
    exp_avg, exp_avg_sq, max_exp_avg_sq = (np.zeros_like(param) for _ in range(3))
    for t, grad in enumerate(case.grads, start=1):
        adam_step(param, np.asarray(grad), exp_avg, exp_avg_sq, max_exp_avg_sq if case.amsgrad else None, float(t),
                  **case.options)
    return [param, exp_avg, exp_avg_sq, max_exp_avg_sq]


@given(case=adam_step_cases())
def test_adam_kernel_equals_reference_bit_for_bit(case):
    for name, ours, ref in zip(STATE, _run(kernels.adam_step, case), _run(reference.adam_step, case), strict=True):
        np.testing.assert_array_equal(ours, ref, strict=True, err_msg=f"adam_step {name} | case: {case}")


def test_sgd_has_no_kernel():
    assert not hasattr(kernels, "sgd_step"), "an SGD kernel needs its own kernel-vs-reference test here"


@pytest.mark.parametrize("module", [reference, kernels], ids=["reference", "numba"])
def test_adam_step_refuses_mismatched_arrays(module):
    p = np.zeros(3)
    with pytest.raises(ValueError, match=r"adam_step: expected grad of shape \(3,\), got \(2,\)"):
        module.adam_step(p, np.zeros(2), np.zeros(3), np.zeros(3), None, 1.0, lr=0.1, beta1=0.9, beta2=0.9,
                         eps=1e-8)
    with pytest.raises(TypeError, match=r"adam_step: expected exp_avg to have the dtype of param \(float64\)"):
        module.adam_step(p, np.zeros(3), np.zeros(3, np.float32), np.zeros(3), None, 1.0, lr=0.1, beta1=0.9,
                         beta2=0.9, eps=1e-8)
