"""Loss layers over :mod:`scratch.functional.loss` (torch's signatures and defaults).

``loss = criterion(input, target)`` returns a NumPy array (0-D for 'mean'/'sum');
``criterion.backward(dout=None)`` returns d loss / d input of the last forward, with ``dout=None`` meaning 1
for the scalar reductions (it is required for ``reduction='none'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratch.functional as F
from scratch.functional._checks import float_array, to_int
from scratch.functional._checks.loss import check_reduction
from scratch.nn.module import Module


class _Loss(Module):
    """Holds ``reduction`` and the last forward's cache; turns ``backward(dout=None)`` into ``backward(1)``
    for scalar reductions."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)
        self._cache = None

    def _dout(self, dout: Any) -> Any:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        if dout is not None:
            return dout
        if self.reduction == "none":
            raise ValueError(f"{type(self).__name__}.backward: dout is required with reduction='none' "
                             "(an array of the per-element loss's shape)")
        return 1.0

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight`` (C,), kept as a buffer (in ``state_dict``, as torch)."""

    def __init__(self, weight: np.ndarray | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        if weight is None:
            self.weight = None
        else:
            self.register_buffer("weight", float_array(type(self).__name__, "weight", weight).copy())


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or class probabilities, as ``torch.nn.CrossEntropyLoss``.

    Shape: input (C,), (N, C) or (N, C, d1, ..., dK); target integer (), (N,) or (N, d1, ..., dK), or
    float probabilities shaped like input -> loss 0-D, or the per-sample shape with reduction='none'.
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index = to_int("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = label_smoothing

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        loss, self._cache = F.cross_entropy_forward(input, target, self.weight, self.ignore_index,
                                                    self.reduction, self.label_smoothing)
        return loss

    def backward(self, dout: Any = None) -> np.ndarray:
        return F.cross_entropy_backward(self._dout(dout), self._cache)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities, as ``torch.nn.NLLLoss``.

    Shape: input (C,), (N, C) or (N, C, d1, ..., dK); target integer (), (N,) or (N, d1, ..., dK)
    -> loss 0-D, or the target's shape with reduction='none'.
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = to_int("NLLLoss", "ignore_index", ignore_index)

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        loss, self._cache = F.nll_loss_forward(input, target, self.weight, self.ignore_index, self.reduction)
        return loss

    def backward(self, dout: Any = None) -> np.ndarray:
        return F.nll_loss_backward(self._dout(dout), self._cache)


class MSELoss(_Loss):
    """Mean squared error, as ``torch.nn.MSELoss``. Shape: input (*), target (*) -> 0-D, or (*) for 'none'."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        loss, self._cache = F.mse_loss_forward(input, target, self.reduction)
        return loss

    def backward(self, dout: Any = None) -> np.ndarray:
        return F.mse_loss_backward(self._dout(dout), self._cache)


class L1Loss(_Loss):
    """Mean absolute error, as ``torch.nn.L1Loss``. Shape: input (*), target (*) -> 0-D, or (*) for 'none'."""

    def forward(self, input: np.ndarray, target: np.ndarray) -> np.ndarray:
        loss, self._cache = F.l1_loss_forward(input, target, self.reduction)
        return loss

    def backward(self, dout: Any = None) -> np.ndarray:
        return F.l1_loss_backward(self._dout(dout), self._cache)
