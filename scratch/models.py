"""LeNet-5 and two small baselines, composed from :mod:`scratch.nn` modules (no math here).

Every model is a ``Sequential`` of named layers, so parameter names (``conv1.weight``, ``fc1.bias``, ...)
are the same as in :mod:`torch_impl.models` and one state dict loads into both engines.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from scratch.nn.activation import ReLU, ScaledTanh, Tanh
from scratch.nn.conv import Conv2d
from scratch.nn.linear import Flatten, Linear
from scratch.nn.module import Sequential
from scratch.nn.pool import AvgPool2d, SumPool2d

# LeCun et al. 1998, Table I: C3 feature map j reads the S2 maps listed here.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def c3_connection_mask(dtype=np.float32) -> np.ndarray:
    """The (16, 6, 1, 1) 0/1 mask of C3's partial connection table (broadcasts over the 5×5 kernel)."""
    mask = np.zeros((16, 6, 1, 1), dtype=dtype)
    for j, inputs in enumerate(C3_CONNECTIONS):
        mask[j, list(inputs)] = 1
    return mask


class MaskedConv2d(Conv2d):
    """A Conv2d whose effective weight is ``weight * mask``: masked entries stay zero and get no gradient."""

    def __init__(self, *args, mask: np.ndarray, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", mask.astype(self.weight.data.dtype), persistent=False)
        self.weight.data *= self.mask

    def _effective_weight(self) -> np.ndarray:
        return self.weight.data * self.mask

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        dx = super().backward(dout, input_grad)
        self.weight.grad *= self.mask
        return dx


class LeNet5(Sequential):
    """The tutorial's LeNet-5: conv 1→6 k5 p2, tanh, avgpool 2, conv 6→16 k5, tanh, avgpool 2,
    fc 400→120→84→10 with tanh. Input (N, 1, 28, 28), output logits (N, 10)."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("conv1", Conv2d(1, 6, 5, padding=2, **kw)), ("act1", Tanh()), ("pool1", AvgPool2d(2)),
            ("conv2", Conv2d(6, 16, 5, **kw)), ("act2", Tanh()), ("pool2", AvgPool2d(2)),
            ("flatten", Flatten()),
            ("fc1", Linear(16 * 5 * 5, 120, **kw)), ("act3", Tanh()),
            ("fc2", Linear(120, 84, **kw)), ("act4", Tanh()),
            ("fc3", Linear(84, num_classes, **kw)),
        ]))


class LeNet5Classic(Sequential):
    """LeNet-5 as in LeCun et al. (1998), for study: the 28×28 input is zero-padded to 32×32 (conv1's
    padding 2), S2/S4 are sum pooling (the paper adds the 4 inputs; its per-map coefficient is folded into
    the next layer here), C3 uses the paper's partial connection table (:data:`C3_CONNECTIONS`), C5 is a
    16→120 k5 convolution, activations are the scaled tanh 1.7159·tanh(2x/3). The output layer is a
    linear layer (the paper's RBF units are replaced by logits for cross-entropy)."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("conv1", Conv2d(1, 6, 5, padding=2, **kw)), ("act1", ScaledTanh()), ("pool1", SumPool2d(2)),
            ("conv2", MaskedConv2d(6, 16, 5, mask=c3_connection_mask(dtype), **kw)), ("act2", ScaledTanh()),
            ("pool2", SumPool2d(2)),
            ("conv3", Conv2d(16, 120, 5, **kw)), ("act3", ScaledTanh()),
            ("flatten", Flatten()),
            ("fc1", Linear(120, 84, **kw)), ("act4", ScaledTanh()),
            ("fc2", Linear(84, num_classes, **kw)),
        ]))


class SimpleNN(Sequential):
    """The MLP baseline: flatten, 784→128, ReLU, 128→64, ReLU, 64→10."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("flatten", Flatten()),
            ("fc1", Linear(28 * 28, 128, **kw)), ("act1", ReLU()),
            ("fc2", Linear(128, 64, **kw)), ("act2", ReLU()),
            ("fc3", Linear(64, num_classes, **kw)),
        ]))


class SimpleCNN(Sequential):
    """The small CNN baseline: conv 1→9 k3 p2 (28→30), ReLU, avgpool 2 (→15), fc 2025→36, ReLU, fc 36→10."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("conv1", Conv2d(1, 9, 3, padding=2, **kw)), ("act1", ReLU()), ("pool1", AvgPool2d(2)),
            ("flatten", Flatten()),
            ("fc1", Linear(9 * 15 * 15, 36, **kw)), ("act2", ReLU()),
            ("fc2", Linear(36, num_classes, **kw)),
        ]))


MODELS = {"lenet5": LeNet5, "lenet5-classic": LeNet5Classic, "simple-nn": SimpleNN, "simple-cnn": SimpleCNN}


def build_model(name: str, num_classes: int = 10, *, dtype=np.float32,
                rng: np.random.Generator | None = None) -> Sequential:
    """A model by its CLI name (``lenet5``, ``lenet5-classic``, ``simple-nn``, ``simple-cnn``)."""
    if name not in MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](num_classes, dtype=dtype, rng=rng)
