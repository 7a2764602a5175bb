"""The same models and training as :mod:`scratch`, written in PyTorch (CUDA when available)."""
