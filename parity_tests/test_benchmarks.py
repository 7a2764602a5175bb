"""The benchmark harness runs, checks, and writes sane numbers (timings themselves are never asserted).

Each suite runs once per module in its ``--quick`` mode (tiny repeat counts, batch 2 or 8, the bundled
digits for the epoch), and the tests inspect what it wrote: every row checked and timed, every time
positive and finite, the JSON complete, the charts drawn.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_ops, bench_train, plot
from benchmarks.timing import check_close, fmt, markdown_table, time_interleaved
from scratch import perf

pytestmark = pytest.mark.backend_independent

QUICK_OPS = "conv2d,avg_pool2d,linear,tanh,cross_entropy"


def _positive(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def _timing_ok(t: dict) -> bool:
    return (all(_positive(v) for v in t["samples_ms"]) and t["min_ms"] <= t["median_ms"] <= t["p90_ms"]
            and t["number"] >= 1)


@pytest.fixture(scope="module", autouse=True)
def _restore_thread_counts():
    """The suites pin 1 thread per engine; give later tests back the counts they had."""
    import torch

    numba_threads, torch_threads = perf.get_num_threads(), torch.get_num_threads()
    yield
    perf.set_num_threads(numba_threads)
    torch.set_num_threads(torch_threads)


@pytest.fixture(scope="module")
def ops_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "ops.json"
    assert bench_ops.main(["--quick", "--ops", QUICK_OPS, "--threads", "1", "--out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def train_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "train.json"
    assert bench_train.main(["--quick", "--threads", "1", "--limit", "256", "--torch-variants", "resident",
                             "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_time_interleaved_samples_every_function() -> None:
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1
        sum(range(100))

    t = time_interleaved({"a": a, "b": b}, repeats=4, warmup=1, target_s=1e-4)
    assert set(t) == {"a", "b"}
    for name, timing in t.items():
        assert len(timing.samples_ms) == 4 and _timing_ok(timing.to_dict()), name
        assert calls[name] >= 1 + 1 + 4 * timing.number  # warm-up, calibration, samples


def test_check_close_accepts_rounding_and_rejects_errors() -> None:
    ref = np.linspace(-3, 3, 50, dtype=np.float32)
    check_close("same", ref * (1 + 1e-6), ref, np.float32)
    with pytest.raises(AssertionError, match="differs from torch"):
        check_close("wrong", ref + 1e-2, ref, np.float32)
    with pytest.raises(AssertionError, match="shape"):
        check_close("shape", ref[:-1], ref, np.float32)


def test_table_helpers() -> None:
    assert fmt(None) == "n/a" and fmt(0.012345) == "0.0123" and fmt(123.4) == "123"
    table = markdown_table(["op", "ms"], [["conv2d", "1.0"]])
    assert table.splitlines() == ["| op | ms |", "| --- | ---: |", "| conv2d | 1.0 |"]


def test_bench_ops_rows_are_checked_timed_and_sane(ops_json) -> None:
    rows = ops_json["rows"]
    ops = {r["op"] for r in rows}
    assert ops == set(QUICK_OPS.split(","))
    assert {(r["op"], r["pass"]) for r in rows} == {(op, p) for op in ops for p in ("fwd", "fwd+bwd")}
    for r in rows:
        what = f"{r['op']} {r['config']} {r['pass']}"
        assert r["batch"] == 2 and r["dtype"] == "float32", what
        assert _timing_ok(r["scratch"]) and _timing_ok(r["torch_cpu"]), what
        assert _positive(r["first_call_ms"]) and _positive(r["ratio"]) and _positive(r["ratio_min"]), what
        assert math.isclose(r["ratio"], r["scratch"]["median_ms"] / r["torch_cpu"]["median_ms"]), what
        # the no-JIT column exists exactly for the ops whose code is plain NumPy (no loop kernels)
        assert ("nojit" in r) == (r["op"] == "linear"), what
        if "nojit" in r:
            assert _timing_ok(r["nojit"]), what


def test_bench_ops_sweeps_and_environment(ops_json) -> None:
    sweeps = {r["sweep"] for r in ops_json["sweeps"]}
    assert sweeps == {"conv2d batch", "conv2d channels", "conv2d image", "avg_pool2d batch",
                      "avg_pool2d image", "linear batch"}
    for r in ops_json["sweeps"]:
        assert r["pass"] == "fwd+bwd" and _timing_ok(r["scratch"]) and r["value"] > 0
    env = ops_json["environment"]
    assert env["threads"] == 1 and env["torch_threads"] == 1 and env["scratch_threads"]["numba_threads"] == 1
    assert env["machine"]["cores"] >= 1 and env["numba"] and env["torch"]


def test_bench_ops_refuses_a_wrong_result(monkeypatch) -> None:
    case = bench_ops.linear_case(4, 3)
    prepare = case.prepare

    def broken(n, dtype, rng):
        prepared = prepare(n, dtype, rng)
        fwdbwd = prepared.scratch_fwdbwd

        def wrong():
            out, grads = fwdbwd()
            return out + 1, grads

        prepared.scratch_fwdbwd = wrong
        return prepared

    case.prepare = broken
    with pytest.raises(AssertionError, match="linear 4→3 N=2 float32 out"):
        bench_ops.measure(case, 2, np.dtype(np.float32), ("fwd",), ("cpu",), repeats=1, warmup=0, target_s=0)


def test_step_flops_is_lenet5s_arithmetic() -> None:
    # per sample: forward 833,040 FLOP; backward twice that, minus conv1's input gradient (235,200)
    assert bench_train.step_flops("lenet5", 1) == 3 * 833_040 - 235_200
    assert bench_train.step_flops("lenet5", 64) == 64 * (3 * 833_040 - 235_200)  # ~145 MFLOP


def test_bench_train_steps_and_epochs(train_json) -> None:
    steps = {r["engine"]: r for r in train_json["steps"]}
    assert set(steps) >= {"scratch", "torch-cpu"}
    for engine, r in steps.items():
        assert r["batch"] == 8 and _timing_ok(r["timing"]), engine
        assert _positive(r["samples_per_s"]) and _positive(r["gflops"]) and _positive(r["ratio"]), engine
    assert _positive(steps["scratch"]["first_call_ms"])
    epochs = {r["engine"]: r for r in train_json["epochs"]}
    assert set(epochs) >= {"scratch", "torch-cpu"} and train_json["epoch_dataset"] == "digits"
    for engine, r in epochs.items():
        assert r["samples"] == 256, engine
        for key in ("startup_s", "epoch_s", "samples_per_s", "peak_rss_mb", "loss"):
            assert _positive(float(r[key])), (engine, key)
        assert r["startup_s"] < 120 and r["peak_rss_mb"] < 64 * 1024, engine
    assert not epochs["scratch"]["torch_imported"], "the scratch worker's RSS must not include torch"
    # the resident dataset yields the same batches: the very same training
    assert epochs["torch-cpu+resident"]["loss"] == epochs["torch-cpu"]["loss"]


def test_plots_from_the_json(ops_json, train_json, tmp_path) -> None:
    ops_path, train_path = tmp_path / "ops.json", tmp_path / "train.json"
    ops_path.write_text(json.dumps(ops_json))
    train_path.write_text(json.dumps(train_json))
    out = tmp_path / "png"
    from scratch.cli import main as cli_main

    assert cli_main(["bench", "plot", "--ops", str(ops_path), "--train", str(train_path), "--out-dir",
                     str(out)]) == 0
    for name in ("ops_ratio.png", "ops_sweeps.png", "train.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    assert plot.main(["--ops", "none", "--train", "none"]) == 1


def test_readme_documents_every_benchmark() -> None:
    readme = (Path(__file__).resolve().parents[1] / "benchmarks" / "README.md").read_text()
    for command in ("python -m benchmarks.bench_ops", "python -m benchmarks.bench_train",
                    "python -m benchmarks.plot", "scratchnet bench"):
        assert command in readme, command
