"""The conv engine (scratch.kernels.conv) against the reference (scratch.functional.conv), on its serial and
threaded paths: float64 to 1e-12 relative, float32 by the reduction-length rule, each entry judged against
the size of its terms (the reference applied to |x|, |w|, |b|, |dout|), infs and nans at the same places.

1e-12 for float64: a K-term sum rounds to ~sqrt(K)·eps64 ≈ 2.2e-16·sqrt(K) of its terms' size, ~5e-14 for
the longest sum here (dw of the batch-512 case, K = 51,200); a wrong index or a skipped image is O(1).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parity_tests.parity import tolerance
from parity_tests.strategies.conv import ConvCase, ConvDraw, conv_cases, conv_draws
from scratch.functional import conv as reference
from scratch.kernels import conv as kernel

pytestmark = [pytest.mark.backend_independent,
              pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")]

f32, f64 = np.float32, np.float64
TOL64 = 1e-12
_fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                              HealthCheck.data_too_large])


def assert_close(name: str, ours, ref, scale, tol: float, case) -> None:
    """Same shape, dtype and non-finite entries; |ours_i - ref_i| <= tol·scale_i (+ the smallest normal)."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (
        f"{name}: {ours.shape} {ours.dtype} vs reference {ref.shape} {ref.dtype} | case: {case}")
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(ours)) and np.array_equal(ours[~finite], ref[~finite],
                                                                          equal_nan=True), (
        f"{name}: inf/nan pattern differs from the reference | case: {case}")
    err = np.abs(ours[finite].astype(f64) - ref[finite])
    bound = tol * scale[finite] + np.finfo(ours.dtype).tiny
    worst = int(np.argmax(err - bound)) if err.size else 0
    assert not err.size or err[worst] <= bound[worst], (
        f"{name}: err {err[worst]:.3e} > tol {tol:.1e} x scale {scale[finite][worst]:.3e} | case: {case}")


def check_kernel(draw: ConvDraw) -> None:
    """out, dx, dw, db of the kernel equal the reference's; input_grad=False gives dx None and equal dw."""
    case, x, w, b, dout = draw
    kw = case.kwargs()
    out, cache = kernel.conv2d_forward(x, w, b, **kw)
    ref_out, ref_cache = reference.conv2d_forward(x, w, b, **kw)
    assert type(cache).__module__ == "scratch.kernels.conv", type(cache)
    grads, ref_grads = kernel.conv2d_backward(dout, cache), reference.conv2d_backward(dout, ref_cache)
    absolute = [None if a is None else np.abs(a) for a in (x, w, b, dout)]
    s_out, s_cache = reference.conv2d_forward(*absolute[:3], **kw)
    scales = (s_out, *reference.conv2d_backward(absolute[3], s_cache))
    k = case.reductions()
    for name, ours, ref, scale in zip(("out", "dx", "dw", "db"), (out, *grads), (ref_out, *ref_grads), scales,
                                      strict=True):
        if ref is None:
            assert ours is None, f"conv2d.{name}: expected None | case: {case}"
            continue
        tol = TOL64 if case.dtype == f64 else tolerance(f32, k[name])
        assert_close(f"conv2d.{name}", ours, ref, scale, tol, case)
    no_dx, dw, db = kernel.conv2d_backward(dout, cache, input_grad=False)
    assert no_dx is None
    np.testing.assert_array_equal(dw, grads[1], err_msg=f"conv2d.dw with input_grad=False | case: {case}")
    if b is not None:
        np.testing.assert_array_equal(db, grads[2], err_msg=f"conv2d.db with input_grad=False | case: {case}")


@_fixture_ok
@given(draw=conv_draws())
@example(draw=ConvCase(2, 6, 16, 1, 14, 14, (5, 5), dtype=f32, seed=1).seeded())  # unpadded stride-1 source
@example(draw=ConvCase(3, 1, 6, 1, 28, 28, (5, 5), padding=2, dtype=f32, seed=2).seeded())  # padded source
@example(draw=ConvCase(2, 32, 64, 1, 3, 30, (3, 3), padding=1, seed=3).seeded())  # 1-row blocks, split GEMMs
@example(draw=ConvCase(3, 32, 64, 1, 9, 40, (3, 3), stride=2, padding=1, dtype=f32, seed=4).seeded())  # strided
@example(draw=ConvCase(2, 6, 6, 3, 7, 9, (3, 2), stride=(1, 2), padding=(2, 0), dilation=(1, 3), seed=5).seeded())
@example(draw=ConvCase(2, 1, 3, 1, 6, 7, (3, 3), padding=1, seed=6).seeded())  # small GEMMs, odd row count
@example(draw=ConvCase(2, 16, 8, 1, 6, 6, (3, 3), dtype=f32, seed=7).seeded())  # dw = dout @ colsᵀ by BLAS
def test_conv2d_kernel_matches_reference(draw, threads):
    check_kernel(draw)


@pytest.mark.parametrize("dtype", [f32, f64], ids=["float32", "float64"])
@pytest.mark.parametrize(("c_in", "c_out", "hw", "padding"), [(1, 6, 28, 2), (6, 16, 14, 0)],
                         ids=["conv1", "conv2"])
def test_conv2d_kernel_matches_reference_at_batch_512(c_in, c_out, hw, padding, dtype, threads):
    """LeNet-5's two convolutions at the evaluation batch: every thread's share of the batch is checked."""
    check_kernel(ConvCase(512, c_in, c_out, 1, hw, hw, (5, 5), padding=padding, dtype=dtype, seed=7).seeded())


@_fixture_ok
@pytest.mark.parametrize("where", ["weight", "x"])
@given(draw=conv_draws(conv_cases(max_channels=2)), data=st.data())
@example(draw=ConvCase(2, 1, 1, 1, 1, 5, (1, 3), bias=False, dtype=f32, seed=1).seeded(), data=None)
@example(draw=ConvCase(2, 2, 2, 1, 3, 5, (1, 3), seed=2).seeded(), data=None)
@example(draw=ConvCase(2, 2, 3, 1, 4, 6, (2, 3), padding=(1, 2), dtype=f32, seed=3).seeded(), data=None)
def test_conv2d_kernel_one_inf_entry_matches_reference(where, draw, data, threads):
    """One ±inf in x or the weight (float32 too): the kernel's infs and nans sit where the formula's do
    (no inf·0 from the wrap-around columns of its im2col layout)."""
    case, x, w, b, dout = draw
    target = (w if where == "weight" else x).copy()
    first = 0 if where == "weight" else x.shape[-1] - 1  # examples: x's last column, read by a wrap-around
    i = first if data is None else data.draw(st.integers(0, target.size - 1), label="index")
    target.reshape(-1)[i] = np.inf if data is None else data.draw(st.sampled_from([np.inf, -np.inf]))
    check_kernel(ConvDraw(case, *((target, w) if where == "x" else (x, target)), b, dout))


def test_conv2d_kernel_and_reference_raise_the_same_errors():
    """One shared check: the same message from both tiers."""
    for args, kwargs in [((np.ones((2, 3, 5, 5)), np.ones((4, 2, 3, 3))), dict(groups=2)),
                         ((np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))), dict(stride=())),
                         ((np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))), {})]:
        messages = []
        for tier in (kernel, reference):
            with pytest.raises(ValueError) as info:
                tier.conv2d_forward(*args, **kwargs)
            messages.append(str(info.value))
        assert messages[0] == messages[1]
