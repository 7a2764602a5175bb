"""Normalization and dropout layers over :mod:`scratch.functional.norm`: torch's BatchNorm1d, BatchNorm2d,
Dropout and Dropout2d, with torch's constructor arguments, state-dict keys and train/eval behaviour.

Batch norm: ``weight`` (γ, ones) and ``bias`` (β, zeros) are parameters when ``affine``; the buffers
``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (an int64 scalar) exist when
``track_running_stats`` (else they are None, as in torch), so a state dict moves between engines. In
training mode the batch statistics normalize and the running ones are updated (exponential average with
``momentum``, or the cumulative average when ``momentum=None``); in eval mode the running statistics
normalize (or the batch's, without tracked statistics).

Dropout draws its masks from ``rng`` when given (a Generator, or a seed for a generator of its own),
else from the generator :func:`scratch.nn.init.manual_seed` seeds, at every training forward; the last
mask is :attr:`Dropout.mask`.
"""

from __future__ import annotations

import numpy as np

import scratch.functional as F
from scratch.functional._checks import FLOAT_DTYPES, float_array, to_int
from scratch.functional._checks.norm import dropout_args
from scratch.nn.module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalization over dim 1 (channels); subclasses check the input's dimensions."""

    _ndims: tuple[int, ...] = ()
    _expected = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype=np.float32):
        super().__init__()
        op = type(self).__name__
        self.num_features = to_int(op, "num_features", num_features, 1)
        if np.dtype(dtype) not in FLOAT_DTYPES:
            raise TypeError(f"{op}: expected dtype float32 or float64, got {np.dtype(dtype)}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        c = self.num_features
        self.weight = Parameter(np.ones(c, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(c, dtype)) if self.affine and bias else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype))
            self.register_buffer("running_var", np.ones(c, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._cache = None

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batches tracked (as torch)."""
        if self.track_running_stats:
            self.running_mean[...], self.running_var[...], self.num_batches_tracked[...] = 0, 1, 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        op = type(self).__name__
        x = float_array(op, "x", x)
        if x.ndim not in self._ndims:
            raise ValueError(f"{op}: expected {self._expected} input (got {x.ndim}D input of shape {x.shape})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        out, self._cache = F.batch_norm_forward(
            x, self.running_mean if keep else None, self.running_var if keep else None,
            None if self.weight is None else self.weight.data, None if self.bias is None else self.bias.data,
            use_batch_stats, factor, self.eps)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dx, dweight, dbias = F.batch_norm_backward(dout, self._cache)
        if dweight is not None:
            self.weight.accumulate_grad(dweight)
        if dbias is not None:
            self.bias.accumulate_grad(dbias)
        return dx

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input, as torch.nn.BatchNorm1d; see
    :func:`F.batch_norm_forward` (the backward's three-term formula is derived in
    :mod:`scratch.functional.norm`). A training batch needs more than one value per channel."""

    _ndims, _expected = (2, 3), "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input, as torch.nn.BatchNorm2d; see :func:`F.batch_norm_forward`
    (the backward's three-term formula is derived in :mod:`scratch.functional.norm`)."""

    _ndims, _expected = (4,), "4D"


class Dropout(Module):
    """Inverted dropout, as torch.nn.Dropout: in training each element is zeroed with probability p and
    the rest scaled by 1/(1-p); the identity in eval mode. See :func:`F.dropout_forward`.

    ``rng``: a NumPy Generator (or a seed) this module draws its masks from; None draws from the
    generator that :func:`scratch.nn.init.manual_seed` seeds. ``inplace=True`` writes the result into x.
    """

    _op = "Dropout"
    _functional = ("dropout_forward", "dropout_backward")

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: np.random.Generator | int | None = None):
        super().__init__()
        self.p = dropout_args(self._op, np.zeros(0), p, True)[1]
        self.inplace = bool(inplace)
        self.rng = None if rng is None else np.random.default_rng(rng)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = getattr(F, self._functional[0])(x, self.p, self.training, self.rng)
        if self.inplace and out is not x:
            x[...] = out
            return x
        return out

    @property
    def mask(self) -> np.ndarray | None:
        """The keep mask (bool, broadcasting over x) of the last training forward; None after an
        identity forward (eval mode, p = 0) or before any."""
        noise = None if self._cache is None else self._cache.noise
        return None if noise is None else noise != 0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return getattr(F, self._functional[1])(dout, self._cache)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Channel-wise dropout, as torch.nn.Dropout2d: in training each channel (n, c) of (N, C, H, W) input
    is zeroed with probability p, the rest scaled by 1/(1-p); (N, C, L) input is read as torch reads it
    (channels of length L). See :func:`F.dropout2d_forward`."""

    _op = "Dropout2d"
    _functional = ("dropout2d_forward", "dropout2d_backward")
