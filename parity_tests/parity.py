"""The one parity helper (:func:`assert_parity`), its tolerance rule, and the finite-difference checker.

Tolerance ``tol`` (relative):

* float64 proves the math: ``tol = 1e-10``. Rounding of a K-term reduction is ~sqrt(K)·2.2e-16, so any
  K below 1e8 sits orders of magnitude under it; a wrong formula misses it by many orders.
* float32 proves the kernels: ``tol = 8 · eps32 · sqrt(K)`` with eps32 = 2**-23 ≈ 1.19e-7 and K the
  length of the longest reduction that produced the value (1 for elementwise ops). Summation error of a
  K-term float32 reduction is a random walk of std ≈ eps32·sqrt(K/3)·scale per implementation; two
  implementations summing in different orders each contribute, and 8 keeps the margin above 5 sigma.
  Transcendental functions (exp, tanh, log) add at most a few ulp, covered by the same factor.

The scale rule (here only): each entry is judged against ``s_i``, the size of what was summed into it:

* ``scale`` given: a number, or an array of ref's shape (e.g. the op applied to |x| and |w|: the sum of
  the absolute terms of each entry), for reductions whose result may cancel to far below its terms;
* else ``|ref_i|`` for an elementwise op (``reduction == 1``), and ``max|ref|`` for a reduction.

Checks, on the finite entries (inf and nan must sit where torch has them): elementwise
``|ours_i - ref_i| <= tol·s_i`` (plus the smallest normal number), and normwise
``||ours - ref||_2 <= tol·||ref||_2`` (plus the same floor; with a given scale, ``||ref||_2`` counts as at
least ``||s||_2 / n``, n entries), which an entry zeroed or sign-flipped cannot pass unless it is tiny
against the whole result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
TOL64 = 1e-10


def tolerance(dtype: np.dtype, reduction: int = 1) -> float:
    """Relative tolerance for comparing against torch in ``dtype`` after a ``reduction``-term sum."""
    if np.dtype(dtype) == np.float64:
        return TOL64
    return 8.0 * EPS32 * math.sqrt(max(1, reduction))


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def assert_parity(name: str, ours, ref, case, reduction: int = 1, scale=None) -> None:
    """Assert ``ours`` (NumPy) equals ``ref`` (torch tensor or array) in shape, dtype and value.

    ``reduction`` and ``scale`` follow the module's rule. The message names the tensor, the drawn case and
    the worst entry, e.g. ``conv2d.dw: err 3.1e-05 > tol 1.9e-06 x scale 2.4 at (0, 1, 2, 2) ... | case: ...``.
    """
    ref = _to_numpy(ref)
    ours_arr = np.asarray(ours)
    assert ours_arr.shape == ref.shape, f"{name}: shape {ours_arr.shape} vs torch {ref.shape} | case: {case}"
    assert ours_arr.dtype == ref.dtype, f"{name}: dtype {ours_arr.dtype} vs torch {ref.dtype} | case: {case}"
    if ours_arr.size == 0:
        return
    finite_ref = np.isfinite(ref)
    same_nonfinite = np.array_equal(np.isfinite(ours_arr), finite_ref) and np.array_equal(
        ours_arr[~finite_ref], ref[~finite_ref], equal_nan=True)
    assert same_nonfinite, f"{name}: inf/nan pattern differs from torch | case: {case}"
    ours_f, ref_f = ours_arr[finite_ref].astype(np.float64), ref[finite_ref].astype(np.float64)
    if ours_f.size == 0:
        return
    tol = tolerance(ours_arr.dtype, reduction)
    tiny = float(np.finfo(ours_arr.dtype).tiny)
    if scale is not None:
        s = np.broadcast_to(np.abs(np.asarray(scale, dtype=np.float64)), ref.shape)[finite_ref]
        assert np.all(np.isfinite(s)), f"{name}: the scale is not finite where torch's value is | case: {case}"
    elif reduction == 1:
        s = np.abs(ref_f)
    else:
        s = np.full(ref_f.shape, float(np.max(np.abs(ref_f))))
    err = np.abs(ours_f - ref_f)
    excess = err - (tol * s + tiny)
    worst = int(np.argmax(excess))
    if excess[worst] > 0:
        where = np.unravel_index(np.flatnonzero(finite_ref.ravel())[worst], ref.shape)
        raise AssertionError(
            f"{name}: err {err[worst]:.3e} > tol {tol:.2e} x scale {s[worst]:.3e} at index "
            f"{tuple(int(i) for i in where)} (ours {ours_f[worst]!r}, torch {ref_f[worst]!r}) | case: {case}")
    norm_err, norm_ref = float(np.linalg.norm(err)), float(np.linalg.norm(ref_f))
    floor = tiny * math.sqrt(err.size)
    # with a given scale, ||ref|| counts as at least ||s||/n: a one-entry result that cancels (a parameter
    # passing through 0) is judged at its terms, while one entry in a large result cannot hide
    norm_scale = max(norm_ref, float(np.linalg.norm(s)) / s.size) if scale is not None else norm_ref
    assert norm_err <= tol * norm_scale + floor, (
        f"{name}: normwise err ||ours - torch|| {norm_err:.3e} > tol {tol:.2e} x ||torch|| {norm_ref:.3e} "
        f"({int(np.count_nonzero(err > tol * np.abs(ref_f)))} of {err.size} entries off by more than tol "
        f"relative) | case: {case}")


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                       h: float = 1e-6) -> np.ndarray:
    """Central differences of ``L(x) = sum(f(x) * dout)`` in float64: ``dL/dx_i ≈ (L(x+h e_i) - L(x-h e_i)) / 2h``."""
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + h
        plus = float(np.sum(f(x) * dout))
        flat[i] = orig - h
        minus = float(np.sum(f(x) * dout))
        flat[i] = orig
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def assert_finite_difference(name: str, f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                             dout: np.ndarray, analytic: np.ndarray, case, h: float = 1e-6,
                             tol: float = 1e-6) -> None:
    """Check a hand-written backward against central differences, independently of torch.

    Central differences have truncation error O(h²·f''') and rounding error O(eps64·|L|/h); with h = 1e-6
    both are ~1e-10 relative to the values, so ``tol = 1e-6`` (normwise) separates round-off from a wrong
    formula by four orders. Use only away from kinks (ReLU at 0, max-pool ties), where f is smooth.
    The rounding term is also allowed in absolute terms, 8·eps64·Σ|f(x)·dout| / h: a gradient that cancels
    to near 0 (two pooling windows sharing their maximum, upstream gradients of opposite sign) is then
    judged at the size of the terms that cancelled, not at its own.
    """
    num = numerical_gradient(f, x, dout, h)
    analytic = np.asarray(analytic, dtype=np.float64)
    assert analytic.shape == num.shape, f"{name}: analytic grad shape {analytic.shape} vs {num.shape} | {case}"
    if num.size == 0:
        return
    scale = max(float(np.max(np.abs(num))), 1e-12)
    products = np.asarray(f(np.array(x, dtype=np.float64)), dtype=np.float64) * dout
    terms = float(np.sum(np.abs(products[np.isfinite(products)])))
    rounding = 8 * float(np.finfo(np.float64).eps) * terms / h
    err = float(np.max(np.abs(analytic - num)))
    assert err <= tol * scale + rounding, (f"{name}: finite-difference max abs err {err:.3e} > {tol:.1e} x scale "
                                           f"{scale:.3e} + rounding {rounding:.1e} | case: {case}")
