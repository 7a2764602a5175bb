"""The benchmark harness runs, checks, and writes sane numbers (timings themselves are never asserted).

Each suite runs once per module in its ``--quick`` mode (tiny repeat counts, batch 2 or 8, the bundled
digits for the epoch; bench_train in two alternating pairs of worker processes), and the tests inspect
what it wrote: every row checked and timed, every time positive and finite, the workers apart (no torch in
scratch's, neither scratch nor torch_impl in torch's), the JSON complete, the charts drawn.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_ops, bench_train, peak, plot, profile_step, torch_baseline
from benchmarks.timing import check_close, fmt, markdown_table, time_interleaved
from benchmarks.torch_baseline import time_to_accuracy
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
    assert bench_train.main(["--quick", "--threads", "1", "--limit", "256", "--rounds", "2", "--tta",
                             "--tta-target", "0.0", "--out", str(out)]) == 0
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


def test_bench_train_steps_eval_and_epochs(train_json) -> None:
    assert train_json["engines"] == ["scratch", "torch-cpu"] and train_json["threads"] == 1
    steps = {r["engine"]: r for r in train_json["steps"]}
    assert set(steps) == {"scratch", "torch-cpu"}
    for engine, r in steps.items():
        assert r["batch"] == 8 and len(r["per_process"]) == 2, engine
        assert r["range_ms"][0] <= r["median_ms"] <= r["range_ms"][1] and _positive(r["min_ms"]), engine
        assert _positive(r["gflops"]) and _positive(r["pct_peak"]) and _positive(r["first_step_ms"]["median"]), engine
    ratio = steps["scratch"]["ratios"]["torch-cpu"]
    assert len(ratio["values"]) == 2 and ratio["min"] <= ratio["median"] <= ratio["max"]
    evals = {r["engine"]: r for r in train_json["eval"]}
    assert evals["scratch"]["images"] == evals["torch-cpu"]["images"] > 0
    for engine, r in evals.items():
        assert r["batch"] == 100 and _positive(r["images_per_s"]) and 0 <= r["accuracy"] <= 1, engine
    epochs = {r["engine"]: r for r in train_json["epochs"]}
    assert set(epochs) == {"scratch", "torch-cpu"} and train_json["epoch_dataset"] == "digits"
    for engine, r in epochs.items():
        assert r["samples"] == 256 and _positive(r["samples_per_s"]), engine
        for key in ("startup_s", "epoch_s", "peak_rss_mb"):
            assert len(r[key]["values"]) == 2 and all(_positive(v) for v in r[key]["values"]), (engine, key)
        assert r["startup_s"]["max"] < 120 and r["peak_rss_mb"]["max"] < 64 * 1024, engine
    # one check per pair (the tta pair's too: its workers start with an unreported checked step), every
    # gradient within float32 tolerance (loss + 10 parameters), every prediction alike
    assert [(c["runs"], c["round"]) for c in train_json["checks"]] == [("main", 1), ("main", 2), ("tta-digits", 1)]
    for c in train_json["checks"]:
        assert c["max_scaled_error"] <= 1e-4 and c["arrays"] == 11, c
        assert c["agreement"] is None if c["runs"] != "main" else c["agreement"]["same"] == c["agreement"]["images"]


def test_bench_train_pairs_alternate_and_workers_stay_apart(train_json) -> None:
    main = [p for p in train_json["processes"] if p["runs"] == "main"]
    assert [(p["round"], p["engine"]) for p in main] == [(1, "scratch"), (1, "torch-cpu"), (2, "torch-cpu"),
                                                          (2, "scratch")]
    for p in train_json["processes"]:
        if p["engine"] == "scratch":
            assert not p["torch_imported"] and not p["modules"]["torch"], "the scratch worker imported torch"
        else:
            assert p["modules"] == {"torch": True, "scratch": False, "torch_impl": False, "benchmarks": False}
            assert p["threads"] == 1


def test_bench_train_tta_and_peak(train_json) -> None:
    tta = {r["engine"]: r for r in train_json["tta"]}
    for engine, r in tta.items():  # target 0.0: reached after the first epoch
        assert r["dataset"] == "digits" and r["reached"] == 1 and r["epochs"] == [1], engine
        assert _positive(r["seconds"]["median"]) and _positive(r["eval_s"]["median"]), engine
    peak = train_json["peak"]
    assert peak["isa"] in ("avx512", "avx2+fma", "avx", "sse4.2", "unknown") and peak["cores"] >= 1
    assert set(peak["flags"]) <= set(bench_train.peak_mod.ISA_FLAGS) and peak["sgemm"]["n"] == 256
    assert list(peak["sgemm"]["threads"]) == ["1"] and _positive(peak["sgemm"]["threads"]["1"])
    assert len(peak["sgemm"]["all"]["1"]) == peak["sgemm"]["tries"] == 3  # the best of 3 processes
    assert peak["sgemm"]["threads"]["1"] == max(peak["sgemm"]["all"]["1"])
    assert [p["threads"] for p in peak["sgemm"]["blas"]["1"]] == [1] * len(peak["sgemm"]["blas"]["1"])


def test_time_to_accuracy_bookkeeping() -> None:
    accs = iter([0.5, 0.8, 0.95])
    out = time_to_accuracy(lambda epoch: 1.0 / epoch, lambda: next(accs), target=0.8, max_epochs=5)
    assert out["reached"] and out["epoch"] == 2 and out["seconds"] == out["train_s"] >= 0
    assert [h["accuracy"] for h in out["history"]] == [0.5, 0.8]
    never = time_to_accuracy(lambda epoch: 1.0, lambda: 0.97, target=1.01, max_epochs=3)
    assert not never["reached"] and never["epoch"] is None and never["seconds"] is None
    assert len(never["history"]) == 3 and never["best_accuracy"] == 0.97


def test_check_pair_refuses_a_mismatch() -> None:
    rng = np.random.default_rng(0)
    ref = {"step:8:loss": np.float32(2.3), "step:8:fc1.weight": rng.standard_normal((120, 400)).astype(np.float32),
           "eval:pred": rng.integers(0, 10, 2000)}
    ours = {k: np.array(v, copy=True) for k, v in ref.items()}
    assert bench_train.check_pair(ours, ref, "case")["agreement"] == {"same": 2000, "images": 2000}
    wrong = dict(ours, **{"step:8:fc1.weight": ours["step:8:fc1.weight"] + 1e-2})
    with pytest.raises(AssertionError, match="case step:8:fc1.weight: differs from torch"):
        bench_train.check_pair(wrong, ref, "case")
    with pytest.raises(AssertionError, match="no step losses or gradients"):
        bench_train.check_pair({"eval:pred": ours["eval:pred"]}, {"eval:pred": ref["eval:pred"]}, "case")
    preds = ours["eval:pred"].copy()
    preds[:3] = (preds[:3] + 1) % 10  # 3 of 2000 differ: below 99.9%
    with pytest.raises(AssertionError, match="agree on 1997 of 2000"):
        bench_train.check_pair(dict(ours, **{"eval:pred": preds}), ref, "case")


def test_engine_names_round_trip() -> None:
    cases = [("cpu", None, "torch-cpu"), ("cuda", "default", "torch-cuda+compile"),
             ("cuda", "reduce-overhead", "torch-cuda+reduce-overhead")]
    for device, mode, name in cases:
        assert torch_baseline.engine_name(device, mode) == name
        assert torch_baseline.parse_engine(name) == (device, mode)
    colors = [plot.engine_color(name) for name in ("scratch", *(c[2] for c in cases))]
    assert len(set(colors)) == len(colors) and "tab:gray" not in colors, colors


def test_torch_baseline_compiled_model_gives_eager_gradients(tmp_path) -> None:
    """``--compile``: the same parameter names (no ``_orig_mod.``) and gradients as the eager model."""
    rng = np.random.default_rng(0)
    step = tmp_path / "step.npz"
    np.savez(step, x_4=rng.standard_normal((4, 1, 28, 28)).astype(np.float32), y_4=rng.integers(0, 10, 4))
    arrays = {}
    for mode in (None, "default"):
        out, npz = tmp_path / f"{mode}.json", tmp_path / f"{mode}.npz"
        argv = ["--parts", "step", "--step-data", str(step), "--batches", "4", "--repeats", "1", "--warmup", "0",
                "--threads", "1", "--arrays-out", str(npz), "--out", str(out)]
        assert torch_baseline.main(argv + (["--compile", mode] if mode else [])) == 0
        assert json.loads(out.read_text())["engine"] == torch_baseline.engine_name("cpu", mode)
        with np.load(npz) as f:
            arrays[mode] = {k: f[k] for k in f.files}
    assert sorted(arrays["default"]) == sorted(arrays[None]) and "step:4:conv1.weight" in arrays[None]
    for key, value in arrays[None].items():
        check_close(key, arrays["default"][key], value, np.float32)


def test_profile_step_parts_sum_to_a_step(tmp_path) -> None:
    out = tmp_path / "profile.json"
    assert profile_step.main(["--batches", "4", "--threads", "1", "--repeats", "3", "--warmup", "1",
                              "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    (run,) = data["profiles"]
    assert data["perf"]["numba_threads"] == 1 and data["environment"]["machine"]["cores"] >= 1
    names = [r["part"] for r in run["rows"]]
    assert names[0] == "conv1 fwd" and names[-1] == "adam step" and "conv1 bwd" in names and "loss fwd+bwd" in names
    assert all(_positive(r["median_ms"]) and r["min_ms"] <= r["median_ms"] for r in run["rows"])
    assert math.isclose(sum(r["share"] for r in run["rows"]), 1.0, rel_tol=1e-6)
    assert _positive(run["step_ms"]) and run["batch"] == 4
    with pytest.raises(SystemExit, match="profile_step: --batches"):
        profile_step.main(["--batches", "0"])


def test_gpu_script_is_valid_bash_with_valid_options() -> None:
    """benchmarks/gpu_run.sh (run once where a GPU is lent): bash accepts it, and its bench_train and
    scratchnet train options parse (the CUDA parts themselves need the GPU)."""
    import shlex
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_run.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    bench = text.split("-m benchmarks.bench_train", 1)[1].split(">", 1)[0].replace("\\\n", " ")
    argv = [a for a in shlex.split(bench.replace('"$dataset"', "digits").replace('"$out/', '"/tmp/'))]
    args = bench_train.resolve_args(bench_train.build_parser().parse_args(argv))
    assert args.torch_devices == ["cpu", "cuda"] and args.torch_compile == ["default", "reduce-overhead"]
    from scratch.cli import build_parser

    train = text.split('" train', 1)[1].split(">", 1)[0].replace("\\\n", " ")
    parsed = build_parser().parse_args(["train", *shlex.split(train.replace('"$dataset"', "digits")
                                                               .replace('"$out/', '"/tmp/'))])
    assert (parsed.engine, parsed.device, parsed.resident, parsed.compile, parsed.epochs) == (
        "torch", "cuda", True, "reduce-overhead", 10)


@pytest.mark.data
def test_workers_run_by_hand_read_the_same_dataset(data_root, tmp_path) -> None:
    """Without the parent's .npz, the torch worker reads the IDX files with its own reader and the scratch
    worker with scratch.data: from the same weights their test-set predictions agree."""
    import argparse

    inputs = bench_train.write_inputs(str(tmp_path), argparse.Namespace(batches=[8]))
    common = ["--parts", "eval", "--dataset", "mnist", "--data-dir", str(data_root), "--limit", "64",
              "--weights", inputs["weights"], "--threads", "1"]
    preds = {}
    for name, run in (("torch", torch_baseline.main), ("scratch", lambda a: bench_train.main(["--worker", *a]))):
        npz = tmp_path / f"{name}.npz"
        assert run([*common, "--arrays-out", str(npz), "--out", str(tmp_path / f"{name}.json")]) == 0
        with np.load(npz) as f:
            preds[name] = f["eval:pred"]
    assert len(preds["torch"]) == len(preds["scratch"]) == 10_000
    assert np.count_nonzero(preds["torch"] == preds["scratch"]) >= 0.999 * 10_000
    with pytest.raises(SystemExit, match="torch_baseline: missing data file .*train-images"):
        torch_baseline.main([*common[:4], "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.json")])


def test_vector_isa_reads_the_widest_unit() -> None:
    assert peak.vector_isa({"avx2", "fma", "avx512f"}) == "avx512"
    assert peak.vector_isa(["sse4_2", "avx", "avx2", "fma"]) == "avx2+fma"
    assert peak.vector_isa({"sse4_2"}) == "sse4.2" and peak.vector_isa(set()) == "unknown"


def test_bench_train_in_process_mode(tmp_path) -> None:
    out = tmp_path / "inproc.json"
    assert bench_train.main(["--quick", "--threads", "1", "--parts", "step", "--in-process", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    steps = {r["engine"]: r for r in data["steps"]}
    assert set(steps) == {"scratch", "torch-cpu"} and all(r["in_process"] for r in steps.values())
    assert data["processes"] == [] and data["peak"] is None
    assert _positive(steps["scratch"]["ratios"]["torch-cpu"]["median"])


@pytest.mark.parametrize("argv, message", [(["--parts", "step,warp"], "--parts"),
                                           (["--tta", "--tta-datasets", "cifar"], "--tta-datasets"),
                                           (["--rounds", "0"], "--rounds"),
                                           (["--torch-compile", "fastest"], "--torch-compile")])
def test_bench_train_rejects_bad_options(argv, message) -> None:
    with pytest.raises(SystemExit, match=message):
        bench_train.main(argv)


def test_bench_train_missing_data_is_one_line(tmp_path) -> None:
    with pytest.raises(SystemExit, match="bench_train: Fashion-MNIST train split not found"):
        bench_train.main(["--parts", "epoch", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.json")])


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
