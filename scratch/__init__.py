"""scratchnet's from-scratch engine: NumPy with hand-written backpropagation, accelerated with Numba.

Two rooms compute every op (``scratch/functional``: the reading room, plain NumPy that reads like the
math; ``scratch/kernels``: the engine room, Numba), chosen here at call time; models, training,
checkpoints and state dicts are the same on both::

    scratch.get_backend()              # "numba" (default) or "reference"; start-up: $SCRATCH_BACKEND
    scratch.set_backend("reference")
    with scratch.backend("reference"):
        ...

Shape legend of every docstring (NCHW, as PyTorch): N batch; C_in, C_out channels; H, W input height and
width; kH, kW kernel height and width; H_out, W_out output height and width; s, p, d stride, padding,
dilation (per axis s_h, s_w, ...).

Importing scratch changes nothing outside it; the thread and memory policies are an explicit call,
:func:`scratch.perf.configure`.
"""

from scratch._backend import BACKENDS, backend, get_backend, set_backend
from scratch.nn.init import manual_seed

__version__ = "0.1.0"
__all__ = ["BACKENDS", "backend", "get_backend", "manual_seed", "set_backend", "__version__"]
