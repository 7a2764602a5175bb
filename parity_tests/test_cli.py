"""The ``scratchnet`` command line as a user meets it: one-line errors (status 2) before any data is loaded,
``--help`` and ``--version``, run folders that are never overwritten or mixed, resume checks, the backend
switch and perf policy in the output JSON, clean stops on SIGINT/SIGTERM, and the scratch engine without
torch. Training runs use the reference backend on scikit-learn's digits (no data folder, no compiling)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scratch.data
from scratch import cli
from scratch.cli import main

pytestmark = pytest.mark.backend_independent

REPO = Path(__file__).resolve().parents[1]
TINY = ["train", "--backend", "reference", "--model", "simple-nn", "--dataset", "digits", "--epochs", "2",
        "--limit-train", "300", "--no-progress"]


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if any dataset is loaded."""
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(scratch.data, "load_dataset", refuse)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


@pytest.mark.parametrize("extra, match", [
    (["--epochs", "1.5"], "argument --epochs: expected a whole number >= 1, got '1.5'"),
    (["--limit-train", "0"], "argument --limit-train: expected a whole number >= 1, got 0"),
    (["--limit-train", "-5"], "argument --limit-train: expected a whole number >= 1, got -5"),
    (["--momentum", "-1"], "argument --momentum: expected a finite number in [0, 1), got -1"),
    (["--rotation", "nan"], "argument --rotation: expected a finite number"),
    (["--val-fraction", "1"], "argument --val-fraction: expected a finite number in (0, 1)"),
    (["--lr", "0"], "argument --lr"),
    (["--backend", "cuda"], "argument --backend: invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(no_data, capsys, tmp_path, extra, match):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), *extra])
    assert exit_info.value.code == 2
    assert match in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_user_mistakes_exit_2_with_one_line_before_loading_data(no_data, capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["--resume", "--out", str(tmp_path / "r")], "--resume: no checkpoint at"),
        (["--out", str(a_file)], "is a file, not a folder"),
        (["--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")],
         "MNIST train split not found"),
        (["--dataset", "mnist", "--data-dir", str(tmp_path / "MNIST"), "--out", str(tmp_path / "r")],
         "looks like a dataset folder itself"),
        (["--device", "cuda", "--out", str(tmp_path / "r")], "--device applies to --engine torch only"),
        (["--resident", "--compile", "--out", str(tmp_path / "r")], "--resident and --compile apply to"),
        (["--resume", "--overwrite", "--out", str(tmp_path / "r")], "contradict"),
    ]
    (tmp_path / "MNIST").mkdir()
    for extra, match in cases:
        assert main(["train", *extra]) == 2, extra
        assert match in _one_line(capsys.readouterr().err), extra
    assert not (tmp_path / "r").exists(), "a refused run leaves no folder behind"


def test_device_cuda_without_cuda(no_data, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(["train", "--engine", "torch", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "CUDA is not available" in _one_line(capsys.readouterr().err)


def test_help_shows_every_default_and_no_markup(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    for needed in ("(default: scratch)", "(default: lenet5)", "(default: 10)", "(default: 64)", "(default: 0.001)",
                   "(default: 0)", "(default: float32)", "(default: runs/latest)", "--overwrite", "--backend"):
        assert needed in text, needed
    parser = cli.build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    for action in train._actions:
        assert action.help, f"{action.option_strings} has no help text"
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("scratchnet 0.")


def test_tiny_run_records_backend_and_perf_and_protects_its_folder(tmp_path, capsys):
    out = tmp_path / "run"
    old_umask = os.umask(0o027)
    try:
        assert main([*TINY, "--out", str(out), "--dtype", "float64"]) == 0
    finally:
        os.umask(old_umask)
    history = json.loads((out / "history.json").read_text())
    run = history["run"]
    assert run["backend"] == "reference" and run["engine"] == "scratch" and run["dtype"] == "float64"
    assert run["perf"]["configured"] is True and "numba_threads" in run["perf"]
    assert len(history["train_acc"]) == len(history["val_acc"]) == 2
    for name in ("history.json", "checkpoint.npz", "model.npz", "curves.png", "confusion_matrix.png",
                 "confusion_matrix_normalized.png", "feature_maps.png", "misclassified.png"):  # simple-nn: no conv1
        assert (out / name).stat().st_mode & 0o777 == 0o640, name
    capsys.readouterr()

    assert main([*TINY, "--out", str(out)]) == 2  # a second run into the same folder
    assert "already holds a run" in _one_line(capsys.readouterr().err)
    assert main(["train", "--engine", "torch", "--model", "simple-nn", "--dataset", "digits", "--resume",
                 "--out", str(out)]) == 2  # another engine never resumes or mixes into it
    assert "holds a scratch run" in capsys.readouterr().err
    assert main([*TINY, "--out", str(out), "--resume", "--optimizer", "sgd", "--seed", "3"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "--optimizer adam -> sgd" in err and "--seed 0 -> 3" in err
    assert main([*TINY, "--out", str(out), "--resume"]) == 2  # dtype float64 is part of the run
    assert "--dtype float64 -> float32" in capsys.readouterr().err

    (out / ".history.json.dead.tmp").write_bytes(b"half a file")
    assert main([*TINY, "--out", str(out), "--resume", "--dtype", "float64", "--epochs", "3", "--lr", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert "--epochs 2 -> 3 (applied)" in printed and "--lr 0.001 -> 0.01 (applied)" in printed
    assert "removed 1 temporary file" in printed and not (out / ".history.json.dead.tmp").exists()
    resumed = json.loads((out / "history.json").read_text())
    assert resumed["epoch"] == [1, 2, 3] and resumed["lr"][2] == 0.01
    assert resumed["train_loss"][:2] == history["train_loss"]

    assert main([*TINY, "--out", str(out), "--overwrite", "--backend", "numba", "--epochs", "1"]) == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]


def test_one_run_at_a_time_per_folder(tmp_path, capsys):
    out = tmp_path / "run"
    with cli.run_folder(str(out), engine="scratch", resume=False, overwrite=False):
        assert main([*TINY, "--out", str(out)]) == 2
        assert f"in use by another scratchnet run (pid {os.getpid()})" in _one_line(capsys.readouterr().err)


def test_empty_validation_split_is_refused_before_training(tmp_path, capsys):
    assert main([*TINY, "--limit-train", "5", "--out", str(tmp_path / "r")]) == 2
    assert "0 for validation" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


def test_corrupt_checkpoint_on_resume_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out), "--epochs", "1"]) == 0
    (out / "checkpoint.npz").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert main([*TINY, "--out", str(out), "--resume"]) == 1
    assert str(out / "checkpoint.npz") in _one_line(capsys.readouterr().err)


def test_compare_records_the_backend(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "c.json"
    assert main(["compare", "--backend", "reference", "--dataset", "digits", "--model", "simple-nn", "--steps", "3",
                 "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["backend"] == "reference" and result["perf"]["configured"] is True
    assert result["max_loss_diff"] <= 1e-9


def _cli_process(args: list[str], tmp_path: Path, block_torch: bool = False) -> subprocess.Popen:
    code = "import sys\n"
    if block_torch:  # import torch / torchvision raise ModuleNotFoundError, as where they are not installed
        code += ("class _NoTorch:\n"
                 "    def find_spec(self, name, path=None, target=None):\n"
                 "        if name.partition('.')[0] in ('torch', 'torchvision'):\n"
                 "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
                 "sys.meta_path.insert(0, _NoTorch())\n")
    code += "from scratch.cli import main\ncode = main(sys.argv[1:])\n"
    if block_torch:
        code += "assert 'torch' not in sys.modules, 'torch was imported'\n"
    code += "sys.exit(code)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_at_a_step_boundary_and_says_how_to_resume(tmp_path, signum, status):
    out = tmp_path / "run"
    args = [*TINY, "--epochs", "100000", "--limit-train", "1000", "--out", str(out)]
    proc = _cli_process(args, tmp_path)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr, stderr
    name = signal.Signals(signum).name
    assert f"{name} received: stopped at epoch" in stderr
    assert f"{out / 'checkpoint.npz'} holds epoch" in stderr and "--resume" in stderr
    from scratch.checkpoint import load_checkpoint

    assert load_checkpoint(out / "checkpoint.npz")["epoch"] >= 1


def test_scratch_engine_runs_without_torch(tmp_path):
    proc = _cli_process([*TINY, "--out", str(tmp_path / "run")], tmp_path, block_torch=True)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert (tmp_path / "run" / "curves.png").exists() and (tmp_path / "run" / "model.npz").exists()
    proc = _cli_process(["train", "--engine", "torch", "--out", str(tmp_path / "t")], tmp_path, block_torch=True)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "needs PyTorch, which is not installed: pip install 'scratchnet[torch]'" in _one_line(stderr)


def test_learner_tools_run_from_the_cli(tmp_path, capsys):
    """gradcheck, explain and visualize are scratchnet commands with their own parsers."""
    assert main(["gradcheck", "relu"]) == 0
    assert "all three agree" in capsys.readouterr().out
    assert main(["explain", "avg_pool2d"]) == 0
    assert "torch" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--engine", "scratch", "--model", "simple-cnn", "--dataset", "digits", "--epochs", "1",
                 "--no-progress", "--out", str(run)]) == 0
    pictures = ("conv1_filters.png", "feature_maps.png", "misclassified.png")
    assert all((run / f).stat().st_size > 10_000 for f in pictures)
    capsys.readouterr()
    assert main(["visualize", str(run), "--out", str(tmp_path / "pictures"), "--count", "4"]) == 0
    assert (tmp_path / "pictures" / "misclassified.png").is_file()
    with pytest.raises(SystemExit) as err:
        main(["gradcheck", "--help"])
    assert err.value.code == 0 and "scratchnet gradcheck" in capsys.readouterr().out


def test_compile_notice_looks_where_numba_caches(tmp_path, monkeypatch):
    from scratch.cli import _kernels_cached

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not _kernels_cached()  # an empty cache folder: the first run compiles
    (tmp_path / "scratch" / "kernels").mkdir(parents=True)
    (tmp_path / "scratch" / "kernels" / "conv._conv2d_forward_kernel-1.py311.nbi").write_bytes(b"")
    assert _kernels_cached()
