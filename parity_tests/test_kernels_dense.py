"""The engine against the reading room for the dense family: every activation and linear, kernel
(:mod:`scratch.kernels`) against reference (:mod:`scratch.functional`), on the serial and the threaded
paths (fixture ``threads``) and at the evaluation batch of 512, where every ``prange`` path runs.

Tolerances: float64 to 1e-12 relative to each entry's term size (both tiers round differently only in
the order of their sums and in sigmoid's own exp, within 1 ulp of NumPy's); float32 by the reduction-length
rule (``parity.tolerance``). ReLU and LeakyReLU must agree bit for bit (one comparison, one product).
NaN and inf must sit in the same places. Flatten has no kernel (the dispatcher uses the reference).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

import scratch.functional.activation as ref_activation
import scratch.functional.linear as ref_linear
import scratch.kernels.activation as kernel_activation
import scratch.kernels.linear as kernel_linear
from parity_tests.parity import tolerance
from parity_tests.strategies.dense import (
    ACTIVATIONS,
    ActivationCase,
    LinearCase,
    activation_cases,
    linear_cases,
    sigmoid_sweep,
)

pytestmark = pytest.mark.backend_independent

# the threads fixture holds for the whole test, across Hypothesis' examples
with_threads = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                               HealthCheck.data_too_large])


def assert_close(name: str, kernel: np.ndarray | None, reference: np.ndarray | None, case: object,
                 reduction: int = 1, scale: np.ndarray | None = None, exact: bool = False) -> None:
    """Kernel result equals the reference's in type, shape, dtype, NaN/inf pattern, and value: bitwise when
    ``exact``, else entrywise within tol·scale (``scale`` defaults to |reference|)."""
    if reference is None:
        assert kernel is None, f"{name}: kernel gives an array where the reference gives None | {case}"
        return
    assert type(kernel) is type(reference) is np.ndarray, f"{name}: {type(kernel)} vs {type(reference)} | {case}"
    assert kernel.shape == reference.shape, f"{name}: shape {kernel.shape} vs {reference.shape} | {case}"
    assert kernel.dtype == reference.dtype, f"{name}: dtype {kernel.dtype} vs {reference.dtype} | {case}"
    finite = np.isfinite(reference)
    assert np.array_equal(np.isfinite(kernel), finite) and np.array_equal(
        kernel[~finite], reference[~finite], equal_nan=True), f"{name}: NaN/inf pattern differs | {case}"
    if exact:
        np.testing.assert_array_equal(kernel, reference, err_msg=f"{name}: not bitwise equal | {case}")
        return
    tol = 1e-12 if reference.dtype == np.float64 else tolerance(reference.dtype, reduction)
    s = np.abs(reference) if scale is None else np.broadcast_to(scale, reference.shape)
    err = np.abs(kernel.astype(np.float64) - reference)[finite]
    bound = tol * s[finite] + float(np.finfo(reference.dtype).tiny)
    assert np.all(np.isfinite(bound)), f"{name}: scale not finite where the reference is | {case}"
    worst = int(np.argmax(err - bound)) if err.size else 0
    assert not err.size or err[worst] <= bound[worst], (
        f"{name}: kernel {kernel[finite][worst]!r} vs reference {reference[finite][worst]!r}, err "
        f"{err[worst]:.3e} > {bound[worst]:.3e} | {case}")


def activation_scales(case: ActivationCase, out: np.ndarray, dout: np.ndarray) -> tuple:
    """Per-entry term sizes of the forward and the backward (None: |reference|)."""
    shape = out.shape or (1,)
    y, g = out.astype(np.float64).reshape(shape), np.abs(dout.astype(np.float64)).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if case.name == "softmax":
            return None, (y * (g + np.sum(g * y, axis=case.dim, keepdims=True))).reshape(out.shape)
        if case.name == "log_softmax":
            x = np.atleast_1d(case.x.astype(np.float64))
            m = np.max(x, axis=case.dim, keepdims=True, initial=-np.inf)
            # (x - m) - log S: S's rounding (relative eps·K) moves log S by eps·K absolutely, hence the 1
            out_terms = np.abs(x - m) + np.abs(np.log(np.sum(np.exp(x - m), axis=case.dim, keepdims=True))) + 1
            back = g + np.exp(y) * np.sum(g, axis=case.dim, keepdims=True)
            return out_terms.reshape(out.shape), back.reshape(out.shape)
    terms = {"sigmoid": g, "tanh": g * (1 + y * y), "scaled_tanh": g * 1.7159 * (2 / 3) * (1 + y * y)}
    back = terms.get(case.name)
    return None, None if back is None else back.reshape(out.shape)


def check_activation(case: ActivationCase) -> None:
    outs, grads, caches = [], [], []
    for module in (kernel_activation, ref_activation):
        with np.errstate(all="ignore"):
            out, cache = getattr(module, f"{case.name}_forward")(case.x, *case.args)
            grads.append(getattr(module, f"{case.name}_backward")(case.dout, cache))
        outs.append(out)
        caches.append(cache)
    for module, cache in zip((kernel_activation, ref_activation), caches, strict=True):
        assert type(cache).__module__ == module.__name__, f"{case.name}: cache {type(cache)} not {module.__name__}'s"
        assert type(cache).__name__ == type(caches[1]).__name__ and cache._fields == caches[1]._fields
    exact = case.name in ("relu", "leaky_relu")
    out_scale, dx_scale = activation_scales(case, outs[1], case.dout)
    assert_close(f"{case.name}.out", outs[0], outs[1], case, case.reduction, out_scale, exact)
    assert_close(f"{case.name}.dx", grads[0], grads[1], case, case.reduction, dx_scale, exact)


@with_threads
@given(case=activation_cases())
@example(case=ActivationCase.seeded("softmax", (2, 0, 3), np.float32, seed=1, dim=1))
@example(case=ActivationCase.seeded("log_softmax", (), np.float64, seed=1))
def test_activation_kernel_matches_reference(case: ActivationCase, threads: str) -> None:
    check_activation(case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_kernel_at_evaluation_batch(name: str, dtype, threads: str) -> None:
    """Batch 512 of LeNet's first activation (the softmaxes: of its scores, along either dim): every range of
    every thread is compared with the reference."""
    shapes = [(512, 10)] if "softmax" in name else [(512, 6, 28, 28), (511, 7, 3)]
    for shape in shapes:
        for dim in ((0, 1) if "softmax" in name else (-1,)):
            check_activation(ActivationCase.seeded(name, shape, dtype, seed=2, magnitude=6.0, zeros=True,
                                                   negative_slope=0.2, dim=dim))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_sigmoid_kernel_over_the_sweep(dtype, threads: str) -> None:
    """Every regime of exp(-|x|) (subnormal results, underflow to 0, ±inf, NaN) against the reference."""
    x = sigmoid_sweep(dtype)
    case = ActivationCase("sigmoid", x, np.linspace(-1, 1, x.size).astype(dtype))
    check_activation(case)


# -- linear -----------------------------------------------------------------------------------------
def check_linear(case: LinearCase) -> None:
    results = []
    for module in (kernel_linear, ref_linear):
        out, cache = module.linear_forward(case.x, case.w, case.b)
        assert type(cache).__module__ == module.__name__, f"linear: cache {type(cache)} not {module.__name__}'s"
        results.append((out, *module.linear_backward(case.dout, cache), module.linear_backward(
            case.dout, cache, input_grad=False)[0]))
    ax, aw, ad = (np.abs(a.astype(np.float64)) for a in (case.x, case.w, case.dout))
    rows_x, rows_d = ax.reshape(case.rows, case.in_features), ad.reshape(case.rows, case.out_features)
    scales = {"out": (case.in_features, ax @ aw.T + (0 if case.b is None else np.abs(case.b))),
              "dx": (case.out_features, ad @ aw), "dweight": (case.rows, rows_d.T @ rows_x),
              "dbias": (case.rows, rows_d.sum(axis=0)), "dx(input_grad=False)": (1, None)}
    for (name, (reduction, scale)), kernel, reference in zip(scales.items(), *results, strict=True):
        assert_close(f"linear.{name}", kernel, reference, case, reduction, scale)


@with_threads
@given(case=linear_cases())
@example(case=LinearCase.seeded((3, 2), 0, 4, True, np.float32, seed=1))  # in_features 0: out = bias
@example(case=LinearCase.seeded((5,), 3, 0, True, np.float64, seed=1))  # out_features 0
def test_linear_kernel_matches_reference(case: LinearCase, threads: str) -> None:
    check_linear(case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch, in_features, out_features", [((512,), 400, 120), ((512,), 120, 84),
                                                              ((512,), 84, 10), ((3, 171), 130, 121)])
def test_linear_kernel_at_evaluation_batch(batch, in_features, out_features, dtype, threads: str) -> None:
    """LeNet-5's layers at batch 512 (and an odd row count): every thread's block of rows is compared."""
    check_linear(LinearCase.seeded(batch, in_features, out_features, True, dtype, seed=3, magnitude=2.0))


# -- identical errors -------------------------------------------------------------------------------
_x = np.ones((2, 3))
BAD_CALLS = {
    "relu-list": ("relu_forward", ([1.0],)),
    "sigmoid-int": ("sigmoid_forward", (np.ones(3, np.int32),)),
    "leaky-slope-bool": ("leaky_relu_forward", (_x, True)),
    "scaled-tanh-slope-str": ("scaled_tanh_forward", (_x, 1.7, "2/3")),
    "softmax-dim-range": ("softmax_forward", (_x, 2)),
    "log-softmax-dim-float": ("log_softmax_forward", (_x, 1.0)),
    "linear-in-features": ("linear_forward", (_x, np.ones((4, 2)))),
    "linear-bias-dtype": ("linear_forward", (_x, np.ones((4, 3)), np.ones(4, np.float32))),
}


@pytest.mark.parametrize("name, args", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_kernel_and_reference_raise_the_same_error(name: str, args: tuple) -> None:
    family = "linear" if name.startswith("linear") else "activation"
    messages = []
    for package in ("scratch.kernels", "scratch.functional"):
        module = {"scratch.kernels": {"linear": kernel_linear, "activation": kernel_activation},
                  "scratch.functional": {"linear": ref_linear, "activation": ref_activation}}[package][family]
        with pytest.raises((TypeError, ValueError)) as info:
            getattr(module, name)(*args)
        messages.append((type(info.value), str(info.value)))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("op", ["relu", "sigmoid", "tanh", "softmax"])
def test_backward_errors_are_identical(op: str) -> None:
    args = (1,) if op == "softmax" else ()
    messages = []
    for module in (kernel_activation, ref_activation):
        cache = getattr(module, f"{op}_forward")(_x, *args)[1]
        with pytest.raises((TypeError, ValueError)) as info:
            getattr(module, f"{op}_backward")(np.ones((2, 3), np.float32), cache)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and f"{op}_backward: expected dout to have the dtype" in messages[0]


# -- sigmoid's own exp ------------------------------------------------------------------------------
MAX_EXP_ULP = 2  # measured on the sweeps: 1 in float32 and in float64


@numba.njit
def _exp_nonpositive_array(t: np.ndarray, out: np.ndarray) -> None:
    for i in range(t.shape[0]):
        out[i] = kernel_activation._exp_nonpositive(t[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_sigmoid_exp_is_within_2_ulp_of_numpy(dtype) -> None:
    """exp(t), t = -|x| over the sweep, against np.exp in float64 rounded to ``dtype``; 0 exactly where that is."""
    x = sigmoid_sweep(dtype)
    t = -np.abs(x[~np.isnan(x)])
    ours = np.empty_like(t)
    _exp_nonpositive_array(t, ours)
    ref = np.exp(t.astype(np.float64)).astype(dtype)
    ulps = np.abs(ours.astype(np.float64) - ref) / np.spacing(ref).astype(np.float64)
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= MAX_EXP_ULP, (f"exp({t[worst]!r}) = {ours[worst]!r}, np.exp gives {ref[worst]!r}: "
                                        f"{ulps[worst]} ulp > {MAX_EXP_ULP}")
    assert np.all(ours[ref == 0] == 0), "exp should round to exactly 0 where np.exp does"
    specials = np.array([0.0, -0.0, -np.inf, np.nan], dtype)
    out = np.empty_like(specials)
    _exp_nonpositive_array(specials, out)
    np.testing.assert_array_equal(out, np.array([1.0, 1.0, 0.0, np.nan], dtype))
