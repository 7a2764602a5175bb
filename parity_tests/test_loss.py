"""cross_entropy, nll_loss, mse_loss, l1_loss (functional and modules) against torch autograd, on both backends.

Our side runs under ``np.errstate(over/divide/invalid="raise")`` (the one intended 0/0, a mean over zero
total weight, is nan silently in both engines), so logits up to 1e4 must not overflow. float32: K = all
elements reduced for 'mean'/'sum', K = C (class-score losses) or 1 (regression losses) for 'none'.
The class-score scales are per entry (``ClassLossCase.term_sizes``): the input gradient dlogp - softmax ·
Σ_c dlogp cancels to near 0 on confidently right rows, so each entry is judged at the size of its terms;
the loss at the size of the log-softmax's parts (x, the row's max, the log-sum). The regression losses are
elementwise before their reduction.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given

import scratch.functional as F
from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies.loss import (
    ClassLossCase,
    RegressionLossCase,
    class_case,
    class_loss_cases,
    regression_case,
    regression_loss_cases,
)
from scratch.nn.loss import CrossEntropyLoss, L1Loss, MSELoss, NLLLoss

pytestmark = pytest.mark.filterwarnings("error")
CL, RL = class_case, regression_case


def _tensor(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a))


def _kwargs(case: ClassLossCase | RegressionLossCase) -> dict:
    return case.kwargs() if isinstance(case, ClassLossCase) else {"reduction": case.reduction}


def ours(case: ClassLossCase | RegressionLossCase) -> tuple[np.ndarray, np.ndarray]:
    """Our loss and input gradient for ``case`` (through the dispatching namespace), FP errors raised."""
    forward, backward = getattr(F, f"{case.op}_forward"), getattr(F, f"{case.op}_backward")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, cache = forward(case.x, case.target, **_kwargs(case))
        return loss, backward(case.dout, cache)


def reference(case: ClassLossCase | RegressionLossCase) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's loss and input gradient for ``case``."""
    x = torch.tensor(case.x, requires_grad=True)
    kwargs = _kwargs(case)
    if "weight" in kwargs:
        kwargs["weight"] = _tensor(kwargs["weight"])
    loss = getattr(torch.nn.functional, case.op)(x, _tensor(case.target), **kwargs)
    loss.backward(_tensor(case.dout))
    return loss, x.grad


def check_class_loss(case: ClassLossCase) -> None:
    loss, dx = ours(case)
    ref_loss, ref_dx = reference(case)
    loss_scale, grad_scale = case.term_sizes()
    assert_parity(f"{case.op}.loss", loss, ref_loss, case, case.reduction_length, loss_scale)
    assert_parity(f"{case.op}.dinput", dx, ref_dx, case, case.reduction_length, grad_scale)


@given(case=class_loss_cases())
# every target ignored: 'mean' is nan (0/0) with a zero gradient, 'sum' is 0, as torch
@example(case=CL("cross_entropy", 4, 3, (), "index", False, -100, "all", "mean", 0.0, np.float64, 0))
@example(case=CL("cross_entropy", 4, 3, (2,), "index", True, 1, "all", "mean", 0.2, np.float32, 1))
@example(case=CL("nll_loss", 4, 3, (), "index", True, -100, "all", "mean", 0.0, np.float64, 2))
@example(case=CL("cross_entropy", 4, 3, (), "index", True, -100, "all", "sum", 0.3, np.float64, 3))
@example(case=CL("nll_loss", 3, 4, (), "index", False, 2, "all", "sum", 0.0, np.float32, 4))
# label smoothing with class weights and some ignored targets
@example(case=CL("cross_entropy", 5, 4, (), "index", True, 0, "some", "mean", 0.3, np.float64, 5))
@example(case=CL("cross_entropy", 2, 4, (3,), "index", True, -100, "some", "none", 1.0, np.float32, 6))
# class-probability targets, weighted, smoothed, K-dimensional and unbatched
@example(case=CL("cross_entropy", 3, 4, (), "prob", True, -100, "none", "mean", 0.25, np.float64, 7))
@example(case=CL("cross_entropy", 2, 3, (2, 2), "prob", False, -1, "none", "sum", 0.0, np.float32, 8))
@example(case=CL("cross_entropy", None, 5, (), "prob", True, -100, "none", "none", 0.1, np.float64, 9))
@example(case=CL("cross_entropy", None, 5, (), "index", True, -100, "none", "mean", 0.1, np.float32, 10))
# logits spread over ±1e4: no overflow, finite log-probabilities
@example(case=CL("cross_entropy", 4, 6, (), "index", False, -100, "none", "mean", 0.1, np.float32, 11,
                 magnitude=1e4))
@example(case=CL("cross_entropy", 4, 6, (), "prob", True, -100, "none", "none", 0.0, np.float64, 12,
                 magnitude=1e4))
# an empty batch: 'mean' is nan as in torch
@example(case=CL("cross_entropy", 0, 3, (), "prob", False, -100, "none", "mean", 0.0, np.float64, 13))
def test_class_loss_matches_torch(case: ClassLossCase) -> None:
    check_class_loss(case)


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("smoothing", [0.0, 0.4])
def test_negative_class_weights_match_torch(op: str, smoothing: float) -> None:
    """torch allows negative class weights, so a negative total weight W for the mean."""
    case = CL(op, 5, 3, (), "index", True, -100, "none", "mean", smoothing if op == "cross_entropy" else 0.0,
              np.float64, 2)
    weight = np.array([-1.5, 0.5, -0.75])
    check_class_loss(ClassLossCase(op, case.x, np.array([0, 2, 1, 0, 2]), weight, case.dout,
                                   reduction="mean", label_smoothing=case.label_smoothing))


@given(case=class_loss_cases(finite_difference=True))
def test_class_loss_finite_differences(case: ClassLossCase) -> None:
    loss, dx = ours(case)
    assume(np.all(np.isfinite(loss)))  # not the nan mean over zero total weight
    forward = getattr(F, f"{case.op}_forward")
    assert_finite_difference(f"{case.op}.dinput", lambda v: forward(v, case.target, **case.kwargs())[0], case.x,
                             case.dout, dx, case)


def check_regression_loss(case: RegressionLossCase) -> None:
    loss, dx = ours(case)
    ref_loss, ref_dx = reference(case)
    assert_parity(f"{case.op}.loss", loss, ref_loss, case, case.reduction_length)
    assert_parity(f"{case.op}.dinput", dx, ref_dx, case)  # elementwise: (2/n)·diff·dout, sign(diff)·dout/n


@given(case=regression_loss_cases())
@example(case=RL("l1_loss", (3, 4), "none", np.float64, 0, ties=True))  # L1'(0) = 0
@example(case=RL("l1_loss", (7,), "mean", np.float32, 1, ties=True))
@example(case=RL("mse_loss", (3, 4), "sum", np.float64, 2, ties=True))
@example(case=RL("mse_loss", (0, 3), "mean", np.float32, 3))  # empty mean: nan, as torch
@example(case=RL("mse_loss", (), "none", np.float64, 4))
@example(case=RL("mse_loss", (4, 5), "mean", np.float32, 5, magnitude=1e4))
# a nan input: L1's gradient there is 0 (torch.sign(nan) = 0), MSE's is nan
@example(case=RL("l1_loss", (2, 5), "none", np.float32, 6, nans=True))
@example(case=RL("l1_loss", (9,), "mean", np.float64, 7, ties=True, nans=True))
@example(case=RL("mse_loss", (2, 3), "sum", np.float64, 8, nans=True))
def test_regression_loss_matches_torch(case: RegressionLossCase) -> None:
    check_regression_loss(case)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_l1_gradient_at_nan_is_zero_like_torch(reduction: str) -> None:
    """torch.sign(nan) = 0, so L1's gradient is 0 wherever input or target is nan (the loss stays nan)."""
    x = np.array([np.nan, 1.0, 2.0, -3.0, 0.5], np.float32)
    target = np.array([0.0, np.nan, 2.0, 1.0, np.nan], np.float32)
    dout = np.linspace(0.5, 1.5, 5, dtype=np.float32) if reduction == "none" else np.asarray(1.5, np.float32)
    case = RegressionLossCase("l1_loss", x, target, dout, reduction)
    loss, dx = ours(case)
    np.testing.assert_array_equal(dx[[0, 1, 2, 4]], 0)
    check_regression_loss(case)


@given(case=regression_loss_cases(finite_difference=True))
def test_regression_loss_finite_differences(case: RegressionLossCase) -> None:
    if case.op == "l1_loss":
        assume(np.all(np.abs(case.x - case.target) > 1e-4))  # away from the kink at input == target
    _, dx = ours(case)
    forward = getattr(F, f"{case.op}_forward")
    assert_finite_difference(f"{case.op}.dinput", lambda v: forward(v, case.target, case.reduction)[0],
                             case.x, case.dout, dx, case)


def test_zero_total_weight_gives_nan_like_torch() -> None:
    """Weights of the present classes all 0: the mean is 0/0 = nan, and so is every non-ignored row's grad."""
    x = np.random.default_rng(0).normal(size=(3, 4))
    target, weight = np.array([0, -100, 1]), np.array([0.0, 0.0, 1.0, 2.0])
    for smoothing in (0.0, 0.3):
        case = ClassLossCase("cross_entropy", x, target, weight, np.asarray(1.5), label_smoothing=smoothing)
        loss, dx = ours(case)
        ref_loss, ref_dx = reference(case)
        assert_parity("cross_entropy.loss", loss, ref_loss, case)
        assert_parity("cross_entropy.dinput", dx, ref_dx, case)


def test_integer_target_dtypes_and_scalar_target() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    ref = F.cross_entropy_forward(x, np.array([0, 3, 1], np.int64))[0]
    for dtype in (np.int32, np.uint8, np.int16, np.uint64):
        np.testing.assert_array_equal(F.cross_entropy_forward(x, np.array([0, 3, 1], dtype))[0], ref)
    loss, _ = F.cross_entropy_forward(x[0], 3)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x[0]), torch.tensor(3))
    assert_parity("cross_entropy.loss", loss, ref, "unbatched input, Python int target")


# -- modules --------------------------------------------------------------------------------------
def _module_pairs() -> list:
    w = np.array([0.5, 1.0, 2.0, 1.5])
    return [
        (CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), "index"),
        (CrossEntropyLoss(w, ignore_index=1, label_smoothing=0.2),
         torch.nn.CrossEntropyLoss(torch.tensor(w), ignore_index=1, label_smoothing=0.2), "index"),
        (CrossEntropyLoss(reduction="sum"), torch.nn.CrossEntropyLoss(reduction="sum"), "prob"),
        (NLLLoss(w, reduction="sum"), torch.nn.NLLLoss(torch.tensor(w), reduction="sum"), "index"),
        (NLLLoss(ignore_index=2), torch.nn.NLLLoss(ignore_index=2), "index"),
        (MSELoss(), torch.nn.MSELoss(), "values"),
        (L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), "values"),
    ]


@pytest.mark.parametrize("ours_module, torch_module, target_kind", _module_pairs(), ids=lambda v: repr(v))
def test_module_matches_torch(ours_module, torch_module, target_kind) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4))
    target = {"index": rng.integers(0, 4, size=5), "prob": rng.dirichlet(np.ones(4), size=5),
              "values": rng.normal(size=(5, 4))}[target_kind]
    tx = torch.tensor(x, requires_grad=True)
    ref = torch_module(tx, torch.from_numpy(target))
    ref.backward()
    case = f"{ours_module!r} target={target_kind}"
    loss = ours_module(x, target)
    assert isinstance(loss, np.ndarray) and loss.shape == ()
    assert_parity("loss", loss, ref, case)
    assert_parity("dinput (dout=None)", ours_module.backward(), tx.grad, case)
    assert_parity("dinput (dout=2)", ours_module.backward(2.0), 2 * tx.grad, case)
    assert list(ours_module.state_dict()) == list(torch_module.state_dict())


def test_module_reduction_none_needs_dout() -> None:
    crit = CrossEntropyLoss(reduction="none")
    x, target = np.random.default_rng(4).normal(size=(3, 4)), np.array([1, 0, 3])
    losses = crit(x, target)
    assert losses.shape == (3,)
    with pytest.raises(ValueError, match="dout is required with reduction='none'"):
        crit.backward()
    assert crit.backward(np.ones(3)).shape == (3, 4)


@pytest.mark.parametrize("module", [CrossEntropyLoss, NLLLoss, MSELoss, L1Loss], ids=lambda m: m.__name__)
def test_module_backward_before_forward_is_clear(module) -> None:
    with pytest.raises(RuntimeError, match=f"^{module.__name__}: backward called before forward$"):
        module().backward()


def test_module_weight_follows_dtype_cast() -> None:
    crit = CrossEntropyLoss(np.array([1.0, 2.0, 3.0])).to(np.float32)
    loss = crit(np.zeros((2, 3), np.float32), np.array([0, 2]))
    assert loss.dtype == np.float32
    assert repr(MSELoss()) == "MSELoss(reduction='mean')"


# -- bad inputs (the same errors on both backends: the checks are shared) ----------------------------
_x = np.zeros((3, 4))
_t = np.array([0, 1, 2])


def _ce(*args, **kwargs):
    return F.cross_entropy_forward(*args, **kwargs)


BAD_INPUTS = {
    "not-array": (lambda: _ce([[0.0, 1.0]], _t),
                  TypeError, "cross_entropy: expected input to be a numpy.ndarray"),
    "int-input": (lambda: _ce(_x.astype(np.int64), _t),
                  TypeError, "cross_entropy: expected input of dtype float"),
    "0d-input": (lambda: _ce(np.zeros(()), np.array(0)),
                 ValueError, r"cross_entropy: expected input to be \(C,\)"),
    "no-classes": (lambda: _ce(np.zeros((3, 0)), _t),
                   ValueError, "cross_entropy: expected at least one class"),
    "target-batch": (lambda: _ce(_x, np.array([0, 1])),
                     ValueError, r"expected target of shape \(3,\).*got \(2,\)"),
    "target-spatial": (lambda: _ce(np.zeros((2, 4, 3)), np.zeros((2, 4), np.int64)),
                       ValueError, r"target of shape \(2, 3\)"),
    "target-too-big": (lambda: _ce(_x, np.array([0, 4, 1])),
                       ValueError, r"target 4 is out of bounds.*\[0, 3\]"),
    "target-negative": (lambda: _ce(_x, np.array([0, -1, 1])), ValueError, "target -1 is out of bounds"),
    "target-first-bad-reported": (lambda: _ce(_x, np.array([0, 7, 9])), ValueError, "target 7 is out"),
    "target-uint64-2**63": (lambda: _ce(_x, np.array([0, 2**63, 1], np.uint64)),
                            ValueError, "cross_entropy: target 9223372036854775808 is out of bounds"),
    "target-uint64-max": (lambda: F.nll_loss_forward(_x, np.array([0, 1, 2**64 - 1], np.uint64)),
                          ValueError, "nll_loss: target 18446744073709551615 is out of bounds"),
    "target-bool": (lambda: _ce(_x, _t.astype(bool)), TypeError, "expected target of an integer dtype"),
    "target-list": (lambda: _ce(_x, [0, 1, 2]), TypeError, "expected target to be a numpy.ndarray"),
    "prob-target-shape": (lambda: _ce(_x, np.zeros((3, 3))),
                          ValueError, "class-probability target of the input's shape"),
    "prob-target-dtype": (lambda: _ce(_x, np.zeros((3, 4), np.float32)),
                          TypeError, "target to have the dtype of input"),
    "prob-target-ignore-index": (lambda: _ce(_x, np.zeros((3, 4)), ignore_index=0),
                                 ValueError, "ignore_index is not supported"),
    "weight-shape": (lambda: _ce(_x, _t, weight=np.ones(3)), ValueError, r"weight of shape \(4,\)"),
    "weight-dtype": (lambda: _ce(_x, _t, weight=np.ones(4, np.float32)),
                     TypeError, "weight to have the dtype of input"),
    "bad-reduction": (lambda: _ce(_x, _t, reduction="avg"), ValueError, "reduction to be one of"),
    "smoothing-above-1": (lambda: _ce(_x, _t, label_smoothing=1.5),
                          ValueError, "label_smoothing must be between 0.0 and 1.0"),
    "smoothing-negative": (lambda: _ce(_x, _t, label_smoothing=-0.1),
                           ValueError, "label_smoothing must be between 0.0 and 1.0"),
    "smoothing-str": (lambda: _ce(_x, _t, label_smoothing="0.1"),
                      TypeError, "expected label_smoothing to be a float"),
    "ignore-index-float": (lambda: _ce(_x, _t, ignore_index=1.5),
                           TypeError, "expected ignore_index to be an int"),
    "ignore-index-huge": (lambda: _ce(_x, _t, ignore_index=2**70),
                          ValueError, "expected ignore_index to fit in int64"),
    "dout-not-scalar": (lambda: F.cross_entropy_backward(np.ones(3), _ce(_x, _t)[1]),
                        ValueError, r"cross_entropy_backward: expected dout of shape \(\)"),
    "dout-shape-none": (lambda: F.cross_entropy_backward(np.ones(2), _ce(_x, _t, reduction="none")[1]),
                        ValueError, r"expected dout of shape \(3,\)"),
    "dout-dtype": (lambda: F.cross_entropy_backward(np.ones(3, np.float32), _ce(_x, _t, reduction="none")[1]),
                   TypeError, "expected dout of the input's dtype"),
    "nll-target-range": (lambda: F.nll_loss_forward(_x, np.array([0, 9, 1])),
                         ValueError, "nll_loss: target 9 is out of bounds"),
    "nll-target-float": (lambda: F.nll_loss_forward(_x, np.zeros((3, 4))),
                         TypeError, "nll_loss: expected target of an integer"),
    "nll-weight-2d": (lambda: F.nll_loss_forward(_x, _t, weight=np.ones((4, 1))),
                      ValueError, "nll_loss: expected weight"),
    "nll-reduction-not-str": (lambda: F.nll_loss_forward(_x, _t, reduction=None),
                              ValueError, "nll_loss: expected reduction"),
    "nll-dout-shape": (lambda: F.nll_loss_backward(np.ones(2), F.nll_loss_forward(_x, _t, reduction="none")[1]),
                       ValueError, r"nll_loss_backward: expected dout of shape \(3,\)"),
    "mse-shape": (lambda: F.mse_loss_forward(_x, np.zeros((3, 1))),
                  ValueError, "mse_loss: expected target of the input"),
    "mse-dtype": (lambda: F.mse_loss_forward(_x, _x.astype(np.float32)),
                  TypeError, "mse_loss: expected target to have"),
    "mse-reduction": (lambda: F.mse_loss_forward(_x, _x, reduction="mean "),
                      ValueError, "mse_loss: expected reduction"),
    "l1-int-input": (lambda: F.l1_loss_forward(_x.astype(np.int32), _x),
                     TypeError, "l1_loss: expected input of dtype"),
    "l1-shape": (lambda: F.l1_loss_forward(_x, _x[:2]),
                 ValueError, "l1_loss: expected target of the input's shape"),
    "l1-dout-shape": (lambda: F.l1_loss_backward(np.ones((4, 3)), F.l1_loss_forward(_x, _x, "none")[1]),
                      ValueError, r"l1_loss_backward: expected dout of shape \(3, 4\)"),
    "mse-dout-str": (lambda: F.mse_loss_backward("1", F.mse_loss_forward(_x, _x)[1]),
                     TypeError, "mse_loss_backward: expected dout to be a numpy.ndarray"),
    "module-bad-reduction": (lambda: CrossEntropyLoss(reduction="max"),
                             ValueError, "CrossEntropyLoss: expected reduction"),
}


@pytest.mark.parametrize("call, error, match", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
