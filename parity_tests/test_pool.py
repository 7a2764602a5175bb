"""Pooling parity (max, avg, sum) with torch, on both backends (through the dispatching
:mod:`scratch.functional`): forward and dx, ties, NaN/inf, layouts, float32 results bit for bit, the
evaluation batch on the serial and threaded paths, torch's tuple expansion of the arguments, finite
differences, modules, and one test per bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import scratch.functional as F
from parity_tests.parity import assert_finite_difference, assert_parity
from parity_tests.strategies import distinct_array
from parity_tests.strategies.pool import LAYOUTS, PoolCase, pool_case, pool_cases, torch_pool
from scratch.nn.module import Sequential
from scratch.nn.pool import AvgPool2d, MaxPool2d, SumPool2d

OPS = {
    "max": (F.max_pool2d_forward, F.max_pool2d_backward),
    "avg": (F.avg_pool2d_forward, F.avg_pool2d_backward),
    "sum": (F.sum_pool2d_forward, F.sum_pool2d_backward),
}


def check_against_torch(case: PoolCase, exact_dx: bool = False) -> None:
    """Forward and dx of ``case`` against torch autograd (max: exact forward; avg/sum: kH·kW-term sums)."""
    forward, backward = OPS[case.kind]
    out, cache = forward(case.x, **case.kwargs())
    dx = backward(case.dout, cache)
    xt = torch.from_numpy(case.x).requires_grad_(True)
    ref = torch_pool(case.kind, xt, **case.kwargs())
    ref.backward(torch.from_numpy(case.dout))
    out_reduction = 1 if case.kind == "max" else case.window
    assert_parity(f"{case.kind}_pool2d.out", out, ref, case, reduction=out_reduction)
    assert_parity(f"{case.kind}_pool2d.dx", dx, xt.grad, case, reduction=case.window)
    if exact_dx:
        assert np.array_equal(dx, xt.grad.numpy()), f"{case.kind}_pool2d.dx is not torch's exactly | {case}"


def corner_examples(kind: str):
    """``@example``s: kernel 1, stride > kernel, odd sizes, ceil_mode partial windows, all-equal windows,
    overlapping windows, pairs, a ceil_mode kernel larger than the input, LeNet's shape in float32."""
    cases = [
        pool_case(kind, (2, 3, 5, 4), 1),
        pool_case(kind, (1, 2, 7, 8), 2, stride=3),
        pool_case(kind, (2, 2, 7, 5), 2),
        pool_case(kind, (1, 2, 5, 5), 2, ceil_mode=True),
        pool_case(kind, (1, 1, 4, 4), 3, 2, 1, ceil_mode=True),
        pool_case(kind, (1, 1, 5, 6), (3, 2), (2, 3), (1, 0), ceil_mode=True),
        pool_case(kind, (1, 2, 4, 4), 2, values="equal"),
        pool_case(kind, (1, 1, 5, 5), 3, 1, 1, values="equal"),
        pool_case(kind, (3, 5, 6), (2, 3), 1, (1, 1)),
        pool_case(kind, (1, 1, 1, 2), 3, 3, ceil_mode=True),
        pool_case(kind, (4, 6, 28, 28), 2, 2, dtype=np.float32),
    ]
    if kind == "max":
        cases += [pool_case(kind, (2, 1, 7, 6), (3, 2), (2, 1), (1, 1), (2, 3)),
                  pool_case(kind, (1, 1, 5, 5), 2, 1, 1, 2, ceil_mode=True, values="ties")]
    if kind == "avg":
        cases += [pool_case(kind, (1, 1, 4, 4), 3, 2, 1, ceil_mode=True, count_include_pad=False),
                  pool_case(kind, (1, 2, 5, 5), 3, 2, 1, divisor_override=5),
                  pool_case(kind, (1, 2, 5, 5), 2, 1, 1, divisor_override=-2)]

    def decorate(test):
        for case in cases:
            test = example(case=case)(test)
        return test
    return decorate


# -- forward and dx against torch ----------------------------------------------------------------------

@corner_examples("max")
@given(case=pool_cases("max"))
def test_max_pool2d_matches_torch(case):
    check_against_torch(case)


@corner_examples("avg")
@given(case=pool_cases("avg"))
def test_avg_pool2d_matches_torch(case):
    check_against_torch(case)


@corner_examples("sum")
@given(case=pool_cases("sum"))
def test_sum_pool2d_matches_torch(case):
    check_against_torch(case)


@example(case=pool_case("max", (1, 1, 4, 4), 2, 2, values="equal"))
@example(case=pool_case("max", (1, 1, 5, 5), 3, 1, 1, values="equal"))
@given(case=pool_cases("max", values=("ties", "equal")))
def test_max_pool2d_ties_route_like_torch(case):
    """Several maxima in a window: the gradient goes to the first one in row-major order, as torch."""
    check_against_torch(case, exact_dx=True)


@example(case=pool_case("max", (1, 1, 3, 3), 2, 1, 1, values="special", seed=1))
@given(case=pool_cases("max", values=("special",)))
def test_max_pool2d_nan_and_inf_like_torch(case):
    """NaN wins its window (the last NaN takes the gradient); a window of -inf routes to its first tap."""
    check_against_torch(case, exact_dx=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_all_minus_inf_routes_to_first_tap(dtype):
    case = pool_case("max", (1, 2, 3, 3), 2, 1, 1, dtype=dtype, values="minus_inf")
    check_against_torch(case, exact_dx=True)


@given(case=st.sampled_from(("avg", "sum")).flatmap(lambda kind: pool_cases(kind, values=("special",))))
def test_avg_and_sum_pool2d_nan_and_inf_like_torch(case):
    check_against_torch(case)


@given(case=st.sampled_from(("max", "avg", "sum")).flatmap(
    lambda kind: pool_cases(kind, values=("distinct", "ties"), layouts=LAYOUTS[1:])))
def test_noncontiguous_input_matches_torch(case):
    check_against_torch(case)


@given(case=pool_cases("sum"))
def test_sum_pool2d_is_window_size_times_avg_pool2d(case):
    """The LeNet definition: sum pooling = avg_pool2d(divisor_override=kH·kW) · kH·kW."""
    out, cache = F.sum_pool2d_forward(case.x, **case.kwargs())
    dx = F.sum_pool2d_backward(case.dout, cache)
    xt = torch.from_numpy(case.x).requires_grad_(True)
    ref = torch.nn.functional.avg_pool2d(xt, **case.kwargs(), divisor_override=case.window) * case.window
    ref.backward(torch.from_numpy(case.dout))
    assert_parity("sum_pool2d.out", out, ref, case, reduction=case.window)
    assert_parity("sum_pool2d.dx", dx, xt.grad, case, reduction=case.window)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_pool2d_is_avg_pool2d_times_window_where_no_window_is_cut(dtype):
    case = pool_case("sum", (3, 6, 28, 28), 2, dtype=dtype)
    out, _ = F.sum_pool2d_forward(case.x, 2)
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(case.x), 2) * 4
    assert_parity("sum_pool2d.out", out, ref, case, reduction=4)


def test_max_pool2d_window_of_padding_only_gives_minus_inf_and_no_gradient():
    """Dilation can place every tap of a window in the padding: torch's forward gives -inf there (its
    backward writes out of bounds, so only the forward is compared); ours drops that gradient."""
    case = pool_case("max", (1, 1, 2, 2), 2, 1, 1, 3)
    out, cache = F.max_pool2d_forward(case.x, 2, 1, 1, 3)
    with torch.no_grad():
        ref = torch.nn.functional.max_pool2d(torch.from_numpy(case.x), 2, 1, 1, 3)
    assert_parity("max_pool2d.out", out, ref, case)
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == -np.inf
    assert np.array_equal(F.max_pool2d_backward(np.ones_like(out), cache), np.zeros_like(case.x))


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_empty_batch_matches_torch(kind):
    check_against_torch(pool_case(kind, (0, 2, 5, 5), 2, ceil_mode=True, dtype=np.float32))


# -- float32 bit for bit, and the evaluation batch on every path -------------------------------------------

def _exact(case: PoolCase) -> None:
    """out, then dx, of ``case`` equal torch's bit for bit (NaN where torch has NaN); the forward is checked
    first (a backward over wrong indices could write anywhere)."""
    forward, backward = OPS[case.kind]
    xt = torch.from_numpy(case.x).requires_grad_(True)
    ref = torch_pool(case.kind, xt, **case.kwargs())
    ref.backward(torch.from_numpy(case.dout))
    out, cache = forward(case.x, **case.kwargs())
    _bits(f"{case.kind}_pool2d.out", out, ref.detach().numpy(), case)
    _bits(f"{case.kind}_pool2d.dx", backward(case.dout, cache), xt.grad.numpy(), case)


def _bits(name: str, ours: np.ndarray, theirs: np.ndarray, case: PoolCase) -> None:
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (
        f"{name}: {ours.shape} {ours.dtype} vs torch {theirs.shape} {theirs.dtype} | {case}")
    off = ~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs)))
    assert not off.any(), (f"{name}: {int(off.sum())} of {off.size} entries differ from torch's bits "
                           f"(first at {np.argwhere(off)[0]}) | {case}")


@example(case=pool_case("avg", (4, 6, 28, 28), 2, dtype=np.float32, values="rounding"))
@example(case=pool_case("sum", (4, 6, 28, 28), 2, dtype=np.float32, values="rounding"))
@example(case=pool_case("avg", (2, 3, 11, 9), 3, 2, 1, ceil_mode=True, count_include_pad=False,
                        dtype=np.float32, values="rounding"))
@example(case=pool_case("avg", (2, 3, 9, 9), (3, 4), 1, (1, 2), divisor_override=3, dtype=np.float32,
                        values="rounding"))
@example(case=pool_case("sum", (2, 3, 9, 10), 4, (1, 3), 2, ceil_mode=True, dtype=np.float32, values="rounding",
                        layout="channels_last"))
@given(case=st.sampled_from(("avg", "sum")).flatmap(lambda kind: pool_cases(
    kind, values=("rounding", "special"), dtypes=st.just(np.float32), layouts=LAYOUTS)))
def test_float32_avg_and_sum_pool2d_are_torch_bit_for_bit(case):
    """float32 average and sum pooling equal torch's CPU result bit for bit, forward and dx.

    torch's CPU kernels (torch 2.x, NCHW and channels-last alike) sum each window from 0 in row-major
    order in float32, divide by the divisor, and accumulate dx over the windows in output order; both
    backends do the same, so no tolerance is needed. Checked here for every option the strategy draws
    (padding, ceil_mode, count_include_pad, divisor_override, overlapping windows, unbatched input,
    strided / transposed / channels-last inputs, NaN and inf). A float32 op accumulating in float64 (still
    returning float32) is 1 ulp off in about a third of the outputs and fails here, though it passes the
    tolerance of :func:`check_against_torch`. The scope is torch's CPU kernels as measured; a torch build
    with another summation order would need the tolerance instead.
    """
    _exact(case)


EVAL_BATCH = 512  # the CLI's evaluation batch: 512·6·28·28 = 2.4M input elements, over every threshold


@pytest.mark.parametrize("kind, shape, values, dtype", [
    ("max", (EVAL_BATCH, 6, 28, 28), "distinct", np.float64),
    ("max", (EVAL_BATCH, 16, 10, 10), "ties", np.float32),
    ("avg", (EVAL_BATCH, 6, 28, 28), "rounding", np.float32),
    ("avg", (EVAL_BATCH, 6, 28, 28), "rounding", np.float64),
    ("sum", (EVAL_BATCH, 6, 28, 28), "rounding", np.float32),
    ("sum", (EVAL_BATCH, 16, 10, 10), "rounding", np.float32),
])
def test_evaluation_batch_is_torch_bit_for_bit(kind, shape, values, dtype, threads):
    """The evaluation batch with 2×2 pooling, on the kernels' serial and threaded paths: every plane
    written (a thread skipping its chunk leaves garbage), and equal to torch bit for bit."""
    _exact(pool_case(kind, shape, 2, dtype=dtype, values=values))


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
def test_evaluation_batch_with_cut_windows_is_torch_bit_for_bit(kind, threads):
    """The tables path (padding, ceil_mode, overlapping windows) at the evaluation batch, both paths."""
    _exact(pool_case(kind, (EVAL_BATCH, 4, 13, 13), 3, 2, 1, ceil_mode=True, dtype=np.float32,
                     values="rounding"))


# -- torch's expansion of the window arguments ---------------------------------------------------------------

EXPANDED = [  # (kwargs): torch accepts each and expands it as shown in the id
    dict(kernel_size=(2,)), dict(kernel_size=[3]), dict(kernel_size=2, padding=(1,)),
    dict(kernel_size=2, stride=(1,)), dict(kernel_size=(3, 2), stride=[2]), dict(kernel_size=3, stride=()),
    dict(kernel_size=(3, 2), stride=[]), dict(kernel_size=(2,), stride=(), padding=[1], ceil_mode=True),
]
EXPANDED_IDS = ["k(2,)", "k[3]", "p(1,)", "s(1,)", "s[2]", "s()", "s[]", "all"]


@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
@pytest.mark.parametrize("kwargs", EXPANDED, ids=EXPANDED_IDS)
def test_one_element_and_empty_tuples_expand_like_torch(kind, kwargs):
    """A 1-tuple is used for both axes and an empty stride means the default (kernel_size), as torch's
    max_pool2d / avg_pool2d do."""
    case = pool_case(kind, (2, 3, 7, 6), **kwargs)
    check_against_torch(case, exact_dx=kind == "max")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, dilation=(2,)), dict(kernel_size=(3,), dilation=[1])])
def test_max_pool2d_one_element_dilation_expands_like_torch(kwargs):
    check_against_torch(pool_case("max", (1, 2, 7, 7), **kwargs), exact_dx=True)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=()), dict(kernel_size=2, padding=()),
                                    dict(kernel_size=(2, 2, 2)), dict(kernel_size=2, stride=(1, 2, 3)),
                                    dict(kernel_size=2, padding=(1, 1, 1))],
                         ids=["k()", "p()", "k(2,2,2)", "s(1,2,3)", "p(1,1,1)"])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_tuples_torch_refuses_are_refused(kind, kwargs):
    x = np.zeros((1, 1, 6, 6))
    with pytest.raises(RuntimeError):
        torch_pool(kind, torch.from_numpy(x), **kwargs)
    with pytest.raises(ValueError, match=rf"{kind}_pool2d: expected \w+ to be an int or a tuple of 1 or 2 ints"):
        OPS[kind][0](x, **kwargs)


TUPLE_MODULES = [
    (lambda: MaxPool2d((2,)), lambda: torch.nn.MaxPool2d((2,))),
    (lambda: MaxPool2d(3, stride=(), padding=(1,), dilation=(2,)),
     lambda: torch.nn.MaxPool2d(3, stride=(), padding=(1,), dilation=(2,))),
    (lambda: AvgPool2d((3, 2), stride=[]), lambda: torch.nn.AvgPool2d((3, 2), stride=[])),
    (lambda: AvgPool2d([2], stride=(1,), padding=(1,)), lambda: torch.nn.AvgPool2d([2], stride=(1,), padding=(1,))),
    (lambda: SumPool2d(3, stride=()), lambda: torch.nn.AvgPool2d(3, stride=(), divisor_override=1)),
]


@pytest.mark.parametrize("make", TUPLE_MODULES, ids=["max-k(2,)", "max-s()", "avg-s[]", "avg-p(1,)", "sum-s()"])
def test_modules_expand_tuples_like_torch(make):
    ours, theirs = make[0](), make[1]()
    rng = np.random.default_rng(0)
    x = distinct_array(rng, (2, 3, 8, 7))
    xt = torch.from_numpy(x).requires_grad_(True)
    ref = theirs(xt)
    dout = distinct_array(rng, tuple(ref.shape))
    ref.backward(torch.from_numpy(dout))
    assert_parity(f"{ours!r}.out", ours(x), ref, f"{ours!r}", reduction=9)
    assert_parity(f"{ours!r}.dx", ours.backward(dout), xt.grad, f"{ours!r}", reduction=9)
    if not isinstance(ours, SumPool2d):
        assert repr(ours) == repr(theirs)


# -- finite differences (float64, tie-free, independent of torch) --------------------------------------

@pytest.mark.parametrize("kind", ["max", "avg", "sum"])
@given(data=st.data())
def test_backward_matches_finite_differences(kind, data):
    case = data.draw(pool_cases(kind, dtypes=st.just(np.float64), small=True))
    forward, backward = OPS[kind]
    out, cache = forward(case.x, **case.kwargs())
    dx = backward(case.dout, cache)
    assert_finite_difference(f"{kind}_pool2d.dx", lambda x: forward(x, **case.kwargs())[0], case.x,
                             case.dout, dx, case)


def test_backward_where_overlapping_windows_cancel_matches_finite_differences():
    """Two windows share their maximum and get upstream gradients of opposite sign: the gradient there
    cancels to 4e-5, below the central differences' rounding relative to it (a thorough-profile find, here
    with values for which the rounding exceeds 1e-6 of the cancelled gradient)."""
    x = np.array([0.023643249400513433, 2.4486494471372438, -0.7116807745607325]).reshape(1, 1, 3, 1)
    dout = np.array([0.9677471780157282, -0.9677056526438893]).reshape(1, 1, 2, 1)
    out, cache = F.max_pool2d_forward(x, (2, 1), stride=1)
    dx = F.max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(dx.ravel(), [0.0, dout.sum(), 0.0])
    assert_finite_difference("max_pool2d.dx", lambda v: F.max_pool2d_forward(v, (2, 1), stride=1)[0], x, dout, dx,
                             "x (1, 1, 3, 1), kernel (2, 1), stride 1")


# -- modules -------------------------------------------------------------------------------------------

MODULES = [
    (lambda: MaxPool2d(2), lambda: torch.nn.MaxPool2d(2)),
    (lambda: MaxPool2d((3, 2), 1, (1, 0), 2, ceil_mode=True), lambda: torch.nn.MaxPool2d((3, 2), 1, (1, 0), 2,
                                                                                          ceil_mode=True)),
    (lambda: AvgPool2d(3, 2, 1, True, False), lambda: torch.nn.AvgPool2d(3, 2, 1, True, False)),
    (lambda: AvgPool2d(2, divisor_override=3), lambda: torch.nn.AvgPool2d(2, divisor_override=3)),
    (lambda: SumPool2d(3, 2, 1, True), lambda: torch.nn.AvgPool2d(3, 2, 1, True, divisor_override=1)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", MODULES, ids=["max", "max-pairs", "avg", "avg-divisor", "sum"])
def test_module_matches_torch_module(make, dtype):
    ours, theirs = make[0](), make[1]()
    rng = np.random.default_rng(0)
    x = distinct_array(rng, (2, 3, 7, 6), dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    ref = theirs(xt)
    dout = distinct_array(rng, tuple(ref.shape), dtype)
    ref.backward(torch.from_numpy(dout))
    label = f"{ours!r} x{x.shape} {np.dtype(dtype)}"
    k = int(np.prod(ours.kernel_size))
    assert_parity(f"{type(ours).__name__}.out", ours(x), ref, label, reduction=k)
    assert_parity(f"{type(ours).__name__}.dx", ours.backward(dout), xt.grad, label, reduction=k)


@pytest.mark.parametrize("make", MODULES[:4], ids=["max", "max-pairs", "avg", "avg-divisor"])
def test_module_repr_matches_torch(make):
    assert repr(make[0]()) == repr(make[1]())


def test_sum_pool2d_repr():
    assert repr(SumPool2d(2)) == "SumPool2d(kernel_size=2, stride=2, padding=0)"


def test_max_pool2d_return_indices_match_torch():
    x = pool_case("max", (2, 3, 7, 6), 3, values="ties").x
    out, indices = MaxPool2d(3, 2, 1, return_indices=True)(x)
    ref, ref_indices = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.from_numpy(x))
    assert_parity("MaxPool2d.out", out, ref, "MaxPool2d(3, 2, 1, return_indices=True) ties x(2, 3, 7, 6)")
    assert indices.dtype == np.int64 and np.array_equal(indices, ref_indices.numpy())


def test_pooling_in_sequential_matches_torch():
    rng = np.random.default_rng(0)
    x = distinct_array(rng, (2, 3, 12, 12), np.float32)
    ours = Sequential(MaxPool2d(2), SumPool2d(2), AvgPool2d(3, padding=1))
    theirs = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.AvgPool2d(2, divisor_override=1),
                                 torch.nn.AvgPool2d(3, padding=1))
    xt = torch.from_numpy(x).requires_grad_(True)
    ref = theirs(xt)
    dout = distinct_array(rng, tuple(ref.shape), np.float32)
    ref.backward(torch.from_numpy(dout))
    assert_parity("Sequential.out", ours(x), ref, "max2, sum2, avg3p1 x(2, 3, 12, 12) float32", reduction=36)
    assert_parity("Sequential.dx", ours.backward(dout), xt.grad, "max2, sum2, avg3p1", reduction=36)


@pytest.mark.parametrize("module", [MaxPool2d(2), AvgPool2d(2), SumPool2d(2)], ids=["max", "avg", "sum"])
def test_module_backward_before_forward_raises(module):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        module.backward(np.zeros((1, 1, 1, 1)))


# -- bad inputs ------------------------------------------------------------------------------------------

X = np.zeros((1, 2, 4, 4))


def _backward(kind: str, dout: np.ndarray, **kw):
    forward, backward = OPS[kind]
    _, cache = forward(X, 2, **kw)
    return backward(dout, cache)


BAD_INPUTS = [
    ("x-not-array", lambda: F.max_pool2d_forward(X.tolist(), 2), TypeError,
     r"max_pool2d: expected x to be a numpy.ndarray, got list"),
    ("x-int-dtype", lambda: F.avg_pool2d_forward(X.astype(np.int64), 2), TypeError,
     r"avg_pool2d: expected x of dtype float32 or float64, got int64"),
    ("x-float16", lambda: F.sum_pool2d_forward(X.astype(np.float16), 2), TypeError,
     r"sum_pool2d: expected x of dtype float32 or float64, got float16"),
    ("x-2d", lambda: F.max_pool2d_forward(X[0, 0], 2), ValueError,
     r"max_pool2d: expected x to be 3-D or 4-D .*got 2-D"),
    ("x-5d", lambda: F.avg_pool2d_forward(X[None], 2), ValueError,
     r"avg_pool2d: expected x to be 3-D or 4-D .*got 5-D"),
    ("x-empty-plane", lambda: F.sum_pool2d_forward(np.zeros((1, 2, 0, 4)), 1), ValueError,
     r"sum_pool2d: expected x with non-zero C, H and W .*got shape \(1, 2, 0, 4\)"),
    ("x-no-channels", lambda: F.max_pool2d_forward(np.zeros((1, 0, 4, 4)), 1), ValueError,
     r"max_pool2d: expected x with non-zero C, H and W"),
    ("kernel-zero", lambda: F.max_pool2d_forward(X, 0), ValueError,
     r"max_pool2d: expected kernel_size to be positive, got 0"),
    ("kernel-negative", lambda: F.avg_pool2d_forward(X, (2, -1)), ValueError,
     r"avg_pool2d: expected kernel_size to be positive, got -1"),
    ("kernel-float", lambda: F.sum_pool2d_forward(X, 2.0), TypeError,
     r"sum_pool2d: expected kernel_size to be an int, got 2.0"),
    ("kernel-triple", lambda: F.max_pool2d_forward(X, (2, 2, 2)), ValueError,
     r"max_pool2d: expected kernel_size to be an int or a tuple of 1 or 2 ints, got \(2, 2, 2\)"),
    ("kernel-empty", lambda: F.avg_pool2d_forward(X, ()), ValueError,
     r"avg_pool2d: expected kernel_size to be an int or a tuple of 1 or 2 ints, got \(\)"),
    ("padding-empty", lambda: F.max_pool2d_forward(X, 2, padding=()), ValueError,
     r"max_pool2d: expected padding to be an int or a tuple of 1 or 2 ints, got \(\)"),
    ("dilation-empty", lambda: F.max_pool2d_forward(X, 2, dilation=[]), ValueError,
     r"max_pool2d: expected dilation to be an int or a tuple of 1 or 2 ints, got \[\]"),
    ("stride-triple", lambda: F.sum_pool2d_forward(X, 2, (1, 2, 3)), ValueError,
     r"sum_pool2d: expected stride to be an int or a tuple of 1 or 2 ints, got \(1, 2, 3\)"),
    ("stride-zero", lambda: F.max_pool2d_forward(X, 2, 0), ValueError,
     r"max_pool2d: expected stride to be positive, got 0"),
    ("stride-negative", lambda: F.avg_pool2d_forward(X, 2, (1, -2)), ValueError,
     r"avg_pool2d: expected stride to be positive, got -2"),
    ("stride-bool", lambda: F.sum_pool2d_forward(X, 2, True), TypeError,
     r"sum_pool2d: expected stride to be an int, got True"),
    ("dilation-zero", lambda: F.max_pool2d_forward(X, 2, dilation=0), ValueError,
     r"max_pool2d: expected dilation to be positive, got 0"),
    ("dilation-negative", lambda: F.max_pool2d_forward(X, 2, dilation=(1, -1)), ValueError,
     r"max_pool2d: expected dilation to be positive, got -1"),
    ("padding-negative", lambda: F.avg_pool2d_forward(X, 2, padding=-1), ValueError,
     r"avg_pool2d: expected padding to be >= 0, got -1"),
    ("padding-over-half-kernel", lambda: F.max_pool2d_forward(X, 3, padding=2), ValueError,
     r"max_pool2d: padding should be at most half of kernel_size, got padding=\(2, 2\) with "
     r"kernel_size=\(3, 3\)"),
    ("padding-over-half-kernel-one-axis", lambda: F.sum_pool2d_forward(X, (4, 2), padding=(2, 2)), ValueError,
     r"sum_pool2d: padding should be at most half of kernel_size, got padding=\(2, 2\)"),
    ("padding-over-half-kernel-despite-dilation", lambda: F.max_pool2d_forward(X, 2, 1, 2, 3), ValueError,
     r"max_pool2d: padding should be at most half of kernel_size"),
    ("kernel-larger-than-input", lambda: F.avg_pool2d_forward(X, 5), ValueError,
     r"avg_pool2d: kernel_size=\(5, 5\) .* larger than the padded input \(4 x 4\): output size would be "
     r"\(0 x 0\), expected at least \(1 x 1\)"),
    ("dilated-kernel-larger-than-input", lambda: F.max_pool2d_forward(X, 2, dilation=(1, 4)), ValueError,
     r"max_pool2d: kernel_size=\(2, 2\) with dilation=\(1, 4\) is larger than the padded input"),
    ("ceil-mode-not-bool", lambda: F.max_pool2d_forward(X, 2, ceil_mode=1), TypeError,
     r"max_pool2d: expected ceil_mode to be a bool, got 1"),
    ("count-include-pad-not-bool", lambda: F.avg_pool2d_forward(X, 2, count_include_pad="yes"), TypeError,
     r"avg_pool2d: expected count_include_pad to be a bool, got 'yes'"),
    ("divisor-override-zero", lambda: F.avg_pool2d_forward(X, 2, divisor_override=0), ValueError,
     r"avg_pool2d: expected divisor_override to be non-zero \(or None\), got 0"),
    ("divisor-override-float", lambda: F.avg_pool2d_forward(X, 2, divisor_override=2.5), TypeError,
     r"avg_pool2d: expected divisor_override to be an int, got 2.5"),
    ("max-dout-shape", lambda: _backward("max", np.zeros((1, 2, 3, 2))), ValueError,
     r"max_pool2d_backward: expected dout of shape \(1, 2, 2, 2\), got \(1, 2, 3, 2\)"),
    ("avg-dout-shape", lambda: _backward("avg", np.zeros((2, 2, 2))), ValueError,
     r"avg_pool2d_backward: expected dout of shape \(1, 2, 2, 2\), got \(2, 2, 2\)"),
    ("sum-dout-shape", lambda: _backward("sum", np.zeros((1, 2, 2, 2, 1))), ValueError,
     r"sum_pool2d_backward: expected dout of shape \(1, 2, 2, 2\), got \(1, 2, 2, 2, 1\)"),
    ("max-dout-dtype", lambda: _backward("max", np.zeros((1, 2, 2, 2), np.float32)), TypeError,
     r"max_pool2d_backward: expected dout to have the dtype of the forward input \(float64\), got float32"),
    ("avg-dout-int", lambda: _backward("avg", np.zeros((1, 2, 2, 2), np.int32)), TypeError,
     r"avg_pool2d_backward: expected dout of dtype float32 or float64, got int32"),
    ("sum-dout-not-array", lambda: _backward("sum", 1.0), TypeError,
     r"sum_pool2d_backward: expected dout to be a numpy.ndarray, got float"),
]


@pytest.mark.parametrize("call, error, message", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises(call, error, message):
    with pytest.raises(error, match=message):
        call()
