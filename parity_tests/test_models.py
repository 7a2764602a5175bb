"""The models in both engines: same parameter names, outputs and gradients (float64 and float32), in
training mode (dropout masks shared: torch's Dropout is fed our mask) and in eval mode; the classic
LeNet-5's per-layer parameter counts; the training loop's train/eval switch."""

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
from torch_impl.compare import share_dropout_masks
from torch_impl.models import build_model as build_torch_model

# Longest reduction in any of the models: fc1 of SimpleCNN (2025 inputs); used for the float32 tolerance.
# SimpleCNN-BN's batch statistics sum N·30·30 values per channel (see _reduction).
LONGEST_REDUCTION = 2025


def _reduction(name: str, batch: int) -> int:
    return max(LONGEST_REDUCTION, batch * 30 * 30) if name == "simple-cnn-bn" else LONGEST_REDUCTION


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
    share_dropout_masks(ours, ref)
    x = distinct_array(rng, (batch, 1, 28, 28), dtype)
    out = ours(x)
    dout = distinct_array(rng, out.shape, dtype)
    dx = ours.backward(dout)
    xt = torch.from_numpy(x).requires_grad_()
    conv_out = []

    def keep_conv_out(mod, inputs, output):
        output.retain_grad()
        conv_out.append(output)
    if hasattr(ref, "conv1"):
        ref.conv1.register_forward_hook(keep_conv_out)
    out_t = ref(xt)
    out_t.backward(torch.from_numpy(dout))
    case = f"model={name} N={batch} dtype={np.dtype(dtype).name} seed={seed}"
    k = _reduction(name, batch)
    # conv1.bias.grad sums conv1's output gradient; before batch norm (training) that sum is exactly 0 and
    # both engines give round-off, judged at the size of the summed terms
    scales = {"conv1.bias": conv_out[0].grad.abs().sum(dim=(0, 2, 3)).numpy()} if conv_out else {}
    assert_parity(f"{name}.out", out, out_t, case, reduction=k)
    assert_parity(f"{name}.dx", dx, xt.grad, case, reduction=k)
    ref_params = dict(ref.named_parameters())
    for key, p in ours.named_parameters():
        assert_parity(f"{name}.{key}.grad", p.grad, ref_params[key].grad, case, reduction=k, scale=scales.get(key))
    ref_state = ref.state_dict()
    for key, value in ours.state_dict().items():  # batch norm's running statistics moved alike
        if key.endswith("num_batches_tracked"):
            assert int(value) == int(ref_state[key]) == 1, case
        else:
            assert_parity(f"{name}.{key}", value, ref_state[key], case, reduction=k, scale=np.abs(value) + 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_simple_cnn_bn_gives_the_same_outputs_in_eval_mode_from_the_same_state_dict(dtype):
    """After training steps in ours (batch statistics, running estimates, dropout), the state dict loaded
    into torch gives the same eval-mode outputs (running statistics, no dropout) and back."""
    ours = build_model("simple-cnn-bn", dtype=dtype, rng=np.random.default_rng(0))
    opt, crit = SGD(list(ours.parameters()), lr=0.05, momentum=0.9), CrossEntropyLoss()
    rng = np.random.default_rng(1)
    for _ in range(3):
        crit(ours(rng.standard_normal((8, 1, 28, 28)).astype(dtype)), rng.integers(0, 10, 8))
        opt.zero_grad()
        ours.backward(crit.backward())
        opt.step()
    assert int(ours.bn1.num_batches_tracked) == 3 and not np.allclose(ours.bn1.running_mean, 0)
    ref = build_torch_model("simple-cnn-bn", dtype=getattr(torch, np.dtype(dtype).name))
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    ours.eval()
    ref.eval()
    x = rng.standard_normal((5, 1, 28, 28)).astype(dtype)
    out = ours(x)
    assert np.array_equal(out, ours(x)), "eval mode is deterministic"
    with torch.no_grad():
        assert_parity("simple-cnn-bn.eval.out", out, ref(torch.from_numpy(x)), "eval", reduction=LONGEST_REDUCTION)
    again = build_model("simple-cnn-bn", dtype=dtype).eval()
    again.load_state_dict(ref.state_dict())
    assert np.array_equal(again(x), out)


def test_classic_lenet5_has_the_papers_parameter_counts():
    """C1 156, S2 12, C3 1,516 (the 60 connections of Table I), S4 32, C5 48,120, F6 10,164 trainable."""
    model = build_model("lenet5-classic", rng=np.random.default_rng(0))
    mask = c3_connection_mask()
    masked = {id(model.conv2.weight): int(np.count_nonzero(np.broadcast_to(mask, model.conv2.weight.shape)))}
    trainable = {name: sum(masked.get(id(p), p.data.size) for p in module.parameters())
                 for name, module in model.named_children()}
    assert {k: v for k, v in trainable.items() if v} == {"conv1": 156, "pool1": 12, "conv2": 1516, "pool2": 32,
                                                          "conv3": 48120, "fc1": 10164, "fc2": 850}
    names = [type(m).__name__ for m in model.children()]
    assert names[:8] == ["Conv2d", "ScaledTanh", "Subsampling", "ScaledTanh", "MaskedConv2d", "ScaledTanh",
                         "Subsampling", "ScaledTanh"]


def test_training_loop_switches_train_and_eval():
    """scratch.training: train_one_epoch runs in train mode (batch norm tracks, dropout drops), evaluate
    in eval mode (running statistics, no dropout)."""
    from scratch.training import evaluate, train_one_epoch

    model = build_model("simple-cnn-bn", rng=np.random.default_rng(0)).eval()
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 4)) for _ in range(2)]
    train_one_epoch(model, batches, CrossEntropyLoss(), SGD(list(model.parameters()), lr=0.01))
    assert model.training and model.drop.training and int(model.bn1.num_batches_tracked) == 2
    result = evaluate(model, batches, CrossEntropyLoss())
    assert not model.training and not model.bn1.training and int(model.bn1.num_batches_tracked) == 2
    assert model.drop.mask is None and np.isfinite(result.loss)


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
