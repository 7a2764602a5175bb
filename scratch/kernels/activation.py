"""Activations: ReLU, LeakyReLU, sigmoid, tanh, LeCun's scaled tanh, softmax, log-softmax.

All but the scaled tanh mirror ``torch.nn.functional``. Elementwise ops work on any shape; softmax and
log-softmax normalise along ``dim`` (negative dims allowed). Written so that |x| up to ~1e4 neither
overflows nor produces inf/nan where torch is finite: sigmoid only ever exponentiates -|x|, softmax and
log-softmax subtract the maximum along ``dim``. Sigmoid, tanh and softmax differentiate through their
saved output, as torch's autograd does.

The work is memory-bound, so what counts is the number of passes over memory: each op is one Numba loop
that reads its inputs once and writes its output once (NumPy would spend a pass and a temporary array
per operator, and ``np.where``/``np.maximum`` with a scalar run without SIMD: ReLU's backward took
1.3 ms at LeNet's first activation, batch 64, against 0.1 ms now). Numba here has no SVML, so
``math.tanh`` or ``np.exp`` in a kernel is a scalar libm call that keeps LLVM from vectorising the loop:
``tanh`` stays NumPy's, whose SIMD version beats that several times over, and sigmoid computes exp itself
(:func:`_exp_nonpositive`: range reduction, a polynomial and bit-built powers of two, all branch-free),
which lets its one loop vectorise. Each elementwise loop runs over a range of elements: on the calling
thread, or split into one range per thread (``prange``) through :func:`scratch.kernels._parallel.run`
from ``THRESHOLDS["elementwise"]`` elements, below which waking the threads costs more than it saves
(sigmoid's forward, which computes more per element, from ``THRESHOLDS["sigmoid"]``). Kernels that divide use
``error_model="numpy"`` (IEEE division, no zero check), without which LLVM does not vectorise them.
Constants are made in the input's dtype (``x.dtype.type(1)`` inside the kernels), so float32 stays
float32. Same signatures, checks (:mod:`scratch.functional._checks.activation`) and results as the
reference, :mod:`scratch.functional.activation`; the caches are the reference's, subclassed here so that a
backward runs in the room whose forward made its cache.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from scratch.functional import activation as reference
from scratch.functional._checks import activation as checks
from scratch.kernels._parallel import run


class ReluCache(reference.ReluCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class LeakyReluCache(reference.LeakyReluCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class SigmoidCache(reference.SigmoidCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class TanhCache(reference.TanhCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class ScaledTanhCache(reference.ScaledTanhCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class SoftmaxCache(reference.SoftmaxCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


class LogSoftmaxCache(reference.LogSoftmaxCache):
    """The reference's cache, defined here so that its backward runs in the engine room."""

    __slots__ = ()


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ReluCache]:
    """The engine room's :func:`scratch.functional.activation.relu_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x = checks.activation_input("relu", x)
    out = np.empty_like(x)
    run("elementwise", _relu_kernel, _relu_parallel, x.size, x.size, x.reshape(-1), out.reshape(-1))
    return out, ReluCache(out)


@numba.njit(parallel=True, cache=True)
def _relu_parallel(x, out, chunks):
    n = x.shape[0]
    for c in numba.prange(chunks):
        _relu_kernel(x, out, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True)
def _relu_kernel(x, out, lo, hi):
    """out = x where x > 0 or x is NaN (NaN propagates, as np.maximum), else 0 (elements lo..hi-1)."""
    zero = x.dtype.type(0)
    x, out = x[lo:hi], out[lo:hi]  # slices: indices from 0, which lets LLVM vectorise
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 or v != v else zero


def relu_backward(dout: np.ndarray, cache: ReluCache) -> np.ndarray:
    """Gradient of :func:`relu_forward`. Math: see the forward."""
    out = cache.out
    dout = checks.activation_dout("relu_backward", dout, out)
    dx = np.empty_like(dout)
    run("elementwise", _relu_backward_kernel, _relu_backward_parallel, dx.size, dx.size, dout.reshape(-1),
        out.reshape(-1), dx.reshape(-1))
    return dx


@numba.njit(parallel=True, cache=True)
def _relu_backward_parallel(dout, out, dx, chunks):
    n = dout.shape[0]
    for c in numba.prange(chunks):
        _relu_backward_kernel(dout, out, dx, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True)
def _relu_backward_kernel(dout, out, dx, lo, hi):
    """dx = 0 where out <= 0, else dout (elements lo..hi-1)."""
    zero = dout.dtype.type(0)
    dout, out, dx = dout[lo:hi], out[lo:hi], dx[lo:hi]
    for i in range(dout.shape[0]):
        dx[i] = zero if out[i] <= 0 else dout[i]


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, LeakyReluCache]:
    """The engine room's :func:`scratch.functional.activation.leaky_relu_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, slope = checks.leaky_relu_args(x, negative_slope)  # slope in x's dtype: float32 products stay float32
    out = np.empty_like(x)
    run("elementwise", _leaky_relu_kernel, _leaky_relu_parallel, x.size, x.size, x.reshape(-1), x.reshape(-1),
        out.reshape(-1), slope)
    return out, LeakyReluCache(x, slope)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReluCache) -> np.ndarray:
    """Gradient of :func:`leaky_relu_forward`. Math: see the forward."""
    x, slope = cache
    dout = checks.activation_dout("leaky_relu_backward", dout, x)
    dx = np.empty_like(dout)
    run("elementwise", _leaky_relu_kernel, _leaky_relu_parallel, dx.size, dx.size, x.reshape(-1), dout.reshape(-1),
        dx.reshape(-1), slope)
    return dx


@numba.njit(parallel=True, cache=True)
def _leaky_relu_parallel(x, v, out, slope, chunks):
    n = x.shape[0]
    for c in numba.prange(chunks):
        _leaky_relu_kernel(x, v, out, slope, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True)
def _leaky_relu_kernel(x, v, out, slope, lo, hi):
    """out = v where x > 0, else v · slope (forward: v = x; backward: v = dout; elements lo..hi-1)."""
    x, v, out = x[lo:hi], v[lo:hi], out[lo:hi]
    for i in range(x.shape[0]):
        out[i] = v[i] if x[i] > 0 else v[i] * slope


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, SigmoidCache]:
    """The engine room's :func:`scratch.functional.activation.sigmoid_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there).

    One pass over memory, with our own exp (:func:`_exp_nonpositive`), which LLVM vectorises where a
    call to libm's would not be: within 1 ulp of ``np.exp`` in float32 and float64, subnormal results
    included (measured on dense sweeps down to the underflow to 0; ``parity_tests/test_kernels_dense.py``).
    """
    x = checks.activation_input("sigmoid", x)
    out = np.empty_like(x)
    run("sigmoid", _sigmoid_kernel, _sigmoid_parallel, x.size, x.size, x.reshape(-1), out.reshape(-1))
    return out, SigmoidCache(out)


@numba.njit(parallel=True, cache=True)
def _sigmoid_parallel(x, out, chunks):
    n = x.shape[0]
    for c in numba.prange(chunks):
        _sigmoid_kernel(x, out, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True, error_model="numpy")
def _sigmoid_kernel(x, out, lo, hi):
    """out = 1 / (1 + z) where x >= 0, z / (1 + z) elsewhere, z = exp(-|x|) (elements lo..hi-1)."""
    one = x.dtype.type(1)
    x, out = x[lo:hi], out[lo:hi]
    for i in range(x.shape[0]):
        v = x[i]
        z = _exp_nonpositive(-abs(v))
        out[i] = (one if v >= 0 else z) / (one + z)


def _exp_nonpositive(t):
    """exp(t) for t <= 0 or NaN, in t's float type: a helper of Numba kernels, compiled by the overload below."""
    raise TypeError("_exp_nonpositive runs inside Numba-compiled code only")


# Per float width: the clamp (exp(t) rounds to 0 below it), the rounding shift 1.5·2^(mantissa bits), ln 2
# split as hi + lo (hi has few enough bits that n·hi is exact for every n that occurs), and the coefficients,
# highest degree first, of P in e^r ≈ 1 + r + r²·P(r) on |r| <= ln(2)/2: Cephes' expf minimax polynomial in
# float32, the Taylor series to r¹³/13! (truncation < 2^-57) in float64.
_EXP_CONSTANTS = {
    32: (-104.0, 1.5 * 2.0**23, 0.693359375, -2.12194440e-4,
         (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)),
    64: (-746.0, 1.5 * 2.0**52, 0.693145751953125, 1.42860682030941723212e-6,
         tuple(1 / math.factorial(k) for k in range(13, 1, -1))),
}


@overload(_exp_nonpositive, jit_options={"fastmath": {"contract"}})
def _exp_nonpositive_overload(t):
    """exp(t) = 2^n · e^r with n = round(t / ln 2) and r = t - n·ln 2 (Cody–Waite: n·ln2_hi exact, then
    n·ln2_lo), e^r from a polynomial, 2^n from its bits (:func:`_times_pow2`).

    Branch-free, so that LLVM vectorises the loop that calls it. Constants are in t's type (no float64 in
    a float32 kernel). ``fastmath={"contract"}`` lets LLVM fuse a·b + c into one FMA (one rounding, not two)
    and permits nothing else. t = -inf gives 0, NaN gives NaN.
    """
    if not isinstance(t, types.Float):
        return None
    f = np.float32 if t.bitwidth == 32 else np.float64
    lowest, shift, ln2_hi, ln2_lo, poly = _EXP_CONSTANTS[t.bitwidth]
    lowest, log2e, shift, ln2_hi, ln2_lo, one = (f(c) for c in (lowest, 1 / math.log(2), shift, ln2_hi, ln2_lo, 1))
    head, tail = f(poly[0]), tuple(f(c) for c in poly[1:])

    def impl(t):
        t = lowest if t < lowest else t  # NaN compares false and stays NaN
        k = t * log2e + shift  # rounds t / ln 2 to the integer n, held in the low bits of k
        n = k - shift
        r = (t - n * ln2_hi) - n * ln2_lo
        q = head
        for c in tail:
            q = q * r + c
        return _times_pow2((q * (r * r) + r) + one, k, shift)

    return impl


@intrinsic
def _times_pow2(typingctx, p, k, shift):
    """p · 2^n for n = bits(k) - bits(shift) (an integer <= 0), the powers of two built from their bits.

    Multiplies by 2^(n - n//2) and 2^(n//2), both normal numbers, so that a result below the normal range
    is rounded once, like the correctly rounded exp (2^n itself would not be a normal number there).
    """
    if not (isinstance(p, types.Float) and p == k == shift):
        return None
    mantissa_bits, bias = (23, 127) if p.bitwidth == 32 else (52, 1023)

    def codegen(context, builder, signature, args):
        p, k, shift = args
        int_type = ir.IntType(signature.return_type.bitwidth)
        n = builder.sub(builder.bitcast(k, int_type), builder.bitcast(shift, int_type))
        half = builder.ashr(n, int_type(1))

        def pow2(e):
            return builder.bitcast(builder.shl(builder.add(e, int_type(bias)), int_type(mantissa_bits)), p.type)

        return builder.fmul(builder.fmul(p, pow2(builder.sub(n, half))), pow2(half))

    return p(p, p, p), codegen


def sigmoid_backward(dout: np.ndarray, cache: SigmoidCache) -> np.ndarray:
    """Gradient of :func:`sigmoid_forward` from its saved output. Math: see the forward."""
    out = cache.out
    dout = checks.activation_dout("sigmoid_backward", dout, out)
    dx = np.empty_like(dout)
    run("elementwise", _sigmoid_backward_kernel, _sigmoid_backward_parallel, dx.size, dx.size, dout.reshape(-1),
        out.reshape(-1), dx.reshape(-1))
    return dx


@numba.njit(parallel=True, cache=True)
def _sigmoid_backward_parallel(dout, out, dx, chunks):
    n = dout.shape[0]
    for c in numba.prange(chunks):
        _sigmoid_backward_kernel(dout, out, dx, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True)
def _sigmoid_backward_kernel(dout, out, dx, lo, hi):
    """dx = dout · (1 - out) · out (elements lo..hi-1)."""
    one = dout.dtype.type(1)
    dout, out, dx = dout[lo:hi], out[lo:hi], dx[lo:hi]
    for i in range(dout.shape[0]):
        dx[i] = dout[i] * (one - out[i]) * out[i]


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, TanhCache]:
    """The engine room's :func:`scratch.functional.activation.tanh_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x = checks.activation_input("tanh", x)
    out = np.tanh(x, out=np.empty_like(x))
    return out, TanhCache(out)


def tanh_backward(dout: np.ndarray, cache: TanhCache) -> np.ndarray:
    """Gradient of :func:`tanh_forward` from its saved output. Math: see the forward."""
    out = cache.out
    dout = checks.activation_dout("tanh_backward", dout, out)
    dx = np.empty_like(dout)
    one = dout.dtype.type(1)
    run("elementwise", _tanh_backward_kernel, _tanh_backward_parallel, dx.size, dx.size, dout.reshape(-1),
        out.reshape(-1), dx.reshape(-1), one, one)
    return dx


@numba.njit(parallel=True, cache=True)
def _tanh_backward_parallel(dout, t, dx, amplitude, slope, chunks):
    n = dout.shape[0]
    for c in numba.prange(chunks):
        _tanh_backward_kernel(dout, t, dx, amplitude, slope, c * n // chunks, (c + 1) * n // chunks)


@numba.njit(cache=True)
def _tanh_backward_kernel(dout, t, dx, amplitude, slope, lo, hi):
    """dx = ((dout · amplitude) · (1 - t²)) · slope (tanh: amplitude = slope = 1; elements lo..hi-1)."""
    one = dout.dtype.type(1)
    dout, t, dx = dout[lo:hi], t[lo:hi], dx[lo:hi]
    for i in range(dout.shape[0]):
        dx[i] = dout[i] * amplitude * (one - t[i] * t[i]) * slope


def scaled_tanh_forward(x: np.ndarray, amplitude: float = 1.7159,
                        slope: float = 2.0 / 3.0) -> tuple[np.ndarray, ScaledTanhCache]:
    """The engine room's :func:`scratch.functional.activation.scaled_tanh_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, a, s = checks.scaled_tanh_args(x, amplitude, slope)
    t = np.multiply(x, s, out=np.empty_like(x))
    np.tanh(t, out=t)
    return np.multiply(a, t, out=np.empty_like(t)), ScaledTanhCache(t, a, s)


def scaled_tanh_backward(dout: np.ndarray, cache: ScaledTanhCache) -> np.ndarray:
    """Gradient of :func:`scaled_tanh_forward` from its saved tanh. Math: see the forward."""
    t, a, s = cache
    dout = checks.activation_dout("scaled_tanh_backward", dout, t)
    dx = np.empty_like(dout)
    run("elementwise", _tanh_backward_kernel, _tanh_backward_parallel, dx.size, dx.size, dout.reshape(-1),
        t.reshape(-1), dx.reshape(-1), a, s)
    return dx


def softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, SoftmaxCache]:
    """The engine room's :func:`scratch.functional.activation.softmax_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, axis = checks.softmax_args("softmax", x, dim)
    out = np.empty_like(x)
    _softmax_kernel(_along(x, axis), _along(out, axis), False)
    return out, SoftmaxCache(out, axis)


def _along(a: np.ndarray, axis: int) -> np.ndarray:
    """C-contiguous ``a`` viewed as (outer, size along ``axis``, inner); a 0-D array as (1, 1, 1)."""
    shape = a.shape or (1,)
    return a.reshape(math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))


@numba.njit(cache=True, error_model="numpy")
def _softmax_kernel(x, out, log):
    """Softmax (log-softmax when ``log``) of x (outer, n, inner) along axis 1, shifted by the maximum.

    The maximum propagates NaN, as np.max; a slice of -inf gives NaN (-inf - -inf), as torch.
    """
    outer, n, inner = x.shape
    zero = x.dtype.type(0)
    if n == 0:
        return
    for a in range(outer):
        for c in range(inner):
            m = x[a, 0, c]
            for k in range(1, n):
                v = x[a, k, c]
                if v > m or v != v:
                    m = v
            total = zero
            for k in range(n):
                e = np.exp(x[a, k, c] - m)
                total += e
                out[a, k, c] = e
            if log:
                log_total = np.log(total)
                for k in range(n):
                    out[a, k, c] = (x[a, k, c] - m) - log_total
            else:
                for k in range(n):
                    out[a, k, c] = out[a, k, c] / total


def log_softmax_rows(rows: np.ndarray) -> np.ndarray:
    """Log-softmax of each row of a C-contiguous (M, C) float array, unchecked (for the losses)."""
    out = np.empty_like(rows)
    _softmax_kernel(rows.reshape(*rows.shape, 1), out.reshape(*rows.shape, 1), True)
    return out


def softmax_backward(dout: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """Gradient of :func:`softmax_forward` from its saved output. Math: see the forward."""
    out, axis = cache
    dout = checks.activation_dout("softmax_backward", dout, out)
    dx = np.empty_like(dout)
    _softmax_backward_kernel(_along(out, axis), _along(dout, axis), _along(dx, axis), False)
    return dx


@numba.njit(cache=True)
def _softmax_backward_kernel(y, g, dx, log):
    """Along axis 1 of (outer, n, inner): dx = y · (g - Σ g·y), or dx = g - exp(y) · Σ g when ``log``."""
    outer, n, inner = y.shape
    zero = y.dtype.type(0)
    for a in range(outer):
        for c in range(inner):
            total = zero
            for k in range(n):
                total += g[a, k, c] if log else g[a, k, c] * y[a, k, c]
            for k in range(n):
                if log:
                    dx[a, k, c] = g[a, k, c] - np.exp(y[a, k, c]) * total
                else:
                    dx[a, k, c] = y[a, k, c] * (g[a, k, c] - total)


def log_softmax_forward(x: np.ndarray, dim: int) -> tuple[np.ndarray, LogSoftmaxCache]:
    """The engine room's :func:`scratch.functional.activation.log_softmax_forward`: the same arguments, checks,
    results and errors (the math and the cache are described there)."""
    x, axis = checks.softmax_args("log_softmax", x, dim)
    out = np.empty_like(x)
    _softmax_kernel(_along(x, axis), _along(out, axis), True)
    return out, LogSoftmaxCache(out, axis)


def log_softmax_backward(dout: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """Gradient of :func:`log_softmax_forward` from its saved output. Math: see the forward."""
    out, axis = cache
    dout = checks.activation_dout("log_softmax_backward", dout, out)
    dx = np.empty_like(dout)
    _softmax_backward_kernel(_along(out, axis), _along(dout, axis), _along(dx, axis), True)
    return dx
