"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD)."""

from __future__ import annotations

from typing import Any

import numpy as np

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

    The momentum buffer starts as the gradient itself, so dampening acts from the second step on.
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
        momentum, wd = float(group["momentum"]), float(group["weight_decay"])
        grad = -p.grad if group["maximize"] else p.grad
        if wd != 0:
            grad = grad + wd * p.data
        if momentum != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=p.data.dtype, copy=True)
            else:
                buf *= momentum
                buf += (1 - float(group["dampening"])) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= float(group["lr"]) * grad
