"""Early stopping that keeps a deep copy of the best weights (shared by both engines).

The popular tutorial version stores ``model.state_dict()`` itself; in torch its tensors share storage with
the parameters, so the optimizer keeps changing the "best" weights and "restoring" them gives back the last
ones. Here the best state is copied when it is recorded (:meth:`EarlyStopping._clone`, the one hook an engine
overrides: arrays for :mod:`scratch`, tensors for :mod:`torch_impl.callbacks`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal, SupportsFloat

import numpy as np


class EarlyStopping:
    """Stop training once the score has not improved by more than ``delta`` for ``patience`` epochs.

    Call ``stopper(score, model, epoch)`` after each epoch's validation. An improvement is
    ``score < best_score - delta`` (mode "min", e.g. a loss) or ``score > best_score + delta`` (mode "max",
    e.g. an accuracy); the first finite score always is one, and a nan score never is. On an improvement the
    counter resets and a deep copy of ``model.state_dict()`` is kept; otherwise the counter grows and
    ``early_stop`` becomes True when it reaches ``patience``. ``load_best_model(model)`` loads the copy back.

    Attributes: ``best_score``, ``best_epoch`` (the ``epoch`` passed with it, or the 1-based call count),
    ``counter``, ``early_stop``, ``best_state``.
    """

    def __init__(self, patience: int = 7, delta: float = 0.0, mode: Literal["min", "max"] = "min",
                 verbose: bool = False) -> None:
        if int(patience) != patience or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 1, got {patience!r}")
        if not delta >= 0:
            raise ValueError(f"EarlyStopping: delta must be >= 0, got {delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.delta = float(delta)
        self.mode = mode
        self.verbose = verbose
        self.counter = 0
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.early_stop = False
        self.epochs_seen = 0
        self.best_state: OrderedDict[str, Any] | None = None

    def is_improvement(self, score: float) -> bool:
        """Whether ``score`` beats ``best_score`` by more than ``delta``."""
        if math.isnan(score):
            return False
        if self.best_score is None:
            return True
        if self.mode == "min":
            return score < self.best_score - self.delta
        return score > self.best_score + self.delta

    def __call__(self, score: SupportsFloat, model: Any, epoch: int | None = None) -> bool:
        """Record one epoch's ``score``; returns ``early_stop``."""
        score = float(score)
        self.epochs_seen += 1
        epoch = self.epochs_seen if epoch is None else epoch
        if self.is_improvement(score):
            if self.verbose:
                print(f"EarlyStopping: score improved ({self.best_score} -> {score}) at epoch {epoch}, "
                      f"keeping a copy of the weights")
            self.best_score, self.best_epoch, self.counter = score, epoch, 0
            self.best_state = self._clone(model.state_dict())
        else:
            self.counter += 1
            if self.verbose:
                print(f"EarlyStopping: counter {self.counter} of {self.patience}")
            if self.counter >= self.patience:
                self.early_stop = True
        return self.early_stop

    def load_best_model(self, model: Any) -> Any:
        """Load the best weights recorded so far into ``model`` (which is returned)."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.load_best_model: no score has been recorded yet")
        model.load_state_dict(self._clone(self.best_state))
        return model

    def _clone(self, state: Mapping[str, Any]) -> OrderedDict[str, Any]:
        """Deep copy of a state dict (NumPy arrays here; tensors in torch_impl.callbacks)."""
        return OrderedDict((k, np.array(v, copy=True)) for k, v in state.items())

    def state_dict(self) -> dict[str, Any]:
        """Counters, best score and epoch, and a copy of the best weights, for checkpoints."""
        return {"patience": self.patience, "delta": self.delta, "mode": self.mode, "counter": self.counter,
                "best_score": self.best_score, "best_epoch": self.best_epoch, "early_stop": self.early_stop,
                "epochs_seen": self.epochs_seen,
                "best_state": None if self.best_state is None else self._clone(self.best_state)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        for key in ("patience", "delta", "mode", "counter", "best_score", "best_epoch", "early_stop",
                    "epochs_seen"):
            setattr(self, key, state_dict[key])
        best = state_dict["best_state"]
        self.best_state = None if best is None else self._clone(best)
