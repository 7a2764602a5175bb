"""torch.nn-shaped modules over :mod:`scratch.functional`: same constructor signatures, defaults,
parameter names and layouts as PyTorch's."""

from scratch.nn.activation import LeakyReLU, LogSoftmax, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh
from scratch.nn.conv import Conv2d
from scratch.nn.linear import Flatten, Identity, Linear
from scratch.nn.loss import CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from scratch.nn.module import Module, Parameter, Sequential
from scratch.nn.norm import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d
from scratch.nn.pool import AvgPool2d, MaxPool2d, SumPool2d

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Dropout2d", "Flatten",
    "Identity", "L1Loss", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "NLLLoss",
    "Parameter", "ReLU", "ScaledTanh", "Sequential", "Sigmoid", "Softmax", "SumPool2d", "Tanh",
]
