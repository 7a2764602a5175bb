"""The models of :mod:`scratch.models` in PyTorch, with the same parameter names and layouts."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from scratch.models import C3_CONNECTIONS


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(x) = 1.7159·tanh(2x/3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class SumPool2d(nn.AvgPool2d):
    """Sum over each window (avg_pool2d × window size): avg_pool2d with divisor 1."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad=True, divisor_override=1)


def c3_connection_mask(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    mask = torch.zeros(16, 6, 1, 1, dtype=dtype)
    for j, inputs in enumerate(C3_CONNECTIONS):
        mask[j, list(inputs)] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """Conv2d with effective weight ``weight * mask`` (masked entries get no gradient)."""

    def __init__(self, *args, mask: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class LeNet5(nn.Sequential):
    """See :class:`scratch.models.LeNet5`."""

    def __init__(self, num_classes: int = 10):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 6, 5, padding=2)), ("act1", nn.Tanh()), ("pool1", nn.AvgPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, 5)), ("act2", nn.Tanh()), ("pool2", nn.AvgPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16 * 5 * 5, 120)), ("act3", nn.Tanh()),
            ("fc2", nn.Linear(120, 84)), ("act4", nn.Tanh()),
            ("fc3", nn.Linear(84, num_classes)),
        ]))


class Subsampling(nn.Sequential):
    """See :class:`scratch.models.Subsampling`: 2×2 sums, then a depthwise 1×1 conv (coefficient, bias)."""

    def __init__(self, channels: int):
        super().__init__(OrderedDict([
            ("sum", SumPool2d(2)), ("coef", nn.Conv2d(channels, channels, 1, groups=channels)),
        ]))


class LeNet5Classic(nn.Sequential):
    """See :class:`scratch.models.LeNet5Classic`."""

    def __init__(self, num_classes: int = 10):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 6, 5, padding=2)), ("act1", ScaledTanh()),
            ("pool1", Subsampling(6)), ("act2", ScaledTanh()),
            ("conv2", MaskedConv2d(6, 16, 5, mask=c3_connection_mask())), ("act3", ScaledTanh()),
            ("pool2", Subsampling(16)), ("act4", ScaledTanh()),
            ("conv3", nn.Conv2d(16, 120, 5)), ("act5", ScaledTanh()),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(120, 84)), ("act6", ScaledTanh()),
            ("fc2", nn.Linear(84, num_classes)),
        ]))


class SimpleNN(nn.Sequential):
    """See :class:`scratch.models.SimpleNN`."""

    def __init__(self, num_classes: int = 10):
        super().__init__(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(28 * 28, 128)), ("act1", nn.ReLU()),
            ("fc2", nn.Linear(128, 64)), ("act2", nn.ReLU()),
            ("fc3", nn.Linear(64, num_classes)),
        ]))


class SimpleCNN(nn.Sequential):
    """See :class:`scratch.models.SimpleCNN`."""

    def __init__(self, num_classes: int = 10):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 9, 3, padding=2)), ("act1", nn.ReLU()), ("pool1", nn.AvgPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(9 * 15 * 15, 36)), ("act2", nn.ReLU()),
            ("fc2", nn.Linear(36, num_classes)),
        ]))


class SimpleCNNBN(nn.Sequential):
    """See :class:`scratch.models.SimpleCNNBN`."""

    def __init__(self, num_classes: int = 10):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 9, 3, padding=2)), ("bn1", nn.BatchNorm2d(9)), ("act1", nn.ReLU()),
            ("pool1", nn.AvgPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(9 * 15 * 15, 36)), ("act2", nn.ReLU()), ("drop", nn.Dropout(0.5)),
            ("fc2", nn.Linear(36, num_classes)),
        ]))


MODELS = {"lenet5": LeNet5, "lenet5-classic": LeNet5Classic, "simple-nn": SimpleNN, "simple-cnn": SimpleCNN,
          "simple-cnn-bn": SimpleCNNBN}


def build_model(name: str, num_classes: int = 10, *, dtype: torch.dtype = torch.float32,
                device: str | torch.device = "cpu") -> nn.Module:
    """A model by its CLI name, as in :func:`scratch.models.build_model`."""
    if name not in MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](num_classes).to(device=device, dtype=dtype)
