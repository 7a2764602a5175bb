"""Strategies for the classification metrics: pairs of label vectors and the options of each metric.

Label pools are ints or strings (some names longer than sklearn's 12-character "weighted avg" heading, so
the report's width rule is exercised); ``y_true`` and ``y_pred`` draw from independent non-empty subsets of
the pool, so classes absent from one side, a single class and binary targets all occur.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

INT_POOL = [0, 1, 2, 3, 5, 7]
STR_POOL = ["ant", "bee", "cat", "dog", "eel", "a_very_long_class_name"]
UNSEEN = {"int": 9, "str": "zebra"}
AVERAGES = [None, "binary", "micro", "macro", "weighted"]
ZERO_DIVISIONS = ["warn", 0, 1, 0.0, 1.0, math.nan]


@st.composite
def label_pairs(draw, max_size: int = 25) -> dict:
    """A case {"kind", "pool", "y_true", "y_pred"}: two equally long label lists of one kind."""
    kind = draw(st.sampled_from(["int", "str"]))
    base = INT_POOL if kind == "int" else STR_POOL
    pool = draw(st.lists(st.sampled_from(base), min_size=1, max_size=5, unique=True))
    side_true = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    side_pred = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    n = draw(st.integers(1, max_size))
    y_true = draw(st.lists(st.sampled_from(side_true), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.sampled_from(side_pred), min_size=n, max_size=n))
    return {"kind": kind, "pool": pool, "y_true": y_true, "y_pred": y_pred}


@st.composite
def label_subsets(draw, case: dict, allow_empty: bool) -> list | None:
    """None, or a list of distinct labels from the pool plus possibly one label seen on neither side."""
    if draw(st.booleans()):
        return None
    candidates = case["pool"] + [UNSEEN[case["kind"]]]
    return draw(st.lists(st.sampled_from(candidates), min_size=0 if allow_empty else 1,
                         max_size=len(candidates), unique=True))


@st.composite
def prf_cases(draw) -> dict:
    """Label vectors plus labels, average, pos_label and zero_division for precision/recall/F1."""
    case = draw(label_pairs())
    case["labels"] = draw(label_subsets(case, allow_empty=True))
    case["average"] = draw(st.sampled_from(AVERAGES))
    case["pos_label"] = draw(st.sampled_from([1] + case["pool"]))
    case["zero_division"] = draw(st.sampled_from(ZERO_DIVISIONS))
    return case


@st.composite
def confusion_cases(draw) -> dict:
    """Label vectors plus labels (never empty) and a normalize mode."""
    case = draw(label_pairs())
    case["labels"] = draw(label_subsets(case, allow_empty=False))
    case["normalize"] = draw(st.sampled_from([None, "true", "pred", "all"]))
    return case


@st.composite
def report_cases(draw) -> dict:
    """Label vectors plus labels, target_names (matching in length), digits and zero_division."""
    case = draw(label_pairs())
    case["labels"] = draw(label_subsets(case, allow_empty=False))
    case["digits"] = draw(st.integers(0, 14))
    case["zero_division"] = draw(st.sampled_from(ZERO_DIVISIONS))
    n_names = len(case["labels"]) if case["labels"] is not None else len(set(case["y_true"] + case["y_pred"]))
    names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=16)
    case["target_names"] = draw(st.none() | st.lists(names, min_size=n_names, max_size=n_names))
    return case


def describe(case: dict) -> str:
    """The case as one line for failure messages."""
    return ", ".join(f"{k}={v!r}" for k, v in case.items() if k != "pool")
