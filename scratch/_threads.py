"""The scratch engine's thread policy: Numba's threads do the parallel work, BLAS runs single-threaded.

Why. scratch parallelises over the batch inside its Numba kernels (``prange``) and calls BLAS on small
matrices, from inside those kernels (conv's per-block GEMMs, through SciPy's OpenBLAS) or from the main
thread (linear, through NumPy's OpenBLAS). Left at their defaults, a process holds up to four thread
pools (Numba's GNU OpenMP, NumPy's and SciPy's OpenBLAS, PyTorch's OpenMP when torch is loaded), each
as large as the machine, and OpenBLAS's workers keep spinning for ~0.1 s after each call. On a small
machine the spinning workers outnumber the cores, so a 0.2 ms matmul or a parallel kernel's barrier
waits for a scheduler time slice: a LeNet-5 step measured 15–150 ms instead of ~5 ms on 2 cores.

The policy, applied by :func:`configure` when the :mod:`scratch` package is imported:

* BLAS: 1 thread in every loaded BLAS (SciPy's BLAS is loaded first, so the one Numba's ``np.dot``
  calls is covered too); scratch's matmuls are small and its parallelism is over the batch.
* ``SCRATCH_NUM_THREADS`` (optional) sets Numba's thread count; the default is Numba's (all cores).
  Small kernels do not wake the pool at all (see :mod:`scratch.functional.pool`).
* The OpenMP wait policy stays at its default. Making idle workers sleep (``OMP_WAIT_POLICY=PASSIVE``)
  or spin less (``GOMP_SPINCOUNT``) helped scratch only on a machine busy with other processes, and
  slowed torch up to 2x when it shared the runtime (measurements in benchmarks/README.md); set them
  yourself for a scratch-only process on a busy machine.

One process, both engines: Numba's OpenMP pool starts with the first parallel kernel and loads GNU
``libgomp.so.1``; a torch imported *after* that finds it and shares it, and then
``torch.set_num_threads`` slowed torch's LeNet-5 step about 3x (9–11 ms to 27–28 ms on 2 cores). So
import torch first (the benchmarks do), or at least before scratch runs a parallel kernel.

``SCRATCH_THREAD_POLICY=off`` leaves every library at its defaults.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numba

POLICY_ENV = "SCRATCH_THREAD_POLICY"
NUM_THREADS_ENV = "SCRATCH_NUM_THREADS"

_state: dict[str, Any] = {"configured": False, "blas_threads": None}


def configure(num_threads: int | None = None) -> None:
    """Apply the policy of this module once (later calls only change the thread count).

    ``num_threads``: Numba's thread count; default ``$SCRATCH_NUM_THREADS``, else Numba's default.
    """
    if os.environ.get(POLICY_ENV, "").lower() in ("0", "off", "false", "no"):
        return
    if not _state["configured"]:
        _state["configured"] = True
        _limit_blas()
    if num_threads is None and os.environ.get(NUM_THREADS_ENV):
        num_threads = int(os.environ[NUM_THREADS_ENV])
    if num_threads is not None:
        set_num_threads(num_threads)


def set_num_threads(n: int) -> None:
    """Numba's thread count for scratch's parallel kernels (1 <= n <= the number of cores)."""
    n = int(n)
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"set_num_threads: expected 1 <= n <= {numba.config.NUMBA_NUM_THREADS} "
                         f"(NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(n)


def get_num_threads() -> int:
    """Numba's current thread count."""
    return numba.get_num_threads()


def available_cores() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_info() -> dict[str, Any]:
    """What the policy did and the thread pools as they stand (for benchmark reports)."""
    info: dict[str, Any] = {
        "policy": "off" if os.environ.get(POLICY_ENV, "").lower() in ("0", "off", "false", "no") else "on",
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": _threading_layer(),
        "omp_env": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ},
        "blas_threads_limit": _state["blas_threads"],
    }
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        info["pools"] = [{"library": os.path.basename(p["filepath"]), "api": p["user_api"],
                          "threads": p["num_threads"]} for p in threadpool_info()]
    return info


def _threading_layer() -> str | None:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _limit_blas() -> None:
    """One thread in every loaded BLAS, SciPy's (used by Numba's ``np.dot``) loaded first."""
    with contextlib.suppress(ImportError):
        import scipy.linalg.cython_blas  # noqa: F401
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    ThreadpoolController().limit(limits=1, user_api="blas")
    _state["blas_threads"] = 1
