"""Early stopping for torch models: :class:`scratch.callbacks.EarlyStopping` with tensor copies.

The counting logic is scratch's; only the copy differs: ``{k: v.detach().clone()}``, so the kept best
weights do not share storage with the parameters the optimizer keeps updating.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

from scratch.callbacks import EarlyStopping as _EarlyStopping

__all__ = ["EarlyStopping"]


class EarlyStopping(_EarlyStopping):
    __doc__ = _EarlyStopping.__doc__

    def _clone(self, state: Mapping[str, Any]) -> OrderedDict[str, Any]:
        return OrderedDict((k, (v.detach() if isinstance(v, torch.Tensor) else torch.as_tensor(v)).clone())
                           for k, v in state.items())
