"""scratch.metrics against scikit-learn: the same numbers (warnings aside) and the same report text.

Every drawn case is run through sklearn first (its UndefinedMetricWarning silenced); when sklearn raises a
ValueError ours must too, otherwise every returned value must agree (arrays through assert_parity: same
shape, dtype, NaN pattern and values to float64 round-off; report text character for character).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from hypothesis import example, given

import torch_impl.metrics as torch_metrics
from parity_tests.parity import assert_parity
from parity_tests.strategies.metrics import confusion_cases, describe, label_pairs, prf_cases, report_cases
from scratch import metrics

pytestmark = pytest.mark.backend_independent


def _call(fn, *args, **kwargs):
    """fn(...) with warnings silenced: (result, None), or (None, error) when it raises a ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except ValueError as err:
            return None, err


def _assert_same(name: str, ours, ref, case: str) -> None:
    """None, floats and float arrays through the one parity helper (floats as 0-D arrays); counts exactly."""
    if ref is None:
        assert ours is None, f"{name}: expected None, got {ours!r} | case: {case}"
        return
    if isinstance(ref, float):
        assert isinstance(ours, float), f"{name}: expected a float, got {type(ours).__name__} | case: {case}"
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ref.dtype.kind in "iub":
        assert ours.dtype == ref.dtype, f"{name}: dtype {ours.dtype} vs sklearn {ref.dtype} | case: {case}"
        np.testing.assert_array_equal(ours, ref, err_msg=f"{name} differs from sklearn | case: {case}")
        return
    assert_parity(name, ours, ref, case)


def _assert_same_or_both_raise(name: str, ours_fn, ref_fn, args, kwargs, case: str):
    ref, ref_err = _call(ref_fn, *args, **kwargs)
    if ref_err is not None:
        with pytest.raises(ValueError):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours_fn(*args, **kwargs)
        return None
    ours, ours_err = _call(ours_fn, *args, **kwargs)
    assert ours_err is None, f"{name}: raised {ours_err!r} where sklearn returned {ref!r} | case: {case}"
    return ours, ref


@given(case=prf_cases())
@example(case={"kind": "int", "pool": [3], "y_true": [3, 3], "y_pred": [3, 3], "labels": None,
               "average": "binary", "pos_label": 1, "zero_division": "warn"})
@example(case={"kind": "int", "pool": [0, 1, 2], "y_true": [0, 1], "y_pred": [2, 1], "labels": [],
               "average": "macro", "pos_label": 1, "zero_division": 1})
@example(case={"kind": "str", "pool": ["ant", "bee"], "y_true": ["ant", "bee"], "y_pred": ["ant", "ant"],
               "labels": None, "average": "binary", "pos_label": "bee", "zero_division": math.nan})
@example(case={"kind": "int", "pool": [0, 1, 2], "y_true": [0, 0, 1], "y_pred": [2, 2, 2],
               "labels": [1, 9], "average": "weighted", "pos_label": 1, "zero_division": math.nan})
@example(case={"kind": "int", "pool": [0, 1, 2], "y_true": [0, 1, 2], "y_pred": [0, 1, 1],
               "labels": None, "average": "binary", "pos_label": 1, "zero_division": 0})
def test_precision_recall_f1_match_sklearn(case):
    desc = describe(case)
    kwargs = {k: case[k] for k in ("labels", "pos_label", "average", "zero_division")}
    args = (case["y_true"], case["y_pred"])
    pairs = [("precision", metrics.precision, skm.precision_score),
             ("recall", metrics.recall, skm.recall_score),
             ("f1_score", metrics.f1_score, skm.f1_score)]
    for name, ours_fn, ref_fn in pairs:
        got = _assert_same_or_both_raise(name, ours_fn, ref_fn, args, kwargs, desc)
        if got is not None:
            _assert_same(name, *got, desc)
    got = _assert_same_or_both_raise("prfs", metrics.precision_recall_fscore_support,
                                     skm.precision_recall_fscore_support, args, kwargs, desc)
    if got is not None:
        for part, ours, ref in zip(("precision", "recall", "f_score", "support"), *got, strict=True):
            _assert_same(f"prfs.{part}", ours, ref, desc)


@given(case=label_pairs())
def test_accuracy_matches_sklearn(case):
    desc = describe(case)
    for normalize in (True, False):
        ours = metrics.accuracy(case["y_true"], case["y_pred"], normalize=normalize)
        ref = skm.accuracy_score(case["y_true"], case["y_pred"], normalize=normalize)
        _assert_same(f"accuracy(normalize={normalize})", ours, ref, desc)


@given(case=confusion_cases())
@example(case={"kind": "int", "pool": [1, 2], "y_true": [1, 1], "y_pred": [2, 2], "labels": [9, 1],
               "normalize": "pred"})
@example(case={"kind": "str", "pool": ["cat"], "y_true": ["cat"], "y_pred": ["cat"], "labels": None,
               "normalize": None})
def test_confusion_matrix_matches_sklearn(case):
    desc = describe(case)
    got = _assert_same_or_both_raise("confusion_matrix", metrics.confusion_matrix, skm.confusion_matrix,
                                     (case["y_true"], case["y_pred"]),
                                     {"labels": case["labels"], "normalize": case["normalize"]}, desc)
    if got is not None:
        _assert_same("confusion_matrix", *got, desc)


def _assert_same_report(ours: dict, ref: dict, case: str) -> None:
    assert list(ours) == list(ref), f"report keys {list(ours)} vs sklearn {list(ref)} | case: {case}"
    for key, value in ref.items():
        if isinstance(value, dict):
            assert list(ours[key]) == list(value), f"report[{key!r}] keys differ | case: {case}"
            for col, v in value.items():
                _assert_same(f"report[{key!r}][{col!r}]", ours[key][col], v, case)
        else:
            _assert_same(f"report[{key!r}]", ours[key], value, case)


@given(case=report_cases())
@example(case={"kind": "str", "pool": ["ant", "a_very_long_class_name"], "y_true": ["ant", "ant"],
               "y_pred": ["a_very_long_class_name", "ant"], "labels": None, "digits": 2,
               "zero_division": "warn", "target_names": None})
@example(case={"kind": "int", "pool": [0, 1, 2], "y_true": [0, 1, 2, 2], "y_pred": [0, 2, 2, 1],
               "labels": [2, 0], "digits": 14, "zero_division": math.nan, "target_names": ["two", "zero"]})
@example(case={"kind": "int", "pool": [0, 1], "y_true": [0, 0], "y_pred": [1, 1], "labels": [1, 9],
               "digits": 0, "zero_division": 1, "target_names": None})
def test_classification_report_matches_sklearn(case):
    desc = describe(case)
    args = (case["y_true"], case["y_pred"])
    kwargs = {k: case[k] for k in ("labels", "target_names", "digits", "zero_division")}
    got = _assert_same_or_both_raise("classification_report", metrics.classification_report,
                                     skm.classification_report, args, kwargs, desc)
    if got is None:
        return
    ours, ref = got
    assert ours == ref, f"report text differs | case: {desc}\n--- ours ---\n{ours}--- sklearn ---\n{ref}"
    ours_dict, _ = _call(metrics.classification_report, *args, output_dict=True, **kwargs)
    ref_dict, _ = _call(skm.classification_report, *args, output_dict=True, **kwargs)
    _assert_same_report(ours_dict, ref_dict, desc)


def test_classification_report_target_names_mismatch():
    with pytest.raises(ValueError, match="does not match size of target_names"):
        metrics.classification_report([0, 1, 2], [0, 1, 1], target_names=["a", "b"])
    with pytest.warns(UserWarning, match="does not match size of target_names"):
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        ours = metrics.classification_report([0, 1, 2], [0, 1, 1], labels=[0, 1, 2], target_names=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.classification_report([0, 1, 2], [0, 1, 1], labels=[0, 1, 2], target_names=["a", "b"])
    assert ours == ref


def test_zero_division_warn_gives_zero_and_warns():
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision is ill-defined"):
        p = metrics.precision([0, 1, 2], [0, 0, 0], average=None)
    np.testing.assert_array_equal(p, [1 / 3, 0.0, 0.0])


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.accuracy([0, 1, 2], [0, 1]), "different lengths"),
    (lambda: metrics.f1_score([0, 1], [0, 1, 1], average="macro"), "different lengths"),
    (lambda: metrics.accuracy([], []), "empty"),
    (lambda: metrics.precision(np.array([], dtype=int), np.array([], dtype=int)), "empty"),
    (lambda: metrics.accuracy(np.zeros((2, 2), dtype=int), np.zeros((2, 2), dtype=int)), "1-D"),
    (lambda: metrics.confusion_matrix([[0, 1]], [[0, 1]]), "1-D"),
    (lambda: metrics.recall([0, 1], [0, 1], average="average"), "average has to be one of"),
    (lambda: metrics.recall([0, 1], [0, 1], average="samples"), "multilabel"),
    (lambda: metrics.f1_score([0, 1, 2], [0, 1, 2]), "multiclass but average='binary'"),
    (lambda: metrics.f1_score([3, 4], [3, 4]), "pos_label=1 is not a valid label"),
    (lambda: metrics.precision([0, 1], [0, 1], zero_division="nan"), "zero_division"),
    (lambda: metrics.accuracy(["a", "b"], [0, 1]), "mix of label input types"),
    (lambda: metrics.accuracy([0.5, 1.0], [0.0, 1.0]), "continuous"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 1], normalize="rows"), "normalize must be"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 1], labels=[]), "at least one label"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 1], labels=[5]), "must be in y_true"),
    (lambda: metrics.classification_report([0, 1], [0, 1], digits=-1), "digits"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(case=label_pairs())
def test_torch_impl_metrics_take_tensors(case):
    if case["kind"] == "str":
        return
    desc = describe(case)
    yt, yp = torch.tensor(case["y_true"]), torch.tensor(case["y_pred"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same("torch accuracy", torch_metrics.accuracy(yt, yp),
                     metrics.accuracy(case["y_true"], case["y_pred"]), desc)
        _assert_same("torch f1 macro", torch_metrics.f1_score(yt, yp, average="macro"),
                     metrics.f1_score(case["y_true"], case["y_pred"], average="macro"), desc)
        _assert_same("torch confusion_matrix", torch_metrics.confusion_matrix(yt, yp),
                     metrics.confusion_matrix(case["y_true"], case["y_pred"]), desc)
        assert torch_metrics.classification_report(yt, yp) == metrics.classification_report(
            case["y_true"], case["y_pred"])
