"""Module / Sequential containers: names, modes, gradients, state dicts (copies, strict and non-strict
loading, torch interop) and, with the real layers, a scratch model and a torch model sharing one state."""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given

from parity_tests.parity import assert_parity
from parity_tests.strategies import distinct_array, seeds
from scratch.nn.activation import ReLU
from scratch.nn.conv import Conv2d
from scratch.nn.linear import Flatten, Linear
from scratch.nn.module import Module, Parameter, Sequential


class Affine(Module):
    """A torch.nn.Linear-shaped module (weight (out, in), bias (out,)) for container tests."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator):
        super().__init__()
        self.weight = Parameter(distinct_array(rng, (n_out, n_in)))
        self.bias = Parameter(distinct_array(rng, (n_out,)))

    def forward(self, x):
        self._x = x
        return x @ self.weight.data.T + self.bias.data

    def backward(self, dout):
        self.weight.accumulate_grad(dout.T @ self._x)
        self.bias.accumulate_grad(dout.sum(axis=0))
        return dout @ self.weight.data


class Scale(Module):
    """Multiplies by ``c`` and logs its forward/backward calls to ``log``."""

    def __init__(self, c: float, log: list):
        super().__init__()
        self.c, self.log = c, log

    def forward(self, x):
        self.log.append(("forward", self.c))
        return self.c * x

    def backward(self, dout):
        self.log.append(("backward", self.c))
        return self.c * dout


def _net(rng: np.random.Generator) -> Sequential:
    """fc1 (4 -> 3), act, block (Sequential: 0 = 3 -> 3, 1 = scale), fc2 (3 -> 2), with a buffer in fc2."""
    log: list = []
    net = Sequential(OrderedDict([("fc1", Affine(4, 3, rng)), ("act", Scale(2.0, log)),
                                  ("block", Sequential(Affine(3, 3, rng), Scale(0.5, log))),
                                  ("fc2", Affine(3, 2, rng))]))
    net.fc2.register_buffer("running", distinct_array(rng, (2,)))
    return net


def _torch_net() -> torch.nn.Module:
    nn = torch.nn
    net = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 3)), ("act", nn.ReLU()),
                                     ("block", nn.Sequential(nn.Linear(3, 3), nn.ReLU())),
                                     ("fc2", nn.Linear(3, 2))])).double()
    net.fc2.register_buffer("running", torch.zeros(2, dtype=torch.float64))
    return net


KEYS = ["fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "fc2.weight", "fc2.bias", "fc2.running"]


def test_names_and_traversal_match_torch():
    net, ref = _net(np.random.default_rng(0)), _torch_net()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in ref.named_parameters()] == KEYS[:-1]
    assert list(net.state_dict()) == list(ref.state_dict()) == KEYS
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [type(m).__name__ for m in net.children()] == ["Affine", "Scale", "Sequential", "Affine"]
    assert all(p is q for p, q in zip(net.parameters(), [p for _, p in net.named_parameters()], strict=True))


def test_shared_parameter_is_listed_once():
    rng = np.random.default_rng(0)
    a, b = Affine(2, 2, rng), Affine(2, 2, rng)
    b.weight = a.weight
    assert len(list(Sequential(a, b).parameters())) == 3


def test_train_eval_reach_every_module():
    net = _net(np.random.default_rng(0))
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.block.train()
    assert net.block[1].training and not net.training
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad():
    net = _net(np.random.default_rng(0))
    net(np.ones((5, 4)))
    net.backward(np.ones((5, 2)))
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and g.any() for g in grads)
    net.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(net.parameters(), grads, strict=True))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_backward_accumulates_like_autograd():
    rng = np.random.default_rng(0)
    layer = Affine(3, 2, rng)
    x, dout = distinct_array(rng, (4, 3)), distinct_array(rng, (4, 2))
    layer(x)
    layer.backward(dout)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-15)


def test_sequential_backward_runs_children_in_reverse():
    log: list = []
    seq = Sequential(Scale(2.0, log), Scale(3.0, log), Scale(5.0, log))
    x = np.array([1.0, -2.0])
    np.testing.assert_array_equal(seq(x), 30.0 * x)
    np.testing.assert_array_equal(seq.backward(np.array([0.5, 0.25])), 30.0 * np.array([0.5, 0.25]))
    assert log == [("forward", 2.0), ("forward", 3.0), ("forward", 5.0),
                   ("backward", 5.0), ("backward", 3.0), ("backward", 2.0)]
    assert len(seq) == 3 and seq[-1].c == 5.0 and [m.c for m in seq] == [2.0, 3.0, 5.0]


def test_backward_without_input_grad_stops_at_the_first_layer_with_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2, 3, 3))
    dout = rng.normal(size=(4, 5))
    grads = []
    for input_grad in (True, False):
        log: list = []
        model = Sequential(OrderedDict([("scale", Scale(2.0, log)), ("flatten", Flatten()),
                                        ("fc", Linear(18, 5, dtype=np.float64, rng=np.random.default_rng(1))),
                                        ("relu", ReLU())]))
        model(x)
        dx = model.backward(dout, input_grad=input_grad)
        assert (dx is None) == (not input_grad)
        assert log == [("forward", 2.0)] + ([("backward", 2.0)] if input_grad else [])
        grads.append({k: p.grad for k, p in model.named_parameters()})
    for k in grads[0]:
        np.testing.assert_array_equal(grads[1][k], grads[0][k], err_msg=k)
    # nested: the inner Sequential that holds the first parameters gets input_grad=False in turn
    log = []
    inner = Sequential(Scale(3.0, log), Linear(2, 2, dtype=np.float64))
    outer = Sequential(Scale(2.0, log), inner)
    outer(np.ones((1, 2)))
    assert outer.backward(np.ones((1, 2)), input_grad=False) is None
    assert log == [("forward", 2.0), ("forward", 3.0)]


def test_state_dict_returns_copies():
    net = _net(np.random.default_rng(0))
    sd = net.state_dict()
    before = {k: v.copy() for k, v in sd.items()}
    for v in sd.values():
        v += 100.0
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k}: state_dict() returned a view")
    sd = net.state_dict()
    net.fc1.weight.data *= 3.0
    net.fc2.running[...] = 0.0
    for k, v in sd.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k}: state_dict() changed with the model")


def test_load_state_dict_copies_and_keeps_dtype():
    rng = np.random.default_rng(0)
    net, other = _net(rng), _net(rng)
    net.fc1.weight.data = net.fc1.weight.data.astype(np.float32)
    sd = other.state_dict()
    net.load_state_dict(sd)
    assert net.fc1.weight.data.dtype == np.float32
    np.testing.assert_array_equal(net.fc1.weight.data, sd["fc1.weight"].astype(np.float32))
    sd["fc2.bias"] += 1.0
    assert not np.array_equal(net.fc2.bias.data, sd["fc2.bias"])


def test_strict_loading_names_missing_and_unexpected_keys():
    rng = np.random.default_rng(0)
    net = _net(rng)
    sd = net.state_dict()
    del sd["block.0.bias"]
    with pytest.raises(KeyError, match=re.escape("missing keys ['block.0.bias']")):
        net.load_state_dict(sd)
    sd = net.state_dict()
    sd["fc3.weight"] = np.zeros((2, 2))
    with pytest.raises(KeyError, match=re.escape("unexpected keys ['fc3.weight']")):
        net.load_state_dict(sd)


def test_non_strict_loading_reports_and_loads_the_rest():
    rng = np.random.default_rng(0)
    net, other = _net(rng), _net(rng)
    sd = other.state_dict()
    del sd["fc1.bias"]
    sd["extra"] = np.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert (missing, unexpected) == (["fc1.bias"], ["extra"])
    np.testing.assert_array_equal(net.fc2.weight.data, other.fc2.weight.data)
    assert not np.array_equal(net.fc1.bias.data, other.fc1.bias.data)


@pytest.mark.parametrize("strict", [True, False])
def test_wrong_shape_names_key_and_both_shapes_and_loads_nothing(strict):
    rng = np.random.default_rng(0)
    net, other = _net(rng), _net(rng)
    before = net.state_dict()
    sd = other.state_dict()
    sd["fc2.weight"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=re.escape("fc2.weight")) as err:
        net.load_state_dict(sd, strict=strict)
    assert "(3, 2)" in str(err.value) and "(2, 3)" in str(err.value)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed by a failed load")


def test_state_dict_moves_between_engines_unchanged():
    net, ref = _net(np.random.default_rng(0)), _torch_net()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    back = _net(np.random.default_rng(1))
    back.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    for k, v in net.state_dict().items():
        assert back.state_dict()[k].dtype == v.dtype
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=k)
    back.load_state_dict(ref.state_dict())


@given(seed=seeds)
def test_real_layers_share_state_and_outputs_with_torch(seed):
    """Sequential(Conv2d(1,2,3), ReLU(), Flatten(), Linear(32,3)) in float64 against its torch twin:
    scratch -> torch -> scratch is exact, and outputs and every gradient agree."""
    rng = np.random.default_rng(seed)
    model = Sequential(Conv2d(1, 2, 3), ReLU(), Flatten(), Linear(32, 3)).double()
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(32, 3)).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    back = Sequential(Conv2d(1, 2, 3), ReLU(), Flatten(), Linear(32, 3)).double()
    back.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    for k, v in model.state_dict().items():
        assert back.state_dict()[k].dtype == v.dtype == np.float64
        np.testing.assert_array_equal(back.state_dict()[k], v, err_msg=f"{k}: scratch -> torch -> scratch")

    case = f"N=2 C_in=1 6x6 conv 1->2 k3, relu, flatten, linear 32->3 float64 seed={seed}"
    x, dout = distinct_array(rng, (2, 1, 6, 6)), distinct_array(rng, (2, 3))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    out = back(x)
    tout = ref(tx)
    assert_parity("model.out", out, tout, case, reduction=32 * 9)
    dx = back.backward(dout)
    tout.backward(torch.from_numpy(dout))
    assert_parity("model.dx", dx, tx.grad, case, reduction=32 * 9)
    named = dict(ref.named_parameters())
    for name, p in back.named_parameters():
        assert_parity(f"model.d[{name}]", p.grad, named[name].grad, case, reduction=32 * 9)


def test_missing_keys_are_reported_in_model_order():
    """As torch: IncompatibleKeys.missing_keys (and the strict error) list keys in state-dict order."""
    net = _net(np.random.default_rng(0))
    missing, unexpected = net.load_state_dict({"extra.b": np.zeros(1), "extra.a": np.zeros(1)}, strict=False)
    assert (missing, unexpected) == (KEYS, ["extra.b", "extra.a"])
    with pytest.raises(KeyError, match=re.escape(f"missing keys {KEYS}")):
        net.load_state_dict({})
