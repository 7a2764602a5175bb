"""ReLU, LeakyReLU, sigmoid, tanh, scaled tanh, softmax, log-softmax (functional, modules) against torch.

Ops are called through :mod:`scratch.functional` (dispatching), so every test runs on both backends.
With finite inputs our side runs under ``np.errstate(over/divide/invalid="raise")`` and the module runs with
warnings as errors, so |x| up to 1e4 must pass without overflow or inf/nan; inputs with NaN or ±inf must
give torch's NaN and inf pattern. float32: elementwise ops use K = 1, the softmaxes K = size of ``dim``.
Backward formulas from the saved output subtract nearly equal numbers (1 - y for a saturated sigmoid,
g - Σ g·y for softmax), so each entry's scale is the size of its terms: one ulp of y (each engine rounds
its own) moves the result by eps times them, not by eps times the result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import example, given

import scratch.functional as F
from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies import distinct_array
from parity_tests.strategies.dense import ACTIVATIONS, ActivationCase, activation_cases, sigmoid_sweep
from scratch.nn.activation import LeakyReLU, LogSoftmax, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh

pytestmark = pytest.mark.filterwarnings("error")


def ours(case: ActivationCase, x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our forward output and input gradient for ``case``; floating-point errors raise for finite x."""
    forward, backward = getattr(F, f"{case.name}_forward"), getattr(F, f"{case.name}_backward")
    finite = bool(np.all(np.isfinite(x)))
    with np.errstate(**dict.fromkeys(("over", "divide", "invalid"), "raise" if finite else "ignore")):
        out, cache = forward(x, *case.args)
        return out, backward(dout, cache)


def reference(case: ActivationCase, x: torch.Tensor) -> torch.Tensor:
    fn = torch.nn.functional
    return {"relu": lambda: fn.relu(x), "leaky_relu": lambda: fn.leaky_relu(x, case.negative_slope),
            "sigmoid": lambda: torch.sigmoid(x), "tanh": lambda: torch.tanh(x),
            "scaled_tanh": lambda: 1.7159 * torch.tanh(x * (2.0 / 3.0)),  # torch_impl.models.ScaledTanh
            "softmax": lambda: torch.softmax(x, case.dim),
            "log_softmax": lambda: torch.log_softmax(x, case.dim)}[case.name]()


def backward_scale(case: ActivationCase, out: np.ndarray, dout: np.ndarray) -> np.ndarray | None:
    """Per entry, the size of the terms the backward combines (None: the default, |reference|)."""
    shape = out.shape or (1,)
    y, g = out.astype(np.float64).reshape(shape), np.abs(dout.astype(np.float64)).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = {"sigmoid": lambda: g,  # dout · (1 - y) · y: 1 - y cancels for y near 1
                 "tanh": lambda: g * (1 + y * y),  # dout · (1 - y²)
                 "scaled_tanh": lambda: g * 1.7159 * (2.0 / 3.0) * (1 + y * y),
                 "softmax": lambda: y * (g + np.sum(g * y, axis=case.dim, keepdims=True)),
                 "log_softmax": lambda: g + np.exp(y) * np.sum(g, axis=case.dim, keepdims=True),
                 }.get(case.name, lambda: None)()
    return None if scale is None else scale.reshape(out.shape)


def check_activation(case: ActivationCase) -> None:
    x, dout = case.x, case.dout
    out, dx = ours(case, x, dout)
    tx = torch.tensor(x, requires_grad=True)
    ref = reference(case, tx)
    ref.backward(torch.from_numpy(dout))
    scale = backward_scale(case, out, dout)
    if scale is not None:  # a NaN scale where torch is finite would make the check vacuous
        finite = np.isfinite(tx.grad.numpy())
        assert np.all(np.isfinite(scale[finite])), f"{case.name}.dx: scale not finite where torch is | {case}"
    assert_parity(f"{case.name}.out", out, ref, case, case.reduction)
    assert_parity(f"{case.name}.dx", dx, tx.grad, case, case.reduction, scale)


_nan_inf = np.array([np.nan, np.inf, -np.inf, 0.0, -2.5, 3.0], np.float32)


@given(case=activation_cases())
@example(case=ActivationCase.seeded("relu", (3, 4), np.float64, seed=0, zeros=True))  # ReLU'(0) = 0
@example(case=ActivationCase.seeded("relu", (), np.float32, seed=1, zeros=True))
@example(case=ActivationCase.seeded("leaky_relu", (3, 4), np.float64, seed=0, zeros=True, negative_slope=0.2))
@example(case=ActivationCase.seeded("leaky_relu", (7,), np.float32, seed=0, zeros=True, negative_slope=-0.5))
@example(case=ActivationCase.seeded("sigmoid", (4, 5), np.float32, seed=2, magnitude=1e4))  # sigmoid(-1e4) = 0
@example(case=ActivationCase.seeded("sigmoid", (4, 5), np.float64, seed=2, magnitude=1e4))
@example(case=ActivationCase.seeded("tanh", (4, 5), np.float32, seed=3, magnitude=1e4))
@example(case=ActivationCase.seeded("scaled_tanh", (4, 5), np.float32, seed=3, magnitude=30.0))
@example(case=ActivationCase.seeded("softmax", (3, 5), np.float32, seed=4, magnitude=1e4, dim=1))
@example(case=ActivationCase.seeded("log_softmax", (3, 5), np.float32, seed=4, magnitude=1e4, dim=-1))
@example(case=ActivationCase.seeded("log_softmax", (2, 3, 4), np.float64, seed=5, magnitude=1e4, dim=0))
@example(case=ActivationCase.seeded("softmax", (), np.float64, seed=6, dim=-1))  # 0-D: softmax = 1
@example(case=ActivationCase.seeded("softmax", (2, 0, 3), np.float64, seed=6, dim=1))  # empty along dim
@example(case=ActivationCase.seeded("log_softmax", (0,), np.float64, seed=6, dim=0))  # log Σ of no terms
# NaN and ±inf: NaN propagates (ReLU's gradient at NaN is dout, LeakyReLU's slope · dout), limits at ±inf
@example(case=ActivationCase("relu", _nan_inf, _nan_inf[::-1] + 7))
@example(case=ActivationCase("leaky_relu", _nan_inf, _nan_inf[::-1] + 7, negative_slope=0.0))  # -inf · 0
@example(case=ActivationCase("sigmoid", _nan_inf, _nan_inf[::-1] + 7))
@example(case=ActivationCase("scaled_tanh", _nan_inf, _nan_inf[::-1] + 7))
@example(case=ActivationCase("log_softmax", np.array([[-np.inf, 1.0, 2.0], [np.inf, 0.0, 1.0]]),
                             np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), dim=1))  # -inf: finite; +inf: NaN
def test_activation_matches_torch(case: ActivationCase) -> None:
    check_activation(case)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_at_evaluation_batch_matches_torch(name: str, threads: str) -> None:
    """Batch 512 of LeNet's first activation (the softmaxes: of its 10 scores), on the serial and the
    threaded paths: a thread that skips its part of the work fails here."""
    shape = (512, 10) if name in ("softmax", "log_softmax") else (512, 6, 28, 28)
    case = ActivationCase.seeded(name, shape, np.float32, seed=7, magnitude=4.0, zeros=True, negative_slope=0.2)
    check_activation(case)


@pytest.mark.parametrize("negative_slope", [0.01, 0.2, -0.5, 1.5])
def test_leaky_relu_float32_is_torch_bitwise(negative_slope: float, threads: str) -> None:
    """torch multiplies float32 by the slope rounded to float32: products in float64 would round differently."""
    case = ActivationCase.seeded("leaky_relu", (64, 6, 28, 28), np.float32, seed=8, magnitude=3.0, zeros=True,
                                 negative_slope=negative_slope)
    out, dx = ours(case, case.x, case.dout)
    tx = torch.tensor(case.x, requires_grad=True)
    ref = torch.nn.functional.leaky_relu(tx, negative_slope)
    ref.backward(torch.from_numpy(case.dout))
    np.testing.assert_array_equal(out, ref.detach().numpy(), err_msg=f"leaky_relu.out | {case}")
    np.testing.assert_array_equal(dx, tx.grad.numpy(), err_msg=f"leaky_relu.dx | {case}")


@given(case=activation_cases(finite_difference=True))
def test_activation_finite_differences(case: ActivationCase) -> None:
    forward = getattr(F, f"{case.name}_forward")
    _, dx = ours(case, case.x, case.dout)
    assert_finite_difference(f"{case.name}.dx", lambda v: forward(v, *case.args)[0], case.x, case.dout, dx, case)


def test_backward_uses_the_saved_output() -> None:
    x = np.array([-2.0, 0.5, 3.0])
    for name in ("sigmoid", "tanh", "softmax", "log_softmax"):
        out, cache = getattr(F, f"{name}_forward")(x, *((0,) if "softmax" in name else ()))
        assert cache.out is out, f"{name}: the cache should hold the output"
    assert F.softmax_forward(x, -1)[1].dim == 0


def test_non_contiguous_input() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3)).T
    out, _ = F.softmax_forward(x, 1)
    ref = torch.softmax(torch.tensor(x), 1)
    assert_parity("softmax.out", out, ref, "x (3, 4) transposed (non-contiguous)", reduction=4)


DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])


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
    assert_parity("sigmoid.dx", dx, tx.grad, case, scale=np.abs(dout))


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


MODULES = [ReLU, LeakyReLU, Sigmoid, Tanh, ScaledTanh, lambda: Softmax(1), lambda: LogSoftmax(1)]


@pytest.mark.parametrize("make", MODULES, ids=lambda m: repr(m()))
def test_module_backward_before_forward_is_a_clear_error(make) -> None:
    module = make()
    with pytest.raises(RuntimeError, match=f"{type(module).__name__}: backward called before forward"):
        module.backward(np.ones(3))


@pytest.mark.parametrize("dim", [True, 1.0, "1", np.int64(1)], ids=repr)
@pytest.mark.parametrize("module", ["Softmax", "LogSoftmax"])
def test_softmax_module_dim_must_be_an_int(module: str, dim) -> None:
    """torch raises TypeError at construction for a dim that is not an int (bool, float, numpy int)."""
    with pytest.raises(TypeError, match="dim must be an int or None"):
        getattr(torch.nn, module)(dim=dim)
    with pytest.raises(TypeError, match=f"{module}: dim must be an int or None, got {type(dim)}"):
        {"Softmax": Softmax, "LogSoftmax": LogSoftmax}[module](dim=dim)


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
