"""The gradient doctor: ``scratchnet gradcheck OP`` asks "is this backward right?" three ways, and of a
user's own forward/backward pair (``--impl``, :func:`check_op`) over Hypothesis-drawn cases.

Three-way check (:func:`gradcheck`, the default command): one case of the op (random, or ``--structured``),
in float64, and per tensor (``out``, then each gradient ``dx``, ``dw``, ``db``, ``dinput``) a table of

* the hand-written backward vs torch autograd: the reference room (:mod:`scratch.functional`) and/or the
  Numba room (:mod:`scratch.kernels`), ``--backend``;
* central finite differences of the reference forward vs torch, and the reference vs finite differences
  (the check that needs no torch at all).

Tolerances (float64; the rule of ``parity_tests/parity.py``, judged against the largest entry of the
expected tensor, ``s = max|expected|``, as parity does for a reduction):

* hand-written vs torch: ``max|err| <= 1e-10 · s``. The rounding of a K-term float64 reduction is about
  sqrt(K)·1.1e-16 relative (K is below 10³ here), six orders under the tolerance; a wrong formula, index
  or factor is off by O(1) relative.
* finite differences: ``max|err| <= 1e-6 · s + 8·eps64·Σ|out·dout| / h`` with step h = 1e-6. Truncation
  O(h²) and rounding O(eps64·|L|/h) are both about 1e-10 relative, four orders under 1e-6; the second
  term admits the rounding of L = Σ out·dout itself where a gradient cancels to near 0. Finite
  differences hold only where the op is smooth, so the generated inputs keep away from the kinks: values
  are at least 1/size apart (no tied maxima, no input == target in L1) and never 0 (ReLU). With
  ``--ties`` (max pooling) the maxima tie on purpose, the op is not differentiable there, and the
  finite differences are skipped: torch's routing (the first maximum) is then the convention checked.

Batch norm (training, or evaluation with ``--eval``; ``--no-affine``, ``--momentum``) checks out, dx, dw (γ),
db (β) and, after the call, the running statistics it updates in place against torch's (state, not
differentiated; every call gets copies, so the finite differences do not drift them). Its hand-written
tolerance has an absolute part, 1e-10 × the size of the terms (:func:`hand_floor`): out and dx cancel
to near 0 on a channel of equal values. Dropout and dropout2d: torch's result is x·(mask/(1-p)) with the
op's own mask (torch's generator is not NumPy's), through autograd; the op gets a generator seeded
afresh at every call (:class:`Seeded`), so the finite differences see the same mask. Flatten: dx is
dout reshaped, which all three agree on.

``--structured`` inputs make index errors visible: ramps (each value names its index, so a shifted or
transposed read shows up as a wrong value), one-hot kernels (conv2d's output is then a shifted copy of
x, linear's a copy of one feature) and ramp upstream gradients. ``--png DIR`` draws, per gradient,
torch's tensor, the hand-written one and the error heatmap: errors on the border rows point at padding.

Bring your own op (:func:`check_op`, ``--impl my_conv.py:forward,backward``): a pair written with the
reference op's signature is compared with torch (``out`` and every gradient, same tolerance) over
Hypothesis-drawn cases spanning the op's options, with small integer-valued arrays (exact in float64, so a
mismatch is a bug, not rounding) and a distinct upstream gradient. A failure is shrunk to a minimal case
and reported: the case (shapes, options, the arrays), the tensor that differs, the worst index, expected
vs got, and a hint when the pattern is a known one (:func:`diagnose`). Dropout's mask is read off your
output (the drawn x has no zeros), so any way of drawing it passes; what is checked is the 1/(1-p)
scaling, the backward's use of the forward's mask, dropout2d's whole channels and evaluation's identity.
Flatten's cases sometimes leave start_dim/end_dim out, so your defaults meet torch.flatten's (0, -1).
Hypothesis is a dev dependency, imported only in this mode; torch (the optional extra) is imported only
when a check runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["OPS", "Case", "Comparison", "GradcheckResult", "Mismatch", "check_op", "diagnose", "gradcheck",
           "load_impl", "main", "make_case", "need_torch"]

TOL_HAND = 1e-10
TOL_FD = 1e-6
FD_STEP = 1e-6
EPS64 = float(np.finfo(np.float64).eps)
GRAD_NAMES = {"x": "dx", "weight": "dw", "bias": "db", "input": "dinput"}
TORCH_MISSING = "needs PyTorch (the optional extra), which is not installed: pip install 'scratchnet[torch]'"


def need_torch(what: str = "scratchnet gradcheck") -> Any:
    """``import torch``, or raise SystemExit with one line saying how to install it."""
    try:
        import torch
    except ImportError:
        raise SystemExit(f"{what} {TORCH_MISSING}") from None
    return torch


@contextlib.contextmanager
def _torch_one_thread() -> Iterator[None]:
    """torch on one intra-op thread while checking (restored after): the tensors here are tiny, and on a busy
    machine torch's thread pool costs ~100× the op itself (20 ms against 0.15 ms for a small batch norm)."""
    torch = need_torch()
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _need_hypothesis() -> Any:
    try:
        import hypothesis
    except ImportError:
        raise SystemExit("scratchnet gradcheck --impl needs Hypothesis (a dev dependency), which is not "
                         "installed: pip install hypothesis  (or pip install 'scratchnet[dev]')") from None
    return hypothesis


# ----------------------------------------------------------------------------------------------- the ops
def _tf(name: str) -> Callable:
    """torch's function for op ``name``: (tensors by argument name, options) -> output tensor."""
    torch = need_torch()
    F = torch.nn.functional
    x = lambda t: t.get("x")
    table = {
        "conv2d": lambda t, o: F.conv2d(t["x"], t["weight"], t.get("bias"), **o),
        "max_pool2d": lambda t, o: F.max_pool2d(x(t), **o),
        "avg_pool2d": lambda t, o: F.avg_pool2d(x(t), **o),
        "sum_pool2d": lambda t, o: F.avg_pool2d(x(t), divisor_override=1, **o),
        "linear": lambda t, o: F.linear(t["x"], t["weight"], t.get("bias")),
        "relu": lambda t, o: torch.relu(x(t)),
        "leaky_relu": lambda t, o: F.leaky_relu(x(t), **o),
        "sigmoid": lambda t, o: torch.sigmoid(x(t)),
        "tanh": lambda t, o: torch.tanh(x(t)),
        "scaled_tanh": lambda t, o: o.get("amplitude", 1.7159) * torch.tanh(x(t) * o.get("slope", 2.0 / 3.0)),
        "softmax": lambda t, o: torch.softmax(x(t), **o),
        "log_softmax": lambda t, o: torch.log_softmax(x(t), **o),
        "cross_entropy": lambda t, o: F.cross_entropy(t["input"], t["target"], t.get("weight"), **o),
        "nll_loss": lambda t, o: F.nll_loss(t["input"], t["target"], t.get("weight"), **o),
        "mse_loss": lambda t, o: F.mse_loss(t["input"], t["target"], **o),
        "l1_loss": lambda t, o: F.l1_loss(t["input"], t["target"], **o),
        "batch_norm": lambda t, o: F.batch_norm(t["x"], t.get("running_mean"), t.get("running_var"), t.get("weight"),
                                                t.get("bias"), **o),
        "dropout": lambda t, o: _torch_dropout(t, o),
        "dropout2d": lambda t, o: _torch_dropout(t, o),
        "flatten": lambda t, o: torch.flatten(t["x"], **o),
    }
    return table[name]


def _torch_dropout(t: dict, o: dict) -> Any:
    """torch's dropout with the op's own mask (``t["mask"]``, 0/1 of the noise's shape): torch's
    ``_dropout_impl`` in its order, x·(mask/(1-p)); x itself for p = 0 or evaluation, x·0 for p = 1."""
    torch = need_torch()
    p, training = o.get("p", 0.5), o.get("training", True)
    x = t["x"]
    if p == 0 or not training or x.numel() == 0:
        return x * 1  # a new tensor, so that autograd gives dx = dout
    if p == 1:
        return x * torch.zeros((), dtype=x.dtype)
    return x * (t["mask"] / (1 - p))


class Seeded:
    """A dropout ``rng`` argument that is a fresh ``np.random.default_rng(seed)`` at every call (see
    :meth:`Case.args`): the forward draws the same mask each time, so finite differences see a fixed mask."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def generator(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def __repr__(self) -> str:
        return f"default_rng({self.seed})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Seeded) and other.seed == self.seed

    def __hash__(self) -> int:
        return hash(("Seeded", self.seed))


@dataclass(frozen=True)
class OpSpec:
    """One op the doctor knows: its family module, the array arguments that get a gradient (in the
    backward's return order) and the torch expression it mirrors (``torch_code``, for the reader)."""

    name: str
    family: str
    differentiable: tuple[str, ...]
    torch_code: str
    state: tuple[str, ...] = ()  # arrays the forward updates in place (compared with torch's after the call)

    def functions(self, room: str = "reference") -> tuple[Callable, Callable] | None:
        """(forward, backward) of ``room`` ('reference' or 'numba'), None when that room lacks the op."""
        package = "scratch.functional" if room == "reference" else "scratch.kernels"
        try:
            module = importlib.import_module(f"{package}.{self.family}")
        except ModuleNotFoundError as e:  # e.g. no kernels.reshape: a reshape has nothing to speed up
            if e.name != f"{package}.{self.family}":
                raise
            return None
        fwd, bwd = getattr(module, f"{self.name}_forward", None), getattr(module, f"{self.name}_backward", None)
        return None if fwd is None or bwd is None else (fwd, bwd)

    def parameters(self) -> list[inspect.Parameter]:
        """The reference forward's parameters, in order (the signature a user's op must have)."""
        return list(inspect.signature(self.functions()[0]).parameters.values())

    def module(self, room: str = "reference") -> str:
        return f"scratch.{'functional' if room == 'reference' else 'kernels'}.{self.family}"


_ACT = ("relu", "leaky_relu", "sigmoid", "tanh", "scaled_tanh", "softmax", "log_softmax")
_TORCH_CODE = {
    "conv2d": "F.conv2d(x, weight, bias, stride, padding, dilation, groups)",
    "max_pool2d": "F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)",
    "avg_pool2d": "F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)",
    "sum_pool2d": "F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, divisor_override=1)",
    "linear": "F.linear(x, weight, bias)",
    "relu": "torch.relu(x)", "leaky_relu": "F.leaky_relu(x, negative_slope)", "sigmoid": "torch.sigmoid(x)",
    "tanh": "torch.tanh(x)", "scaled_tanh": "amplitude * torch.tanh(x * slope)",
    "softmax": "torch.softmax(x, dim)", "log_softmax": "torch.log_softmax(x, dim)",
    "cross_entropy": "F.cross_entropy(input, target, weight, ignore_index=, reduction=, label_smoothing=)",
    "nll_loss": "F.nll_loss(input, target, weight, ignore_index=, reduction=)",
    "mse_loss": "F.mse_loss(input, target, reduction=)", "l1_loss": "F.l1_loss(input, target, reduction=)",
    "batch_norm": "F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)",
    "dropout": "x * (mask / (1 - p)): F.dropout(x, p, training) with the op's own mask",
    "dropout2d": "x * (mask / (1 - p)), mask (N, C, 1, 1): F.dropout2d(x, p, training) with the op's own mask",
    "flatten": "torch.flatten(x, start_dim, end_dim)",
}
OPS: dict[str, OpSpec] = {
    "conv2d": OpSpec("conv2d", "conv", ("x", "weight", "bias"), _TORCH_CODE["conv2d"]),
    **{k: OpSpec(k, "pool", ("x",), _TORCH_CODE[k]) for k in ("max_pool2d", "avg_pool2d", "sum_pool2d")},
    "linear": OpSpec("linear", "linear", ("x", "weight", "bias"), _TORCH_CODE["linear"]),
    **{k: OpSpec(k, "activation", ("x",), _TORCH_CODE[k]) for k in _ACT},
    **{k: OpSpec(k, "loss", ("input",), _TORCH_CODE[k]) for k in ("cross_entropy", "nll_loss", "mse_loss",
                                                                   "l1_loss")},
    "batch_norm": OpSpec("batch_norm", "norm", ("x", "weight", "bias"), _TORCH_CODE["batch_norm"],
                         ("running_mean", "running_var")),
    **{k: OpSpec(k, "norm", ("x",), _TORCH_CODE[k]) for k in ("dropout", "dropout2d")},
    "flatten": OpSpec("flatten", "reshape", ("x",), _TORCH_CODE["flatten"]),
}
POOLS = ("max_pool2d", "avg_pool2d", "sum_pool2d")
CLASS_LOSSES = ("cross_entropy", "nll_loss")
DROPOUTS = ("dropout", "dropout2d")


def _spec(op: str) -> OpSpec:
    if op not in OPS:
        raise ValueError(f"gradcheck: unknown op {op!r}; expected one of {', '.join(OPS)}")
    return OPS[op]


# ---------------------------------------------------------------------------------------------- a case
@dataclass
class Case:
    """One call of an op: its array arguments by the reference's parameter names (None: absent, e.g. no
    bias), its options (keyword arguments) and the upstream gradient ``dout``."""

    op: str
    arrays: dict[str, np.ndarray | None]
    options: dict[str, Any]
    dout: np.ndarray

    def args(self, n: int | None = None) -> list:
        """The forward's positional arguments in the reference signature's order (the first ``n``; trailing
        ones the case leaves out are not passed, so that the callee's defaults apply, as torch's do). Arrays
        are copies (batch norm updates its running statistics in place) and a :class:`Seeded` ``rng`` is a
        fresh generator."""
        values, last = [], -1
        for i, p in enumerate(_spec(self.op).parameters()):
            if p.name in self.arrays:
                a = self.arrays[p.name]
                values.append(None if a is None else np.array(a, copy=True))
            elif p.name in self.options:
                v = self.options[p.name]
                values.append(v.generator() if isinstance(v, Seeded) else v)
            else:
                values.append(p.default)
                continue
            last = i
        values = values[:last + 1]
        return values if n is None else values[:n]

    def with_array(self, name: str, value: np.ndarray) -> Case:
        return Case(self.op, {**self.arrays, name: value}, self.options, self.dout)

    def header(self) -> str:
        """One line: the op, the arrays' shapes and the options."""
        shapes = "  ".join(f"{k} {'None' if a is None else tuple(a.shape)}" for k, a in self.arrays.items())
        opts = " ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.op}  {shapes}  {opts}".rstrip()

    def describe(self) -> str:
        """The header, then every array (and dout) printed in full: a minimal case is small."""
        lines = [f"case: {self.header()}"]
        for name, a in [*self.arrays.items(), ("dout", self.dout)]:
            if a is not None:
                lines.append(f"  {name} =\n" + _indent(_fmt(a), 4))
        return "\n".join(lines)


def _fmt(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return np.array2string(a, separator=" ", formatter={"float_kind": lambda v: f"{v:g}"})
    return np.array2string(a, precision=6, separator=" ", suppress_small=True)


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def _ramp(shape: tuple[int, ...], low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Evenly spaced distinct values in (low, high), in index order: never 0 for low = -high (the offset
    0.25 of a step keeps every value off the midpoint), at least (high - low)/size apart."""
    size = max(1, math.prod(shape))
    return (low + (high - low) * (np.arange(math.prod(shape)) + 0.25) / size).reshape(shape)


def _values(rng: np.random.Generator, shape: tuple[int, ...], structured: bool, low: float = -1.0,
            high: float = 1.0) -> np.ndarray:
    """The ramp (structured: each value names its index) or a random permutation of it (random)."""
    r = _ramp(shape, low, high)
    return r if structured else rng.permutation(r.reshape(-1)).reshape(shape)


def _out_shape(op: str, arrays: dict, options: dict) -> tuple[int, ...]:
    spec = _spec(op)
    fwd = spec.functions()[0]
    out, _ = fwd(*Case(op, arrays, options, np.zeros(())).args())
    return np.shape(out)


def make_case(op: str, *, seed: int = 0, structured: bool = False, ties: bool = False, batch: int = 2,
              channels: int = 2, out_channels: int = 3, size: Sequence[int] = (6, 6), kernel_size: Any = 3,
              stride: Any = None, padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
              ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None,
              features: Sequence[int] = (4, 3), shape: Sequence[int] = (2, 5), dim: int = -1,
              negative_slope: float = 0.01, amplitude: float = 1.7159, slope: float = 2.0 / 3.0,
              classes: int = 4, reduction: str = "mean", class_weights: bool = False, ignore_index: int = -100,
              label_smoothing: float = 0.0, training: bool = True, affine: bool = True, running: bool = True,
              momentum: float = 0.1, eps: float = 1e-5, p: float = 0.5, start_dim: int = 0,
              end_dim: int = -1) -> Case:
    """The three-way check's case for ``op`` from the CLI's options (float64; see the module docstring).

    Only the options that ``op`` takes are used. ``ties`` (max pooling): inputs with tied window maxima.
    Batch norm: x (batch, channels, *size), γ and β unless not ``affine``, the running statistics unless not
    ``running`` (evaluation needs them). Dropout: the mask is drawn by the reference from
    ``default_rng(seed)``, and torch gets the same one (every call of the forward draws it again, the same).
    """
    rng = np.random.default_rng(seed)
    h, w = (tuple(size) * 2)[:2] if len(size) == 1 else (tuple(size) + (1, 1))[:2]  # conv2d, pooling
    fam, arrays, options = _spec(op).family, {}, {}
    if op == "conv2d":
        kh, kw = _pair(kernel_size)
        wshape = (out_channels, channels // groups, kh, kw)
        arrays["x"] = _values(rng, (batch, channels, h, w), structured, 0.0 if structured else -1.0)
        if structured:  # one-hot kernels: filter (o, c) picks tap (o·C/g + c) mod kH·kW
            weight = np.zeros(wshape)
            for o in range(wshape[0]):
                for c in range(wshape[1]):
                    weight[o, c].flat[(o * wshape[1] + c) % (kh * kw)] = 1.0
            arrays["weight"] = weight
        else:
            arrays["weight"] = _values(rng, wshape, False)
        arrays["bias"] = (0.1 * (np.arange(out_channels) + 1) if structured else
                          _values(rng, (out_channels,), False)) if bias else None
        options = dict(stride=1 if stride is None else stride, padding=padding, dilation=dilation, groups=groups)
    elif fam == "pool":
        x = _values(rng, (batch, channels, h, w), structured)
        if ties:  # values from {0, 1, 2} (structured: runs of 3 equal values): tied maxima in most windows
            x = np.floor(np.arange(x.size) / 3).reshape(x.shape) if structured else \
                rng.integers(0, 3, x.shape).astype(np.float64)
        arrays["x"] = x
        options = dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
        if op == "max_pool2d":
            options["dilation"] = dilation
        if op == "avg_pool2d":
            options.update(count_include_pad=count_include_pad, divisor_override=divisor_override)
    elif op == "linear":
        n_in, n_out = features
        arrays["x"] = _values(rng, (batch, n_in), structured)
        arrays["weight"] = (np.eye(n_out, n_in, dtype=np.float64) if structured else
                            _values(rng, (n_out, n_in), False))
        arrays["bias"] = (0.1 * (np.arange(n_out) + 1) if structured else _values(rng, (n_out,), False)) \
            if bias else None
    elif fam == "activation":
        arrays["x"] = _values(rng, tuple(shape), structured, -2.0, 2.0)
        options = {"leaky_relu": dict(negative_slope=negative_slope), "softmax": dict(dim=dim),
                   "log_softmax": dict(dim=dim), "scaled_tanh": dict(amplitude=amplitude, slope=slope)}.get(op, {})
    elif op == "batch_norm":
        arrays["x"] = _values(rng, (batch, channels, *size), structured, -2.0, 2.0)
        given = running or not training
        arrays["running_mean"] = _values(rng, (channels,), structured, -0.5, 0.5) if given else None
        arrays["running_var"] = _values(rng, (channels,), structured, 0.5, 1.5) if given else None
        arrays["weight"] = (1.0 + np.arange(channels) if structured else _values(rng, (channels,), False, 0.5, 2.0)) \
            if affine else None
        arrays["bias"] = (0.1 * (np.arange(channels) + 1) if structured else _values(rng, (channels,), False)) \
            if affine else None
        options = dict(training=training, momentum=momentum, eps=eps)
    elif op in DROPOUTS:
        dims = (batch, channels, *size) if op == "dropout2d" else tuple(shape)
        arrays["x"] = _values(rng, dims, structured, -2.0, 2.0)
        options = dict(p=p, training=training, rng=Seeded(seed))
        arrays["mask"] = _reference_mask(Case(op, arrays, options, np.zeros(())))
    elif op == "flatten":
        arrays["x"] = _values(rng, tuple(shape), structured, -2.0, 2.0)
        options = dict(start_dim=start_dim, end_dim=end_dim)
    else:  # losses
        arrays["input"] = _values(rng, (batch, classes), structured, -2.0, 2.0)
        if op in CLASS_LOSSES:
            target = np.arange(batch) % classes if structured else rng.integers(0, classes, batch)
            if ignore_index != -100 and batch > 1:
                target[0] = ignore_index
            arrays["target"] = target.astype(np.int64)
            arrays["weight"] = (0.5 + _values(rng, (classes,), structured, 0.0, 1.5)) if class_weights else None
            options = dict(ignore_index=ignore_index, reduction=reduction)
            if op == "cross_entropy":
                options["label_smoothing"] = label_smoothing
            if op == "nll_loss":
                arrays["input"] = arrays["input"] - np.log(np.exp(arrays["input"]).sum(axis=1, keepdims=True))
        else:  # target = input shifted by a nonzero amount that keeps |input - target| >= 1/size
            arrays["target"] = arrays["input"] + _values(rng, (batch, classes), structured, 0.1, 1.0) * \
                np.where(np.arange(batch * classes).reshape(batch, classes) % 2, 1, -1)
            options = dict(reduction=reduction)
    out_shape = _out_shape(op, arrays, options)
    dout = _values(rng, out_shape, structured, 0.1, 1.0) if out_shape else np.asarray(0.7)
    return Case(op, arrays, options, dout)


def _noise_shape(op: str, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a dropout mask: x's (dropout), or (N, C, 1, ...) (dropout2d: one draw per channel)."""
    return tuple(x_shape) if op == "dropout" else tuple(x_shape[:2]) + (1,) * (len(x_shape) - 2)


def _mask_from_out(case: Case, out: Any) -> np.ndarray | None:
    """The 0/1 mask an op used, read off its output (x has no zeros, so out ≠ 0 exactly where kept;
    dropout2d: a channel is kept when any of its entries is), or None when out cannot tell (wrong shape,
    nan, or no mask in play: p = 0, p = 1, evaluation)."""
    x, o = case.arrays["x"], case.options
    p, training = o.get("p", 0.5), o.get("training", True)
    out = np.asarray(out)
    if out.shape != x.shape or not np.all(np.isfinite(out)) or np.any(x == 0) or p in (0, 1) or not training:
        return None
    kept = out != 0
    if case.op == "dropout2d" and x.ndim > 2:
        kept = kept.any(axis=tuple(range(2, x.ndim)), keepdims=True)
    return kept.astype(np.float64)


def _reference_mask(case: Case) -> np.ndarray:
    """The mask the reference draws for ``case`` (all ones where no mask is in play)."""
    fwd = _spec(case.op).functions()[0]
    mask = _mask_from_out(case, fwd(*case.args())[0])
    return np.ones(_noise_shape(case.op, case.arrays["x"].shape)) if mask is None else mask


# ------------------------------------------------------------------------------------- running an op
def _as_tuple(grads: Any) -> tuple:
    return grads if isinstance(grads, (tuple, list)) else (grads,)


def run_pair(case: Case, forward: Callable, backward: Callable,
             n_args: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """``out`` and the named gradients (``dx``, ``dw``, ...) of a forward/backward pair on ``case``, then the
    arrays the forward updates in place (batch norm's ``running_mean``, ``running_var``) as they are after it."""
    spec = _spec(case.op)
    args = case.args(n_args)
    out, cache = forward(*args)
    grads = _as_tuple(backward(np.array(case.dout, copy=True), cache))
    named = {}
    for i, name in enumerate(spec.differentiable):
        if case.arrays.get(name) is None:
            continue
        named[GRAD_NAMES[name]] = grads[i] if i < len(grads) else None
    names = [p.name for p in spec.parameters()]
    for name in spec.state:
        if case.arrays.get(name) is not None:
            i = names.index(name)
            named[name] = args[i] if i < len(args) else None
    return np.asarray(out), named


def torch_pair(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """torch's ``out`` and autograd gradients for ``case`` (float64 tensors from the same arrays)."""
    torch = need_torch()
    spec, tensors = _spec(case.op), {}
    for name, a in case.arrays.items():
        if a is None:
            continue
        t = torch.tensor(np.array(a, copy=True))
        if name in spec.differentiable:
            t.requires_grad_(True)
        tensors[name] = t
    out = _tf(case.op)(tensors, case.options)
    out.backward(torch.as_tensor(np.array(case.dout, dtype=np.float64)))
    grads = {GRAD_NAMES[n]: tensors[n].grad.numpy() for n in spec.differentiable if n in tensors}
    grads.update({n: tensors[n].numpy() for n in spec.state if n in tensors})
    return out.detach().numpy(), grads


def finite_differences(case: Case, h: float = FD_STEP) -> tuple[dict[str, np.ndarray], float]:
    """Central differences of L(a) = Σ forward(..., a, ...)·dout for every differentiable array ``a``, with
    the reference forward in float64; also Σ|out·dout|, the size of L's terms (for the rounding bound)."""
    spec = _spec(case.op)
    fwd = spec.functions()[0]
    out = np.asarray(fwd(*case.args())[0])
    terms = float(np.sum(np.abs(out * case.dout)))
    grads = {}
    for name in spec.differentiable:
        a = case.arrays.get(name)
        if a is None:
            continue
        v = np.array(a, dtype=np.float64, copy=True)
        g = np.empty_like(v)
        for i in range(v.size):
            orig = v.flat[i]
            v.flat[i] = orig + h
            plus = float(np.sum(fwd(*case.with_array(name, v).args())[0] * case.dout))
            v.flat[i] = orig - h
            minus = float(np.sum(fwd(*case.with_array(name, v).args())[0] * case.dout))
            v.flat[i] = orig
            g.flat[i] = (plus - minus) / (2 * h)
        grads[GRAD_NAMES[name]] = g
    return grads, terms


# -------------------------------------------------------------------------------------------- compare
@dataclass
class Comparison:
    """One row of a table: ``got`` (``label``'s left side) against ``expected`` for one tensor."""

    tensor: str
    label: str
    max_abs: float
    rel: float
    index: tuple[int, ...] | None
    tol: float
    floor: float
    ok: bool
    got: Any = field(default=None, repr=False)
    expected: Any = field(default=None, repr=False)
    note: str = ""

    def row(self) -> str:
        where = "" if self.index is None else str(self.index)
        tol = f"{self.tol:.0e}·s" + (f" + {self.floor:.1e}" if self.floor else "")
        verdict = "yes" if self.ok else "NO"
        text = (f"  {self.label:<26} {self.max_abs:>12.3e} {self.rel:>12.2e}  {where:<14} {tol:<18} {verdict}")
        return text + (f"  ({self.note})" if self.note else "")


def compare(tensor: str, label: str, got: Any, expected: np.ndarray, tol: float, floor: float = 0.0) -> Comparison:
    """``max|got - expected| <= tol · max|expected| + floor`` on the finite entries; inf/nan must match."""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        return Comparison(tensor, label, math.inf, math.inf, None, tol, floor, False, None, expected,
                          "returned None")
    got = np.asarray(got)
    if got.shape != expected.shape:
        return Comparison(tensor, label, math.inf, math.inf, None, tol, floor, False, got, expected,
                          f"shape {got.shape}, expected {expected.shape}")
    got64 = got.astype(np.float64)
    fin = np.isfinite(expected)
    if not (np.array_equal(np.isfinite(got64), fin) and np.array_equal(got64[~fin], expected[~fin], equal_nan=True)):
        bad = np.argwhere(np.isfinite(got64) != fin)
        idx = tuple(int(i) for i in bad[0]) if len(bad) else None
        return Comparison(tensor, label, math.inf, math.inf, idx, tol, floor, False, got, expected,
                          "inf/nan where expected has none, or the reverse")
    err = np.where(fin, np.abs(got64 - np.where(fin, expected, 0)), 0.0)
    s = float(np.max(np.abs(expected[fin]))) if fin.any() else 0.0
    worst = int(np.argmax(err)) if err.size else 0
    max_abs = float(err.flat[worst]) if err.size else 0.0
    rel = max_abs / s if s > 0 else (0.0 if max_abs == 0 else math.inf)
    idx = tuple(int(i) for i in np.unravel_index(worst, err.shape)) if err.size else None
    ok = max_abs <= tol * s + floor + float(np.finfo(np.float64).tiny)
    return Comparison(tensor, label, max_abs, rel, idx, tol, floor, ok, got, expected)


def _bn_stats(case: Case) -> dict[str, Any]:
    """Batch norm's pieces for ``case`` in NumPy (float64): x as (N, C, S), μ, the biased v, 1/σ, x̂, γ, m,
    training, momentum, eps and dout as (N, C, S)."""
    x, rm, rv, w, _, training, momentum, eps = (case.args() + [None] * 8)[:8]
    training = bool(training) if training is not None else False
    momentum = 0.1 if momentum is None else momentum
    eps = 1e-5 if eps is None else eps
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    m = x3.shape[0] * x3.shape[2]
    mean, var = (x3.mean(axis=(0, 2)), x3.var(axis=(0, 2))) if training else (rm, rv)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x3 - mean[:, None]) * inv_std[:, None]
    gamma = np.ones(x3.shape[1]) if w is None else w
    dout3 = np.broadcast_to(case.dout, x.shape).reshape(x3.shape)
    return dict(x3=x3, mean=mean, var=var, inv_std=inv_std, xhat=xhat, gamma=gamma, m=m, training=training,
                momentum=momentum, eps=eps, dout3=dout3, rm=rm, rv=rv)


def hand_floor(case: Case, tensor: str) -> float:
    """The absolute part of the hand-written-vs-torch tolerance: 0, except for batch norm, whose results
    can cancel to near 0 (a channel of equal values, a mean subtracted): ``1e-10 ×`` the size of the terms
    that make the tensor (|x| + |μ| scaled by |γ|/σ for out; the three terms of the formula for dx; Σ|dout·x̂|
    and Σ|dout| for dγ, dβ; the two terms of the update for the running statistics)."""
    if case.op != "batch_norm":
        return 0.0
    b = _bn_stats(case)
    g, inv, d, xh = np.abs(b["gamma"])[:, None], b["inv_std"][:, None], np.abs(b["dout3"]), np.abs(b["xhat"])
    size = {
        "out": np.max(g * inv * (np.abs(b["x3"]) + np.abs(b["mean"])[:, None]), initial=0.0),
        "dx": np.max(g * inv * (d + d.mean(axis=(0, 2))[:, None] + xh * (d * xh).mean(axis=(0, 2))[:, None]),
                     initial=0.0),
        "dw": np.max((d * xh).sum(axis=(0, 2)), initial=0.0), "db": np.max(d.sum(axis=(0, 2)), initial=0.0),
    }
    if tensor in size:
        return TOL_HAND * float(size[tensor])
    r = case.arrays.get(tensor)
    scale = np.max(np.abs(b["x3"]), initial=0.0) ** (2 if tensor == "running_var" else 1) * 2
    return TOL_HAND * float(np.max(np.abs(r), initial=0.0) + scale) if r is not None else 0.0


# --------------------------------------------------------------------------------------------- hints
def _close(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(scale, 1e-300)))


def _border_text(bad: np.ndarray) -> str | None:
    """The border rows/columns (last two axes) holding every bad entry, or None (an interior one is bad)."""
    if bad.ndim < 2 or not bad.any():
        return None
    idx = np.argwhere(bad)
    (h, w), i, j = bad.shape[-2:], idx[:, -2], idx[:, -1]
    on_row, on_col = (h >= 3) & ((i == 0) | (i == h - 1)), (w >= 3) & ((j == 0) | (j == w - 1))
    if not np.all(on_row | on_col):
        return None
    parts = [name for name, hit in (("top row", on_row & (i == 0)), ("bottom row", on_row & (i == h - 1)),
                                    ("first column", on_col & (j == 0)), ("last column", on_col & (j == w - 1)))
             if hit.any()]
    return ", ".join(parts)


def _max_pool_routes(case: Case) -> dict[str, np.ndarray]:
    """dx of max pooling with the window's gradient sent to the last tied maximum, or split among ties."""
    torch = need_torch()
    x = torch.tensor(case.arrays["x"])
    o = dict(case.options)
    k, d = _pair(o["kernel_size"]), _pair(o.get("dilation", 1))
    s = k if o.get("stride") is None else _pair(o["stride"])
    p = _pair(o.get("padding", 0))
    xp = torch.nn.functional.pad(x, (p[1], p[1], p[0], p[0]), value=-math.inf).numpy()
    out = torch.nn.functional.max_pool2d(x, **o).numpy()
    dout = np.broadcast_to(case.dout, out.shape)
    routes = {"last": np.zeros(xp.shape), "split": np.zeros(xp.shape)}
    for idx in np.ndindex(*out.shape[-2:]):
        i, j = idx
        taps = [(s[0] * i + d[0] * u, s[1] * j + d[1] * v) for u in range(k[0]) for v in range(k[1])
                if s[0] * i + d[0] * u < xp.shape[-2] and s[1] * j + d[1] * v < xp.shape[-1]]
        for lead in np.ndindex(*out.shape[:-2]):
            hits = [t for t in taps if xp[(*lead, *t)] == out[(*lead, i, j)]]
            if hits:
                routes["last"][(*lead, *hits[-1])] += dout[(*lead, i, j)]
                for t in hits:
                    routes["split"][(*lead, *t)] += dout[(*lead, i, j)] / len(hits)
    h, w = x.shape[-2:]
    return {k: v[..., p[0]:p[0] + h, p[1]:p[1] + w] for k, v in routes.items()}


def _coverage(case: Case) -> np.ndarray | None:
    """How many (output, tap) pairs read each entry of x (conv2d, avg/sum pooling), by torch."""
    if case.op not in ("conv2d", "avg_pool2d", "sum_pool2d"):
        return None
    torch = need_torch()
    x = torch.ones(case.arrays["x"].shape, dtype=torch.float64, requires_grad=True)
    if case.op == "conv2d":
        w = torch.ones(case.arrays["weight"].shape, dtype=torch.float64)
        torch.nn.functional.conv2d(x, w, None, **case.options).sum().backward()
    else:
        o = {k: v for k, v in case.options.items() if k not in ("count_include_pad", "divisor_override")}
        torch.nn.functional.avg_pool2d(x, divisor_override=1, **o).sum().backward()
    return x.grad.numpy()


def _class_divisors(case: Case) -> dict[str, float]:
    t = case.arrays["target"].reshape(-1)
    keep = t != case.options.get("ignore_index", -100)
    w = case.arrays.get("weight")
    weights = np.ones(1 + int(t.max(initial=0))) if w is None else w
    return {"W": float(np.sum(np.where(keep, weights[np.where(keep, t, 0)], 0))), "M": float(t.size),
            "kept": float(keep.sum())}


def _alternatives(case: Case) -> list[tuple[str, Case]]:
    """Cases that differ from ``case`` by one convention (an option toggled, a weight dropped, a flipped
    kernel): a user's result that equals torch's on one of them has got that convention wrong."""
    o, a, alts = case.options, case.arrays, []
    if "ceil_mode" in o:
        alts.append((f"ceil_mode={not o['ceil_mode']}", {"ceil_mode": not o["ceil_mode"]}, {}))
    if case.op == "avg_pool2d":
        if o.get("divisor_override") is None:
            alts.append((f"count_include_pad={not o.get('count_include_pad', True)} (which windows cut by the "
                         "padding count their padded cells in the divisor)",
                         {"count_include_pad": not o.get("count_include_pad", True)}, {}))
        else:
            alts.append(("divisor_override=None (the override ignored)", {"divisor_override": None}, {}))
    if case.op == "conv2d":
        alts.append(("the kernel flipped (rotated 180°): a true convolution where torch's conv2d is a "
                     "cross-correlation", {}, {"weight": a["weight"][..., ::-1, ::-1].copy()}))
    if case.op in CLASS_LOSSES:
        if a.get("weight") is not None:
            alts.append(("weight=None (the class weights left out)", {}, {"weight": None}))
        if o.get("ignore_index", -100) != -100:
            alts.append(("ignore_index=-100 (the ignored targets counted)", {"ignore_index": -100}, {}))
        if o.get("label_smoothing", 0):
            alts.append(("label_smoothing=0 (the smoothing left out)", {"label_smoothing": 0.0}, {}))
    if case.op == "batch_norm":
        if o.get("training", False):
            alts.append(("training=False (the running statistics used where training mode normalises with the "
                         "batch's mean and variance)", {"training": False}, {}))
        else:
            alts.append(("training=True (the batch's statistics used where evaluation mode, training=False, "
                         "normalises with running_mean and running_var)", {"training": True}, {}))
    if case.op == "flatten":
        start = o.get("start_dim", 0)
        for other, why in ((1, "nn.Flatten's default start_dim=1 where torch.flatten's is 0"),
                           (0, "torch.flatten's default start_dim=0 where nn.Flatten's is 1")):
            if start != other and a["x"].ndim > other:
                alts.append((f"start_dim={other} ({why})", {"start_dim": other}, {}))
    if o.get("reduction") == "mean":
        alts.append(("reduction='sum' (a sum where torch takes the mean)", {"reduction": "sum"}, {}))
    if o.get("reduction") == "sum":
        alts.append(("reduction='mean' (a mean where torch takes the sum)", {"reduction": "mean"}, {}))
    out = []
    for text, opts, arrays in alts:
        alt = Case(case.op, {**a, **arrays}, {**o, **opts}, case.dout)
        try:
            torch_pair_forward_shape(alt)
        except (RuntimeError, ValueError):
            continue
        out.append((text, alt))
    return out


def _variants(case: Case) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Batch norm done the usual wrong ways (by torch autograd on the formula, or NumPy for the running
    statistics): (the hint, the tensors that way gives). A user's tensor equal to one of them, and unlike
    torch's, gets that hint. Empty for the other ops."""
    if case.op != "batch_norm" or case.arrays.get("x") is None:
        return []
    b = _bn_stats(case)
    out = []
    if not b["training"]:
        g, inv, xh, d, m = b["gamma"][:, None], b["inv_std"][:, None], b["xhat"], b["dout3"], b["m"]
        dx = g * inv / m * (m * d - d.sum(axis=(0, 2))[:, None] - xh * (d * xh).sum(axis=(0, 2))[:, None])
        out.append(("the backward uses the training formula (through μ and σ²) in evaluation mode, where μ and σ "
                    "are the running statistics, constants: dx = γ/σ·dout", {"dx": dx.reshape(case.arrays["x"].shape)}))
    if b["training"] and b["m"] > 1:
        ways = [("you normalise with the unbiased variance Σ(x-μ)²/(m-1); torch normalises with the biased one, "
                 "Σ(x-μ)²/m (the unbiased one only goes into running_var)", dict(unbiased=True)),
                ("the batch mean and variance are treated as constants in the backward (dx = γ/σ·dout): the "
                 "gradient through μ and σ² is missing; dx = (γ/σ)/m·(m·dout - Σdout - x̂·Σ(dout·x̂))",
                 dict(detach_mean=True, detach_var=True)),
                ("only the gradient through μ is there: the one through σ² (the -x̂·Σ(dout·x̂) term of dx) is "
                 "missing", dict(detach_var=True)),
                ("eps is added to σ, outside the square root: torch divides by sqrt(v + eps)", dict(eps_out=True))]
        out.extend((text, _torch_bn(case, b, **kw)) for text, kw in ways)
        if b["rm"] is not None:
            mom, m = b["momentum"], b["m"]
            biased = {"running_var": (1 - mom) * b["rv"] + mom * b["var"]}
            out.append(("running_var is updated with the biased variance; torch stores the unbiased one, "
                        "v·m/(m-1), while normalising with the biased one", biased))
            if mom != 0.5:
                swapped = {"running_mean": mom * b["rm"] + (1 - mom) * b["mean"],
                           "running_var": mom * b["rv"] + (1 - mom) * b["var"] * m / (m - 1)}
                out.append(("the momentum weights the old running value: torch's update is r ← (1 - momentum)·r "
                            "+ momentum·(batch statistic) (Keras's momentum is the other way round)", swapped))
    return out


def _torch_bn(case: Case, b: dict, unbiased: bool = False, detach_mean: bool = False, detach_var: bool = False,
              eps_out: bool = False) -> dict[str, np.ndarray]:
    """out, dx, dw, db of batch norm (training) written out in torch, done one wrong way."""
    torch = need_torch()
    x = torch.tensor(b["x3"], requires_grad=True)
    w = case.arrays.get("weight")
    bias = case.arrays.get("bias")
    wt = None if w is None else torch.tensor(w, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    mean = x.mean(dim=(0, 2), keepdim=True)
    var = x.var(dim=(0, 2), keepdim=True, correction=1 if unbiased else 0)
    mean, var = (mean.detach() if detach_mean else mean), (var.detach() if detach_var else var)
    xhat = (x - mean) / (var.sqrt() + b["eps"] if eps_out else (var + b["eps"]).sqrt())
    y = xhat if wt is None else xhat * wt[:, None]
    y = y if bt is None else y + bt[:, None]
    y.backward(torch.tensor(np.ascontiguousarray(b["dout3"])))
    shape = case.arrays["x"].shape
    res = {"out": y.detach().numpy().reshape(shape), "dx": x.grad.numpy().reshape(shape)}
    if wt is not None:
        res["dw"] = wt.grad.numpy()
    if bt is not None:
        res["db"] = bt.grad.numpy()
    return res


def _dropout_hints(case: Case, tensor: str, got: np.ndarray, expected: np.ndarray) -> list[str]:
    """Dropout's patterns: evaluation not the identity, a backward that does not reuse the forward's mask,
    dropout2d dropping single entries."""
    x, o, hints = case.arrays["x"], case.options, []
    p, training = o.get("p", 0.5), o.get("training", True)
    if got.shape != expected.shape:
        return hints
    if (not training or p == 0) and not _close(got, expected, 1.0):
        hints.append(f"with {'training=False' if not training else 'p=0'} dropout is the identity: out = x "
                     f"(the same array, as torch) and dx = dout")
        return hints
    if not training or p in (0, 1):
        return hints
    if tensor == "dx":
        dropped = np.broadcast_to(case.arrays["mask"], x.shape) == 0
        if np.any(got[dropped] != 0):
            hints.append("your dx is nonzero where the forward dropped the entry: the backward must multiply by "
                         "the forward's mask (keep it in the cache; do not draw a new one)")
        elif np.any(got[~dropped] == 0):
            hints.append("your dx is 0 where the forward kept the entry: the backward must multiply by the "
                         "forward's mask (keep it in the cache; do not draw a new one)")
    if case.op == "dropout2d" and x.ndim > 2 and tensor in ("out", "dx"):
        zero = got == 0
        per_channel = zero.all(axis=tuple(range(2, x.ndim))) | (~zero).all(axis=tuple(range(2, x.ndim)))
        if not per_channel.all():
            hints.append("entries are dropped one by one: dropout2d drops whole channels (one draw per (n, c), "
                         "the same for all its entries)")
    return hints


def diagnose(case: Case, tensor: str, got: Any, expected: np.ndarray) -> list[str]:
    """Hints for a known pattern of ``got`` against ``expected`` (torch) for ``tensor`` of ``case``: a
    convention got wrong (the result equals torch's with one option changed), tied maxima routed elsewhere,
    a kink (x == 0), ignored rows, a transpose, a flip, a shift by one, a constant factor, errors only on
    the border or only where windows overlap."""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        return [f"the backward returned None for {tensor}"]
    got = np.asarray(got, dtype=np.float64)
    s = float(np.max(np.abs(expected), initial=0.0)) if np.all(np.isfinite(expected)) else 0.0
    hints = []
    for text, alt in _alternatives(case):
        try:
            t_out, t_grads = torch_pair(alt)
        except RuntimeError:  # dout does not fit the alternative's output (flatten's start_dim): out only
            t_out, t_grads = np.asarray(_tf(alt.op)(_tensors(alt), alt.options)), {}
        other = t_out if tensor == "out" else t_grads.get(tensor)
        if other is not None and not _close(other, expected, s) and _close(got, other, s):
            hints.append(f"yours equals torch's with {text}")
    for text, values in _variants(case):
        other = values.get(tensor)
        if other is not None and not _close(other, expected, s) and _close(got, other, s):
            hints.append(text)
    if got.shape != expected.shape:
        if got.shape == expected.shape[::-1]:
            return hints + [f"shape {got.shape} is torch's {expected.shape} reversed: transposed "
                            f"(e.g. x.T @ dout where dout.T @ x is meant)"]
        return hints + [f"shape {got.shape}, torch's is {expected.shape}"]
    if not np.all(np.isfinite(got)) or not np.all(np.isfinite(expected)):
        return hints + ["inf/nan placement differs from torch's"]
    if case.op in DROPOUTS:
        hints.extend(_dropout_hints(case, tensor, got, expected))
    if s == 0:
        return hints or ["torch's is all zero here: this input gets no gradient"]
    bad = np.abs(got - expected) > TOL_HAND * s
    if case.op == "max_pool2d" and tensor == "dx":
        routes = _max_pool_routes(case)
        if _close(got, routes["last"], s):
            hints.append("each window's gradient goes to the LAST of its tied maxima; torch (CPU) sends it to "
                         "the first maximum in row-major window order")
        elif _close(got, routes["split"], s):
            hints.append("the gradient is split among tied maxima; torch sends all of it to the first maximum")
    if case.op in ("relu", "leaky_relu") and np.all(case.arrays["x"][bad] == 0):
        hints.append("differs only where x == 0: torch's relu gradient at 0 is 0, leaky_relu's is negative_slope "
                     "(both test x > 0)")
    if case.op == "l1_loss" and np.all(case.arrays["input"][bad] == case.arrays["target"][bad]):
        hints.append("differs only where input == target: torch's sign(0) is 0, so the gradient there is 0")
    if case.op in CLASS_LOSSES and tensor == "dinput" and case.arrays["target"].dtype.kind == "i":
        ignored = np.asarray(case.arrays["target"] == case.options.get("ignore_index", -100)).reshape(-1)
        rows = bad.any(axis=0 if bad.ndim == 1 else 1).reshape(-1)  # per target: any class entry bad
        if ignored.any() and rows.shape == ignored.shape and np.all(ignored[rows]):
            hints.append("differs only on rows whose target is ignore_index: their gradient must be 0")
    if not np.any(got):
        hints.append("all zero: the gradient is never written (or overwritten by a later zero)")
    elif _close(got, -expected, s):
        hints.append("the sign is flipped")
    else:
        c = float(np.vdot(got, expected) / np.vdot(expected, expected))
        if _close(got, c * expected, s):
            hints.append(f"off by a constant factor: yours = {c:.6g} × torch's")
            if case.op in CLASS_LOSSES and case.options.get("reduction") == "mean":
                div = _class_divisors(case)
                whats = (("M", "every target, ignored ones too"), ("kept", "the count of non-ignored targets"))
                if div["M"] == div["kept"]:
                    whats = (("M", "the number of targets"),)
                for key, what in whats:
                    if div[key] and abs(c - div["W"] / div[key]) < 1e-9 and div[key] != div["W"]:
                        hints.append(f"you divide by {what} ({div[key]:g}); torch's mean divides by W = Σ w[t_i] "
                                     f"over the non-ignored targets ({div['W']:g})")
            if case.op == "mse_loss" and abs(c - 0.5) < 1e-12:
                hints.append("the 2 of d(x - y)²/dx is missing")
            p = case.options.get("p", 0.5)
            if case.op in DROPOUTS and 0 < p < 1 and abs(c - (1 - p)) < 1e-9:
                hints.append(f"the kept values are not scaled by 1/(1-p) = {1 / (1 - p):g}: inverted dropout "
                             f"scales them in training, so that the expected output is x")
            elif case.op in DROPOUTS and 0 < p < 1 and abs(c - (1 - p) / p) < 1e-9:
                hints.append("scaled by 1/p where 1/(1-p) is meant (p is the probability of dropping)")
    if got.ndim >= 2:
        if got.shape[-1] == got.shape[-2] > 1 and _close(got, np.swapaxes(expected, -1, -2), s):
            hints.append("transposed: the last two axes are swapped")
        if case.op == "conv2d" and tensor in ("dw", "out") and _close(got, expected[..., ::-1, ::-1], s):
            hints.append("flipped in both spatial axes (the kernel rotated 180°): a true convolution where "
                         "torch's conv2d is a cross-correlation")
        for axis, name in ((-2, "row"), (-1, "column")):
            if got.shape[axis] < 3:
                continue
            for shift, way in ((1, "down/right"), (-1, "up/left")):
                inner = [slice(None)] * got.ndim
                inner[axis] = slice(1, -1)
                rolled = np.roll(expected, shift, axis=axis)[tuple(inner)]
                if np.any(rolled) and _close(got[tuple(inner)], rolled, s):
                    hints.append(f"shifted by one {name} ({way}): an index off by one (padding or stride offset?)")
    border = _border_text(bad)
    if border:
        hints.append(f"differs only on the border ({border}): padding, cropping or the window clipping off by "
                     f"one at the border")
    cover = _coverage(case) if tensor == "dx" else None
    if cover is not None and (cover == 1).any() and bad.any() and np.all(cover[bad] > 1):
        hints.append("differs only where several windows overlap: '=' where '+=' is meant when scattering "
                     "into dx?")
    return hints


# ------------------------------------------------------------------------------------ the three-way check
@dataclass
class GradcheckResult:
    """The tables of one three-way check: ``ok`` when every comparison passed."""

    case: Case
    rooms: list[str]
    comparisons: list[Comparison]
    structured: bool
    seed: int
    fd_note: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def report(self) -> str:
        """The printed tables: a header, then one block per tensor."""
        spec = _spec(self.case.op)
        rooms = ", ".join(f"{r} ({spec.module(r)})" for r in self.rooms)
        kind = "structured inputs (ramps, one-hot kernels)" if self.structured else f"random inputs (seed {self.seed})"
        lines = [f"gradcheck {self.case.header()}",
                 f"{kind}, float64; hand-written backward: {rooms}; torch: {spec.torch_code}"]
        if self.fd_note:
            lines.append(self.fd_note)
        lines.append("s = max|expected|; pass: max abs err <= tolerance")
        for tensor in dict.fromkeys(c.tensor for c in self.comparisons):
            rows = [c for c in self.comparisons if c.tensor == tensor]
            ref = rows[0].expected
            shape = "" if ref is None else f" {tuple(np.shape(ref))}"
            smax = 0.0 if ref is None or not np.size(ref) else float(np.nanmax(np.abs(ref)))
            lines.append(f"\n{tensor}{shape}  s = {smax:.4g}")
            lines.append(f"  {'comparison':<26} {'max abs err':>12} {'max err / s':>12}  {'worst index':<14} "
                         f"{'tolerance':<18} ok")
            lines.extend(c.row() for c in rows)
            for c in rows:
                if not c.ok and c.got is not None and c.label.split()[0] in ("reference", "numba", "yours"):
                    lines.extend(f"  hint ({c.label}): {h}" for h in diagnose(self.case, tensor, c.got, c.expected))
        agree = "all three agree" if any(c.label.startswith("finite") for c in self.comparisons) else \
            "the hand-written backward and torch agree"
        verdict = agree if self.ok else "DISAGREEMENT (see the rows marked NO)"
        lines.append(f"\n{verdict}")
        return "\n".join(lines)


def gradcheck(case: Case, rooms: Sequence[str] = ("reference", "numba"),
              impl: tuple[Callable, Callable] | None = None, finite_diff: bool = True,
              structured: bool = False, seed: int = 0) -> GradcheckResult:
    """Three-way check of ``case``: each room's (and ``impl``'s) forward/backward against torch, finite
    differences against torch and against the reference. Returns the tables (see :class:`GradcheckResult`)."""
    with _torch_one_thread():
        return _gradcheck(case, rooms, impl, finite_diff, structured, seed)


def _gradcheck(case: Case, rooms: Sequence[str], impl: tuple[Callable, Callable] | None, finite_diff: bool,
               structured: bool, seed: int) -> GradcheckResult:
    spec = _spec(case.op)
    t_out, t_grads = torch_pair(case)
    comps, used = [], []
    pairs = []
    for room in rooms:
        fns = spec.functions(room)
        if fns is not None:
            pairs.append((room, fns))
            used.append(room)
    if impl is not None:
        pairs.append(("yours", impl))
        used.append("yours (--impl)")
    results = {label: run_pair(case, *fns) for label, fns in pairs}
    for label, (out, _) in results.items():
        comps.append(compare("out", f"{label} vs torch", out, t_out, TOL_HAND, hand_floor(case, "out")))
    fd, terms = finite_differences(case) if finite_diff else ({}, 0.0)
    floor = 8 * EPS64 * terms / FD_STEP
    for g, expected in t_grads.items():
        for label, (_, grads) in results.items():
            comps.append(compare(g, f"{label} vs torch", grads.get(g), expected, TOL_HAND, hand_floor(case, g)))
        if finite_diff and g in fd:  # not the running statistics: state, not a gradient
            comps.append(compare(g, "finite diff vs torch", fd[g], expected, TOL_FD, floor))
            if "reference" in results:
                comps.append(compare(g, "reference vs finite diff", results["reference"][1].get(g), fd[g], TOL_FD,
                                     floor))
    note = "" if finite_diff else "finite differences skipped: tied maxima make max pooling non-differentiable"
    return GradcheckResult(case, used, comps, structured, seed, note)


# ----------------------------------------------------------------------------------------- PNG heatmaps
def _tile(a: np.ndarray) -> np.ndarray:
    """A 2-D picture of ``a``: (A, B, H, W) as an A×B grid of H×W planes split by NaN lines."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a[None]
    if a.ndim == 2:
        return a
    a = a.reshape(-1, *a.shape[-3:]) if a.ndim > 4 else (a[None] if a.ndim == 3 else a)
    n_a, n_b, h, w = a.shape
    img = np.full((n_a * (h + 1) - 1, n_b * (w + 1) - 1), np.nan)
    for i in range(n_a):
        for j in range(n_b):
            img[i * (h + 1): i * (h + 1) + h, j * (w + 1): j * (w + 1) + w] = a[i, j]
    return img


def write_pngs(result: GradcheckResult, folder: str | Path) -> list[Path]:
    """One heatmap figure per gradient: torch's tensor, the hand-written one, |hand − torch| and
    |finite diff − torch|, each with a colour bar. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    state = _spec(result.case.op).state
    for tensor in dict.fromkeys(c.tensor for c in result.comparisons if c.tensor != "out" and c.tensor not in state):
        rows = [c for c in result.comparisons if c.tensor == tensor and c.label.endswith("vs torch")]
        hand = next((c for c in rows if not c.label.startswith("finite")), None)
        fd = next((c for c in rows if c.label.startswith("finite")), None)
        panels = [(f"torch autograd {tensor}", rows[0].expected, "viridis")]
        if hand is not None and hand.got is not None and np.shape(hand.got) == np.shape(hand.expected):
            panels.append((f"{hand.label.split(' vs')[0]} {tensor}", hand.got, "viridis"))
            err = np.abs(np.asarray(hand.got, dtype=np.float64) - hand.expected)
            panels.append((f"|{hand.label.split(' vs')[0]} − torch|\nmax {hand.max_abs:.2e} at {hand.index}",
                           err, "magma"))
        if fd is not None:
            panels.append((f"|finite diff − torch|\nmax {fd.max_abs:.2e} at {fd.index}",
                           np.abs(fd.got - fd.expected), "magma"))
        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
        for ax, (title, a, cmap) in zip(axes[0], panels, strict=True):
            im = ax.imshow(_tile(a), cmap=cmap, interpolation="nearest", vmin=0 if cmap == "magma" else None)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        shape = tuple(np.shape(rows[0].expected))
        note = "planes tiled: rows = axis 0 (N), columns = axis 1 (C)" if len(shape) == 4 else ""
        fig.suptitle(f"gradcheck {result.case.op} {tensor} {shape}   {note}\n{result.case.header()}", fontsize=9)
        fig.tight_layout()
        path = folder / f"{result.case.op}_{tensor}.png"
        _write_png(fig, path)
        plt.close(fig)
        written.append(path)
    return written


# ------------------------------------------------------------------------------------ bring your own op
class Mismatch(AssertionError):
    """A user's op differs from torch on one case (the report is the message)."""

    def __init__(self, case: Case, tensor: str, comparison: Comparison | None, error: str = ""):
        self.case, self.tensor, self.comparison, self.error = case, tensor, comparison, error
        super().__init__(f"{tensor} differs from torch on {case.header()}")  # report(): made once, at the end

    def report(self) -> str:
        c = self.comparison
        lines = []
        if self.error:
            lines.append(f"your {self.tensor} raised on this case: {self.error}")
        else:
            lines.append(f"{self.tensor} differs from torch ({_spec(self.case.op).torch_code})")
        lines.append(self.case.describe())
        if c is not None:
            if c.index is not None and c.got is not None and np.shape(c.got) == np.shape(c.expected):
                lines.append(f"{self.tensor}: worst index {c.index}: expected (torch) "
                             f"{float(c.expected[c.index]):.10g}, got {float(np.asarray(c.got)[c.index]):.10g}; "
                             f"max abs err {c.max_abs:.3e} > tol {c.tol:.0e} × max|torch| "
                             f"{float(np.max(np.abs(c.expected), initial=0)):.4g}")
            elif c.note:
                lines.append(f"{self.tensor}: {c.note}")
            lines.append(f"  torch's {self.tensor} =\n" + _indent(_fmt(c.expected), 4))
            if c.got is not None:
                lines.append(f"  your {self.tensor} =\n" + _indent(_fmt(np.asarray(c.got)), 4))
            lines.extend(f"hint: {h}" for h in diagnose(self.case, self.tensor, c.got, c.expected))
        return "\n".join(lines)


def _n_args(forward: Callable, spec: OpSpec) -> int:
    """How many of the reference's positional arguments ``forward`` accepts."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return len(spec.parameters())
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return len(spec.parameters())
    return min(len(spec.parameters()), sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params))


def check_case(case: Case, forward: Callable, backward: Callable, n_args: int | None = None) -> None:
    """Raise :class:`Mismatch` unless ``forward``/``backward`` match torch on ``case`` (out, then each gradient,
    then the arrays updated in place). Dropout: torch gets the mask read off your output, so any way of
    drawing it passes; what is checked is the scaling, the backward's use of the same mask and the modes."""
    try:
        out, grads = run_pair(case, forward, backward, n_args)
    except Exception as e:  # the user's code raised: report it on the shrunk case (or out, if that differs)
        error = f"{type(e).__name__}: {e}"
        try:
            out, grads = np.asarray(forward(*case.args(n_args))[0]), None
        except Exception:
            raise Mismatch(case, "forward/backward", None, error) from None
    if case.op in DROPOUTS:
        mask = _mask_from_out(case, out)
        if mask is not None:
            case = case.with_array("mask", mask)
    t_out, t_grads = torch_pair(case)
    c = compare("out", "yours vs torch", out, t_out, TOL_HAND, hand_floor(case, "out"))
    if not c.ok:
        raise Mismatch(case, "out", c)
    if grads is None:  # the forward is right and the backward raised
        raise Mismatch(case, "forward/backward", None, error)
    for name, expected in t_grads.items():
        c = compare(name, "yours vs torch", grads.get(name), expected, TOL_HAND, hand_floor(case, name))
        if not c.ok:
            raise Mismatch(case, name, c)


def _strategy(op: str, n_args: int) -> Any:
    """Hypothesis strategy of :class:`Case` for ``op``: every option the user's forward accepts (the
    first ``n_args`` reference arguments; the rest stay at their defaults), small integer-valued arrays,
    a distinct upstream gradient."""
    _need_hypothesis()
    import hypothesis.extra.numpy as hnp
    from hypothesis import assume
    from hypothesis import strategies as st

    spec = _spec(op)
    names = [p.name for p in spec.parameters()[:n_args]]
    small = st.integers(-3, 3).map(float)

    def arr(draw, shape, elements=small):
        return draw(hnp.arrays(np.float64, shape, elements=elements))

    def pair(draw, lo, hi):
        a, b = draw(st.integers(lo, hi)), draw(st.integers(lo, hi))
        return a if a == b else (a, b)

    @st.composite
    def cases(draw):
        opts: dict[str, Any] = {}
        arrays: dict[str, Any] = {}
        if op == "conv2d":
            g = draw(st.sampled_from([1, 2])) if "groups" in names else 1
            c_in, c_out = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
            k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
            s = pair(draw, 1, 2) if "stride" in names else 1
            d = pair(draw, 1, 2) if "dilation" in names else 1
            p = pair(draw, 0, 2) if "padding" in names else 0
            span = [dd * (kk - 1) + 1 - 2 * pp for dd, kk, pp in zip(_pair(d), k, _pair(p), strict=True)]
            h, w = (max(1, sp) + draw(st.integers(0, 3)) for sp in span)
            arrays["x"] = arr(draw, (draw(st.integers(1, 2)), c_in, h, w))
            arrays["weight"] = arr(draw, (c_out, c_in // g, *k))
            arrays["bias"] = arr(draw, (c_out,)) if "bias" in names and draw(st.booleans()) else None
            opts = {k_: v for k_, v in dict(stride=s, padding=p, dilation=d, groups=g).items() if k_ in names}
        elif op in POOLS:
            k = pair(draw, 1, 3)
            opts["kernel_size"] = k
            if "stride" in names:
                opts["stride"] = draw(st.one_of(st.none(), st.integers(1, 3)))
            if "padding" in names:
                opts["padding"] = pair(draw, 0, min(_pair(k)) // 2)
            if op == "max_pool2d" and "dilation" in names:
                opts["dilation"] = pair(draw, 1, 2)
            if "ceil_mode" in names:
                opts["ceil_mode"] = draw(st.booleans())
            if op == "avg_pool2d" and "count_include_pad" in names:
                opts["count_include_pad"] = draw(st.booleans())
            if op == "avg_pool2d" and "divisor_override" in names:
                opts["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 4)))
            arrays["x"] = arr(draw, (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 6)),
                                     draw(st.integers(1, 6))))
        elif op == "linear":
            lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
            n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            arrays["x"] = arr(draw, (*lead, n_in))
            arrays["weight"] = arr(draw, (n_out, n_in))
            arrays["bias"] = arr(draw, (n_out,)) if "bias" in names and draw(st.booleans()) else None
        elif spec.family == "activation":
            shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
            arrays["x"] = arr(draw, shape)
            if op in ("softmax", "log_softmax"):
                opts["dim"] = draw(st.integers(-len(shape), len(shape) - 1))
            if op == "leaky_relu" and "negative_slope" in names:
                opts["negative_slope"] = draw(st.sampled_from([0.01, 0.25]))
            if op == "scaled_tanh":
                opts.update({k_: draw(st.sampled_from(v)) for k_, v in
                             (("amplitude", [1.7159, 2.0]), ("slope", [2.0 / 3.0, 0.5])) if k_ in names})
        elif op in CLASS_LOSSES:
            c = draw(st.integers(1, 4))
            layout = draw(st.sampled_from(["(N, C)", "(C,)", "(N, C, d)"]))
            n, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            shape = {"(N, C)": (n, c), "(C,)": (c,), "(N, C, d)": (n, c, d)}[layout]
            tshape = {"(N, C)": (n,), "(C,)": (), "(N, C, d)": (n, d)}[layout]
            arrays["input"] = arr(draw, shape)
            probs = op == "cross_entropy" and draw(st.integers(0, 2)) == 2  # class indices 2 times in 3
            if probs:
                counts = arr(draw, shape, st.integers(0, 3).map(float)) + 1
                arrays["target"] = counts / counts.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
            else:
                arrays["target"] = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, c - 1)))
            if "weight" in names:
                weights = hnp.arrays(np.float64, (c,), elements=st.sampled_from([2.0, 1.0, 3.0, 0.5]))
                arrays["weight"] = draw(st.one_of(st.none(), weights))
            if "ignore_index" in names and not probs:
                opts["ignore_index"] = draw(st.sampled_from([-100, 0]))
            if "reduction" in names:
                opts["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
            if op == "cross_entropy" and "label_smoothing" in names:
                opts["label_smoothing"] = draw(st.sampled_from([0.0, 0.2]))
            if opts.get("reduction", "mean") == "mean" and not probs:
                t = np.asarray(arrays["target"]).reshape(-1)
                w = arrays.get("weight")
                kept = t != opts.get("ignore_index", -100)
                assume(np.sum((np.ones(c) if w is None else w)[t[kept]]) > 0)  # torch's mean over nothing is nan
        elif op == "batch_norm":
            shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                     *draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
            training = draw(st.booleans()) if "training" in names else False
            assume(not training or math.prod(shape) > shape[1])  # training: more than one value per channel
            arrays["x"] = arr(draw, shape)
            c = shape[1]
            if not training or draw(st.booleans()):
                arrays["running_mean"] = arr(draw, (c,))
                arrays["running_var"] = arr(draw, (c,), st.sampled_from([1.0, 0.25, 2.0, 4.0]))
            else:
                arrays["running_mean"] = arrays["running_var"] = None
            for name in ("weight", "bias"):
                arrays[name] = arr(draw, (c,)) if name in names and draw(st.booleans()) else None
            if "training" in names:
                opts["training"] = training
            if "momentum" in names:
                opts["momentum"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
            if "eps" in names:
                opts["eps"] = draw(st.sampled_from([1e-5, 0.25]))
        elif op in DROPOUTS:
            nonzero = st.sampled_from([1.0, -2.0, 3.0, -1.0, 2.0, -3.0])  # no zeros: out ≠ 0 exactly where kept
            lo = 3 if op == "dropout2d" else 0
            arrays["x"] = arr(draw, tuple(draw(st.lists(st.integers(1, 3), min_size=lo, max_size=4))), nonzero)
            if "p" in names:
                opts["p"] = draw(st.sampled_from([0.5, 0.25, 0.0, 1.0]))
            if "training" in names:
                opts["training"] = draw(st.sampled_from([True, True, False]))
            opts["rng"] = Seeded(draw(st.integers(0, 3)))
            if "rng" not in names:
                del opts["rng"]
            arrays["mask"] = _reference_mask(Case(op, arrays, opts, np.zeros(())))
        elif op == "flatten":
            shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=4)))
            arrays["x"] = arr(draw, shape)
            n = max(1, len(shape))
            for name in ("start_dim", "end_dim"):  # None: left out (the callee's default: torch.flatten's is 0, -1)
                if name in names:
                    dims = st.integers(-n, n - 1)
                    v = draw(st.one_of(st.none(), dims) if len(shape) >= 2 else dims)
                    if v is not None:
                        opts[name] = v
        else:
            shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
            arrays["input"], arrays["target"] = arr(draw, shape), arr(draw, shape)
            if "reduction" in names:
                opts["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
        case = Case(op, arrays, opts, np.zeros(()))
        try:
            out_shape = tuple(torch_pair_forward_shape(case))
        except (RuntimeError, ValueError):
            assume(False)
        assume(math.prod(out_shape) > 0 or not out_shape)
        if op in POOLS:  # torch's CPU max-pool backward writes out of bounds for a window of padding only
            assume(_windows_touch_input(arrays["x"].shape, out_shape, opts))
        if out_shape:
            n = math.prod(out_shape)  # distinct: ±(1..n) in a drawn order (shrinks to 1, -2, 3, -4, ...)
            order = np.array(draw(st.permutations(range(n)))) + 1
            dout = (order * np.where(np.arange(n) % 2, -1, 1)).reshape(out_shape).astype(np.float64)
        else:
            dout = np.asarray(draw(st.sampled_from([2.0, -3.0, 0.5])))
        return Case(op, arrays, opts, dout)

    return cases()


def _windows_touch_input(x_shape: tuple[int, ...], out_shape: tuple[int, ...], opts: dict) -> bool:
    """True when every pooling window has a tap inside the input, along both axes."""
    k, d, p = _pair(opts["kernel_size"]), _pair(opts.get("dilation", 1)), _pair(opts.get("padding", 0))
    s = k if opts.get("stride") is None else _pair(opts["stride"])
    return all(any(0 <= o * s[a] - p[a] + t * d[a] < x_shape[-2 + a] for t in range(k[a]))
               for a in range(2) for o in range(out_shape[-2 + a]))


def torch_pair_forward_shape(case: Case) -> tuple[int, ...]:
    """The shape of torch's output for ``case`` (raises as torch does for an invalid case)."""
    return tuple(_tf(case.op)(_tensors(case), case.options).shape)


def _tensors(case: Case) -> dict[str, Any]:
    """``case``'s arrays as torch tensors (copies, no gradients)."""
    torch = need_torch()
    return {k: torch.tensor(np.array(v)) for k, v in case.arrays.items() if v is not None}


def check_op(op: str, forward: Callable, backward: Callable, max_examples: int = 100,
             seed: int | None = None) -> int:
    """Check a user's ``forward``/``backward`` pair for ``op`` (the reference op's signature: forward returns
    ``(out, cache)``, ``backward(dout, cache)`` the gradients in the forward's argument order) against torch
    over Hypothesis-drawn cases. Returns the number of cases run; raises AssertionError with the report of
    the shrunk minimal failing case. A one-line pytest test::

        def test_my_conv(): scratch.gradcheck.check_op("conv2d", my_forward, my_backward, max_examples=50)
    """
    hypothesis = _need_hypothesis()
    from hypothesis import HealthCheck, Verbosity, given, settings

    spec = _spec(op)
    n_args = _n_args(forward, spec)
    counter = [0]

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=seed is None,
              report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(_strategy(op, n_args))
    def run(case: Case) -> None:
        counter[0] += 1
        check_case(case, forward, backward, n_args)

    if seed is not None:
        run = hypothesis.seed(seed)(run)
    with _torch_one_thread():
        try:
            run()
        except Mismatch as m:
            fixed = [p.name for p in spec.parameters()[n_args:]]
            note = f"\n(your forward takes no {', '.join(fixed)}: those stayed at their defaults)" if fixed else ""
            raise AssertionError(f"gradcheck {op} (your op, shrunk to a minimal case after {counter[0]} "
                                 f"calls):\n{m.report()}{note}") from None
    return counter[0]


def load_impl(text: str) -> tuple[Callable, Callable]:
    """``path/to/file.py:forward,backward`` -> the two functions (default names ``forward,backward``)."""
    path, _, names = text.rpartition(":") if ":" in text and not text.endswith(".py") else (text, "", "")
    fwd_name, _, bwd_name = (names or "forward,backward").partition(",")
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"--impl: no such file {file}")
    spec = importlib.util.spec_from_file_location(f"gradcheck_impl_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    missing = [n for n in (fwd_name, bwd_name or "backward") if not callable(getattr(module, n, None))]
    if missing:
        raise SystemExit(f"--impl: {file} defines no function {', '.join(missing)}")
    return getattr(module, fwd_name), getattr(module, bwd_name or "backward")


# -------------------------------------------------------------------------------------------------- CLI
def _int_or_pair(text: str) -> int | tuple[int, int]:
    parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected an int or two ints as H,W, got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _padding(text: str) -> int | tuple[int, int] | str:
    return text if text in ("same", "valid") else _int_or_pair(text)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _write_png(fig, path: Path) -> None:
    """The figure as PNG, written atomically (temporary file, fsync, rename), as scratch.plots does."""
    from scratch.serialization import atomic_write

    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=110)


def build_parser() -> argparse.ArgumentParser:
    """The ``scratchnet gradcheck`` parser."""
    p = argparse.ArgumentParser(
        prog="scratchnet gradcheck", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Check an op's hand-written backward three ways (itself, central finite differences in "
                    "float64, torch autograd), or your own forward/backward pair (--impl) over drawn cases. "
                    "Exit status 0 only when all agree.")
    p.add_argument("op", choices=list(OPS), help="the op to check")
    g = p.add_argument_group("what to check")
    g.add_argument("--backend", choices=("both", "reference", "numba"), default="both",
                   help="whose hand-written backward: the reference (scratch.functional), the Numba kernels "
                        "(scratch.kernels) or both")
    g.add_argument("--impl", default=None, metavar="FILE.py:forward,backward",
                   help="check YOUR pair (the reference op's signature) against torch over Hypothesis-drawn cases")
    g.add_argument("--max-examples", type=int, default=100, help="with --impl: how many drawn cases")
    g.add_argument("--structured", action="store_true",
                   help="ramp inputs and one-hot kernels (index errors show as wrong values) instead of random")
    g.add_argument("--ties", action="store_true", help="max_pool2d: inputs with tied maxima (no finite differences)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the random inputs and of dropout's mask (and of --impl's draws)")
    g.add_argument("--png", default=None, metavar="DIR", help="write an error heatmap per gradient into DIR")
    s = p.add_argument_group("shapes")
    s.add_argument("--batch", type=int, default=2, help="N: batch size (rows for linear and the losses)")
    s.add_argument("--channels", type=int, default=2, help="C_in: input channels (conv2d, pooling, batch_norm, "
                                                            "dropout2d)")
    s.add_argument("--out-channels", type=int, default=3, help="C_out: conv2d's output channels")
    s.add_argument("--size", type=_ints, default=(6, 6),
                   help="H,W of the input (conv2d, pooling, dropout2d); batch_norm: the spatial axes, any number "
                        "(e.g. 5 for (N, C, L); '' for (N, C))")
    s.add_argument("--features", type=_ints, default=(4, 3), help="linear: in_features,out_features")
    s.add_argument("--shape", type=_ints, default=(2, 5), help="activations, dropout, flatten: the input's shape")
    s.add_argument("--classes", type=int, default=4, help="losses: C, the number of classes (columns)")
    o = p.add_argument_group("op options (as torch.nn.functional's)")
    o.add_argument("--kernel-size", type=_int_or_pair, default=3, help="kH,kW (conv2d, pooling)")
    o.add_argument("--stride", type=_int_or_pair, default=None, help="None: 1 for conv2d, kernel_size for pooling")
    o.add_argument("--padding", type=_padding, default=0, help="int, H,W, or conv2d's 'same'/'valid'")
    o.add_argument("--dilation", type=_int_or_pair, default=1, help="conv2d, max_pool2d (1 means none)")
    o.add_argument("--groups", type=int, default=1, help="conv2d")
    o.add_argument("--no-bias", action="store_true", help="conv2d, linear: no bias")
    o.add_argument("--ceil-mode", action="store_true", help="pooling")
    o.add_argument("--no-count-include-pad", action="store_true", help="avg_pool2d: count_include_pad=False")
    o.add_argument("--divisor-override", type=int, default=None, help="avg_pool2d")
    o.add_argument("--dim", type=int, default=-1, help="softmax, log_softmax")
    o.add_argument("--negative-slope", type=float, default=0.01, help="leaky_relu")
    o.add_argument("--amplitude", type=float, default=1.7159, help="scaled_tanh")
    o.add_argument("--slope", type=float, default=2.0 / 3.0, help="scaled_tanh")
    o.add_argument("--reduction", choices=("mean", "sum", "none"), default="mean", help="losses")
    o.add_argument("--class-weights", action="store_true", help="cross_entropy, nll_loss: per-class weights")
    o.add_argument("--ignore-index", type=int, default=-100,
                   help="cross_entropy, nll_loss (a class index: the first target is set to it)")
    o.add_argument("--label-smoothing", type=float, default=0.0, help="cross_entropy")
    o.add_argument("--eval", action="store_true",
                   help="batch_norm, dropout, dropout2d: training=False (batch_norm: the running statistics)")
    o.add_argument("--no-affine", action="store_true", help="batch_norm: weight (γ) and bias (β) None")
    o.add_argument("--no-running", action="store_true",
                   help="batch_norm in training: running_mean and running_var None (not tracked)")
    o.add_argument("--momentum", type=float, default=0.1, help="batch_norm")
    o.add_argument("--eps", type=float, default=1e-5, help="batch_norm")
    o.add_argument("-p", type=float, default=0.5, help="dropout, dropout2d: the probability of dropping")
    o.add_argument("--start-dim", type=int, default=0, help="flatten")
    o.add_argument("--end-dim", type=int, default=-1, help="flatten")
    return p


def case_from_args(args: argparse.Namespace) -> Case:
    """The three-way case from parsed CLI options."""
    size = tuple(args.size)
    if args.op != "batch_norm":
        size = size * 2 if len(size) == 1 else size
        if len(size) != 2:
            raise ValueError(f"--size: expected H,W (one or two ints), got {args.size}")
    return make_case(args.op, seed=args.seed, structured=args.structured, ties=args.ties, batch=args.batch,
                     channels=args.channels, out_channels=args.out_channels, size=size,
                     kernel_size=args.kernel_size, stride=args.stride, padding=args.padding, dilation=args.dilation,
                     groups=args.groups, bias=not args.no_bias, ceil_mode=args.ceil_mode,
                     count_include_pad=not args.no_count_include_pad, divisor_override=args.divisor_override,
                     features=args.features, shape=args.shape, dim=args.dim, negative_slope=args.negative_slope,
                     amplitude=args.amplitude, slope=args.slope, classes=args.classes, reduction=args.reduction,
                     class_weights=args.class_weights, ignore_index=args.ignore_index,
                     label_smoothing=args.label_smoothing, training=not args.eval, affine=not args.no_affine,
                     running=not args.no_running, momentum=args.momentum, eps=args.eps, p=args.p,
                     start_dim=args.start_dim, end_dim=args.end_dim)


def main(argv: list[str] | None = None) -> int:
    """``scratchnet gradcheck``: print the tables (or --impl's report); 0 when all agree, 1 otherwise."""
    args = build_parser().parse_args(argv)
    need_torch()
    if args.impl:
        forward, backward = load_impl(args.impl)
        try:
            n = check_op(args.op, forward, backward, max_examples=args.max_examples,
                         seed=None if args.seed == 0 else args.seed)
        except AssertionError as e:
            print(e)
            return 1
        print(f"gradcheck {args.op} --impl {args.impl}: out and every gradient match torch on {n} drawn cases")
        return 0
    try:
        case = case_from_args(args)
    except (ValueError, TypeError) as e:
        print(f"scratchnet gradcheck: {e}", file=sys.stderr)
        return 2
    rooms = ("reference", "numba") if args.backend == "both" else (args.backend,)
    ties = args.ties and args.op == "max_pool2d"
    result = gradcheck(case, rooms, finite_diff=not ties, structured=args.structured, seed=args.seed)
    print(result.report())
    if args.png:
        for path in write_pngs(result, args.png):
            print(f"wrote {path}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
