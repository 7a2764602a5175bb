"""scratch.optim.lr_scheduler.ReduceLROnPlateau against torch's on drawn metric sequences.

Both schedulers see the same metrics (plateaus, repeats, values exactly at the threshold, nan, inf); the
learning rates, counters and best value must be identical after every step (exact equality: the same
float operations in the same order), and so must the state dicts.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import example, given

from parity_tests.strategies.optim import PlateauCase, plateau_cases
from scratch.nn.module import Parameter
from scratch.optim import SGD
from scratch.optim.lr_scheduler import ReduceLROnPlateau

pytestmark = pytest.mark.backend_independent


def _pair(case: PlateauCase):
    ours_opt = SGD([{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in case.lrs])
    ref_opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in case.lrs])
    return (ReduceLROnPlateau(ours_opt, **case.kwargs),
            torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **case.kwargs))


def _assert_same(ours, ref, case: PlateauCase, epoch: int) -> None:
    where = f"after epoch {epoch} | case: {case}"
    assert ours.get_last_lr() == ref.get_last_lr(), f"get_last_lr {ours.get_last_lr()} vs torch " \
                                                    f"{ref.get_last_lr()} {where}"
    lrs = [g["lr"] for g in ours.optimizer.param_groups]
    assert lrs == [g["lr"] for g in ref.optimizer.param_groups], where
    assert (ours.num_bad_epochs, ours.cooldown_counter, ours.in_cooldown, ours.last_epoch) == \
           (ref.num_bad_epochs, ref.cooldown_counter, ref.in_cooldown, ref.last_epoch), where
    assert ours.best == ref.best or (math.isnan(ours.best) and math.isnan(ref.best)), where


def _case(metrics, lrs=(0.1,), **kwargs) -> PlateauCase:
    return PlateauCase(kwargs=kwargs, lrs=list(lrs), metrics=list(metrics), resume_at=len(metrics) // 2)


@given(case=plateau_cases())
@example(case=_case([1.0] * 25))
@example(case=_case([1.0, 0.9, 0.9, 0.91, 0.8, 0.8, 0.8], mode="min", threshold_mode="abs", threshold=0.1,
                    patience=1))
@example(case=_case([1.0, 1.0 * (1.0 - 0.25), 0.75 * (1.0 - 0.25), 0.5, 0.5], threshold=0.25, patience=0))
@example(case=_case([1.0, 2.0, 2.0 + 0.5, 3.0, 3.0, 3.0, 3.0, 3.0], mode="max", threshold_mode="abs",
                    threshold=0.5, patience=1, cooldown=2))
@example(case=_case([2.0] * 12, lrs=(0.1, 0.01), min_lr=[0.05, 0.0], factor=0.5, patience=0))
@example(case=_case([2.0] * 12, lrs=(1e-3,), min_lr=0.0, factor=0.99, eps=1e-5, patience=0))
@example(case=_case([math.nan, 1.0, math.nan, math.inf, -math.inf, -math.inf], patience=0, cooldown=1))
def test_reduce_lr_on_plateau_matches_torch(case):
    ours, ref = _pair(case)
    _assert_same(ours, ref, case, 0)
    for epoch, metric in enumerate(case.metrics, 1):
        ours.step(metric)
        ref.step(metric)
        _assert_same(ours, ref, case, epoch)
    assert ours.state_dict() == ref.state_dict(), f"state dicts differ | case: {case}"


@given(case=plateau_cases())
def test_state_dict_round_trip_and_torch_format(case):
    """Resuming from a state dict (ours, or torch's) mid-sequence gives the uninterrupted lr sequence."""
    ours, ref = _pair(case)
    for metric in case.metrics[:case.resume_at]:
        ours.step(metric)
        ref.step(metric)
    saved = ours.state_dict()
    resumed = ReduceLROnPlateau(ours.optimizer, mode="max", factor=0.9, patience=99)
    resumed.load_state_dict(saved)
    saved["min_lrs"].append(-1.0)
    from_torch = ReduceLROnPlateau(ours.optimizer)
    from_torch.load_state_dict(ref.state_dict())
    assert from_torch.state_dict() == resumed.state_dict()
    for epoch, metric in enumerate(case.metrics[case.resume_at:], case.resume_at + 1):
        resumed.step(metric)
        ref.step(metric)
        _assert_same(resumed, ref, case, epoch)


@pytest.mark.parametrize("kwargs", [{"factor": 1.0}, {"factor": 2.0}, {"mode": "mean"},
                                    {"threshold_mode": "relative"}, {"min_lr": [0.0, 0.1]}])
def test_invalid_options_raise_like_torch(kwargs):
    with pytest.raises(ValueError) as ref:
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(ref.value))):
        ReduceLROnPlateau(SGD([Parameter(np.zeros(1))], lr=0.1), **kwargs)


def test_needs_a_scratch_optimizer():
    with pytest.raises(TypeError, match="SGD is not an Optimizer"):
        ReduceLROnPlateau(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))


def test_metric_may_be_a_numpy_scalar_or_0d_array():
    sched = ReduceLROnPlateau(SGD([Parameter(np.zeros(1))], lr=0.1), patience=0)
    sched.step(np.float32(1.0))
    sched.step(np.array(2.0))
    assert sched.get_last_lr() == [0.1 * 0.1] and sched.best == 1.0
