"""Adam and AdamW (torch.optim.Adam / torch.optim.AdamW), sharing one update with a decoupled-decay flag."""

from __future__ import annotations

from typing import Any

import numpy as np

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

    State arrays keep the parameter's dtype; ``step`` is a float32 scalar array, as in torch.
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
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        state = self.state[p]
        if len(state) == 0:
            state["step"] = np.zeros((), dtype=np.float32)
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"] = np.array(float(state["step"]) + 1, dtype=np.float32)
        step = float(state["step"])

        grad = -p.grad if group["maximize"] else p.grad
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * wd
            else:
                grad = grad + wd * p.data
        _lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad

        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            denom = np.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + eps
        else:
            denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
        p.data += (-step_size * exp_avg) / denom


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight·(end - start)`` in place, with torch.lerp's two formulas (|weight| < 0.5 or not)."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (start.dtype.type(1) - w)


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
