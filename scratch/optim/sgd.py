"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD)."""

from __future__ import annotations

from typing import Any

import scratch.functional as F
from scratch.nn.module import Parameter
from scratch.optim.optimizer import Optimizer, ParamsT


class SGD(Optimizer):
    """torch.optim.SGD's single-tensor algorithm, step for step (same options, defaults and errors).

    Update, per parameter θ with gradient ∇ (lr γ, momentum μ, dampening τ, weight decay λ)::

        g = -∇ if maximize else ∇
        g = g + λ·θ                            (λ ≠ 0)
        b = copy of g         on the first step,
        b = μ·b + (1 - τ)·g   afterwards        (μ ≠ 0; b is state["momentum_buffer"])
        g = g + μ·b if nesterov else b          (μ ≠ 0)
        θ = θ - γ·g

    The momentum buffer starts as the gradient itself, so dampening acts from the second step on. The update
    is :func:`scratch.functional.sgd_step` (its reference reads like the formula above).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p: Parameter, group: dict[str, Any]) -> None:
        momentum = float(group["momentum"])
        buf = self.state[p].get("momentum_buffer") if momentum != 0 else None  # torch keeps no state without
        buf = F.sgd_step(p.data, p.grad, buf, lr=float(group["lr"]), momentum=momentum,
                         dampening=float(group["dampening"]), weight_decay=float(group["weight_decay"]),
                         nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]))
        if buf is not None:
            self.state[p]["momentum_buffer"] = buf
