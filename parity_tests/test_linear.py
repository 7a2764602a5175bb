"""linear and flatten (functional and modules) against torch autograd, finite differences, bad inputs.

Ops are called through :mod:`scratch.functional` (dispatching), so every test runs on both backends.
float32 reductions: out sums over K = in_features, dx over K = out_features, dweight and dbias over
K = rows (the product of the leading axes). Each entry's scale is the size of its summed terms (the op
applied to |x|, |w|, |dout|, as an array), since distinct values of both signs make entries cancel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given

import scratch.functional as F
from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies.dense import FlattenCase, LinearCase, flatten_cases, linear_cases
from scratch.nn.linear import Flatten, Identity, Linear


def check_linear(case: LinearCase) -> None:
    x, w, b, dout = case.x, case.w, case.b, case.dout
    out, cache = F.linear_forward(x, w, b)
    dx, dw, db = F.linear_backward(dout, cache)

    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ref = torch.nn.functional.linear(tx, tw, tb)
    ref.backward(torch.from_numpy(dout))

    ax, aw, ad = np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), np.abs(dout.astype(np.float64))
    rows_x, rows_d = ax.reshape(case.rows, case.in_features), ad.reshape(case.rows, case.out_features)
    out_terms = ax @ aw.T + (0.0 if b is None else np.abs(b.astype(np.float64)))
    assert_parity("linear.out", out, ref, case, case.in_features, out_terms)
    assert_parity("linear.dx", dx, tx.grad, case, case.out_features, ad @ aw)
    assert_parity("linear.dweight", dw, tw.grad, case, case.rows, rows_d.T @ rows_x)
    if b is None:
        assert db is None, f"linear.dbias: expected None without a bias | case: {case}"
    else:
        assert_parity("linear.dbias", db, tb.grad, case, case.rows, rows_d.sum(axis=0))
    no_dx, dw2, _ = F.linear_backward(dout, cache, input_grad=False)
    assert no_dx is None, f"linear(input_grad=False): expected dx None | case: {case}"
    np.testing.assert_array_equal(dw2, dw, err_msg=f"linear.dweight with input_grad=False | case: {case}")


@given(case=linear_cases())
@example(case=LinearCase.seeded((), 5, 3, True, np.float64, seed=1))  # unbatched 1-D input
@example(case=LinearCase.seeded((0,), 4, 3, True, np.float32, seed=2))  # empty batch: zero gradients
@example(case=LinearCase.seeded((3, 2), 0, 4, True, np.float32, seed=2))  # in_features 0: out = bias
@example(case=LinearCase.seeded((3,), 0, 2, False, np.float64, seed=2))  # ... = 0 without a bias
@example(case=LinearCase.seeded((2, 3, 2), 6, 1, False, np.float32, seed=3, magnitude=1e3))
# above THRESHOLDS["linear"]: the products are split into per-thread row blocks (odd row counts included)
@example(case=LinearCase.seeded((301,), 128, 120, True, np.float32, seed=4))
@example(case=LinearCase.seeded((3, 101), 120, 128, False, np.float64, seed=5))
def test_linear_matches_torch(case: LinearCase) -> None:
    check_linear(case)


@pytest.mark.parametrize("in_features, out_features", [(400, 120), (120, 84), (84, 10)])
def test_linear_at_evaluation_batch_matches_torch(in_features: int, out_features: int, threads: str) -> None:
    """LeNet-5's three layers at batch 512, on the serial and the threaded paths."""
    check_linear(LinearCase.seeded((512,), in_features, out_features, True, np.float32, seed=6))


def test_linear_in_features_zero_gives_the_bias() -> None:
    """torch: an empty sum, so out is the bias broadcast and dx, dweight are empty; dbias still sums dout."""
    b, dout = np.array([1.0, -2.0], np.float32), np.arange(6, dtype=np.float32).reshape(3, 2)
    out, cache = F.linear_forward(np.ones((3, 0), np.float32), np.ones((2, 0), np.float32), b)
    np.testing.assert_array_equal(out, np.broadcast_to(b, (3, 2)))
    dx, dw, db = F.linear_backward(dout, cache)
    assert dx.shape == (3, 0) and dw.shape == (2, 0) and dx.dtype == dw.dtype == np.float32
    np.testing.assert_array_equal(db, dout.sum(axis=0))


@given(case=linear_cases(finite_difference=True))
def test_linear_finite_differences(case: LinearCase) -> None:
    x, w, b, dout = case.x, case.w, case.b, case.dout
    dx, dw, db = F.linear_backward(dout, F.linear_forward(x, w, b)[1])
    assert_finite_difference("linear.dx", lambda v: F.linear_forward(v, w, b)[0], x, dout, dx, case)
    assert_finite_difference("linear.dweight", lambda v: F.linear_forward(x, v, b)[0], w, dout, dw, case)
    if b is not None:
        assert_finite_difference("linear.dbias", lambda v: F.linear_forward(x, w, v)[0], b, dout, db, case)


def test_linear_non_contiguous_input() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(5, 4)).T, rng.normal(size=(3, 5))[:, ::-1]
    out, _ = F.linear_forward(x, w)
    np.testing.assert_allclose(out, np.ascontiguousarray(x) @ np.ascontiguousarray(w).T, rtol=1e-12)


def check_flatten(case: FlattenCase) -> None:
    out, cache = F.flatten_forward(case.x, case.start_dim, case.end_dim)
    tx = torch.tensor(case.x, requires_grad=True)
    ref = torch.flatten(tx, case.start_dim, case.end_dim)
    dout = case.dout_values.reshape(tuple(ref.shape))
    ref.backward(torch.from_numpy(dout))
    assert_parity("flatten.out", out, ref, case)
    assert_parity("flatten.dx", F.flatten_backward(dout, cache), tx.grad, case)


@given(case=flatten_cases())
@example(case=FlattenCase.seeded((), 0, -1, np.float64, seed=0))  # 0-D input becomes (1,)
@example(case=FlattenCase.seeded((2, 3, 4), 1, 1, np.float32, seed=0))  # a single axis: unchanged shape
@example(case=FlattenCase.seeded((2, 0, 4), -2, -1, np.float64, seed=0))
def test_flatten_matches_torch(case: FlattenCase) -> None:
    check_flatten(case)


def test_flatten_defaults_are_torch_flattens() -> None:
    """``torch.flatten(x)`` merges every axis (start_dim=0); ``nn.Flatten()`` keeps the batch axis."""
    x = np.arange(24.0).reshape(2, 3, 4)
    out, _ = F.flatten_forward(x)
    assert out.shape == tuple(torch.flatten(torch.from_numpy(x)).shape) == (24,)
    assert Flatten()(x).shape == tuple(torch.nn.Flatten()(torch.from_numpy(x)).shape) == (2, 12)


# -- modules --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_module_matches_torch(bias: bool, dtype) -> None:
    rng = np.random.default_rng(7)
    layer = Linear(5, 3, bias, dtype=dtype, rng=rng)
    ref = torch.nn.Linear(5, 3, bias, dtype=torch.float32 if dtype == np.float32 else torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    assert list(layer.state_dict()) == list(ref.state_dict())
    assert layer.weight.shape == (3, 5) and layer.weight.dtype == dtype
    assert np.all(np.abs(layer.weight.data) <= 1 / np.sqrt(5))
    assert repr(layer) == f"Linear(in_features=5, out_features=3, bias={bias})"
    x = rng.normal(size=(4, 5)).astype(dtype)
    for step in range(2):  # the second backward accumulates, as autograd does
        dout = rng.normal(size=(4, 3)).astype(dtype)
        tx = torch.tensor(x, requires_grad=True)
        out = layer(x)
        ref_out = ref(tx)
        ref_out.backward(torch.from_numpy(dout))
        case = f"Linear(5, 3, bias={bias}) {np.dtype(dtype).name} step {step}"
        assert_parity("Linear.out", out, ref_out, case, reduction=5)
        assert_parity("Linear.dx", layer.backward(dout), tx.grad, case, reduction=3)
        for name, p in layer.named_parameters():
            assert_parity(f"Linear.{name}.grad", p.grad, getattr(ref, name).grad, case, reduction=8)
    assert [n for n, _ in layer.named_parameters()] == (["weight", "bias"] if bias else ["weight"])


@pytest.mark.parametrize("make", [lambda: Linear(3, 2), Flatten], ids=["Linear", "Flatten"])
def test_module_backward_before_forward_is_a_clear_error(make) -> None:
    module = make()
    with pytest.raises(RuntimeError, match=f"{type(module).__name__}: backward called before forward"):
        module.backward(np.ones((2, 2), np.float32))


def test_linear_module_seeded_init_is_reproducible() -> None:
    a = Linear(4, 2, rng=np.random.default_rng(3))
    b = Linear(4, 2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_flatten_and_identity_modules_match_torch() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for args in [(), (0, 1), (-2, -1)]:
        flat, ref = Flatten(*args), torch.nn.Flatten(*args)
        out = flat(x)
        assert_parity("Flatten.out", out, ref(torch.from_numpy(x)), f"Flatten{args}")
        np.testing.assert_array_equal(flat.backward(out), x)
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    ident = Identity(3, key="ignored")
    assert ident(x) is x and ident.backward(x) is x


# -- bad inputs -----------------------------------------------------------------------------------
_x = np.ones((2, 3))
_w = np.ones((4, 3))


BAD_INPUTS = {
    "input-not-array": (lambda: F.linear_forward([[1.0, 2.0]], _w),
                        TypeError, "linear: expected input to be a numpy.ndarray"),
    "input-int": (lambda: F.linear_forward(_x.astype(np.int64), _w),
                  TypeError, "linear: expected input of dtype float"),
    "input-0d": (lambda: F.linear_forward(np.ones(()), _w), ValueError, "at least 1-D"),
    "weight-1d": (lambda: F.linear_forward(_x, np.ones(3)), ValueError, "weight to be 2-D"),
    "in-features-mismatch": (lambda: F.linear_forward(_x, np.ones((4, 2))), ValueError, "in_features=3"),
    "weight-dtype": (lambda: F.linear_forward(_x, _w.astype(np.float32)),
                     TypeError, "weight to have the dtype of input"),
    "bias-shape": (lambda: F.linear_forward(_x, _w, np.ones(3)), ValueError, r"bias of shape \(4,\)"),
    "bias-dtype": (lambda: F.linear_forward(_x, _w, np.ones(4, np.float32)),
                   TypeError, "bias to have the dtype"),
    "dout-shape": (lambda: F.linear_backward(np.ones((2, 3)), F.linear_forward(_x, _w)[1]),
                   ValueError, r"linear_backward: expected dout of shape \(2, 4\)"),
    "dout-dtype": (lambda: F.linear_backward(np.ones((2, 4), np.float32), F.linear_forward(_x, _w)[1]),
                   TypeError, "linear_backward: expected dout to have the dtype"),
    "flatten-not-array": (lambda: F.flatten_forward([1.0], 0),
                          TypeError, "flatten: expected input to be a numpy.ndarray"),
    "flatten-start-range": (lambda: F.flatten_forward(_x, 2),
                            ValueError, r"flatten: start_dim out of range.*\[-2, 1\].*got 2"),
    "flatten-end-range": (lambda: F.flatten_forward(_x, 0, -3), ValueError, "flatten: end_dim out of range"),
    "flatten-start-after-end": (lambda: F.flatten_forward(np.ones((2, 3, 4)), 2, 1),
                                ValueError, "start_dim cannot come after end_dim"),
    "flatten-float-dim": (lambda: F.flatten_forward(_x, 0.5),
                          TypeError, "flatten: expected start_dim to be an int"),
    "flatten-dout-shape": (lambda: F.flatten_backward(np.ones(5), F.flatten_forward(_x, 0)[1]),
                           ValueError, r"flatten_backward: expected dout of shape \(6,\)"),
    "Flatten-1d-input": (lambda: Flatten()(np.ones(3)), ValueError, "start_dim out of range"),
    "Linear-dtype-mismatch": (lambda: Linear(3, 2)(np.ones((2, 3))),
                              TypeError, "weight to have the dtype of input"),
    "Linear-negative-features": (lambda: Linear(-1, 2),
                                 ValueError, "Linear: expected in_features to be >= 0"),
}


@pytest.mark.parametrize("call, error, match", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_small_mlp_end_to_end_matches_torch() -> None:
    """Flatten -> Linear -> ReLU -> Linear -> CrossEntropyLoss: every parameter gradient equals torch's."""
    from scratch.nn.activation import ReLU
    from scratch.nn.loss import CrossEntropyLoss
    from scratch.nn.module import Sequential

    rng = np.random.default_rng(11)
    ours = Sequential(Flatten(), Linear(12, 8, dtype=np.float64, rng=rng), ReLU(),
                      Linear(8, 5, dtype=np.float64, rng=rng))
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 5)).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, target = rng.normal(size=(6, 3, 4)), rng.integers(0, 5, size=6)
    criterion = CrossEntropyLoss(label_smoothing=0.1)
    loss = criterion(ours(x), target)
    dx = ours.backward(criterion.backward())
    tx = torch.tensor(x, requires_grad=True)
    ref_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(ref(tx), torch.from_numpy(target))
    ref_loss.backward()
    case = "MLP 12-8-5 float64, batch 6, label_smoothing=0.1"
    assert_parity("mlp.loss", loss, ref_loss, case)
    assert_parity("mlp.dx", dx, tx.grad, case)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert_parity(f"mlp.{name}.grad", p.grad, ref_params[name].grad, case)
