"""The metrics of :mod:`scratch.metrics` on torch tensors: tensors go to NumPy, the math stays in one place.

Each function takes tensors (any device; logits are not accepted: pass class indices, e.g.
``logits.argmax(1)``), lists or arrays, and returns exactly what its :mod:`scratch.metrics` namesake returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratch import metrics as _m
from scratch.metrics import UndefinedMetricWarning

__all__ = ["UndefinedMetricWarning", "accuracy", "classification_report", "confusion_matrix", "f1_score",
           "precision", "precision_recall_fscore_support", "recall"]


def _numpy(y: Any) -> Any:
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy()
    return y


def accuracy(y_true: Any, y_pred: Any, *, normalize: bool = True) -> float:
    """See :func:`scratch.metrics.accuracy`."""
    return _m.accuracy(_numpy(y_true), _numpy(y_pred), normalize=normalize)


def precision(y_true: Any, y_pred: Any, **kwargs: Any):
    """See :func:`scratch.metrics.precision`."""
    return _m.precision(_numpy(y_true), _numpy(y_pred), **kwargs)


def recall(y_true: Any, y_pred: Any, **kwargs: Any):
    """See :func:`scratch.metrics.recall`."""
    return _m.recall(_numpy(y_true), _numpy(y_pred), **kwargs)


def f1_score(y_true: Any, y_pred: Any, **kwargs: Any):
    """See :func:`scratch.metrics.f1_score`."""
    return _m.f1_score(_numpy(y_true), _numpy(y_pred), **kwargs)


def precision_recall_fscore_support(y_true: Any, y_pred: Any, **kwargs: Any):
    """See :func:`scratch.metrics.precision_recall_fscore_support`."""
    return _m.precision_recall_fscore_support(_numpy(y_true), _numpy(y_pred), **kwargs)


def confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None,
                     normalize: str | None = None) -> np.ndarray:
    """See :func:`scratch.metrics.confusion_matrix`."""
    return _m.confusion_matrix(_numpy(y_true), _numpy(y_pred), labels=_numpy(labels), normalize=normalize)


def classification_report(y_true: Any, y_pred: Any, **kwargs: Any):
    """See :func:`scratch.metrics.classification_report`."""
    return _m.classification_report(_numpy(y_true), _numpy(y_pred), **kwargs)
