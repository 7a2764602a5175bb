"""Adam and AdamW (torch.optim.Adam / torch.optim.AdamW), sharing one update with a decoupled-decay flag.

The step itself is :func:`scratch.functional.adam_step` (reference: ``scratch/functional/optim.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratch.functional as F
from scratch.nn.module import Parameter
from scratch.optim.optimizer import Optimizer, ParamsT


class Adam(Optimizer):
    """torch.optim.Adam's single-tensor algorithm, step for step (same options, defaults and errors).

    Update, per parameter θ with gradient ∇ (lr γ, betas β1 β2, weight decay λ, t = state["step"] + 1)::

        g = -∇ if maximize else ∇
        θ = θ·(1 - γλ)                 if decoupled_weight_decay   (AdamW)
        g = g + λ·θ                    otherwise                   (L2 penalty)
        m = m + (1 - β1)·(g - m)       (torch's lerp; state["exp_avg"])
        v = β2·v + (1 - β2)·g·g        (state["exp_avg_sq"])
        v̂ = max(v̂, v)                  (amsgrad only; state["max_exp_avg_sq"])
        θ = θ - (γ / (1 - β1^t))·m / (sqrt(v or v̂) / sqrt(1 - β2^t) + eps)

    State arrays keep the parameter's dtype; ``step`` is a float32 scalar array, as in torch. The update is
    :func:`scratch.functional.adam_step` (its reference reads like the formula above).
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError(f"betas must be floats, got {betas!r}")
        defaults = dict(lr=lr, betas=(betas[0], betas[1]), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, p: Parameter, group: dict[str, Any]) -> None:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = np.zeros((), dtype=np.float32)
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] = np.array(float(state["step"]) + 1, dtype=np.float32)
        beta1, beta2 = (float(b) for b in group["betas"])
        F.adam_step(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"],
                    state.get("max_exp_avg_sq") if group["amsgrad"] else None, float(state["step"]),
                    lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]),
                    decoupled_weight_decay=bool(group["decoupled_weight_decay"]))


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay ``θ = θ·(1 - γλ)`` and ``weight_decay=1e-2``."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
