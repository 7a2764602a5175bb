"""ReLU, LeakyReLU, sigmoid, tanh, scaled tanh, softmax, log-softmax (functional, modules) against torch.

Our side runs under ``np.errstate(over/divide/invalid="raise")`` and the module runs with warnings as
errors, so |x| up to 1e4 must pass without overflow or inf/nan. float32: elementwise ops use K = 1, the
softmaxes K = size of ``dim``. Backward formulas from the saved output subtract nearly equal numbers
(1 - y for a saturated sigmoid, g - Σ g·y for softmax), so their scale is the size of those terms: one
ulp of y (each engine rounds its own) moves the result by eps times it, not by eps times the result.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
import torch
from hypothesis import assume, example, given

from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies import distinct_array
from parity_tests.strategies.dense import ActivationCase, activation_cases, sigmoid_sweep
from scratch.functional import activation as F
from scratch.nn.activation import LeakyReLU, LogSoftmax, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh

pytestmark = pytest.mark.filterwarnings("error")


def ours(case: ActivationCase, x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our forward output and input gradient for ``case``, with floating-point errors raised."""
    forward, backward = getattr(F, f"{case.name}_forward"), getattr(F, f"{case.name}_backward")
    args = {"leaky_relu": (case.negative_slope,), "softmax": (case.dim,), "log_softmax": (case.dim,)}
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = forward(x, *args.get(case.name, ()))
        return out, backward(dout, cache)


def reference(case: ActivationCase, x: torch.Tensor) -> torch.Tensor:
    fn = torch.nn.functional
    return {"relu": lambda: fn.relu(x), "leaky_relu": lambda: fn.leaky_relu(x, case.negative_slope),
            "sigmoid": lambda: torch.sigmoid(x), "tanh": lambda: torch.tanh(x),
            "scaled_tanh": lambda: 1.7159 * torch.tanh(x * (2.0 / 3.0)),  # torch_impl.models.ScaledTanh
            "softmax": lambda: torch.softmax(x, case.dim),
            "log_softmax": lambda: torch.log_softmax(x, case.dim)}[case.name]()


def backward_scale(case: ActivationCase, out: np.ndarray, dout: np.ndarray) -> float | None:
    """Size of the terms the backward combines (None: the default, max |reference|)."""
    shape = out.shape or (1,)
    y, g = out.astype(np.float64).reshape(shape), np.abs(dout.astype(np.float64)).reshape(shape)
    if y.size == 0:
        return None
    if case.name in ("sigmoid", "tanh"):
        return float(np.max(g))
    if case.name == "scaled_tanh":
        return float(np.max(g)) * 1.7159 * 2.0 / 3.0
    axis = case.dim
    if case.name == "softmax":
        return float(np.max(y * (g + np.sum(g * y, axis=axis, keepdims=True))))
    if case.name == "log_softmax":
        return float(np.max(g + np.exp(y) * np.sum(g, axis=axis, keepdims=True)))
    return None


def check_activation(case: ActivationCase) -> None:
    a = case.arrays()
    x, dout = a["x"], a["dout"]
    out, dx = ours(case, x, dout)
    tx = torch.tensor(x, requires_grad=True)
    ref = reference(case, tx)
    ref.backward(torch.from_numpy(dout))
    assert_parity(f"{case.name}.out", out, ref, case, case.reduction)
    assert_parity(f"{case.name}.dx", dx, tx.grad, case, case.reduction, backward_scale(case, out, dout))


@given(case=activation_cases())
@example(case=ActivationCase("relu", (3, 4), np.float64, seed=0, zeros=True))  # ReLU'(0) = 0
@example(case=ActivationCase("relu", (), np.float32, seed=1, zeros=True))
@example(case=ActivationCase("leaky_relu", (3, 4), np.float64, seed=0, zeros=True, negative_slope=0.2))
@example(case=ActivationCase("leaky_relu", (7,), np.float32, seed=0, zeros=True, negative_slope=-0.5))
@example(case=ActivationCase("sigmoid", (4, 5), np.float32, seed=2, magnitude=1e4))  # sigmoid(-1e4) = 0
@example(case=ActivationCase("sigmoid", (4, 5), np.float64, seed=2, magnitude=1e4))
@example(case=ActivationCase("tanh", (4, 5), np.float32, seed=3, magnitude=1e4))
@example(case=ActivationCase("scaled_tanh", (4, 5), np.float32, seed=3, magnitude=30.0))
@example(case=ActivationCase("softmax", (3, 5), np.float32, seed=4, magnitude=1e4, dim=1))
@example(case=ActivationCase("log_softmax", (3, 5), np.float32, seed=4, magnitude=1e4, dim=-1))
@example(case=ActivationCase("log_softmax", (2, 3, 4), np.float64, seed=5, magnitude=1e4, dim=0))
@example(case=ActivationCase("softmax", (), np.float64, seed=6, dim=-1))  # 0-D: softmax = 1
@example(case=ActivationCase("softmax", (2, 0, 3), np.float64, seed=6, dim=1))  # empty along dim
def test_activation_matches_torch(case: ActivationCase) -> None:
    check_activation(case)


@given(case=activation_cases(finite_difference=True))
def test_activation_finite_differences(case: ActivationCase) -> None:
    a = case.arrays()
    x, dout = a["x"], a["dout"]
    if case.name in ("relu", "leaky_relu"):
        assume(np.all(np.abs(x) > 1e-4))  # away from the kink at 0
    forward = getattr(F, f"{case.name}_forward")
    args = {"leaky_relu": (case.negative_slope,), "softmax": (case.dim,), "log_softmax": (case.dim,)}
    _, dx = ours(case, x, dout)
    assert_finite_difference(f"{case.name}.dx", lambda v: forward(v, *args.get(case.name, ()))[0], x, dout,
                             dx, case)


def test_backward_uses_the_saved_output() -> None:
    x = np.array([-2.0, 0.5, 3.0])
    for name in ("sigmoid", "tanh"):
        out, cache = getattr(F, f"{name}_forward")(x)
        assert cache is out, f"{name}: the cache should be the output"
    out, (saved, dim) = F.softmax_forward(x, 0)
    assert saved is out and dim == 0


def test_non_contiguous_input() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3)).T
    out, _ = F.softmax_forward(x, 1)
    ref = torch.softmax(torch.tensor(x), 1)
    assert_parity("softmax.out", out, ref, "x (3, 4) transposed (non-contiguous)")



# -- sigmoid's own exp ------------------------------------------------------------------------------
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
MAX_EXP_ULP = 2  # measured on the sweeps: 1 in float32 and in float64


@numba.njit
def _exp_nonpositive_array(t: np.ndarray, out: np.ndarray) -> None:
    for i in range(t.shape[0]):
        out[i] = F._exp_nonpositive(t[i])


@DTYPES
def test_sigmoid_sweep_matches_torch(dtype) -> None:
    x = sigmoid_sweep(dtype)
    dout = distinct_array(np.random.default_rng(0), x.shape, dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = F.sigmoid_forward(x)
        dx = F.sigmoid_backward(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.sigmoid(tx)
    ref.backward(torch.from_numpy(dout))
    case = f"sigmoid dense sweep x{x.shape} {np.dtype(dtype).name} (thresholds of exp(-|x|), specials)"
    assert_parity("sigmoid.out", out, ref, case)
    assert_parity("sigmoid.dx", dx, tx.grad, case, scale=float(np.max(np.abs(dout))))


@DTYPES
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

# -- modules --------------------------------------------------------------------------------------
class _TorchScaledTanh(torch.nn.Module):
    """The reference of :class:`ScaledTanh` (as ``torch_impl.models.ScaledTanh``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


@pytest.mark.parametrize("ours_module, torch_module", [
    (ReLU(), torch.nn.ReLU()), (ReLU(inplace=True), torch.nn.ReLU()),
    (LeakyReLU(), torch.nn.LeakyReLU()), (LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
    (Sigmoid(), torch.nn.Sigmoid()), (Tanh(), torch.nn.Tanh()), (ScaledTanh(), _TorchScaledTanh()),
    (Softmax(dim=1), torch.nn.Softmax(dim=1)), (LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)),
], ids=repr)
def test_module_matches_torch(ours_module, torch_module) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    x[0, 0] = 0.0
    dout = rng.normal(size=(3, 4)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ref = torch_module(tx)
    ref.backward(torch.from_numpy(dout))
    case = repr(ours_module)
    assert_parity(f"{case}.out", ours_module(x), ref, case, reduction=4)
    assert_parity(f"{case}.dx", ours_module.backward(dout), tx.grad, case, reduction=4)
    assert list(ours_module.named_parameters()) == []


@pytest.mark.parametrize("shape", [(), (5,), (2, 5), (2, 3, 4), (2, 3, 4, 2)])
@pytest.mark.parametrize("module", ["Softmax", "LogSoftmax"])
def test_softmax_module_implicit_dim_matches_torch(shape, module) -> None:
    x = np.random.default_rng(2).normal(size=shape)
    ours_module = {"Softmax": Softmax, "LogSoftmax": LogSoftmax}[module]()
    with pytest.warns(UserWarning, match="implicit dimension choice"):
        out = ours_module(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(torch.nn, module)()(torch.tensor(x))
    assert_parity(f"{module}().out", out, ref, f"{module}(dim=None) x{shape}")


def test_module_reprs() -> None:
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(Softmax(dim=1)) == "Softmax(dim=1)" and repr(LogSoftmax()) == "LogSoftmax(dim=None)"
    assert repr(ReLU()) == "ReLU()"


# -- bad inputs -----------------------------------------------------------------------------------
_x = np.ones((2, 3))


BAD_INPUTS = {
    "not-array": (lambda: F.relu_forward([1.0]), TypeError, "relu: expected input to be a numpy.ndarray"),
    "int-input": (lambda: F.sigmoid_forward(np.ones(3, np.int32)),
                  TypeError, "sigmoid: expected input of dtype float"),
    "float16-input": (lambda: F.tanh_forward(np.ones(3, np.float16)),
                      TypeError, "tanh: expected input of dtype float"),
    "scaled-tanh-amplitude-str": (lambda: F.scaled_tanh_forward(_x, "1.7"),
                                  TypeError, "scaled_tanh: expected amplitude to be a real number"),
    "slope-str": (lambda: F.leaky_relu_forward(_x, "0.1"),
                  TypeError, "leaky_relu: expected negative_slope to be a real"),
    "softmax-dim-range": (lambda: F.softmax_forward(_x, 2),
                          ValueError, r"softmax: dim out of range.*\[-2, 1\].*got 2"),
    "log-softmax-dim-range": (lambda: F.log_softmax_forward(_x, -3),
                              ValueError, "log_softmax: dim out of range"),
    "softmax-dim-none": (lambda: F.softmax_forward(_x, None),
                         TypeError, "softmax: expected dim to be an int"),
    "relu-dout-shape": (lambda: F.relu_backward(np.ones((3, 2)), F.relu_forward(_x)[1]),
                        ValueError, r"relu_backward: expected dout of shape \(2, 3\)"),
    "sigmoid-dout-dtype": (lambda: F.sigmoid_backward(np.ones((2, 3), np.float32), F.sigmoid_forward(_x)[1]),
                           TypeError, "sigmoid_backward: expected dout to have the dtype"),
    "softmax-dout-shape": (lambda: F.softmax_backward(np.ones(6), F.softmax_forward(_x, 1)[1]),
                           ValueError, "softmax_backward: expected dout of shape"),
}


@pytest.mark.parametrize("call, error, match", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
