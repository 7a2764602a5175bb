"""Batch norm and dropout parity with torch, on both backends (through the dispatching
:mod:`scratch.functional` and the modules): forward, dx, dγ, dβ and the running statistics in training and
eval mode, several steps with momentum and momentum=None, state dicts moving between engines, finite
differences, dropout given the same mask, seeding, and one test per bad input (torch's errors)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import example, given
from hypothesis import strategies as st

import scratch.functional as F
from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies import distinct_array, float_dtypes
from parity_tests.strategies.norm import (
    BatchNormCase,
    batch_norm_case,
    batch_norm_cases,
    dropout_inputs,
    probabilities,
    term_sizes,
)
from scratch.nn import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d
from scratch.nn.init import manual_seed

T = lambda a: None if a is None else torch.from_numpy(np.array(a, copy=True))  # noqa: E731


def check_batch_norm(case: BatchNormCase) -> None:
    """out, the running statistics, dx, dγ, dβ of ``case`` against torch.nn.functional.batch_norm."""
    x, rm, rv, w, b, training, momentum, eps = case.args()
    out, cache = F.batch_norm_forward(x, rm, rv, w, b, training, momentum, eps)
    dx, dw, db = F.batch_norm_backward(case.dout, cache)
    xt = torch.from_numpy(case.x).requires_grad_()
    wt, bt = (None if a is None else T(a).requires_grad_() for a in (case.weight, case.bias))
    rmt, rvt = T(case.running_mean), T(case.running_var)
    ref = TF.batch_norm(xt, rmt, rvt, wt, bt, training, momentum, eps)
    ref.backward(torch.from_numpy(case.dout))
    sizes, k = term_sizes(case), case.m
    assert_parity("batch_norm.out", out, ref, case, reduction=k, scale=sizes["out"])
    assert_parity("batch_norm.dx", dx, xt.grad, case, reduction=k, scale=sizes["dx"])
    for name, ours, theirs in (("dweight", dw, wt), ("dbias", db, bt)):
        assert (ours is None) == (theirs is None), f"batch_norm.{name}: None where torch has a gradient | {case}"
        if ours is not None:
            assert_parity(f"batch_norm.{name}", ours, theirs.grad, case, reduction=k, scale=sizes[name])
    if rm is not None:
        if case.training:
            assert_parity("batch_norm.running_mean", rm, rmt, case, reduction=k, scale=sizes["running_mean"])
            assert_parity("batch_norm.running_var", rv, rvt, case, reduction=k, scale=sizes["running_var"])
        else:
            assert np.array_equal(rm, case.running_mean) and np.array_equal(rv, case.running_var)


@example(case=batch_norm_case((4, 3), training=True))
@example(case=batch_norm_case((2, 3, 5), np.float32, training=True, offset=3.0))
@example(case=batch_norm_case((3, 2, 4, 4), training=False))
@example(case=batch_norm_case((2, 4, 3, 3), np.float32, training=True, affine=False, running=False))
@example(case=batch_norm_case((64, 9, 30, 30), np.float32, training=True, seed=1))
@given(case=batch_norm_cases())
def test_batch_norm_matches_torch(case):
    check_batch_norm(case)


@given(case=batch_norm_cases(dtypes=st.just(np.float64), spread=True))
def test_batch_norm_backward_matches_finite_differences(case):
    """dx, dγ, dβ against central differences (float64), in training (batch statistics) and evaluation."""
    x, _, _, w, b, training, momentum, eps = case.args()
    rm, rv = (None, None) if training else (case.running_mean, case.running_var)  # fixed statistics in eval

    def run(x_, w_=w, b_=b):
        return F.batch_norm_forward(x_, rm, rv, w_, b_, training, momentum, eps)[0]

    dx, dw, db = F.batch_norm_backward(case.dout, F.batch_norm_forward(x, rm, rv, w, b, training, momentum, eps)[1])
    assert_finite_difference("batch_norm.dx", run, x, case.dout, dx, case)
    if w is not None:
        assert_finite_difference("batch_norm.dweight", lambda w_: run(x, w_), w, case.dout, dw, case)
    if b is not None:
        assert_finite_difference("batch_norm.dbias", lambda b_: run(x, w, b_), b, case.dout, db, case)


# -- the modules over several steps -------------------------------------------------------------------------

MODULES = {"1d": (BatchNorm1d, torch.nn.BatchNorm1d), "2d": (BatchNorm2d, torch.nn.BatchNorm2d)}


@pytest.mark.parametrize("kind,shape", [("1d", (6, 4)), ("1d", (3, 4, 5)), ("2d", (3, 4, 5, 5))])
@pytest.mark.parametrize("momentum", [0.1, None, 0.6])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_modules_match_torch_over_steps(kind, shape, momentum, affine, track, dtype):
    """Three training steps (batch statistics, running estimates, num_batches_tracked, parameter gradients
    accumulating), then eval mode (running statistics; the batch's without tracking)."""
    ours_cls, torch_cls = MODULES[kind]
    c = shape[1]
    ours = ours_cls(c, momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    ref = torch_cls(c, momentum=momentum, affine=affine, track_running_stats=track).to(
        getattr(torch, np.dtype(dtype).name))
    rng = np.random.default_rng(7)
    if affine:
        ours.weight.data[:], ours.bias.data[:] = rng.uniform(0.5, 1.5, c), rng.uniform(-1, 1, c)
    ref.load_state_dict({k: T(v) for k, v in ours.state_dict().items()})
    for step, training in enumerate([True, True, True, False, True, False]):
        ours.train(training)
        ref.train(training)
        case = batch_norm_case(shape, dtype, training=training or not track, seed=step, offset=step - 1.0)
        case.running_mean = None if ours.running_mean is None else ours.running_mean.copy()
        case.running_var = None if ours.running_var is None else ours.running_var.copy()
        case.weight = None if not affine else ours.weight.data
        case.bias = None if not affine else ours.bias.data
        case.momentum = 0.0 if momentum is None else momentum
        label = f"{kind} step {step} {'train' if training else 'eval'} momentum={momentum} | {case}"
        out = ours(case.x)
        dx = ours.backward(case.dout)
        xt = torch.from_numpy(case.x).requires_grad_()
        ref_out = ref(xt)
        ref_out.backward(torch.from_numpy(case.dout))
        sizes = term_sizes(case)
        assert_parity(f"{kind}.out", out, ref_out, label, reduction=case.m, scale=sizes["out"])
        assert_parity(f"{kind}.dx", dx, xt.grad, label, reduction=case.m, scale=sizes["dx"])
        if affine:
            assert_parity(f"{kind}.weight.grad", ours.weight.grad, ref.weight.grad, label, reduction=case.m * 6,
                          scale=np.abs(ref.weight.grad.numpy()) + sizes["dweight"])
            assert_parity(f"{kind}.bias.grad", ours.bias.grad, ref.bias.grad, label, reduction=case.m * 6,
                          scale=np.abs(ref.bias.grad.numpy()) + sizes["dbias"])
        ref_state = ref.state_dict()
        assert list(ours.state_dict()) == list(ref_state)
        if track:
            assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked), label
            for name in ("running_mean", "running_var"):
                assert_parity(f"{kind}.{name}", ours.state_dict()[name], ref_state[name], label, reduction=case.m,
                              scale=np.abs(ref_state[name].numpy()) + 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_moves_between_engines(dtype):
    """A trained torch BatchNorm2d's state dict (torch's keys, num_batches_tracked int64) loads into ours
    and gives torch's eval output; ours loads back into a fresh torch module unchanged."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    ref = torch.nn.BatchNorm2d(3).to(tdtype)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    for seed in range(3):
        ref(torch.from_numpy(batch_norm_case((4, 3, 5, 5), dtype, seed=seed, offset=seed).x))
    ours = BatchNorm2d(3, dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    state = ours.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"].shape == ()
    assert int(state["num_batches_tracked"]) == 3
    for key, value in ref.state_dict().items():
        assert np.array_equal(state[key], value.numpy()), key
    x = batch_norm_case((2, 3, 4, 4), dtype, seed=9).x
    ours.eval()
    ref.eval()
    assert_parity("BatchNorm2d.eval.out", ours(x), ref(torch.from_numpy(x)), "eval after load", reduction=1,
                  scale=np.abs(x) * 8 + 8)
    back = torch.nn.BatchNorm2d(3).to(tdtype)
    back.load_state_dict({k: T(v) for k, v in state.items()})
    for key, value in back.state_dict().items():
        assert value.dtype == ref.state_dict()[key].dtype and torch.equal(value, ref.state_dict()[key]), key


def test_buffers_follow_torch_without_tracking_or_affine():
    assert list(BatchNorm2d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert list(BatchNorm1d(3, affine=False).state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    bn = BatchNorm2d(3, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert list(BatchNorm2d(3, bias=False).state_dict()) == list(torch.nn.BatchNorm2d(3, bias=False).state_dict())
    assert repr(BatchNorm2d(3)) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert BatchNorm2d(4).to(np.float64).num_batches_tracked.dtype == np.int64


def test_momentum_none_is_the_cumulative_average():
    """momentum=None: after k batches the running mean is the plain average of the k batch means."""
    bn = BatchNorm1d(2, momentum=None, dtype=np.float64)
    means = []
    for seed in range(4):
        x = batch_norm_case((5, 2), seed=seed, offset=seed).x
        bn(x)
        means.append(x.mean(axis=0))
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-14, atol=1e-15)
    assert int(bn.num_batches_tracked) == 4


# -- dropout --------------------------------------------------------------------------------------------------

def _torch_given_mask(x: np.ndarray, noise: np.ndarray, dout: np.ndarray):
    """torch's dropout with our mask: x·noise (torch's ``_dropout_impl``: noise = bernoulli.div_(1-p), then
    x * noise), and its autograd dx."""
    xt = torch.from_numpy(x).requires_grad_()
    out = xt * torch.from_numpy(noise)
    out.backward(torch.from_numpy(dout))
    return out, xt.grad


@given(x=dropout_inputs(), p=probabilities, seed=st.integers(0, 2**16))
def test_dropout_matches_torch_given_our_mask(x, p, seed):
    out, cache = F.dropout_forward(x, p, True, np.random.default_rng(seed))
    dout = distinct_array(np.random.default_rng(seed + 1), x.shape, x.dtype)
    dx = F.dropout_backward(dout, cache)
    case = f"dropout x{x.shape} {x.dtype} p={p}"
    if p == 0:
        assert out is x and np.array_equal(dx, dout), case
        return
    keep = np.asarray(cache.noise) != 0
    if p < 1:  # torch's own noise from our mask: bernoulli (in x's dtype).div_(1-p)
        noise = torch.from_numpy(keep.astype(x.dtype)).div_(1 - p).numpy()
    else:      # torch: x * zeros({})
        noise = np.zeros((), x.dtype)
    assert np.array_equal(cache.noise, noise), f"noise differs from torch's | {case}"
    ref, ref_dx = _torch_given_mask(x, noise, dout)
    assert_parity("dropout.out", out, ref, case)
    assert_parity("dropout.dx", dx, ref_dx, case)
    assert np.all((out == 0) | (out == x * noise)), case


TORCH_3D_WARNING = "ignore:dropout2d. Received a 3D input:UserWarning"


@pytest.mark.filterwarnings(TORCH_3D_WARNING)
@given(x=dropout_inputs(ndims=(3, 4)), p=probabilities, seed=st.integers(0, 2**16))
def test_dropout2d_zeroes_whole_channels_like_torch(x, p, seed):
    out, cache = F.dropout2d_forward(x, p, True, np.random.default_rng(seed))
    dout = distinct_array(np.random.default_rng(seed + 1), x.shape, x.dtype)
    dx = F.dropout2d_backward(dout, cache)
    case = f"dropout2d x{x.shape} {x.dtype} p={p}"
    if p == 0:
        assert out is x and np.array_equal(dx, dout), case
        return
    if p < 1:
        assert cache.noise.shape == x.shape[:2] + (1,) * (x.ndim - 2), case
    ref, ref_dx = _torch_given_mask(x, np.broadcast_to(cache.noise, x.shape).copy(), dout)
    assert_parity("dropout2d.out", out, ref, case)
    assert_parity("dropout2d.dx", dx, ref_dx, case)
    with torch.no_grad():  # torch's own dropout2d has the same structure: each channel all zero or all kept
        theirs = TF.dropout2d(torch.from_numpy(x), p, True).numpy()
    for result in (out, theirs):
        zero = (result == 0).reshape(x.shape[0], x.shape[1], -1)
        assert np.all(zero.all(axis=2) | ~zero.any(axis=2)), case


@pytest.mark.filterwarnings(TORCH_3D_WARNING)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_identity_and_p_one_are_torchs(dtype):
    """p = 0 and eval return x itself; p = 1 gives x·0 (zeros, NaN for NaN and inf), as torch's."""
    x = np.array([[1.5, -2.0, np.nan], [np.inf, 0.25, -0.0]], dtype=dtype)
    xt = torch.from_numpy(x)
    for forward, torch_op in ((F.dropout_forward, TF.dropout), (F.dropout2d_forward, TF.dropout2d)):
        x_in = x if forward is F.dropout_forward else x[None]
        x_t = xt if forward is F.dropout_forward else xt[None]
        for p, training in ((0.0, True), (0.5, False), (1.0, True)):
            out, cache = forward(x_in, p, training)
            with torch.no_grad():
                ref = torch_op(x_t, p, training)
            if p == 0 or not training:
                assert out is x_in and cache.noise is None
            assert_parity(f"{forward.__name__} p={p} training={training}", out, ref, f"p={p}")
    _, cache = F.dropout_forward(x, 1.0)
    assert np.array_equal(F.dropout_backward(np.ones_like(x), cache), np.zeros_like(x))


def test_dropout_scales_to_keep_the_expectation():
    x = np.ones((200, 500))
    out, _ = F.dropout_forward(x, 0.3, True, np.random.default_rng(0))
    assert set(np.unique(out)) == {0.0, 1 / 0.7}
    assert abs(np.mean(out == 0) - 0.3) < 0.005  # 100k draws: 5 standard deviations is 0.007
    assert abs(out.mean() - 1.0) < 0.01


def test_dropout_modules_train_eval_and_seeding():
    """Masks from the module's generator (a seed or Generator), else from manual_seed's; eval is the identity."""
    x = np.arange(1.0, 61.0).reshape(3, 4, 5)
    a, b = Dropout(0.5, rng=3), Dropout(0.5, rng=np.random.default_rng(3))
    assert np.array_equal(a(x), b(x)) and np.array_equal(a.mask, b.mask)
    manual_seed(11)
    first = Dropout(0.4)(x)
    manual_seed(11)
    assert np.array_equal(Dropout(0.4)(x), first)
    drop = Dropout2d(0.5, rng=0)
    out = drop(x)
    assert drop.mask.shape == (3, 4, 1)
    dx = drop.backward(np.ones_like(x))
    assert np.array_equal(dx, np.broadcast_to(drop.mask, x.shape) * 2.0)
    assert np.array_equal(out, x * drop.mask * 2.0)
    drop.eval()
    assert drop(x) is x and drop.mask is None and np.array_equal(drop.backward(x), x)
    assert repr(Dropout(0.3)) == repr(torch.nn.Dropout(0.3)) and repr(Dropout2d()) == repr(torch.nn.Dropout2d())
    y = x.copy()
    inplace = Dropout(0.5, inplace=True, rng=5)
    assert inplace(y) is y and np.array_equal(y, x * inplace.mask * 2.0)


# -- bad input: torch's errors, worded clearly, the same on both backends -------------------------------------

def _raises(exc, torch_message: str):
    return pytest.raises(exc, match=re.escape(torch_message))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bad_batch_norm_input_gives_torchs_errors(dtype):
    with _raises(ValueError, "Expected more than 1 value per channel when training, got input size (1, 3)"):
        BatchNorm1d(3, dtype=dtype)(np.ones((1, 3), dtype))
    with _raises(ValueError, "Expected more than 1 value per channel when training"):
        BatchNorm2d(3, dtype=dtype)(np.ones((1, 3, 1, 1), dtype))
    BatchNorm1d(3, dtype=dtype).eval()(np.ones((1, 3), dtype))   # eval mode takes a batch of one, as torch
    with _raises(ValueError, "running_mean should contain 4 elements not 3"):
        BatchNorm2d(3, dtype=dtype)(np.ones((2, 4, 2, 2), dtype))
    with _raises(ValueError, "running_mean should contain 4 elements not 3"):
        F.batch_norm_forward(np.ones((2, 4), dtype), np.zeros(3, dtype), np.ones(3, dtype), training=True)
    with _raises(ValueError, "weight should contain 4 elements not 3"):
        F.batch_norm_forward(np.ones((2, 4), dtype), None, None, np.ones(3, dtype), training=True)
    with _raises(ValueError, "BatchNorm2d: expected 4D input (got 3D input"):
        BatchNorm2d(3, dtype=dtype)(np.ones((4, 3, 2), dtype))
    with _raises(ValueError, "BatchNorm1d: expected 2D or 3D input (got 4D input"):
        BatchNorm1d(3, dtype=dtype)(np.ones((4, 3, 2, 2), dtype))
    with _raises(ValueError, "running_mean must be defined in evaluation mode"):
        F.batch_norm_forward(np.ones((2, 3), dtype), None, None, training=False)
    other = np.float64 if dtype == np.float32 else np.float32
    with _raises(TypeError, "mixed dtype (CPU): all inputs must share same datatype"):
        BatchNorm1d(3, dtype=other)(np.ones((4, 3), dtype))
    bn = BatchNorm1d(3, dtype=dtype)
    with pytest.raises(RuntimeError, match="BatchNorm1d.backward called before forward"):
        bn.backward(np.ones((4, 3), dtype))
    bn(np.arange(12, dtype=dtype).reshape(4, 3))
    with pytest.raises(ValueError, match=re.escape("batch_norm_backward: expected dout of shape (4, 3)")):
        bn.backward(np.ones((3, 3), dtype))
    with pytest.raises(TypeError, match="batch_norm_backward: expected dout to have the dtype"):
        bn.backward(np.ones((4, 3), other))
    with pytest.raises(ValueError, match="BatchNorm1d: expected num_features to be positive, got 0"):
        BatchNorm1d(0)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_dropout_probability_gives_torchs_error(p):
    message = f"dropout probability has to be between 0 and 1, but got {p}"
    for make in (Dropout, Dropout2d):
        with _raises(ValueError, message):
            make(p)
    with _raises(ValueError, message):
        F.dropout_forward(np.ones(3), p)
    with _raises(ValueError, message):
        F.dropout2d_forward(np.ones((1, 2, 3)), p)
    with pytest.raises(TypeError, match="dropout: expected p to be a real number"):
        F.dropout_forward(np.ones(3), "0.5")


def test_bad_dropout_input_is_refused_clearly():
    with pytest.raises(ValueError, match=re.escape("dropout2d: expected x to be 3-D or 4-D (N, C, H, W) or (N, C, L)")):
        F.dropout2d_forward(np.ones((2, 3)), 0.5)
    with pytest.raises(TypeError, match="dropout: expected x of dtype float32 or float64, got int64"):
        F.dropout_forward(np.ones(3, dtype=np.int64), 0.5)
    _, cache = F.dropout_forward(np.ones((2, 3)), 0.5)
    with pytest.raises(ValueError, match=re.escape("dropout_backward: expected dout of shape (2, 3)")):
        F.dropout_backward(np.ones((3, 2)), cache)


@given(dtype=float_dtypes)
def test_dtype_is_kept(dtype):
    case = batch_norm_case((3, 2, 3, 3), dtype)
    out, cache = F.batch_norm_forward(*case.args())
    assert out.dtype == dtype and all(g.dtype == dtype for g in F.batch_norm_backward(case.dout, cache))
    assert F.dropout_forward(case.x, 0.5)[0].dtype == dtype


def test_bad_eps_gives_torchs_error():
    with _raises(ValueError, "eps must be positive during training, but got 0.0"):
        F.batch_norm_forward(np.ones((2, 3)), None, None, training=True, eps=0.0)
    with _raises(ValueError, "eps must be non-negative, but got -1.0"):
        F.batch_norm_forward(np.ones((2, 3)), np.zeros(3), np.ones(3), eps=-1.0)
