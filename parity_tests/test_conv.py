"""conv2d and pad2d (through the dispatching scratch.functional, so both backends) and Conv2d (scratch.nn.conv)
against torch, finite differences, the inf corners, the argument forms and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies import seeds
from parity_tests.strategies.conv import (
    ConvCase,
    ConvDraw,
    conv_cases,
    conv_draws,
    pad_draws,
    padding_mode_cases,
    small_conv_cases,
)
from scratch.functional import conv2d_backward, conv2d_forward, pad2d_backward, pad2d_forward
from scratch.nn.conv import Conv2d

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")

f32, f64 = np.float32, np.float64


def _torch_conv(case: ConvCase, x, w, b, dout, module: bool = False):
    """torch's out, dx, dw, db (db None without bias) for the same arrays: F.conv2d, or torch.nn.Conv2d
    holding w and b (for the padding modes)."""
    tx = torch.from_numpy(np.array(x)).requires_grad_(True)
    if module:
        kwargs = case.module_kwargs()
        if kwargs["padding"] == "same" and isinstance(kwargs["dilation"], tuple) and len(kwargs["dilation"]) == 1:
            # torch.nn.Conv2d (2.14) derives 'same' padding for the non-zeros modes from
            # zip(dilation, kernel_size): a dilation given as a tuple of one pads the height only, and the
            # output is not 'same'. F.conv2d broadcasts the tuple; so does scratch; compare with the pair.
            kwargs["dilation"] = kwargs["dilation"] * 2
        conv = torch.nn.Conv2d(**kwargs, dtype=torch.from_numpy(w).dtype)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            if b is not None:
                conv.bias.copy_(torch.from_numpy(b))
        tw, tb = conv.weight, conv.bias
        out = conv(tx)
    else:
        tw = torch.from_numpy(w.copy()).requires_grad_(True)
        tb = None if b is None else torch.from_numpy(b.copy()).requires_grad_(True)
        out = F.conv2d(tx, tw, tb, **case.kwargs())
    out.backward(torch.from_numpy(dout.copy()))
    return out, tx.grad, tw.grad, None if tb is None else tb.grad


def _term_scales(case: ConvCase, x, w, b, dout, module: bool = False):
    """Per entry of out, dx, dw, db: the sum of the absolute terms summed into it (torch's conv of |x|, |w|,
    |b| and its gradients for |dout|, in float64): what rounding is proportional to where entries cancel."""
    absolute = (None if a is None else np.abs(a).astype(np.float64) for a in (x, w, b, dout))
    return [None if t is None else t.detach().numpy() for t in _torch_conv(case, *absolute, module=module)]


def check_conv_parity(draw: ConvDraw, module: bool = False) -> None:
    """Forward and every gradient of scratch's conv2d (or Conv2d with the case's padding mode) equal
    torch autograd's, judged per entry against the size of its terms."""
    case, x, w, b, dout = draw
    if module:
        conv = Conv2d(**case.module_kwargs(), dtype=case.dtype)
        conv.weight.data[...] = w
        if b is not None:
            conv.bias.data[...] = b
        out = conv(x)
        dx = conv.backward(dout)
        dw, db = conv.weight.grad, None if b is None else conv.bias.grad
    else:
        out, cache = conv2d_forward(x, w, b, **case.kwargs())
        dx, dw, db = conv2d_backward(dout, cache)
    refs = _torch_conv(case, x, w, b, dout, module)
    scales = _term_scales(case, x, w, b, dout, module)
    k = case.reductions()
    for name, ours, ref, scale in zip(("out", "dx", "dw", "db"), (out, dx, dw, db), refs, scales, strict=True):
        if name == "db" and not case.bias:
            assert db is None, f"conv2d.db: expected None without bias | case: {case}"
        else:
            assert_parity(f"conv2d.{name}", ours, ref, case, k[name], scale)
    if module:
        return
    # input_grad=False: no dx, and the very same dw and db
    no_dx, dw2, db2 = conv2d_backward(dout, cache, input_grad=False)
    assert no_dx is None, f"conv2d(input_grad=False): expected dx None | case: {case}"
    np.testing.assert_array_equal(dw2, dw, err_msg=f"conv2d.dw with input_grad=False | case: {case}")
    if case.bias:
        np.testing.assert_array_equal(db2, db, err_msg=f"conv2d.db with input_grad=False | case: {case}")


@given(draw=conv_draws())
@example(draw=ConvCase(2, 3, 4, 1, 5, 6, (1, 1), dtype=f32, seed=1).seeded())  # kernel 1
@example(draw=ConvCase(2, 2, 3, 1, 9, 8, (2, 2), stride=3, padding=1, dtype=f32, seed=2).seeded())  # s > k
@example(draw=ConvCase(3, 3, 5, 1, 7, 11, (3, 5), stride=(2, 3), padding=(1, 2), dilation=(2, 1),
                       seed=3).seeded())
@example(draw=ConvCase(2, 4, 8, 4, 6, 6, (3, 3), padding=1, dtype=f32, seed=4).seeded())  # depthwise
@example(draw=ConvCase(2, 2, 3, 1, 6, 7, (2, 4), padding="same", dtype=f32, seed=5).seeded())  # even kernel
@example(draw=ConvCase(1, 1, 2, 1, 5, 5, (2, 2), padding="same", dilation=(3, 1), seed=6).seeded())
@example(draw=ConvCase(1, 2, 3, 1, 5, 5, (3, 3), padding="valid", bias=False, seed=7, unbatched=True).seeded())
@example(draw=ConvCase(2, 6, 16, 1, 14, 14, (5, 5), dtype=f32, seed=8).seeded())  # LeNet's conv2
@example(draw=ConvCase(1, 16, 32, 1, 6, 30, (3, 3), padding=1, dtype=f32, seed=9).seeded())  # 2 row blocks
@example(draw=ConvCase(1, 32, 64, 1, 3, 30, (3, 3), padding=1, dtype=f32, seed=10).seeded())  # split GEMMs
@example(draw=ConvCase(1, 32, 64, 1, 9, 40, (3, 3), stride=2, padding=1, seed=11).seeded())  # strided blocks
@example(draw=ConvCase(2, 2, 2, 1, 5, 6, (2, 3), stride=(2,), padding=(1,), dilation=(2,), seed=12).seeded())
def test_conv2d_matches_torch(draw):
    check_conv_parity(draw)


@given(draw=conv_draws(padding_mode_cases))
@example(draw=ConvCase(2, 2, 3, 1, 4, 5, (3, 3), padding=(3, 4), padding_mode="reflect", seed=1).seeded())
@example(draw=ConvCase(1, 2, 2, 2, 3, 3, (2, 4), padding="same", padding_mode="circular", dtype=f32,
                       seed=2).seeded())
@example(draw=ConvCase(2, 1, 2, 1, 3, 3, (2, 2), stride=2, padding=3, padding_mode="circular", seed=3).seeded())
@example(draw=ConvCase(1, 1, 1, 1, 1, 2, (1, 2), padding="same", dilation=(1,), padding_mode="reflect",
                       seed=5).seeded())  # torch's module pads only the height here (see _torch_conv)
@example(draw=ConvCase(1, 1, 2, 1, 2, 2, (3, 3), padding=4, padding_mode="replicate", unbatched=True,
                       seed=4).seeded())
def test_conv2d_module_padding_modes_match_torch(draw):
    """Conv2d(padding_mode=...) against torch.nn.Conv2d: out, dx, weight.grad, bias.grad."""
    check_conv_parity(draw, module=True)


@given(data=pad_draws())
def test_pad2d_matches_torch_pad(data):
    case, x, dout = data
    out, cache = pad2d_forward(x, case.pad, case.mode)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = F.pad(tx, case.pad, mode=case.mode)
    t_out.backward(torch.from_numpy(dout.copy()))
    assert_parity("pad2d.out", out, t_out, case)
    # each dx entry sums the dout entries copied from it: scale = that sum over |dout|, K = the most of them
    t_abs = tx.detach().clone().requires_grad_(True)
    F.pad(t_abs, case.pad, mode=case.mode).backward(torch.from_numpy(np.abs(dout)))
    t_count = tx.detach().clone().requires_grad_(True)
    F.pad(t_count, case.pad, mode=case.mode).backward(torch.ones(t_out.shape, dtype=t_out.dtype))
    terms = max(1, int(t_count.grad.max()))
    assert_parity("pad2d.dx", pad2d_backward(dout, cache), tx.grad, case, terms, t_abs.grad.numpy())


def test_conv2d_inf_weight_gives_torchs_dx():
    """Issue 11's corner: one inf weight tap; dx is inf where that tap met dout, 0 where only zero weights
    did (torch's [inf inf inf 0 0]), never the nan of inf·0 from columns outside the output."""
    x = np.arange(1.0, 6.0).reshape(1, 1, 1, 5)
    w = np.zeros((1, 1, 1, 3))
    w[0, 0, 0, 0] = np.inf
    for padding, expected in ((0, [np.inf] * 3 + [0, 0]), ((0, 1), [np.inf] * 4 + [0])):
        out, cache = conv2d_forward(x, w, padding=padding)
        dx, _, _ = conv2d_backward(np.ones_like(out), cache)
        np.testing.assert_array_equal(dx.ravel(), expected, err_msg=f"padding={padding}")


@pytest.mark.parametrize("where", ["weight", "x"])
@given(draw=conv_draws(conv_cases(max_channels=2, max_batch=2, dtypes=st.just(f64))), data=st.data())
@example(draw=ConvCase(1, 1, 1, 1, 1, 5, (1, 3), bias=False, seed=1).seeded(), data=None)
@example(draw=ConvCase(1, 2, 3, 1, 4, 6, (2, 3), padding=(1, 2), seed=2).seeded(), data=None)
@example(draw=ConvCase(2, 2, 2, 1, 3, 5, (1, 3), seed=3).seeded(), data=None)  # x inf in a wrap-around column
def test_conv2d_one_inf_entry_matches_torchs_inf_nan_pattern(where, draw, data):
    """One ±inf in the weight or in x: out, dx, dw, db have torch's infs and nans at the same places
    (assert_parity compares the non-finite entries exactly) and match it elsewhere.

    float64 only: torch's float32 CPU path (oneDNN) skips the padding taps, so an inf weight over a
    padding pixel gives 0 there where its float64 path (and the formula, xp zero-padded) gives inf·0 = nan.
    The float32 kernel's pattern is checked against the reference in test_kernels_conv.py."""
    case, x, w, b, dout = draw
    target = (w if where == "weight" else x).copy()
    flat = target.reshape(-1)
    first = 0 if where == "weight" else x.shape[-1] - 1  # examples: x's last column, read by a wrap-around
    i = first if data is None else data.draw(st.integers(0, flat.size - 1), label="index")
    sign = 1 if data is None else data.draw(st.sampled_from([1, -1]), label="sign")
    flat[i] = sign * np.inf
    arrays = (target, w) if where == "x" else (x, target)
    check_conv_parity(ConvDraw(case, *arrays, b, dout))


@given(draw=conv_draws())
def test_conv2d_noncontiguous_inputs_give_identical_results(draw):
    """Transposed/sliced views of the same values give bit-identical out, dx, dw, db."""
    case, x, w, b, dout = draw
    out, cache = conv2d_forward(x, w, b, **case.kwargs())
    grads = conv2d_backward(dout, cache)

    def strided(a):  # same values, every other element of a buffer twice as wide
        buf = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
        buf[..., ::2] = a
        return buf[..., ::2]

    x_t = np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)  # transposed memory layout
    views = (x_t, strided(w), None if b is None else strided(b), strided(dout))
    assert x_t.flags.c_contiguous == (min(x.shape[-2:]) == 1)
    assert not any(v.flags.c_contiguous for v in views[1:] if v is not None and v.shape[-1] > 1)
    out_v, cache_v = conv2d_forward(*views[:3], **case.kwargs())
    grads_v = conv2d_backward(views[3], cache_v)
    np.testing.assert_array_equal(out_v, out, err_msg=f"conv2d.out on views | case: {case}")
    for name, g, g_v in zip(("dx", "dw", "db"), grads, grads_v, strict=True):
        if g is None:
            assert g_v is None
        else:
            np.testing.assert_array_equal(g_v, g, err_msg=f"conv2d.{name} on views | case: {case}")


@given(draw=conv_draws(small_conv_cases))
@example(draw=ConvCase(2, 2, 2, 2, 4, 5, (2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2), seed=1).seeded())
def test_conv2d_backward_matches_finite_differences(draw):
    """dx, dw, db against float64 central differences of the forward (independent of torch)."""
    case, x, w, b, dout = draw
    kw = case.kwargs()
    out, cache = conv2d_forward(x, w, b, **kw)
    dx, dw, db = conv2d_backward(dout, cache)
    assert_finite_difference("conv2d.dx", lambda v: conv2d_forward(v, w, b, **kw)[0], x, dout, dx, case)
    assert_finite_difference("conv2d.dw", lambda v: conv2d_forward(x, v, b, **kw)[0], w, dout, dw, case)
    if b is not None:
        assert_finite_difference("conv2d.db", lambda v: conv2d_forward(x, w, v, **kw)[0], b, dout, db, case)


def test_conv2d_empty_batch_gives_empty_out_and_zero_weight_grads():
    """N = 0 is allowed, as in torch: out (0, C_out, H_out, W_out), dw = db = 0."""
    x, w, b = np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3)
    out, cache = conv2d_forward(x, w, b)
    assert out.shape == (0, 3, 3, 3)
    dx, dw, db = conv2d_backward(np.zeros(out.shape), cache)
    assert dx.shape == x.shape and not dw.any() and not db.any()


# -- the module -----------------------------------------------------------------------------------

MODULE_CONFIGS = [
    dict(in_channels=1, out_channels=6, kernel_size=5, padding=2),
    dict(in_channels=6, out_channels=16, kernel_size=5),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=1, dilation=2, groups=2,
         bias=False),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding="same", groups=4),
    dict(in_channels=3, out_channels=2, kernel_size=(2, 3), padding="valid", stride=(1, 2)),
]


@pytest.mark.parametrize("config", MODULE_CONFIGS, ids=str)
def test_conv2d_module_state_dict_and_repr_match_torch(config):
    ours, ref = Conv2d(**config, rng=np.random.default_rng(0)), torch.nn.Conv2d(**config)
    assert repr(ours) == repr(ref)
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(ref_sd)
    for key, value in sd.items():
        assert value.shape == tuple(ref_sd[key].shape), key
        assert value.dtype == np.float32 == ref_sd[key].numpy().dtype, key


@given(seed=seeds)
def test_conv2d_module_matches_torch_module(seed):
    """torch's Conv2d with our state dict: same forward, dx and parameter grads (float64)."""
    rng = np.random.default_rng(seed)
    config = MODULE_CONFIGS[2]
    ours = Conv2d(**config, dtype=np.float64, rng=rng)
    ref = torch.nn.Conv2d(**config).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    case = ConvCase(2, 4, 6, 2, 7, 8, (3, 2), stride=2, padding=1, dilation=2, bias=False, seed=seed)
    x, _, _, dout = case.arrays()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = ref(tx)
    t_out.backward(torch.from_numpy(dout))
    k = case.reductions()
    assert_parity("Conv2d.out", ours(x), t_out, case, k["out"])
    assert_parity("Conv2d.dx", ours.backward(dout), tx.grad, case, k["dx"])
    assert_parity("Conv2d.weight.grad", ours.weight.grad, ref.weight.grad, case, k["dw"])


def test_conv2d_module_init_bounds_match_torch():
    """weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in/groups·kH·kW, as torch draws them."""
    ours = Conv2d(16, 64, (3, 2), groups=2, rng=np.random.default_rng(0))
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(16, 64, (3, 2), groups=2)
    bound = 1 / math.sqrt(16 // 2 * 3 * 2)
    w, b = ours.weight.data, ours.bias.data
    ref_w = ref.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(ref_w).max() <= bound and np.abs(ref.bias.detach().numpy()).max() <= bound
    assert np.abs(w).max() > 0.95 * bound and np.abs(ref_w).max() > 0.95 * bound
    assert abs(w.mean()) < 0.1 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert abs(w.std() - ref_w.std()) < 0.05 * bound


def test_conv2d_module_dtype_and_rng():
    a = Conv2d(2, 3, 3, rng=np.random.default_rng(5))
    b = Conv2d(2, 3, 3, rng=np.random.default_rng(5))
    c = Conv2d(2, 3, 3, dtype=np.float64, rng=np.random.default_rng(5))
    assert a.weight.dtype == a.bias.dtype == np.float32 and c.weight.dtype == c.bias.dtype == np.float64
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_conv2d_module_backward_accumulates_grads_over_two_calls():
    m = Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(0))
    grads = []
    for seed in (1, 2):
        case = ConvCase(2, 2, 3, 1, 5, 4, (3, 3), padding=1, seed=seed)
        x, _, _, dout = case.arrays()
        m(x)
        m.backward(dout)
        _, cache = conv2d_forward(x, m.weight.data, m.bias.data, padding=1)
        grads.append(conv2d_backward(dout, cache))
    np.testing.assert_allclose(m.weight.grad, grads[0][1] + grads[1][1], rtol=1e-12)
    np.testing.assert_allclose(m.bias.grad, grads[0][2] + grads[1][2], rtol=1e-12)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_conv2d_module_without_bias_has_no_bias_grad():
    m = Conv2d(2, 3, 3, bias=False, dtype=np.float64)
    x = np.ones((1, 2, 4, 4))
    m.backward(np.ones(m(x).shape))
    assert m.bias is None and "bias" not in m.state_dict() and m.weight.grad is not None


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(padding_mode="bogus"), ValueError, "padding_mode must be one of 'zeros', 'reflect', 'replicate'"),
    (dict(padding_mode=None), ValueError, "padding_mode must be one of"),
    (dict(groups=0), ValueError, "groups to be positive"),
    (dict(in_channels=3, groups=2), ValueError, "in_channels must be divisible by groups"),
    (dict(out_channels=5, groups=2), ValueError, "out_channels must be divisible by groups"),
    (dict(padding="full"), ValueError, "invalid padding string 'full'"),
    (dict(padding="same", stride=2), ValueError, "padding='same' is not supported for strided"),
    (dict(padding="same", stride=(2,)), ValueError, "padding='same' is not supported for strided"),
    (dict(padding=-1), ValueError, "padding to be >= 0"),
    (dict(padding=()), ValueError, r"padding to be an int or a tuple of 1 or 2 ints, got \(\)"),
    (dict(stride=0), ValueError, "stride to be positive"),
    (dict(stride=(1, 1, 1)), ValueError, "stride to be an int or a tuple of 1 or 2 ints"),
    (dict(dilation=(1, 0)), ValueError, "dilation to be positive"),
    (dict(dilation=(0,)), ValueError, "dilation to be positive"),
    (dict(kernel_size=0), ValueError, "kernel_size to be positive"),
    (dict(kernel_size=(3, 3, 3)), ValueError, "kernel_size to be an int or a pair"),
    (dict(kernel_size=(3,)), ValueError, "kernel_size to be an int or a pair"),  # torch's Conv2d fails too
    (dict(in_channels=2.0), TypeError, "in_channels to be an int"),
    (dict(dtype=np.int32), TypeError, "dtype float32 or float64"),
], ids=str)
def test_conv2d_module_rejects_bad_constructor_arguments(kwargs, error, match):
    args = dict(in_channels=4, out_channels=6, kernel_size=3) | kwargs
    with pytest.raises(error, match=match):
        Conv2d(**args)


@pytest.mark.parametrize("kwargs", [dict(stride=(2,)), dict(padding=(1,)), dict(dilation=(2,)),
                                    dict(stride=[2], padding=[1], dilation=(1,))], ids=str)
def test_conv2d_module_expands_one_element_tuples_as_torch(kwargs):
    """stride/padding/dilation=(v,) mean (v, v), as in torch.nn.Conv2d (its F.conv2d expands them)."""
    ours = Conv2d(2, 3, 3, **kwargs, dtype=np.float64, rng=np.random.default_rng(0))
    ref = torch.nn.Conv2d(2, 3, 3, **kwargs).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    for name in kwargs:
        assert getattr(ours, name) == (kwargs[name][0],) * 2
    x = np.random.default_rng(1).standard_normal((2, 2, 7, 6))
    assert_parity("Conv2d.out", ours(x), ref(torch.from_numpy(x)), kwargs, 2 * 9)


def test_conv2d_one_element_tuples_expand_as_torch():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    kw = dict(stride=(2,), padding=(1,), dilation=[2])
    out, _ = conv2d_forward(x, w, **kw)
    assert_parity("conv2d.out", out, F.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw), kw, 12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_module_padding_mode_repr_and_state_dict_match_torch(mode):
    config = dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, padding_mode=mode)
    ours, ref = Conv2d(**config), torch.nn.Conv2d(**config)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize(("mode", "padding", "match"), [
    ("reflect", 4, r"pad2d: reflect padding must be less than the size of its axis, got top pad 4"),
    ("reflect", (1, 6), "pad2d: reflect padding must be less than the size of its axis, got left pad 6"),
    ("circular", 5, "pad2d: circular padding must be at most the size of its axis, got top pad 5"),
])
def test_conv2d_module_padding_mode_rejects_pads_torch_rejects(mode, padding, match):
    """x is 4 x 6: torch refuses a reflect pad >= the axis and a circular pad > it, so do we."""
    m = Conv2d(1, 1, 3, padding=padding, padding_mode=mode, dtype=np.float64)
    with pytest.raises(ValueError, match=match):
        m(np.ones((1, 1, 4, 6)))
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode).double()(torch.ones(1, 1, 4, 6).double())


@pytest.mark.parametrize(("args", "match"), [
    ((np.ones((2, 3)), (1, 1, 1, 1), "reflect"), "pad2d: expected x to be 3-D or 4-D"),
    ((np.ones((1, 2, 3)), (1, 1, 1), "reflect"), r"pad2d: expected pad to be \(left, right, top, bottom\)"),
    ((np.ones((1, 2, 3)), (1, 1, 1, -1), "constant"), "pad2d: expected pad to be >= 0, got -1"),
    ((np.ones((1, 2, 3)), (0, 0, 0, 0), "edge"), "pad2d: expected mode to be one of constant, reflect"),
])
def test_pad2d_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        pad2d_forward(*args)


def test_conv2d_module_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Conv2d(1, 1, 1).backward(np.ones((1, 1, 2, 2), dtype=np.float32))


# -- bad inputs of the functional op ---------------------------------------------------------------

X, W, B = np.ones((2, 4, 6, 6)), np.ones((6, 2, 3, 3)), np.ones(6)  # valid with groups=2
G2 = dict(groups=2)


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    ((np.ones((4, 6)), W), {}, ValueError, r"conv2d: expected x to be 3-D or 4-D .* got 2-D"),
    ((X, np.ones((6, 2, 3))), G2, ValueError, r"conv2d: expected weight to be 4-D .* got 3-D"),
    ((X, W), {}, ValueError, r"conv2d: expected x to have C_in = weight.shape\[1\]·groups = 2 channels"),
    ((np.ones((2, 3, 6, 6)), np.ones((6, 1, 3, 3))), G2, ValueError, "groups=2 must divide C_in"),
    ((X, np.ones((5, 2, 3, 3))), G2, ValueError, "groups=2 must divide C_out"),
    ((X, W), dict(groups=0), ValueError, "conv2d: expected groups to be positive, got 0"),
    ((X, W), dict(groups=-2), ValueError, "conv2d: expected groups to be positive, got -2"),
    ((X, W), dict(groups=2, dilation=3), ValueError, r"dilated kernel \(7 x 7\) is larger than the padded"),
    ((X, np.ones((6, 2, 9, 1))), dict(groups=2, padding=1), ValueError, r"kernel \(9 x 1\) is larger"),
    ((X, W), dict(groups=2, stride=0), ValueError, "conv2d: expected stride to be positive, got 0"),
    ((X, W), dict(groups=2, stride=(1, -1)), ValueError, "conv2d: expected stride to be positive, got -1"),
    ((X, W), dict(groups=2, stride=(1, 2, 3)), ValueError, "conv2d: expected stride to be an int or a tuple of 1"),
    ((X, W), dict(groups=2, stride=()), ValueError, r"conv2d: expected stride .* 1 or 2 ints, got \(\)"),
    ((X, W), dict(groups=2, padding=[]), ValueError, r"conv2d: expected padding .* 1 or 2 ints, got \[\]"),
    ((X, W), dict(groups=2, dilation=(0,)), ValueError, "conv2d: expected dilation to be positive, got 0"),
    ((X, W), dict(groups=2, stride=1.5), TypeError, "conv2d: expected stride to be an int"),
    ((X, W), dict(groups=2, dilation=0), ValueError, "conv2d: expected dilation to be positive, got 0"),
    ((X, W), dict(groups=2, padding=-1), ValueError, "conv2d: expected padding to be >= 0, got -1"),
    ((X, W), dict(groups=2, padding="full"), ValueError, "conv2d: invalid padding string 'full'"),
    ((X, W), dict(groups=2, padding="same", stride=2), ValueError, "'same' is not supported for strided"),
    ((X.astype(np.int64), W), G2, TypeError, "expected x of dtype float32 or float64, got int64"),
    ((X.astype(bool), W), G2, TypeError, "expected x of dtype float32 or float64, got bool"),
    ((X, W.astype(np.complex128)), G2, TypeError, "weight of dtype float32 or float64, got complex"),
    ((X, W, B.astype(np.int32)), G2, TypeError, "bias of dtype float32 or float64, got int32"),
    ((X.tolist(), W), G2, TypeError, "conv2d: expected x to be a numpy.ndarray, got list"),
    ((X.astype(np.float32), W), G2, TypeError, r"expected weight to have the dtype of x \(float32\)"),
    ((X, W, B.astype(np.float32)), G2, TypeError, r"expected bias to have the dtype of x \(float64\)"),
    ((X, W, np.ones(5)), G2, ValueError, r"conv2d: expected bias of shape \(6,\), got \(5,\)"),
    ((X, W, np.ones((6, 1))), G2, ValueError, r"conv2d: expected bias of shape \(6,\), got \(6, 1\)"),
    ((X, np.ones((6, 2, 0, 3))), G2, ValueError, "weight .* without empty dimensions"),
    ((np.ones((2, 4, 0, 6)), W), dict(groups=2, padding=2), ValueError, "expected x with H, W >= 1"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_conv2d_rejects_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        conv2d_forward(*args, **kwargs)


@pytest.mark.parametrize(("dout", "error", "match"), [
    (np.ones((2, 6, 4, 3)), ValueError, r"conv2d_backward: expected dout of shape \(2, 6, 4, 4\), got \(2,"),
    (np.ones((6, 4, 4)), ValueError, r"conv2d_backward: expected dout of shape \(2, 6, 4, 4\)"),
    (np.ones((2, 6, 4, 4), dtype=np.float32), TypeError, r"expected dout to have the dtype of x \(float64\)"),
    (np.ones((2, 6, 4, 4), dtype=np.int64), TypeError, "expected dout of dtype float32 or float64"),
], ids=["shape", "rank", "dtype", "int"])
def test_conv2d_backward_rejects_bad_dout(dout, error, match):
    _, cache = conv2d_forward(X, W, B, groups=2)
    with pytest.raises(error, match=match):
        conv2d_backward(dout, cache)


def test_conv2d_unbatched_backward_expects_unbatched_dout():
    _, cache = conv2d_forward(X[0], W, B, groups=2)
    with pytest.raises(ValueError, match=r"expected dout of shape \(6, 4, 4\), got \(1, 6, 4, 4\)"):
        conv2d_backward(np.ones((1, 6, 4, 4)), cache)
