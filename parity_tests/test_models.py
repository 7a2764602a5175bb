"""The four models in both engines: same parameter names, outputs and gradients (float64 and float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from parity_tests.parity import assert_parity
from parity_tests.strategies import distinct_array, seeds
from scratch.models import C3_CONNECTIONS, MODELS, build_model, c3_connection_mask
from scratch.nn.loss import CrossEntropyLoss
from scratch.optim import SGD
from torch_impl.models import build_model as build_torch_model

# Longest reduction in any of the models: fc1 of SimpleCNN (2025 inputs); used for the float32 tolerance.
LONGEST_REDUCTION = 2025


def _pair(name: str, dtype: np.dtype, seed: int):
    ours = build_model(name, dtype=dtype, rng=np.random.default_rng(seed))
    ref = build_torch_model(name, dtype=getattr(torch, np.dtype(dtype).name))
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, ref


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_names_and_shapes_match_torch(name):
    ours = build_model(name, rng=np.random.default_rng(0))
    ref = build_torch_model(name)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]


@pytest.mark.parametrize("name", sorted(MODELS))
@given(seed=seeds, batch=st.integers(1, 5), dtype=st.sampled_from([np.float64, np.float32]))
def test_forward_and_gradients_match_torch(name, seed, batch, dtype):
    rng = np.random.default_rng(seed)
    ours, ref = _pair(name, dtype, seed)
    x = distinct_array(rng, (batch, 1, 28, 28), dtype)
    out = ours(x)
    dout = distinct_array(rng, out.shape, dtype)
    dx = ours.backward(dout)
    xt = torch.from_numpy(x).requires_grad_()
    out_t = ref(xt)
    out_t.backward(torch.from_numpy(dout))
    case = f"model={name} N={batch} dtype={np.dtype(dtype).name} seed={seed}"
    assert_parity(f"{name}.out", out, out_t, case, reduction=LONGEST_REDUCTION)
    assert_parity(f"{name}.dx", dx, xt.grad, case, reduction=LONGEST_REDUCTION)
    ref_params = dict(ref.named_parameters())
    for key, p in ours.named_parameters():
        assert_parity(f"{name}.{key}.grad", p.grad, ref_params[key].grad, case, reduction=LONGEST_REDUCTION)


def test_c3_connection_table_is_the_papers():
    mask = c3_connection_mask()[:, :, 0, 0]
    assert mask.sum() == 60  # 6·3 + 9·4 + 1·6 connections
    # Table I of LeCun et al. 1998, row by row (S2 map -> C3 maps it feeds)
    rows = {0: [0, 4, 5, 6, 9, 10, 11, 12, 14, 15], 1: [0, 1, 5, 6, 7, 10, 11, 12, 13, 15],
            2: [0, 1, 2, 6, 7, 8, 11, 13, 14, 15], 3: [1, 2, 3, 6, 7, 8, 9, 12, 14, 15],
            4: [2, 3, 4, 7, 8, 9, 10, 12, 13, 15], 5: [3, 4, 5, 8, 9, 10, 11, 13, 14, 15]}
    for s2, c3_maps in rows.items():
        assert np.flatnonzero(mask[:, s2]).tolist() == c3_maps
    assert len(C3_CONNECTIONS) == 16


def test_classic_masked_weights_get_no_gradient_and_stay_zero():
    model = build_model("lenet5-classic", dtype=np.float64, rng=np.random.default_rng(0))
    mask = c3_connection_mask(np.float64)
    masked = np.broadcast_to(mask == 0, model.conv2.weight.shape)
    assert np.all(model.conv2.weight.data[masked] == 0)
    opt = SGD(list(model.parameters()), lr=0.1, momentum=0.9)
    crit = CrossEntropyLoss()
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((4, 1, 28, 28))
        y = rng.integers(0, 10, 4)
        crit(model(x), y)
        opt.zero_grad()
        model.backward(crit.backward())
        assert np.all(model.conv2.weight.grad[masked] == 0)
        assert np.any(model.conv2.weight.grad[~masked] != 0)
        opt.step()
    assert np.all(model.conv2.weight.data[masked] == 0)


def test_build_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'lenet6'"):
        build_model("lenet6")
    with pytest.raises(ValueError, match="unknown model 'lenet6'"):
        build_torch_model("lenet6")
