"""Adam and AdamW (torch.optim.Adam / torch.optim.AdamW), sharing one update with a decoupled-decay flag."""

from __future__ import annotations

from typing import Any

import numba
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
        state["step"] = np.array(float(state["step"]) + 1, dtype=np.float32)
        step = float(state["step"])
        p.data = _contiguous(p.data)
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in state:
                state[key] = _contiguous(state[key])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        max_exp_avg_sq = state.get("max_exp_avg_sq", exp_avg_sq)
        dt = p.data.dtype.type
        w = 1 - beta1  # torch.lerp's weight
        _adam_kernel(p.data.reshape(-1), np.ascontiguousarray(p.grad).reshape(-1), exp_avg.reshape(-1),
                     exp_avg_sq.reshape(-1), max_exp_avg_sq.reshape(-1), dt(-1 if group["maximize"] else 1),
                     wd != 0 and group["decoupled_weight_decay"], dt(1 - lr * wd), wd != 0 and not group[
                         "decoupled_weight_decay"], dt(wd), abs(dt(w)) < 0.5, dt(w), dt(1) - dt(w), dt(beta2),
                     dt(1 - beta2), bool(group["amsgrad"]), dt((1 - beta2**step) ** 0.5), dt(eps),
                     dt(-(lr / (1 - beta1**step))))


def _contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` itself when C-contiguous (so in-place updates reach it), else a C-contiguous copy."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


@numba.njit(cache=True, error_model="numpy")
def _adam_kernel(theta, grad, m, v, v_max, sign, decoupled, decay, coupled, wd, small_w, w, one_minus_w, beta2,
                 one_minus_beta2, amsgrad, bias_correction2_sqrt, eps, neg_step_size):
    """One Adam step of one parameter, element by element, in the order and dtype of torch's ops.

    g = sign·∇; θ = θ·decay (decoupled); g = g + wd·θ (coupled); m = lerp(m, g, w) (torch's two formulas);
    v = v·β2 + ((1-β2)·g)·g; v_max = max(v_max, v) (amsgrad); θ = θ + (-step_size·m) / (sqrt(v or v_max) /
    sqrt(1-β2^t) + eps). Every scalar arrives in the parameter's dtype. One simple loop per stage (the
    options are tested outside the loops), so that LLVM vectorises each.
    """
    n = theta.shape[0]
    if decoupled:
        for i in range(n):
            theta[i] *= decay
    g = grad
    if sign != 1 or coupled:
        g = np.empty_like(grad)
        for i in range(n):
            g[i] = sign * grad[i] + wd * theta[i] if coupled else sign * grad[i]
    if small_w:
        for i in range(n):
            m[i] += w * (g[i] - m[i])
    else:
        for i in range(n):
            m[i] = g[i] - (g[i] - m[i]) * one_minus_w
    for i in range(n):
        v[i] = v[i] * beta2 + one_minus_beta2 * g[i] * g[i]
    second = v
    if amsgrad:
        for i in range(n):
            if v[i] > v_max[i] or v[i] != v[i]:
                v_max[i] = v[i]
        second = v_max
    for i in range(n):
        theta[i] += neg_step_size * m[i] / (np.sqrt(second[i]) / bias_correction2_sqrt + eps)


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
