"""The machine's measured float32 peak: NumPy's sgemm on 1 and on N threads, and the ISA from the CPU flags.

A GEMM at n=2048 (``a @ b``, float32, 2n³ FLOP) runs close to what the cores can do, so its GFLOP/s is the
honest yardstick for the training step's achieved GFLOP/s (:mod:`benchmarks.bench_train` prints both).
Each thread count is measured in its own process (``python -m benchmarks.peak --sgemm-worker``), whose
BLAS pool is set by ``threadpoolctl.threadpool_limits`` before the first product (checked on this project's
VM: it and ``OPENBLAS_NUM_THREADS`` set before NumPy's import both give 1 and 2 threads, ~98 and ~190
GFLOP/s); the worker reports the thread counts threadpoolctl then sees, so the JSON shows it held. Best of
``repeats`` products after one warm-up product, and per thread count the best of ``tries`` processes, run
alternately (1, N, 1, N, ...): on a shared machine one disturbed process once measured 108 GFLOP/s on 2
threads where the others gave 191–203.

The ISA: the relevant flags of ``/proc/cpuinfo`` (:data:`ISA_FLAGS`) and the widest float vector unit they
imply (``avx512``, ``avx2+fma``, ``avx``, ``sse4.2``).

Usage::

    python -m benchmarks.peak                  # 1 thread and every core, n=2048
    python -m benchmarks.peak --n 4096 --threads 4 --out results/peak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "amx_bf16", "amx_int8", "amx_tile")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model name and the set of flags of the first processor listed (empty where unreadable)."""
    name, flags = None, set()
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu": name or platform.processor() or "unknown", "flags": flags}


def vector_isa(flags: set[str] | Sequence[str]) -> str:
    """The widest float vector unit the flags show: ``avx512``, ``avx2+fma``, ``avx``, ``sse4.2`` or ``unknown``."""
    flags = set(flags)
    if "avx512f" in flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2+fma"
    if "avx" in flags:
        return "avx"
    return "sse4.2" if "sse4_2" in flags else "unknown"


def available_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def sgemm_gflops(n: int, repeats: int) -> float:
    """Best GFLOP/s of ``repeats`` float32 products ``a @ b`` of two n×n matrices, in this process."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _sgemm_worker(n: int, repeats: int, threads: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        gflops = sgemm_gflops(n, repeats)
        pools = [{"library": os.path.basename(p["filepath"]), "internal_api": p["internal_api"],
                  "threads": p["num_threads"]} for p in threadpool_info() if p["user_api"] == "blas"]
    return {"threads": threads, "gflops": gflops, "blas": pools}


def measure_sgemm(n: int, repeats: int, threads: int) -> dict[str, Any]:
    """:func:`sgemm_gflops` on ``threads`` BLAS threads, in a fresh process: gflops and the BLAS pools seen."""
    cmd = [sys.executable, "-m", "benchmarks.peak", "--sgemm-worker", "--n", str(n), "--repeats", str(repeats),
           "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True)
    return json.loads(out.stdout)


def measure_peak(n: int = 2048, repeats: int = 5, threads: int | None = None, tries: int = 3) -> dict[str, Any]:
    """The peak record stored in the benchmarks' JSON.

    ``{"cpu", "cores", "isa", "flags": [...], "sgemm": {"n", "repeats", "tries", "threads": {"1": GFLOP/s,
    "N": GFLOP/s}, "all": {"1": [...], "N": [...]}, "blas": {...}}}`` with N = ``threads`` (default: every
    available core): per thread count the best of ``tries`` fresh processes (run alternately, 1, N, 1, N,
    ...: a load spike on a shared machine lowers one try, not the peak), each the best of ``repeats``.
    """
    if n < 1 or repeats < 1 or tries < 1:
        raise ValueError(f"measure_peak: n, repeats and tries must be >= 1, got n={n}, repeats={repeats}, "
                         f"tries={tries}")
    cores = available_cores()
    threads = cores if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"measure_peak: threads must be >= 1, got {threads}")
    info = cpu_info()
    counts = sorted({1, threads})
    runs: dict[str, list[dict[str, Any]]] = {str(t): [] for t in counts}
    for _ in range(tries):
        for t in counts:
            runs[str(t)].append(measure_sgemm(n, repeats, t))
    best = {t: max(rs, key=lambda r: r["gflops"]) for t, rs in runs.items()}
    return {"cpu": info["cpu"], "cores": cores, "isa": vector_isa(info["flags"]),
            "flags": [f for f in ISA_FLAGS if f in info["flags"]],
            "sgemm": {"n": n, "repeats": repeats, "tries": tries,
                      "threads": {t: r["gflops"] for t, r in best.items()},
                      "all": {t: [r["gflops"] for r in rs] for t, rs in runs.items()},
                      "blas": {t: r["blas"] for t, r in best.items()}}}


def peak_gflops(peak: dict[str, Any] | None, threads: int) -> float | None:
    """The measured sgemm GFLOP/s at ``threads`` threads from a :func:`measure_peak` record (None if absent)."""
    if not peak:
        return None
    return peak["sgemm"]["threads"].get(str(threads))


def peak_table(peak: dict[str, Any]) -> str:
    """Markdown: one row per thread count (GFLOP/s), with the ISA and CPU."""
    rows = [f"| {peak['cpu']} | {peak['isa']} | {t} | {g:.1f} |" for t, g in peak["sgemm"]["threads"].items()]
    tries = peak["sgemm"].get("tries", 1)
    return "\n".join([f"sgemm n={peak['sgemm']['n']} (NumPy float32 `a @ b`, best of {peak['sgemm']['repeats']}"
                      f" in each of {tries} processes per thread count);"
                      f" flags: {' '.join(peak['flags']) or 'none'}\n",
                      "| CPU | ISA | threads | GFLOP/s |", "| --- | --- | ---: | ---: |", *rows])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peak", description="Measured float32 GEMM peak and the CPU's ISA.")
    p.add_argument("--n", type=int, default=2048, help="matrix size (default 2048)")
    p.add_argument("--repeats", type=int, default=5, help="products per thread count; the best counts")
    p.add_argument("--threads", type=int, default=None, help="N of the N-thread run (default: every core)")
    p.add_argument("--tries", type=int, default=3, help="fresh processes per thread count; the best counts")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--sgemm-worker", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sgemm_worker:
        print(json.dumps(_sgemm_worker(args.n, args.repeats, args.threads or 1)))
        return 0
    try:
        peak = measure_peak(args.n, args.repeats, args.threads, args.tries)
    except ValueError as e:
        raise SystemExit(f"peak: {e}") from None
    print(peak_table(peak))
    if args.out:
        from benchmarks.timing import write_json

        print(f"\nwrote {write_json({'benchmark': 'peak', 'peak': peak}, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
