"""torch.nn-shaped modules over :mod:`scratch.functional`."""

from scratch.nn.module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
