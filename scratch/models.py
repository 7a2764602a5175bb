"""LeNet-5 (the tutorial's and the 1998 paper's) and small baselines, composed from :mod:`scratch.nn`
modules (no math here).

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
from scratch.nn.norm import BatchNorm2d, Dropout
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


class Subsampling(Sequential):
    """LeNet-5's subsampling layer (S2, S4): each 2×2 window summed, times a trainable coefficient per map,
    plus a trainable bias per map (2·C parameters): ``sum`` (SumPool2d(2)), then ``coef``, a depthwise 1×1
    convolution (Conv2d(C, C, 1, groups=C): weight (C, 1, 1, 1) is the coefficient, bias (C,) the bias).
    The paper's squashing follows as a separate layer."""

    def __init__(self, channels: int, *, dtype=np.float32, rng: np.random.Generator | None = None):
        super().__init__(OrderedDict([
            ("sum", SumPool2d(2)), ("coef", Conv2d(channels, channels, 1, groups=channels, dtype=dtype, rng=rng)),
        ]))


class LeNet5Classic(Sequential):
    """LeNet-5 as in LeCun et al. (1998), for study. Trainable parameters per layer, as the paper's:

    ======  ================================================================  ==========
    layer   what                                                              parameters
    ======  ================================================================  ==========
    C1      conv 1→6 k5 (the 28×28 input zero-padded to 32×32: padding 2)            156
    S2      2×2 sums × a coefficient + a bias per map (:class:`Subsampling`)          12
    C3      conv 6→16 k5 over the partial table :data:`C3_CONNECTIONS`             1,516
    S4      2×2 sums × a coefficient + a bias per map                                 32
    C5      conv 16→120 k5 (5×5 input: a full connection)                         48,120
    F6      fc 120→84                                                             10,164
    output  fc 84→10                                                                 850
    ======  ================================================================  ==========

    Every layer up to F6 is followed by the scaled tanh 1.7159·tanh(2x/3) (S2 and S4 included). Departures
    from the paper: the output layer is a linear layer trained with cross-entropy on its logits (the paper's
    RBF units with fixed 7×12 bitmap codes and its MAP loss are not reproduced: the codes are not
    available), and parameters start from torch's default initialisation rather than the paper's
    U(-2.4/F_in, 2.4/F_in)."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("conv1", Conv2d(1, 6, 5, padding=2, **kw)), ("act1", ScaledTanh()),
            ("pool1", Subsampling(6, **kw)), ("act2", ScaledTanh()),
            ("conv2", MaskedConv2d(6, 16, 5, mask=c3_connection_mask(dtype), **kw)), ("act3", ScaledTanh()),
            ("pool2", Subsampling(16, **kw)), ("act4", ScaledTanh()),
            ("conv3", Conv2d(16, 120, 5, **kw)), ("act5", ScaledTanh()),
            ("flatten", Flatten()),
            ("fc1", Linear(120, 84, **kw)), ("act6", ScaledTanh()),
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


class SimpleCNNBN(Sequential):
    """SimpleCNN with batch norm and dropout: conv 1→9 k3 p2 (28→30), BatchNorm2d(9), ReLU, avgpool 2
    (→15), fc 2025→36, ReLU, Dropout(0.5), fc 36→10. The dropout masks come from ``rng`` when given (the
    generator that drew the weights), else from :func:`scratch.nn.init.manual_seed`'s; ``eval()`` turns
    dropout off and normalizes with the running statistics."""

    def __init__(self, num_classes: int = 10, *, dtype=np.float32, rng: np.random.Generator | None = None):
        kw = dict(dtype=dtype, rng=rng)
        super().__init__(OrderedDict([
            ("conv1", Conv2d(1, 9, 3, padding=2, **kw)), ("bn1", BatchNorm2d(9, dtype=dtype)), ("act1", ReLU()),
            ("pool1", AvgPool2d(2)),
            ("flatten", Flatten()),
            ("fc1", Linear(9 * 15 * 15, 36, **kw)), ("act2", ReLU()), ("drop", Dropout(0.5, rng=rng)),
            ("fc2", Linear(36, num_classes, **kw)),
        ]))


MODELS = {"lenet5": LeNet5, "lenet5-classic": LeNet5Classic, "simple-nn": SimpleNN, "simple-cnn": SimpleCNN,
          "simple-cnn-bn": SimpleCNNBN}


def build_model(name: str, num_classes: int = 10, *, dtype=np.float32,
                rng: np.random.Generator | None = None) -> Sequential:
    """A model by its CLI name (``lenet5``, ``lenet5-classic``, ``simple-nn``, ``simple-cnn``,
    ``simple-cnn-bn``)."""
    if name not in MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](num_classes, dtype=dtype, rng=rng)
