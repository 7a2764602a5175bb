"""Argument checks and normalization shared by both tiers of the conv family (identical errors on both).

:func:`conv2d_args` validates a conv2d call and resolves its geometry, :func:`dout_like` checks an
upstream gradient, :func:`pad2d_args` validates a pad2d call. Integer pairs follow torch's
expansion rule for F.conv2d: an int, or a sequence of one int (expanded) or two ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from scratch.functional._checks import check_ndim, check_same_dtype, check_shape, float_array, to_int

PaddingArg = int | tuple[int, int] | tuple[int] | str
PAD_MODES = ("constant", "reflect", "replicate", "circular")


class Conv2dGeometry(NamedTuple):
    """A conv2d call's resolved arguments: per-axis stride and dilation, (top, bottom, left, right) zero
    padding, groups, the output's (H_out, W_out), and whether x came unbatched (C_in, H, W)."""

    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]
    groups: int
    out_hw: tuple[int, int]
    unbatched: bool


def conv_pair(op: str, name: str, value: object, minimum: int | None = None) -> tuple[int, int]:
    """``value`` as ``(h, w)``: an int, or a sequence of 1 int (used for both axes, as torch) or 2 ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) not in (1, 2):
            raise ValueError(f"{op}: expected {name} to be an int or a tuple of 1 or 2 ints, got {value!r}")
        h = to_int(op, name, value[0], minimum)
        return (h, to_int(op, name, value[-1], minimum))
    v = to_int(op, name, value, minimum)
    return (v, v)


def resolve_padding(op: str, padding: PaddingArg, stride: tuple[int, int], dilation: tuple[int, int],
                    kernel: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding; 'same' puts the odd extra row/column at the bottom/right."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, "
                                 f"got stride={stride}")
            (dil_h, dil_w), (kh, kw) = dilation, kernel
            th, tw = dil_h * (kh - 1), dil_w * (kw - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{op}: invalid padding string {padding!r}, expected 'valid', 'same', "
                         f"an int or a pair of ints")
    ph, pw = conv_pair(op, "padding", padding, 0)
    return (ph, ph, pw, pw)


def conv2d_args(x: object, weight: object, bias: object, stride: object, padding: PaddingArg,
                dilation: object, groups: object
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Conv2dGeometry]:
    """Validate a conv2d call: (x as 4-D, weight, bias or None, the geometry), or a clear error."""
    op = "conv2d"
    x = float_array(op, "x", x)
    weight = float_array(op, "weight", weight)
    check_ndim(op, "x", x, (3, 4), "(N, C_in, H, W) or unbatched (C_in, H, W)")
    check_ndim(op, "weight", weight, 4, "(C_out, C_in/groups, kH, kW)")
    check_same_dtype(op, "x", x, "weight", weight)
    c_out, c_in_g, kh, kw = weight.shape
    if 0 in weight.shape:
        raise ValueError(f"conv2d: expected weight (C_out, C_in/groups, kH, kW) without empty dimensions, "
                         f"got shape {weight.shape}")
    if 0 in x.shape[-2:]:
        raise ValueError(f"conv2d: expected x with H, W >= 1, got shape {x.shape}")
    if bias is not None:
        bias = float_array(op, "bias", bias)
        check_same_dtype(op, "x", x, "bias", bias)
        check_shape(op, "bias", bias, (c_out,))
    groups = to_int(op, "groups", groups, 1)
    stride = conv_pair(op, "stride", stride, 1)
    dilation = conv_pair(op, "dilation", dilation, 1)
    pads = resolve_padding(op, padding, stride, dilation, (kh, kw))
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    c_in, h, w = x.shape[1:]
    if c_in % groups:
        raise ValueError(f"conv2d: groups={groups} must divide C_in, got x of shape {x.shape}")
    if c_out % groups:
        raise ValueError(f"conv2d: groups={groups} must divide C_out, got weight of shape {weight.shape}")
    if c_in != c_in_g * groups:
        raise ValueError(f"conv2d: expected x to have C_in = weight.shape[1]·groups = {c_in_g * groups} "
                         f"channels (weight {weight.shape}, groups={groups}), got {c_in}")
    pt, pb, pl, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if ekh > hp or ekw > wp:
        raise ValueError(f"conv2d: dilated kernel ({ekh} x {ekw}) is larger than the padded input "
                         f"({hp} x {wp})")
    out_hw = ((hp - ekh) // stride[0] + 1, (wp - ekw) // stride[1] + 1)
    return x, weight, bias, Conv2dGeometry(stride, dilation, pads, groups, out_hw, unbatched)


def dout_like(op: str, dout: object, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Validate a backward's dout: a float array of x's dtype and of ``shape``."""
    dout = float_array(op, "dout", dout)
    check_same_dtype(op, "x", x, "dout", dout)
    check_shape(op, "dout", dout, shape)
    return dout


def pad2d_args(x: object, pad: object, mode: object) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
    """Validate a pad2d call as torch.nn.functional.pad's for the last two dims: (x, (top, bottom, left,
    right), mode). reflect needs each pad < the size of its axis, circular each pad <= it."""
    op = "pad2d"
    x = float_array(op, "x", x)
    check_ndim(op, "x", x, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"pad2d: expected mode to be one of {', '.join(PAD_MODES)}, got {mode!r}")
    if not isinstance(pad, Sequence) or isinstance(pad, str) or len(pad) != 4:
        raise ValueError(f"pad2d: expected pad to be (left, right, top, bottom), got {pad!r}")
    pl, pr, pt, pb = (to_int(op, "pad", p, 0) for p in pad)
    h, w = x.shape[-2:]
    for name, p, size in (("top", pt, h), ("bottom", pb, h), ("left", pl, w), ("right", pr, w)):
        if mode == "reflect" and p >= size or mode == "circular" and p > size:
            bound = "less than" if mode == "reflect" else "at most"
            raise ValueError(f"pad2d: {mode} padding must be {bound} the size of its axis, got {name} "
                             f"pad {p} for x of shape {x.shape}")
        if mode != "constant" and p and size == 0:
            raise ValueError(f"pad2d: {mode} padding needs a non-empty axis, got x of shape {x.shape}")
    return x, (pt, pb, pl, pr), mode
