"""Learning-rate schedulers for :mod:`scratch.optim` optimizers (torch.optim.lr_scheduler's semantics)."""

from __future__ import annotations

import copy
from math import inf
from typing import Any, Literal, SupportsFloat

from scratch.optim.optimizer import Optimizer


class ReduceLROnPlateau:
    """Multiply each group's lr by ``factor`` when a metric has not improved for ``patience`` epochs.

    Exactly torch.optim.lr_scheduler.ReduceLROnPlateau, called once per epoch as ``step(metric)``:

    * improvement: ``metric < best·(1 - threshold)`` (mode "min", "rel"), ``metric < best - threshold``
      ("min", "abs"), ``metric > best·(1 + threshold)`` ("max", "rel"), ``metric > best + threshold``
      ("max", "abs"); ``best`` starts at ±inf and takes the metric on every improvement.
    * otherwise ``num_bad_epochs`` grows; during cooldown it is reset to 0 and ``cooldown_counter`` falls.
    * when ``num_bad_epochs > patience``: ``lr = max(lr·factor, min_lr)`` per group, applied only if it lowers
      lr by more than ``eps``; then ``cooldown_counter = cooldown`` and ``num_bad_epochs = 0``.
    """

    def __init__(self, optimizer: Optimizer, mode: Literal["min", "max"] = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: Literal["rel", "abs"] = "rel",
                 cooldown: int = 0, min_lr: list[float] | float = 0, eps: float = 1e-8) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat) -> None:
        """Record one epoch's metric (any float-convertible value) and reduce the lrs if it is time."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The lr of each param group after the last :meth:`step` (the initial lrs before any step)."""
        return list(self._last_lr)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"The number of param groups in the optimizer ({len(groups)}) differs "
                                   f"from when ReduceLROnPlateau was initialized ({len(self.min_lrs)}), "
                                   f"usually due to a new param group being added to the optimizer. Please "
                                   f"modify the `min_lrs` field to match the length of the param groups.")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = inf if mode == "min" else -inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (torch's format), copied."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the lrs themselves live in the optimizer's state dict)."""
        self.__dict__.update(copy.deepcopy(state_dict))
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
