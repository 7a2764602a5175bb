"""The optimizers' steps, the engine: Adam's update as one Numba loop per stage (SGD has no kernel).

Same signature, checks and results (bit for bit) as :func:`scratch.functional.optim.adam_step`: the kernel
does the reference's operations element by element, in the same order and dtype, with every scalar made
in the parameter's dtype beforehand. A non-contiguous parameter or state array is updated through a
contiguous copy that is written back.
"""

from __future__ import annotations

import numba
import numpy as np

from scratch.functional.optim import check_step_arrays

__all__ = ["adam_step"]


def adam_step(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
              max_exp_avg_sq: np.ndarray | None, step: float, *, lr: float, beta1: float, beta2: float,
              eps: float, weight_decay: float = 0.0, maximize: bool = False,
              decoupled_weight_decay: bool = False) -> None:
    """One Adam (AdamW) step of ``param`` and its moments in place: see :func:`scratch.functional.adam_step`."""
    check_step_arrays("adam_step", param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                      max_exp_avg_sq=max_exp_avg_sq)
    dt = param.dtype.type
    w = dt(1 - beta1)  # torch.lerp's weight
    updated = [param, exp_avg, exp_avg_sq] + ([] if max_exp_avg_sq is None else [max_exp_avg_sq])
    flat = [a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1) for a in updated]
    theta, m, v = flat[:3]
    v_max = flat[3] if max_exp_avg_sq is not None else v
    # the scalars in one array and the options in one bit set: a Numba call costs ~0.15 µs per argument
    scalars = np.array([-1 if maximize else 1, 1 - lr * weight_decay, weight_decay, w, dt(1) - w, beta2,
                        1 - beta2, (1 - beta2**step) ** 0.5, eps, -(lr / (1 - beta1**step))], dtype=param.dtype)
    options = ((weight_decay != 0 and decoupled_weight_decay) | (weight_decay != 0 and not decoupled_weight_decay) << 1
               | (abs(w) < 0.5) << 2 | (max_exp_avg_sq is not None) << 3)
    _adam_kernel(theta, np.ascontiguousarray(grad).reshape(-1), m, v, v_max, scalars, options)
    for a, f in zip(updated, flat, strict=True):
        if not a.flags.c_contiguous:
            a[...] = f.reshape(a.shape)


@numba.njit(cache=True, error_model="numpy")
def _adam_kernel(theta, grad, m, v, v_max, scalars, options):
    """One Adam step of one parameter, element by element, in the order and dtype of torch's ops.

    g = sign·∇; θ = θ·decay (decoupled); g = g + wd·θ (coupled); m = lerp(m, g, w) (torch's two formulas);
    v = v·β2 + ((1-β2)·g)·g; v_max = max(v_max, v) (amsgrad); θ = θ + (-step_size·m) / (sqrt(v or v_max) /
    sqrt(1-β2^t) + eps). ``scalars`` holds (sign, decay, wd, w, 1-w, β2, 1-β2, sqrt(1-β2^t), eps,
    -step_size) in the parameter's dtype; ``options`` the bits decoupled (1), coupled (2), w < 0.5 (4),
    amsgrad (8). One simple loop per stage (the options are tested outside the loops), so that LLVM
    vectorises each.
    """
    sign, decay, wd, w, one_minus_w, beta2, one_minus_beta2 = scalars[:7]
    bias_correction2_sqrt, eps, neg_step_size = scalars[7], scalars[8], scalars[9]
    decoupled, coupled, small_w, amsgrad = options & 1, options & 2, options & 4, options & 8
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
