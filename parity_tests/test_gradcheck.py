"""scratch.gradcheck: the three-way check passes on the reference ops, and a copy of a reference op with one
line broken is caught by ``check_op`` (and ``--impl``) with the right tensor named and the right hint."""

import importlib.util
import sys
from pathlib import Path

import pytest

import scratch.gradcheck as gc
from scratch.functional import activation, conv, linear, loss, norm, pool, reshape

pytestmark = pytest.mark.backend_independent

FAMILY = {"conv": conv, "pool": pool, "linear": linear, "activation": activation, "loss": loss, "norm": norm,
          "reshape": reshape}

# (op, family, the line as it is in the reference, the broken line, the tensor named, a word of the hint)
BREAKS = [
    ("conv2d", "conv", "dwg[..., u, v] = np.einsum", "dwg[..., kh - 1 - u, kw - 1 - v] = np.einsum", "dw",
     "flipped"),
    ("max_pool2d", "pool", "(value > out)", "(value >= out)", "dx", "LAST of its tied maxima"),
    ("avg_pool2d", "pool", "low, high = (-p, size + p) if count_include_pad else (0, size)",
     "low, high = (-p, size + p)", "dx", "count_include_pad=True"),
    ("linear", "linear", "dw = dout_rows.T @ x_rows", "dw = x_rows.T @ dout_rows", "dw", "transposed"),
    ("leaky_relu", "activation", "return np.where(x > 0, dout, dout * slope)",
     "return np.where(x >= 0, dout, dout * slope)", "dx", "x == 0"),
    ("cross_entropy", "loss", "W = np.where(keep, w[t], 0).sum()", "W = keep.sum()", "out", "Σ w[t_i]"),
    ("mse_loss", "loss", "return (2 / n) * diff * dout", "return (1 / n) * diff * dout", "dinput", "factor"),
    ("batch_norm", "norm", "x3.var(axis=(0, 2))", "x3.var(axis=(0, 2), ddof=1)", "out", "unbiased variance"),
    ("batch_norm", "norm", "dx = (gamma * inv_std / m)[:, None] * (m * dout3 - sum_dout[:, None] - xhat * "
     "sum_dout_xhat[:, None])", "dx = (gamma * inv_std)[:, None] * dout3", "dx", "treated as constants"),
    ("batch_norm", "norm", "running_var[...] = momentum * var * (m / (m - 1))", "running_var[...] = momentum * var",
     "running_var", "biased variance"),
    ("dropout", "norm", ".astype(x.dtype) / x.dtype.type(1 - p)", ".astype(x.dtype)", "out", "scaled by 1/(1-p)"),
    ("dropout", "norm", "return dout if noise is None else dout * noise", "return dout", "dx", "forward's mask"),
    ("dropout2d", "norm", 'feature_shape("dropout2d", x)', "x.shape", "out", "whole channels"),
    ("flatten", "reshape", "start_dim: int = 0,", "start_dim: int = 1,", "out", "start_dim=1"),
]


def broken_module(tmp_path: Path, family: str, old: str, new: str):
    """A copy of the reference module of ``family`` with the one line ``old`` replaced by ``new``."""
    source = Path(FAMILY[family].__file__).read_text()
    assert source.count(old) == 1, f"the reference {family}.py no longer has the line {old!r}: update BREAKS"
    path = tmp_path / f"broken_{family}.py"
    path.write_text(source.replace(old, new))
    spec = importlib.util.spec_from_file_location(f"broken_{family}_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module, path


@pytest.mark.parametrize("op", list(gc.OPS))
def test_reference_passes_check_op(op):
    fwd, bwd = gc.OPS[op].functions("reference")
    assert gc.check_op(op, fwd, bwd, max_examples=8) > 0


@pytest.mark.parametrize("op, family, old, new, tensor, hint", BREAKS, ids=[b[0] for b in BREAKS])
def test_broken_copy_is_caught(tmp_path, op, family, old, new, tensor, hint):
    module, _ = broken_module(tmp_path, family, old, new)
    with pytest.raises(AssertionError) as info:
        gc.check_op(op, getattr(module, f"{op}_forward"), getattr(module, f"{op}_backward"), max_examples=40)
    report = str(info.value)
    assert f"\n{tensor} differs from torch" in report, report
    assert "case:" in report and "worst index" in report or "shape" in report, report
    assert hint in report, report


def test_impl_option_reports_the_shrunk_case(tmp_path, capsys):
    _, path = broken_module(tmp_path, "linear", BREAKS[3][2], BREAKS[3][3])
    rc = gc.main(["linear", "--impl", f"{path}:linear_forward,linear_backward", "--max-examples", "40"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "dw differs from torch" in out and "weight =" in out and "hint:" in out


@pytest.mark.parametrize("op, extra", [("conv2d", ["--padding", "1", "--stride", "2"]), ("max_pool2d", []),
                                       ("avg_pool2d", ["--padding", "1", "--no-count-include-pad"]),
                                       ("linear", ["--no-bias"]), ("softmax", ["--dim", "0"]),
                                       ("cross_entropy", ["--class-weights", "--ignore-index", "1",
                                                          "--label-smoothing", "0.1"]),
                                       ("l1_loss", ["--reduction", "sum"]),
                                       ("batch_norm", ["--size", "3"]), ("batch_norm", ["--eval", "--no-affine"]),
                                       ("dropout", ["-p", "0.25"]), ("dropout2d", ["--size", "2,3"]),
                                       ("flatten", ["--shape", "2,3,4", "--start-dim", "1"])])
def test_three_way_agrees(op, extra, capsys):
    assert gc.main([op, "--backend", "reference", *extra]) == 0
    out = capsys.readouterr().out
    assert "all three agree" in out and "finite diff vs torch" in out and "reference vs torch" in out
    if op == "batch_norm":  # the running statistics are compared after the call, not differentiated
        assert "\nrunning_mean (2,)" in out and "\nrunning_var (2,)" in out
        assert ("\ndw (2,)" in out) == ("--no-affine" not in extra)


def test_dropout_finite_differences_reuse_the_mask():
    """Every call of the forward draws the case's mask again (a fresh seeded generator), so the finite
    differences see the same mask, and torch gets it too."""
    case = gc.make_case("dropout", shape=(4, 5), seed=3)
    mask = case.arrays["mask"]
    assert 0 < mask.sum() < mask.size
    fwd, _ = gc.OPS["dropout"].functions()
    outs = [fwd(*case.args())[0] for _ in range(2)]
    assert (outs[0] == outs[1]).all() and ((outs[0] != 0) == (mask != 0)).all()
    assert gc.gradcheck(case, rooms=("reference",)).ok


def test_three_way_numba_and_structured_png(tmp_path, capsys):
    rc = gc.main(["conv2d", "--structured", "--padding", "1", "--png", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "numba vs torch" in out and "structured inputs" in out
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["conv2d_db.png", "conv2d_dw.png", "conv2d_dx.png"]


def test_ties_skip_finite_differences(capsys):
    assert gc.main(["max_pool2d", "--ties", "--kernel-size", "2", "--stride", "1", "--backend", "reference"]) == 0
    assert "finite differences skipped" in capsys.readouterr().out


def test_three_way_flags_a_broken_backward(tmp_path):
    module, _ = broken_module(tmp_path, "pool", BREAKS[1][2], BREAKS[1][3])
    case = gc.make_case("max_pool2d", ties=True, kernel_size=2, stride=1)
    result = gc.gradcheck(case, rooms=("reference",), finite_diff=False,
                          impl=(module.max_pool2d_forward, module.max_pool2d_backward))
    assert not result.ok
    assert "LAST of its tied maxima" in result.report()
