"""``scratchnet explain OP``: a tiny worked example of an op, printed for a reader.

Small integer arrays (so every product can be checked by hand), then: the input, the weights, the
output; one output element's sum written out term by term; one input-gradient element with every term of
its backward sum (and, for conv2d and linear, one weight-gradient element); then the equivalent torch
call. Every written-out sum is checked against the reference op (:mod:`scratch.functional`), and against
torch when it is installed. ``--png FILE`` draws which input pixels feed the chosen output pixel and
which output gradients feed the chosen input pixel (the backward's receptive field).

Ops: conv2d, max_pool2d, avg_pool2d, sum_pool2d, linear.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scratch.functional import conv, linear, pool

__all__ = ["Term", "Example", "build_example", "main"]

OPS = ("conv2d", "max_pool2d", "avg_pool2d", "sum_pool2d", "linear")


@dataclass
class Term:
    """One term of a sum: its symbolic text (``w[0,0,1,2]·xp[0,0,1,3]``), its value, the input cell it
    reads (None for a bias or a padded zero) and the output cell whose gradient it carries (backward)."""

    text: str
    value: float
    numbers: str
    source: tuple[int, ...] | None = None


@dataclass
class Example:
    """A worked example: arrays, the chosen elements and their written-out sums."""

    op: str
    arrays: dict[str, np.ndarray]
    options: dict[str, Any]
    out: np.ndarray
    dout: np.ndarray
    grads: dict[str, np.ndarray]
    out_at: tuple[int, ...]
    in_at: tuple[int, ...]
    sums: list[tuple[str, str, list[Term], float]] = field(default_factory=list)  # (lhs, formula, terms, value)
    padded: np.ndarray | None = None
    pad: tuple[int, int] = (0, 0)


def _g(v: float) -> str:
    return f"{v:g}" if float(v) == round(float(v), 6) else f"{v:.4g}"


def _p(v: float) -> str:
    """A factor of a written-out product: negative numbers in parentheses."""
    return f"({_g(v)})" if v < 0 else _g(v)


def _wrap(parts: list[str], indent: str, width: int = 110, sep: str = " + ", head: str = "",
          tail: str = "") -> list[str]:
    """``= a + b + ...`` (or ``= max(a, b, ...)``) broken into lines of at most ``width`` characters."""
    lines, line = [], f"{indent} = {head}"
    for k, part in enumerate(parts):
        piece = part if k == 0 else f"{sep}{part}"
        if len(line) + len(piece) > width and k:
            lines.append(line + sep.rstrip())
            line = f"{indent}   {' ' * len(head)}{part}"
        else:
            line += piece
    return [*lines, line + tail]


def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), separator=" ", formatter={"float_kind": _g})


def _idx(t: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in t)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[-1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def build_example(op: str, *, seed: int = 0, size: tuple[int, int] = (4, 4), channels: int = 1,
                  out_channels: int = 1, kernel_size: Any = 3, stride: Any = None, padding: Any = None,
                  dilation: Any = 1, count_include_pad: bool = True, features: tuple[int, int] = (3, 2),
                  batch: int = 2, out_at: tuple[int, ...] | None = None,
                  in_at: tuple[int, ...] | None = None) -> Example:
    """Compute a worked example of ``op`` with the reference (integer arrays from ``seed``)."""
    if op not in OPS:
        raise ValueError(f"explain: unknown op {op!r}; expected one of {', '.join(OPS)}")
    rng = np.random.default_rng(seed)
    if op == "linear":
        return _linear(rng, features, batch, out_at, in_at)
    h, w = size
    x = rng.integers(-2, 4, (1, channels, h, w)).astype(np.float64)
    k, d = _pair(kernel_size), _pair(dilation)
    if op == "conv2d":
        p = _pair(1 if padding is None else padding)
        s = _pair(1 if stride is None else stride)
        weight = rng.integers(-1, 3, (out_channels, channels, *k)).astype(np.float64)
        bias = np.arange(1, out_channels + 1, dtype=np.float64)
        out, cache = conv.conv2d_forward(x, weight, bias, s, p, d)
        arrays, options = {"x": x, "weight": weight, "bias": bias}, dict(stride=s, padding=p, dilation=d)
    else:
        p = _pair(0 if padding is None else padding)
        s = k if stride is None else _pair(stride)
        options = dict(kernel_size=k, stride=s, padding=p)
        if op == "max_pool2d":
            options["dilation"] = d
        if op == "avg_pool2d":
            options["count_include_pad"] = count_include_pad
        out, cache = getattr(pool, f"{op}_forward")(x, **options)
        arrays = {"x": x}
    dout = (rng.permutation(out.size) + 1).reshape(out.shape).astype(np.float64)  # distinct 1..size
    grads = dict(zip(("dx", "dw", "db"), _tuple(getattr(conv if op == "conv2d" else pool, f"{op}_backward")(
        dout, cache)), strict=False))
    o_at = out_at if out_at is not None else (0, 0, min(1, out.shape[2] - 1), 0)
    i_at = in_at if in_at is not None else (0, 0, min(1, h - 1), min(1, w - 1))
    o_at = _full(o_at, out.shape)
    if op == "max_pool2d" and in_at is None:  # the chosen window's argmax, so its gradient is not 0
        i_at = (*o_at[:2], *divmod(int(cache.indices[o_at]), w))
    i_at = _full(i_at, x.shape)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    ex = Example(op, arrays, options, out, dout, grads, o_at, i_at, padded=xp, pad=p)
    if op == "conv2d":
        _conv_sums(ex, s, d, weight, bias, xp)
    else:
        _pool_sums(ex, cache, s, d if op == "max_pool2d" else (1, 1), k, xp)
    return ex


def _tuple(v: Any) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _full(at: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """A spatial (i, j) becomes (0, 0, i, j); every index is checked against ``shape``."""
    at = tuple(at)
    at = (0,) * (len(shape) - len(at)) + at
    if any(not 0 <= a < n for a, n in zip(at, shape, strict=True)):
        raise ValueError(f"explain: index {at} is outside the shape {shape}")
    return at


def _conv_sums(ex: Example, s, d, weight, bias, xp) -> None:
    n, o, i, j = ex.out_at
    p = ex.pad
    terms = [Term(f"b[{o}]", bias[o], _g(bias[o]))]
    for c in range(weight.shape[1]):
        for u in range(weight.shape[2]):
            for v in range(weight.shape[3]):
                r, q = s[0] * i + d[0] * u, s[1] * j + d[1] * v
                inside = 0 <= r - p[0] < ex.arrays["x"].shape[2] and 0 <= q - p[1] < ex.arrays["x"].shape[3]
                terms.append(Term(f"w[{o},{c},{u},{v}]·xp[{n},{c},{r},{q}]", weight[o, c, u, v] * xp[n, c, r, q],
                                  f"{_p(weight[o, c, u, v])}·{_p(xp[n, c, r, q])}" + ("" if inside else "(pad)"),
                                  (n, c, r - p[0], q - p[1]) if inside else None))
    ex.sums.append((f"out[{_idx(ex.out_at)}]", "b[o] + Σ_{c,u,v} w[o,c,u,v] · xp[n,c, s·i+d·u, s·j+d·v]", terms,
                    float(ex.out[ex.out_at])))
    n, c, pi, pj = ex.in_at
    terms = []
    h_out, w_out = ex.out.shape[2:]
    for oo in range(weight.shape[0]):
        for u in range(weight.shape[2]):
            for v in range(weight.shape[3]):
                ri, rj = pi + p[0] - d[0] * u, pj + p[1] - d[1] * v
                if ri % s[0] or rj % s[1]:
                    continue
                ii, jj = ri // s[0], rj // s[1]
                if 0 <= ii < h_out and 0 <= jj < w_out:
                    terms.append(Term(f"w[{oo},{c},{u},{v}]·dout[{n},{oo},{ii},{jj}]",
                                      weight[oo, c, u, v] * ex.dout[n, oo, ii, jj],
                                      f"{_p(weight[oo, c, u, v])}·{_p(ex.dout[n, oo, ii, jj])}", (n, oo, ii, jj)))
    ex.sums.append((f"dx[{_idx(ex.in_at)}]", "Σ w[o,c,u,v] · dout[n,o,i,j] over every (o,u,v) and output (i,j) "
                    "with s·i + d·u - p = row, s·j + d·v - p = column", terms, float(ex.grads["dx"][ex.in_at])))
    o, c, u, v = ex.out_at[1], ex.in_at[1], 0, 0
    terms = []
    for nn in range(ex.out.shape[0]):
        for ii in range(h_out):
            for jj in range(w_out):
                r, q = s[0] * ii + d[0] * u, s[1] * jj + d[1] * v
                dv, xv = ex.dout[nn, o, ii, jj], xp[nn, c, r, q]
                terms.append(Term(f"dout[{nn},{o},{ii},{jj}]·xp[{nn},{c},{r},{q}]", dv * xv, f"{_p(dv)}·{_p(xv)}"))
    ex.sums.append((f"dw[{o},{c},{u},{v}]", "Σ_{n,i,j} dout[n,o,i,j] · xp[n,c, s·i+d·u, s·j+d·v]", terms,
                    float(ex.grads["dw"][o, c, u, v])))


def _pool_sums(ex: Example, cache, s, d, k, xp) -> None:
    n, c, i, j = ex.out_at
    p, (h, w) = ex.pad, ex.arrays["x"].shape[2:]
    taps = [(u, v, s[0] * i + d[0] * u, s[1] * j + d[1] * v) for u in range(k[0]) for v in range(k[1])]
    taps = [t for t in taps if t[2] < xp.shape[2] and t[3] < xp.shape[3]]
    src = lambda r, q: (n, c, r - p[0], q - p[1]) if 0 <= r - p[0] < h and 0 <= q - p[1] < w else None
    if ex.op == "max_pool2d":
        flat = int(cache.indices[ex.out_at])
        win = (flat // w, flat % w)
        terms = [Term(f"xp[{n},{c},{r},{q}]", xp[n, c, r, q], _g(xp[n, c, r, q]) if src(r, q) else "pad",
                      src(r, q)) for _, _, r, q in taps if src(r, q)]
        ex.sums.append((f"out[{_idx(ex.out_at)}]", f"max over the window; the argmax (the first maximum in "
                        f"row-major order, torch's rule for ties) is x[{n},{c},{win[0]},{win[1]}]", terms,
                        float(ex.out[ex.out_at])))
        target = ex.in_at[2] * w + ex.in_at[3]
        terms = [Term(f"dout[{_idx(idx)}]", ex.dout[idx], _g(ex.dout[idx]), idx)
                 for idx in np.ndindex(*ex.out.shape) if idx[:2] == ex.in_at[:2] and cache.indices[idx] == target]
        ex.sums.append((f"dx[{_idx(ex.in_at)}]", "Σ dout[n,c,i,j] over the windows whose argmax is this pixel",
                        terms, float(ex.grads["dx"][ex.in_at])))
        return
    D = cache.divisor
    terms = [Term(f"xp[{n},{c},{r},{q}]/{_g(D[i, j])}", xp[n, c, r, q] / D[i, j],
                  f"{_p(xp[n, c, r, q])}/{_g(D[i, j])}" + ("" if src(r, q) else "(pad)"), src(r, q))
             for _, _, r, q in taps]
    ex.sums.append((f"out[{_idx(ex.out_at)}]", "(1/D[i,j]) Σ_{u,v} xp[n,c, s·i+u, s·j+v], D = the window's "
                    f"divisor ({'count_include_pad' if ex.options.get('count_include_pad', True) else 'real cells'}"
                    ")" if ex.op == "avg_pool2d" else "Σ_{u,v} xp[n,c, s·i+u, s·j+v]", terms, float(ex.out[ex.out_at])))
    n, c, pi, pj = ex.in_at
    terms = []
    for ii in range(ex.out.shape[2]):
        for jj in range(ex.out.shape[3]):
            if 0 <= pi + p[0] - s[0] * ii < k[0] and 0 <= pj + p[1] - s[1] * jj < k[1]:
                terms.append(Term(f"dout[{n},{c},{ii},{jj}]/{_g(D[ii, jj])}", ex.dout[n, c, ii, jj] / D[ii, jj],
                                  f"{_g(ex.dout[n, c, ii, jj])}/{_g(D[ii, jj])}", (n, c, ii, jj)))
    ex.sums.append((f"dx[{_idx(ex.in_at)}]", "Σ dout[n,c,i,j] / D[i,j] over the windows that contain this pixel",
                    terms, float(ex.grads["dx"][ex.in_at])))


def _linear(rng, features, batch, out_at, in_at) -> Example:
    n_in, n_out = features
    x = rng.integers(-2, 4, (batch, n_in)).astype(np.float64)
    weight = rng.integers(-1, 3, (n_out, n_in)).astype(np.float64)
    bias = np.arange(1, n_out + 1, dtype=np.float64)
    out, cache = linear.linear_forward(x, weight, bias)
    dout = (rng.permutation(out.size) + 1).reshape(out.shape).astype(np.float64)
    dx, dw, db = linear.linear_backward(dout, cache)
    o_at, i_at = _full(out_at or (0, 0), out.shape), _full(in_at or (0, 0), x.shape)
    ex = Example("linear", {"x": x, "weight": weight, "bias": bias}, {}, out, dout, {"dx": dx, "dw": dw, "db": db},
                 o_at, i_at)
    r, o = o_at
    terms = [Term(f"b[{o}]", bias[o], _g(bias[o]))] + [
        Term(f"x[{r},{i}]·w[{o},{i}]", x[r, i] * weight[o, i], f"{_p(x[r, i])}·{_p(weight[o, i])}", (r, i))
        for i in range(n_in)]
    ex.sums.append((f"out[{r},{o}]", "b[o] + Σ_i x[r,i] · w[o,i]", terms, float(out[r, o])))
    r, i = i_at
    terms = [Term(f"dout[{r},{oo}]·w[{oo},{i}]", dout[r, oo] * weight[oo, i], f"{_p(dout[r, oo])}·{_p(weight[oo, i])}",
                  (r, oo)) for oo in range(n_out)]
    ex.sums.append((f"dx[{r},{i}]", "Σ_o dout[r,o] · w[o,i]", terms, float(dx[r, i])))
    terms = [Term(f"dout[{rr},{o}]·x[{rr},{i}]", dout[rr, o] * x[rr, i], f"{_p(dout[rr, o])}·{_p(x[rr, i])}")
             for rr in range(batch)]
    ex.sums.append((f"dw[{o},{i}]", "Σ_rows dout[r,o] · x[r,i]", terms, float(dw[o, i])))
    return ex


def torch_code(ex: Example) -> str:
    """The equivalent torch call, runnable as printed."""
    lines = ["import torch", "import torch.nn.functional as F", ""]
    for name, a in ex.arrays.items():
        grad = ", requires_grad=True" if name in ("x", "weight") else ""
        lines.append(f"{name} = torch.tensor({a.tolist()}, dtype=torch.float64{grad})")
    opts = ", ".join(f"{k}={v!r}" for k, v in ex.options.items())
    call = {"conv2d": f"F.conv2d(x, weight, bias, {opts})", "linear": "F.linear(x, weight, bias)",
            "max_pool2d": f"F.max_pool2d(x, {opts})", "avg_pool2d": f"F.avg_pool2d(x, {opts})",
            "sum_pool2d": f"F.avg_pool2d(x, {opts}, divisor_override=1)"}[ex.op]
    lines += [f"out = {call}", f"out.backward(torch.tensor({ex.dout.tolist()}, dtype=torch.float64))",
              f"print(out[{_idx(ex.out_at)}].item(), x.grad[{_idx(ex.in_at)}].item())"
              f"  # {_g(ex.out[ex.out_at])} {_g(ex.grads['dx'][ex.in_at])}"]
    return "\n".join(lines)


def _torch_check(ex: Example) -> str:
    try:
        import torch
    except ImportError:
        return "(torch is not installed: pip install 'scratchnet[torch]' to run the check above)"
    scope: dict[str, Any] = {}
    code = torch_code(ex).replace("print(", "result = (")
    exec(code, scope)  # the printed code itself, so what is shown is what is checked
    out, dx = scope["result"]
    ok = np.isclose(out, ex.out[ex.out_at]) and np.isclose(dx, ex.grads["dx"][ex.in_at])
    del torch
    return f"torch gives out {_g(out)}, dx {_g(dx)}: {'the same' if ok else 'DIFFERENT'}"


def render(ex: Example) -> str:
    """The printed worked example."""
    lines = [f"explain {ex.op}  " + " ".join(f"{k}={v!r}" for k, v in ex.options.items()), ""]
    for name, a in ex.arrays.items():
        lines += [f"{name} {a.shape} =", _fmt(a), ""]
    if ex.padded is not None and any(ex.pad):
        lines += [f"xp: x zero-padded by {ex.pad} {ex.padded.shape} =", _fmt(ex.padded), ""]
    lines += [f"out {ex.out.shape} =", _fmt(ex.out), ""]
    lines += [f"upstream gradient dout {ex.dout.shape} (distinct values, so each term is traceable) =",
              _fmt(ex.dout), ""]
    for lhs, formula, terms, value in ex.sums:
        total = sum(t.value for t in terms)
        lines.append(f"{lhs} = {formula}")
        pad = " " * len(lhs)
        is_max = lhs.startswith("out") and ex.op == "max_pool2d"
        how = dict(sep=", ", head="max(", tail=")") if is_max else {}
        lines += _wrap([t.text for t in terms] or ["0 (no term)"], pad, **how)
        if terms:
            lines += _wrap([t.numbers for t in terms], pad, **how)
        result = max((t.value for t in terms), default=0.0) if lhs.startswith("out") and ex.op == "max_pool2d" \
            else total
        lines.append(f"{pad} = {_g(result)}    (the reference computes {_g(value)})")
        lines.append("")
    lines += ["the same in torch:", torch_code(ex), "", _torch_check(ex)]
    return "\n".join(lines)


def write_png(ex: Example, path: str | Path) -> Path:
    """Two rows: the input cells feeding out[chosen] beside the output; the output gradients feeding
    dx[chosen] beside dx. Cells are annotated with their values; the highlighted ones carry the sum."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    two_d = ex.op == "linear"
    plane = (lambda a, at: a) if two_d else (lambda a, at: a[at[0], at[1]])
    fwd_terms = [t.source for t in ex.sums[0][2] if t.source is not None]
    bwd_terms = [t.source for t in ex.sums[1][2] if t.source is not None]
    panels = [
        (plane(ex.arrays["x"], ex.in_at if two_d else fwd_terms[0] if fwd_terms else ex.in_at),
         [s[-2:] for s in fwd_terms], f"x: the cells that feed {ex.sums[0][0]}", "tab:orange"),
        (plane(ex.out, ex.out_at), [ex.out_at[-2:]], f"out: {ex.sums[0][0]} = {_g(ex.sums[0][3])}", "tab:orange"),
        (plane(ex.dout, bwd_terms[0] if bwd_terms else ex.out_at), [s[-2:] for s in bwd_terms],
         f"dout: the entries that reach {ex.sums[1][0]}", "tab:blue"),
        (plane(ex.grads["dx"], ex.in_at), [ex.in_at[-2:]], f"dx: {ex.sums[1][0]} = {_g(ex.sums[1][3])}", "tab:blue"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 8))
    for ax, (a, cells, title, colour) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(a, cmap="Greys", alpha=0.35, interpolation="nearest")
        for (r, c), v in np.ndenumerate(a):
            ax.text(c, r, _g(v), ha="center", va="center", fontsize=9)
        for r, c in cells:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=True, alpha=0.45, color=colour))
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(a.shape[1]))
        ax.set_yticks(range(a.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    opts = " ".join(f"{k}={v!r}" for k, v in ex.options.items())
    fig.suptitle(f"explain {ex.op} {opts}\nforward (orange): which inputs feed one output; backward (blue): which "
                 "output gradients feed one input", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_png(fig, path)
    plt.close(fig)
    return path


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _int_or_pair(text: str) -> int | tuple[int, int]:
    v = _ints(text)
    if len(v) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected an int or H,W, got {text!r}")
    return v[0] if len(v) == 1 else v


def _write_png(fig, path: Path) -> None:
    """The figure as PNG, written atomically (temporary file, fsync, rename), as scratch.plots does."""
    from scratch.serialization import atomic_write

    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=110)


def build_parser() -> argparse.ArgumentParser:
    """The ``scratchnet explain`` parser."""
    p = argparse.ArgumentParser(prog="scratchnet explain", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Print a tiny worked example of an op: one output element's sum and "
                                            "one gradient element's sum written out term by term, and the torch "
                                            "call that gives the same numbers.")
    p.add_argument("op", choices=OPS, help="the op to explain")
    p.add_argument("--size", type=_int_or_pair, default=(4, 4), help="H,W of the input (conv2d, pooling)")
    p.add_argument("--channels", type=int, default=1, help="C_in (conv2d, pooling)")
    p.add_argument("--out-channels", type=int, default=1, help="C_out (conv2d)")
    p.add_argument("--kernel-size", type=_int_or_pair, default=3, help="kH,kW (conv2d, pooling)")
    p.add_argument("--stride", type=_int_or_pair, default=None, help="None: 1 for conv2d, the kernel for pooling")
    p.add_argument("--padding", type=_int_or_pair, default=None, help="None: 1 for conv2d, 0 for pooling")
    p.add_argument("--dilation", type=_int_or_pair, default=1, help="conv2d, max_pool2d (1 means none)")
    p.add_argument("--no-count-include-pad", action="store_true", help="avg_pool2d: count_include_pad=False")
    p.add_argument("--features", type=_ints, default=(3, 2), help="linear: in_features,out_features")
    p.add_argument("--batch", type=int, default=2, help="linear: rows of x")
    p.add_argument("--out-at", type=_ints, default=None,
                   help="the output element to write out: i,j (batch 0, channel 0) or all indices")
    p.add_argument("--in-at", type=_ints, default=None, help="the input element whose gradient to write out")
    p.add_argument("--seed", type=int, default=0, help="seed of the small integer arrays")
    p.add_argument("--png", default=None, metavar="FILE", help="also draw the forward and backward receptive fields")
    return p


def main(argv: list[str] | None = None) -> int:
    """``scratchnet explain``."""
    args = build_parser().parse_args(argv)
    size = args.size if isinstance(args.size, tuple) else (args.size, args.size)
    try:
        ex = build_example(args.op, seed=args.seed, size=size, channels=args.channels,
                           out_channels=args.out_channels, kernel_size=args.kernel_size, stride=args.stride,
                           padding=args.padding, dilation=args.dilation,
                           count_include_pad=not args.no_count_include_pad, features=tuple(args.features),
                           batch=args.batch, out_at=args.out_at, in_at=args.in_at)
    except (ValueError, TypeError) as e:
        print(f"scratchnet explain: {e}", file=sys.stderr)
        return 2
    print(render(ex))
    if args.png:
        print(f"wrote {write_png(ex, args.png)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
