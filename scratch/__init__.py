"""scratchnet's from-scratch engine: NumPy + Numba with hand-written backpropagation.

Layout: :mod:`scratch.functional` (``<op>_forward`` / ``<op>_backward`` pairs; the shape legend is in its
docstring), :mod:`scratch.nn` (torch-shaped modules), :mod:`scratch.optim` (optimizers and schedulers).

Importing scratch applies the thread policy of :mod:`scratch._threads` (single-threaded BLAS, Numba's
threads for the parallel work) before any kernel runs, and the memory policy of :mod:`scratch._memory`
(freed arrays stay in the heap, so a training step does not page-fault through fresh memory).
"""

from scratch import _memory, _threads

_threads.configure()
_memory.configure()

from scratch.nn.init import manual_seed  # noqa: E402

__version__ = "0.1.0"
__all__ = ["manual_seed", "__version__"]
