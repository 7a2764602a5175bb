"""The engine room: the ops of :mod:`scratch.functional` as Numba kernels, one module per family, with
the reference's signatures, argument checks and results (verified against it in
``parity_tests/test_kernels_<family>.py``).

Complexity lives only here. Work that is split over Numba's threads goes through the one chunked-parallel
helper and the one table of thresholds in :mod:`scratch.kernels._parallel` (``scratch.kernels.thresholds``
forces the serial or the threaded path). Each non-obvious trick names its measured gain in
``benchmarks/README.md``.
"""

from scratch.kernels._parallel import THRESHOLDS, chunks, thresholds

__all__ = ["THRESHOLDS", "chunks", "thresholds"]
