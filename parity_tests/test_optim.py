"""scratch.optim's SGD, Adam and AdamW against torch.optim (single-tensor path), step for step.

Each case runs 30+ steps on drawn parameters with fresh distinct gradients per step (some steps leave a
parameter's grad None, which both skip) and compares every parameter and every state entry. After T steps
a parameter and its moments are T-term weighted sums of per-step terms, so the float32 tolerance uses
``reduction=T`` (torch's CPU kernels fuse some multiply-adds, NumPy rounds each op: ~1 ulp per step).
Each step's rounding error is relative to the value at that step, so the scale of a parameter or state
entry is its largest magnitude over the run (a parameter that drifts from 1.9 to 0.01 carries the
rounding errors of its earlier, larger values).
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from parity_tests.parity import assert_parity
from parity_tests.strategies import distinct_array
from parity_tests.strategies.optim import OPTIMIZER_KINDS, OptimCase, optim_cases
from scratch.nn.module import Parameter
from scratch.optim import SGD, Adam, AdamW
from scratch.optim.lr_scheduler import ReduceLROnPlateau

OPTIMIZERS = {"sgd": (SGD, torch.optim.SGD), "adam": (Adam, torch.optim.Adam),
              "adamw": (AdamW, torch.optim.AdamW)}


class Run:
    """Both engines' parameters and optimizers for one case, fed the same gradients."""

    def __init__(self, case: OptimCase):
        self.case = case
        self.rng = np.random.default_rng(case.seed)
        init = [distinct_array(self.rng, shape, case.dtype, -2.0, 2.0) for shape in case.shapes]
        self.ours = [Parameter(x.copy()) for x in init]
        self.theirs = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
        ours_cls, torch_cls = OPTIMIZERS[case.kind]
        self.opt = ours_cls(self.groups(self.ours), **case.defaults)
        self.ref = torch_cls(self.groups(self.theirs), **case.defaults, foreach=False)
        self.peak: dict[tuple[int, str], float] = {}
        self._track_peaks()

    def _track_peaks(self) -> None:
        """Largest |value| so far of every torch parameter and state entry (the scale of its rounding)."""
        for i, tp in enumerate(self.theirs):
            entries = {"param": tp.detach(), **self.ref.state.get(tp, {})}
            for key, value in entries.items():
                if torch.is_tensor(value) and value.numel():
                    peak = float(value.detach().abs().max())
                    self.peak[i, key] = max(self.peak.get((i, key), 0.0), peak)

    def groups(self, params: list) -> list[dict]:
        return [{"params": [params[i] for i in idx], **opts}
                for idx, opts in zip(self.case.groups, self.case.overrides, strict=True)]

    def run(self, steps: int) -> None:
        for _ in range(steps):
            for p, tp in zip(self.ours, self.theirs, strict=True):
                if self.rng.random() < self.case.grad_prob:
                    g = distinct_array(self.rng, p.shape, self.case.dtype)
                    p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
                else:
                    p.grad, tp.grad = None, None
            self.opt.step()
            self.ref.step()
            self._track_peaks()

    def check(self) -> None:
        case, steps = self.case, self.case.steps
        for i, (p, tp) in enumerate(zip(self.ours, self.theirs, strict=True)):
            assert_parity(f"{case.kind}.param[{i}]", p.data, tp, case, reduction=steps,
                          scale=self.peak[i, "param"])
            ours_state, ref_state = self.opt.state.get(p, {}), self.ref.state.get(tp, {})
            assert set(ours_state) == set(ref_state), f"state keys of param {i} | case: {case}"
            for key, ref in ref_state.items():
                assert_parity(f"{case.kind}.state[{i}].{key}", ours_state[key], ref, case, reduction=steps,
                              scale=self.peak.get((i, key)))
        ours_sd, ref_sd = self.opt.state_dict(), self.ref.state_dict()
        assert set(ours_sd["state"]) == set(ref_sd["state"]), f"state dict indices | case: {case}"
        for ours_g, ref_g in zip(ours_sd["param_groups"], ref_sd["param_groups"], strict=True):
            keys = [*self.opt.defaults, "params"]
            assert {k: ours_g[k] for k in keys} == {k: ref_g[k] for k in keys}, \
                f"param group {ours_g} vs torch {ref_g} | case: {case}"


def _case(kind: str, defaults: dict, dtype=np.float64, **kw) -> OptimCase:
    return OptimCase(kind=kind, dtype=dtype, shapes=[(3, 2), (4,)], groups=[[0, 1]], defaults=defaults,
                     overrides=[{}], **kw)


@given(case=optim_cases("sgd"))
@example(case=_case("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}))
@example(case=_case("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 1.0, "weight_decay": 0.01}))
@example(case=_case("sgd", {"lr": 0.05, "maximize": True, "weight_decay": 0.1}, np.float32))
@example(case=_case("sgd", {"lr": 0.1, "momentum": 0.5}, grad_prob=0.5))
@example(case=OptimCase(kind="sgd", dtype=np.float64, shapes=[(2,), (3,), (2, 2)], groups=[[0], [1], [2]],
                        defaults={"lr": 0.05, "momentum": 0.9},
                        overrides=[{}, {"lr": 0.2, "nesterov": True},
                                   {"momentum": 0.0, "weight_decay": 0.1}]))
def test_sgd_matches_torch(case):
    run = Run(case)
    run.run(case.steps)
    run.check()


@given(case=optim_cases("adam"))
@example(case=_case("adam", {}))
@example(case=_case("adam", {"betas": (0.0, 0.0), "lr": 0.1}))
@example(case=_case("adam", {"betas": (0.5, 0.5), "amsgrad": True, "weight_decay": 0.1, "maximize": True}))
@example(case=_case("adam", {"lr": 0.01, "amsgrad": True, "eps": 1e-3}, np.float32, grad_prob=0.5))
@example(case=OptimCase(kind="adam", dtype=np.float32, shapes=[(2,), (3,), (2, 2)], groups=[[0], [1], [2]],
                        defaults={"lr": 0.01},
                        overrides=[{}, {"lr": 0.1, "amsgrad": True},
                                   {"betas": (0.5, 0.9), "weight_decay": 0.1}]))
def test_adam_matches_torch(case):
    run = Run(case)
    run.run(case.steps)
    run.check()


@given(case=optim_cases("adamw"))
@example(case=_case("adamw", {}))
@example(case=_case("adamw", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}))
@example(case=_case("adamw", {"betas": (0.0, 0.9), "maximize": True}, np.float32))
@example(case=OptimCase(kind="adamw", dtype=np.float32, shapes=[(1,), (2, 3)], groups=[[0], [1]],  # drifts to ~0
                        defaults={"lr": 0.038920676923326444}, overrides=[{}, {}], steps=33, seed=208889,
                        grad_prob=0.85))
def test_adamw_matches_torch(case):
    run = Run(case)
    run.run(case.steps)
    run.check()


any_optim_case = st.sampled_from(OPTIMIZER_KINDS).flatmap(optim_cases)


def _state_arrays(sd: dict) -> list[np.ndarray]:
    return [v for s in sd["state"].values() for v in s.values() if isinstance(v, np.ndarray)]


@given(case=any_optim_case, data=st.data())
def test_state_dict_round_trip_mid_run(case, data):
    """Save mid-run, load into a fresh optimizer built with other options, continue: same as torch run
    uninterrupted. The saved dict is a copy (later steps leave it alone) and loading copies it too."""
    k = data.draw(st.integers(0, case.steps), label="save_at")
    run = Run(case)
    run.run(k)
    kept, loaded = run.opt.state_dict(), run.opt.state_dict()
    snapshot = copy.deepcopy(kept)
    fresh = type(run.opt)([{"params": g["params"]} for g in run.opt.param_groups], lr=0.123)
    fresh.load_state_dict(loaded)
    for arr in _state_arrays(loaded):
        arr.fill(np.nan)
    run.opt = fresh
    run.run(case.steps - k)
    run.check()
    assert kept["param_groups"] == snapshot["param_groups"]
    for a, b in zip(_state_arrays(kept), _state_arrays(snapshot), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"state_dict() returned a view | case: {case}")


@given(case=any_optim_case, data=st.data())
def test_state_dicts_cross_engines_mid_run(case, data):
    """Mid-run, each engine continues from the other's state dict (arrays <-> tensors): torch's format."""
    k = data.draw(st.integers(1, case.steps), label="swap_at")
    run = Run(case)
    run.run(k)
    ours_sd, ref_sd = run.opt.state_dict(), run.ref.state_dict()
    ours_cls, torch_cls = OPTIMIZERS[case.kind]
    run.opt = ours_cls([{"params": g["params"]} for g in run.opt.param_groups])
    run.opt.load_state_dict(_convert(ref_sd, lambda t: t.numpy().copy()))
    run.ref = torch_cls([{"params": g["params"]} for g in run.ref.param_groups], foreach=False)
    run.ref.load_state_dict(_convert(ours_sd, lambda a: torch.from_numpy(a.copy())))
    run.run(case.steps - k)
    run.check()


def _convert(sd: dict, fn) -> dict:
    state = {i: {k: fn(v) if isinstance(v, (np.ndarray, torch.Tensor)) else v for k, v in s.items()}
             for i, s in sd["state"].items()}
    return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}


# -- errors: ValueError where torch raises it, with torch's message ----------------------------------
INVALID = [
    ("sgd", {"lr": -0.1}),
    ("sgd", {"lr": 0.1, "momentum": -0.5}),
    ("sgd", {"lr": 0.1, "weight_decay": -1e-4}),
    ("sgd", {"lr": 0.1, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("adam", {"lr": -1e-3}),
    ("adam", {"eps": -1e-8}),
    ("adam", {"betas": (1.0, 0.999)}),
    ("adam", {"betas": (-0.1, 0.999)}),
    ("adam", {"betas": (0.9, 1.0)}),
    ("adam", {"weight_decay": -0.1}),
    ("adamw", {"lr": -1e-3}),
    ("adamw", {"betas": (0.9, 1.5)}),
    ("adamw", {"weight_decay": -1e-2}),
]


@pytest.mark.parametrize(("kind", "kwargs"), INVALID, ids=[f"{k}-{kw}" for k, kw in INVALID])
def test_invalid_hyperparameters_raise_like_torch(kind, kwargs):
    ours_cls, torch_cls = OPTIMIZERS[kind]
    with pytest.raises(ValueError) as ref:
        torch_cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(ref.value))):
        ours_cls([Parameter(np.zeros(2))], **kwargs)


def test_betas_must_be_floats_like_torch():
    with pytest.raises(ValueError):
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], betas=(0, 0.9))
    with pytest.raises(ValueError, match="betas must be floats"):
        Adam([Parameter(np.zeros(2))], betas=(0, 0.9))


def test_param_list_errors():
    p, q = Parameter(np.zeros(2)), Parameter(np.ones(3))
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Parameters, but one of the params is ndarray"):
        SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Parameters"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p, q]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD([{"params": {p}}], lr=0.1)


def test_load_state_dict_mismatch_errors():
    p, q = Parameter(np.zeros(2)), Parameter(np.ones(3))
    opt = Adam([p, q])
    p.grad, q.grad = np.ones(2), np.ones(3)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict, 1 in the optimizer"):
        Adam([p]).load_state_dict(sd)
    with pytest.raises(ValueError, match=re.escape(
            "exp_avg of shape (2,) for parameter 0, whose shape is (3,)")):
        Adam([q, p]).load_state_dict(sd)


# -- behaviour shared by every optimizer -----------------------------------------------------------
@pytest.mark.parametrize("kind", OPTIMIZER_KINDS)
def test_params_without_grad_are_skipped(kind):
    p, q = Parameter(np.arange(3.0)), Parameter(np.arange(2.0))
    opt = OPTIMIZERS[kind][0]([p, q], lr=0.1, weight_decay=0.1)
    p.grad = np.array([0.5, -0.25, 1.0])
    opt.step()
    np.testing.assert_array_equal(q.data, np.arange(2.0))
    assert q not in opt.state and set(opt.state_dict()["state"]) <= {0}


@pytest.mark.parametrize("kind", OPTIMIZER_KINDS)
def test_zero_grad_and_closure(kind):
    p = Parameter(np.arange(3.0))
    opt = OPTIMIZERS[kind][0]([p], lr=0.1)
    p.grad = np.ones(3)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and not g.any()
    opt.zero_grad()
    assert p.grad is None
    p.grad = np.ones(3)
    assert opt.step(lambda: 42.0) == 42.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", OPTIMIZER_KINDS)
def test_dtype_is_kept(kind, dtype):
    p = Parameter(np.arange(3, dtype=dtype))
    extra = {"momentum": 0.9} if kind == "sgd" else {}
    opt = OPTIMIZERS[kind][0]([p], lr=0.1, **extra)
    for _ in range(2):
        p.grad = np.array([0.5, -0.25, 1.0], dtype=dtype)
        opt.step()
    assert p.data.dtype == dtype
    for key, value in opt.state[p].items():
        assert value.dtype == (np.float32 if key == "step" else dtype), key


def test_add_param_group_and_defaults():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = AdamW([p], lr=0.01)
    opt.add_param_group({"params": q, "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]
    assert opt.param_groups[1]["weight_decay"] == 1e-2 and opt.param_groups[1]["decoupled_weight_decay"]
    assert opt.state_dict()["param_groups"][1]["params"] == [1]
    ref = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    assert {k: ref.defaults[k] for k in opt.defaults} == {**opt.defaults, "lr": 1e-3}
    sched = ReduceLROnPlateau(opt)
    assert sched.get_last_lr() == [0.01, 0.5]


def test_named_parameters_are_accepted():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = SGD([("a", p), ("b", q)], lr=0.1)
    assert opt.param_groups[0]["params"] == [p, q]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
