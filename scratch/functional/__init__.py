"""The reading room: every op as ``<op>_forward(...) -> (out, cache)`` and ``<op>_backward(dout, cache)``
in plain NumPy that reads like its docstring's formula (one module per family: conv, pool, activation,
linear, loss, reshape, norm, optim, augment).

The names of this package dispatch: ``scratch.functional.conv2d_forward`` runs the reference in
:mod:`scratch.functional.conv` or the Numba engine in :mod:`scratch.kernels.conv`, whichever backend is in
force (``scratch.set_backend``, ``scratch.backend(...)``, ``$SCRATCH_BACKEND``); a backward runs where its
forward's cache was made. Both rooms share the argument checks of :mod:`scratch.functional._checks`, the
signatures and the results. To read an op's math, open its family's module here.

Shape legend used in every docstring (NCHW, as PyTorch):

    N      batch size            C_in, C_out   input / output channels
    H, W   input height, width   kH, kW        kernel height, width
    H_out, W_out                 output height, width
    s, p, d                      stride, padding, dilation (per axis: s_h, s_w, ...)

The forward returns the output and a cache (a NamedTuple holding exactly what the backward needs); the
backward returns the gradient with respect to each differentiable input, in the forward's argument order.
float32 in gives float32 out, float64 in gives float64 out.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from scratch._backend import dispatcher

FAMILIES = ("activation", "conv", "linear", "loss", "pool", "reshape", "norm", "optim", "augment")


def _dispatching(family: str, name: str, reference: Callable) -> Callable:
    current, for_cache = dispatcher(family, name)
    if name.endswith("_backward"):
        @functools.wraps(reference)
        def op(dout, cache, *args, **kwargs):
            return for_cache(cache)(dout, cache, *args, **kwargs)
    else:
        @functools.wraps(reference)
        def op(*args, **kwargs):
            return current()(*args, **kwargs)
    return op


def _export() -> list[str]:
    names = []
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"{__name__}.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{family}":
                raise
            continue
        for name in module.__all__:
            globals()[name] = _dispatching(family, name, getattr(module, name))
            names.append(name)
    return names


__all__ = _export()
