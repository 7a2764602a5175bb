"""The optimizers' update steps, the reference: one SGD or Adam step of one parameter, in plain NumPy.

Each step is torch.optim's single-tensor algorithm (``foreach=False``) in torch's order of operations and
dtype: the state arrays have the parameter's dtype, every scalar is rounded to that dtype before it meets
an array (float32 stays float32), and the parameter and state arrays are updated in place. The scalars
that depend only on the step count (Adam's bias corrections) are Python floats, as in torch.

The classes of :mod:`scratch.optim` keep the options, their validation and the per-parameter state, and
call these steps through the dispatching :mod:`scratch.functional`. The engine:
:mod:`scratch.kernels.optim` (Adam as one Numba loop per stage; SGD has no kernel, NumPy's whole-array
ops are already its engine).
"""

from __future__ import annotations

import numpy as np

from scratch.functional._checks import FLOAT_DTYPES, check_same_dtype, check_shape

__all__ = ["sgd_step", "adam_step"]


def check_step_arrays(op: str, param: np.ndarray, **arrays: np.ndarray | None) -> None:
    """The parameter is a float array; every other array (None skipped) has its shape and dtype."""
    if not isinstance(param, np.ndarray) or param.dtype not in FLOAT_DTYPES:
        got = param.dtype if isinstance(param, np.ndarray) else type(param).__name__
        raise TypeError(f"{op}: expected param to be a float32 or float64 numpy.ndarray, got {got}")
    for name, a in arrays.items():
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{op}: expected {name} to be a numpy.ndarray, got {type(a).__name__}")
        check_shape(op, name, a, param.shape)
        check_same_dtype(op, "param", param, name, a)


def sgd_step(param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray | None, *, lr: float,
             momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
             maximize: bool = False) -> np.ndarray | None:
    """One SGD step of ``param`` (θ, in place), as torch.optim.SGD's single-tensor algorithm.

    Update (lr γ, momentum μ, dampening τ, weight decay λ, b the momentum buffer)::

        g = -∇ if maximize else ∇
        g = g + λ·θ                           (λ ≠ 0)
        b = copy of g         on the first step (``momentum_buffer`` None),
        b = μ·b + (1 - τ)·g   afterwards       (μ ≠ 0; b updated in place)
        g = g + μ·b if nesterov else b         (μ ≠ 0)
        θ = θ - γ·g

    Returns the momentum buffer (the new one on the first step; None without momentum).
    """
    check_step_arrays("sgd_step", param, grad=grad, momentum_buffer=momentum_buffer)
    dt = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + dt(weight_decay) * param
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = np.array(g)  # a copy (an array even for a 0-D parameter)
        else:
            momentum_buffer *= dt(momentum)
            momentum_buffer += dt(1 - dampening) * g
        g = g + dt(momentum) * momentum_buffer if nesterov else momentum_buffer
    param -= dt(lr) * g
    return momentum_buffer


def adam_step(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
              max_exp_avg_sq: np.ndarray | None, step: float, *, lr: float, beta1: float, beta2: float,
              eps: float, weight_decay: float = 0.0, maximize: bool = False,
              decoupled_weight_decay: bool = False) -> None:
    """One Adam (AdamW) step of ``param`` (θ) and its moments, in place, as torch.optim.Adam's algorithm.

    Update (lr γ, betas β1 β2, weight decay λ, t = ``step``, the count including this step)::

        g = -∇ if maximize else ∇
        θ = θ·(1 - γλ)                  if decoupled_weight_decay   (AdamW)
        g = g + λ·θ                     otherwise, λ ≠ 0            (L2 penalty)
        m = lerp(m, g, 1 - β1)          (torch's lerp, below; m is ``exp_avg``)
        v = β2·v + ((1 - β2)·g)·g       (``exp_avg_sq``)
        v̂ = max(v̂, v)                   (amsgrad: ``max_exp_avg_sq`` not None; NaN propagates)
        θ = θ + (-γ/(1 - β1^t))·m / (sqrt(v or v̂) / sqrt(1 - β2^t) + eps)

    torch's lerp(m, g, w) is m + w·(g - m) for |w| < 0.5, else g - (g - m)·(1 - w) (exact at both ends).
    """
    check_step_arrays("adam_step", param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                      max_exp_avg_sq=max_exp_avg_sq)
    dt = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0 and decoupled_weight_decay:
        param *= dt(1 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + dt(weight_decay) * param
    w = dt(1 - beta1)
    if abs(w) < 0.5:
        exp_avg += w * (g - exp_avg)
    else:
        exp_avg[...] = g - (g - exp_avg) * (dt(1) - w)
    exp_avg_sq *= dt(beta2)
    exp_avg_sq += dt(1 - beta2) * g * g
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    second = exp_avg_sq if max_exp_avg_sq is None else max_exp_avg_sq
    bias_correction1, bias_correction2_sqrt = 1 - beta1**step, (1 - beta2**step) ** 0.5
    denom = np.sqrt(second) / dt(bias_correction2_sqrt) + dt(eps)
    param += dt(-(lr / bias_correction1)) * exp_avg / denom
