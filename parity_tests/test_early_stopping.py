"""EarlyStopping (scratch.callbacks and torch_impl.callbacks) on drawn score sequences.

The reference is the rule written out once more, epoch by epoch: an epoch improves when its score beats
the score of the last improving epoch by more than ``delta`` (nan never does, the first finite score
always does); training stops at the first epoch that is ``patience`` epochs past the last improvement.
Both engines must stop there, report that best epoch and score, and give back exactly the weights the
model had at the best epoch after training went on past it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given

from parity_tests.strategies import distinct_array
from parity_tests.strategies.optim import StoppingCase, stopping_cases
from scratch.callbacks import EarlyStopping
from scratch.nn.module import Module, Parameter
from scratch.optim import SGD
from torch_impl.callbacks import EarlyStopping as TorchEarlyStopping

pytestmark = pytest.mark.backend_independent


def reference(case: StoppingCase) -> tuple[int | None, int | None]:
    """(stop epoch or None, best epoch at that point), epochs numbered from 1."""
    last_improving: int | None = None
    for epoch, score in enumerate(case.scores, 1):
        best = None if last_improving is None else case.scores[last_improving - 1]
        if best is None:
            beats = True
        else:
            beats = score < best - case.delta if case.mode == "min" else score > best + case.delta
        if not math.isnan(score) and beats:
            last_improving = epoch
        if epoch - (last_improving or 0) >= case.patience:
            return epoch, last_improving
    return None, last_improving


class TinyNet(Module):
    """Two parameters at the top and two in a child module: enough to check a deep copy of the state."""

    def __init__(self, rng: np.random.Generator):
        super().__init__()
        self.weight = Parameter(distinct_array(rng, (3, 4)))
        self.bias = Parameter(distinct_array(rng, (3,)))
        self.head = Module()
        self.head.weight = Parameter(distinct_array(rng, (2, 3)))
        self.head.bias = Parameter(distinct_array(rng, (2,)))


def _train(case: StoppingCase, engine: str):
    """Train (SGD with momentum, drawn gradients: in-place updates) until the stopper says stop."""
    rng = np.random.default_rng(case.seed)
    if engine == "scratch":
        model = TinyNet(rng)
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        stopper = EarlyStopping(case.patience, case.delta, case.mode)
    else:
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        stopper = TorchEarlyStopping(case.patience, case.delta, case.mode)
    history, naive, stop_epoch = {}, None, None
    for epoch, score in enumerate(case.scores, 1):
        for p in model.parameters():
            g = distinct_array(rng, tuple(p.shape))
            p.grad = g if engine == "scratch" else torch.from_numpy(g)
        opt.step()
        history[epoch] = _snapshot(model.state_dict())
        stopper(score, model, epoch=epoch)
        if stopper.best_epoch == epoch:
            naive = model.state_dict()
        if stopper.early_stop:
            stop_epoch = epoch
            break
    return model, stopper, history, naive, stop_epoch


def _snapshot(state) -> dict[str, np.ndarray]:
    return {k: (v.detach().numpy() if isinstance(v, torch.Tensor) else v).copy() for k, v in state.items()}


def _case(scores, patience=2, delta=0.0, mode="min") -> StoppingCase:
    return StoppingCase(patience=patience, delta=delta, mode=mode, scores=list(scores),
                        resume_at=len(scores) // 2)


CORNERS = [
    _case([1.0, 0.5, 0.5, 0.5, 0.5]),
    _case([1.0, 0.5, 0.25, 0.0, 0.5, 0.5, 0.5, 0.5]),
    _case([2.0, 1.5, 1.25, 1.0, 0.75], delta=0.5),
    _case([2.0, 1.5, 1.0, 0.9], delta=0.5, patience=1),
    _case([0.0, 0.25, 0.5, 0.5, 0.75], mode="max", patience=2),
    _case([math.nan, math.nan, 1.0, 0.5], patience=3),
    _case([math.inf, 3.0, math.nan, math.nan, 2.0], patience=3),
]


@given(case=stopping_cases())
@example(case=CORNERS[0])
@example(case=CORNERS[1])
@example(case=CORNERS[2])
@example(case=CORNERS[3])
@example(case=CORNERS[4])
@example(case=CORNERS[5])
@example(case=CORNERS[6])
def test_stop_epoch_and_best_weights(case):
    """Stop epoch, best epoch and score as the rule says; load_best_model restores that epoch's weights."""
    stop_epoch, best_epoch = reference(case)
    for engine in ("scratch", "torch"):
        model, stopper, history, naive, stopped = _train(case, engine)
        where = f"{engine} | case: {case}"
        assert (stopped, stopper.best_epoch) == (stop_epoch, best_epoch), where
        if best_epoch is None:
            assert stopper.best_score is None and stopper.best_state is None, where
            continue
        assert stopper.best_score == case.scores[best_epoch - 1], where
        if engine == "torch" and best_epoch < max(history):
            kept_by_tutorial = _snapshot(naive)
            assert any(not np.array_equal(v, history[best_epoch][k]) for k, v in kept_by_tutorial.items()), \
                "the tutorial's model.state_dict() reference did not drift: this test would not catch it"
        stopper.load_best_model(model)
        restored = _snapshot(model.state_dict())
        assert list(restored) == list(history[best_epoch]), where
        for key, value in history[best_epoch].items():
            np.testing.assert_array_equal(restored[key], value, err_msg=f"{key} | {where}")


@given(case=stopping_cases())
@example(case=CORNERS[1])
def test_state_dict_resume(case):
    """Checkpoint the stopper mid-run, restore it into a new one: same decisions and best weights after."""
    model = TinyNet(np.random.default_rng(case.seed))
    whole = EarlyStopping(case.patience, case.delta, case.mode)
    first = EarlyStopping(case.patience, case.delta, case.mode)
    second = EarlyStopping(patience=99, delta=0.125, mode="max" if case.mode == "min" else "min")
    active = first
    for i, score in enumerate(case.scores):
        if i == case.resume_at:
            sd = first.state_dict()
            second.load_state_dict(sd)
            for value in (sd["best_state"] or {}).values():
                value.fill(np.nan)
            active = second
        model.weight.data += 1.0
        active(score, model)
        whole(score, model)
    for attr in ("patience", "delta", "mode", "counter", "best_score", "best_epoch", "early_stop",
                 "epochs_seen"):
        assert getattr(active, attr) == getattr(whole, attr), f"{attr} | case: {case}"
    if whole.best_state is not None:
        for key, value in whole.best_state.items():
            np.testing.assert_array_equal(active.best_state[key], value, err_msg=f"{key} | case: {case}")


def test_epoch_defaults_to_call_count_and_verbose(capsys):
    model = TinyNet(np.random.default_rng(0))
    stopper = EarlyStopping(patience=1, verbose=True)
    stopper(1.0, model)
    stopper(2.0, model)
    assert (stopper.best_epoch, stopper.early_stop, stopper.epochs_seen) == (1, True, 2)
    assert "counter 1 of 1" in capsys.readouterr().out


def test_best_state_is_a_copy_for_torch():
    model = torch.nn.Linear(2, 2)
    stopper = TorchEarlyStopping(patience=1)
    stopper(1.0, model)
    before = {k: v.clone() for k, v in stopper.best_state.items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    assert all(torch.equal(before[k], v) for k, v in stopper.best_state.items())
    assert stopper.best_state["weight"].data_ptr() != model.weight.data_ptr()


@pytest.mark.parametrize(("kwargs", "match"), [({"patience": 0}, "patience must be an integer >= 1"),
                                               ({"delta": -0.1}, "delta must be >= 0"),
                                               ({"mode": "lowest"}, "mode must be 'min' or 'max'")])
def test_invalid_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)
    with pytest.raises(ValueError, match=match):
        TorchEarlyStopping(**kwargs)


def test_load_best_model_before_any_score():
    with pytest.raises(RuntimeError, match="no score has been recorded yet"):
        EarlyStopping().load_best_model(TinyNet(np.random.default_rng(0)))
