"""Classification metrics from their definitions (NumPy only), with scikit-learn's semantics and report text.

For one class ``k`` of the label set, counting over the samples ``i``:

    TP_k = #{i : y_true_i = k and y_pred_i = k}      FP_k = #{i : y_true_i != k and y_pred_i = k}
    FN_k = #{i : y_true_i = k and y_pred_i != k}     TN_k = n - TP_k - FP_k - FN_k

    precision_k = TP_k / (TP_k + FP_k)        recall_k = TP_k / (TP_k + FN_k)     support_k = TP_k + FN_k
    F_beta,k    = (1 + β²) TP_k / ((1 + β²) TP_k + β² FN_k + FP_k)     (F1: β = 1, 2TP / (2TP + FP + FN))
    accuracy    = (1/n) Σ_i [y_true_i = y_pred_i]

A ratio whose denominator is 0 is replaced by ``zero_division`` ("warn": 0 and an
:class:`UndefinedMetricWarning`; 0; 1; ``np.nan``). Averages over the classes of ``labels``:

    "binary"    the scores of ``pos_label`` only (binary targets only)
    "micro"     the formulas applied to ΣTP, ΣFP, ΣFN over the classes
    "macro"     the unweighted mean of the per-class scores (NaN scores skipped)
    "weighted"  the mean weighted by support (NaN scores skipped; all-zero support: unweighted)
    None        the per-class arrays

Labels are ints, bools, integral floats or strings (never a mix of strings and numbers); inputs are 1-D.
The default label set is the sorted union of the labels in ``y_true`` and ``y_pred``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

AVERAGES = (None, "binary", "micro", "macro", "weighted")


class UndefinedMetricWarning(UserWarning):
    """A score had a zero denominator and was set to 0 (``zero_division="warn"``)."""


def _labels_array(op: str, name: str, y: Any) -> np.ndarray:
    """Return a 1-D array of numeric or string labels, or raise a clear ValueError."""
    if hasattr(y, "detach"):
        raise TypeError(f"{op}: {name} is a torch tensor; use torch_impl.metrics or convert it with .numpy()")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{op}: expected {name} to be a 1-D array of labels, got {arr.ndim}-D with shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "O":
        kinds = {isinstance(v, str) for v in arr.tolist()}
        if kinds == {True}:
            arr = arr.astype(str)
        elif all(isinstance(v, (bool, int, float, np.number, np.bool_)) for v in arr.tolist()):
            arr = np.asarray(arr.tolist())
        else:
            raise ValueError(f"{op}: {name} mixes strings and numbers or holds unsupported label objects")
    if arr.dtype.kind not in "biufUS":
        raise ValueError(f"{op}: expected {name} to hold int, bool, float or string labels, got {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
        raise ValueError(f"{op}: {name} holds non-integral floats (continuous targets); labels must be "
                         "classes")
    return arr


def _is_string(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "US"


def _check_targets(op: str, y_true: Any, y_pred: Any) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Validate a pair of label vectors; return (kind "binary"|"multiclass", classes, y_true, y_pred)."""
    yt = _labels_array(op, "y_true", y_true)
    yp = _labels_array(op, "y_pred", y_pred)
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"{op}: y_true and y_pred have different lengths ({yt.shape[0]} vs {yp.shape[0]})")
    if yt.shape[0] == 0:
        raise ValueError(f"{op}: y_true and y_pred are empty; at least 1 sample is required")
    if _is_string(yt) != _is_string(yp):
        raise ValueError(f"{op}: mix of label input types (string and number) in y_true ({yt.dtype}) and "
                         f"y_pred ({yp.dtype})")
    classes = np.unique(np.concatenate([yt, yp]))
    kind = "binary" if classes.shape[0] <= 2 else "multiclass"
    return kind, classes, yt, yp


def _as_label_list(op: str, labels: Any, classes: np.ndarray) -> np.ndarray:
    """``labels`` as a 1-D array comparable with the observed classes.

    Numeric labels of string targets are compared as strings (as sklearn does: ``pos_label=1`` with string
    targets of one class scores the absent class "1"); string labels of numeric targets are an error.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{op}: expected labels to be a 1-D sequence, got shape {arr.shape}")
    if arr.size and _is_string(arr) != _is_string(classes):
        if not _is_string(classes):
            raise ValueError(f"{op}: string labels {labels!r} given for numeric targets")
        arr = arr.astype(str)
    return arr


def _counts(classes: np.ndarray, yt: np.ndarray, yp: np.ndarray,
            labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP_k, TP_k + FP_k (predicted) and TP_k + FN_k (true) for each k in ``labels`` (0 for unseen k).

    int64 counts, except float64 when no sample at all is predicted correctly: sklearn's "pathological case"
    does that, and its report then prints supports as "2.0", so we follow it.
    """
    n_classes = classes.shape[0]
    t = np.searchsorted(classes, yt)
    p = np.searchsorted(classes, yp)
    tp_all = np.bincount(t[t == p], minlength=n_classes)
    pred_all = np.bincount(p, minlength=n_classes)
    true_all = np.bincount(t, minlength=n_classes)
    dtype = np.int64 if np.any(t == p) else np.float64
    if labels.size == 0:
        empty = np.zeros(0, dtype=dtype)
        return empty, empty.copy(), empty.copy()
    idx = np.minimum(np.searchsorted(classes, labels), n_classes - 1)
    found = classes[idx] == labels

    def pick(counts: np.ndarray) -> np.ndarray:
        return np.where(found, counts[idx], 0).astype(dtype)

    return pick(tp_all), pick(pred_all), pick(true_all)


def _zero_division_value(op: str, zero_division: Any) -> float:
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, (int, float, np.number)) and not isinstance(zero_division, bool):
        if np.isnan(zero_division):
            return float("nan")
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(f"{op}: zero_division must be 'warn', 0, 1 or np.nan, got {zero_division!r}")


def _divide(num: np.ndarray, den: np.ndarray, zero_division: Any, zd_value: float, what: str,
            warn: bool) -> np.ndarray:
    """num / den in float64, with ``zd_value`` where den == 0 (and a warning under "warn")."""
    mask = den == 0
    safe = np.where(mask, 1, den).astype(np.float64)
    out = np.asarray(num, dtype=np.float64) / safe
    if np.any(mask):
        out[mask] = zd_value
        if warn and isinstance(zero_division, str):
            warnings.warn(f"{what} is ill-defined and being set to 0.0; use the zero_division parameter to "
                          "control this behaviour", UndefinedMetricWarning, stacklevel=4)
    return out


def _average(scores: np.ndarray, weights: np.ndarray | None) -> float:
    """Mean of ``scores`` skipping NaNs (weighted by ``weights`` when given and not all zero)."""
    if scores.shape[0] == 0:
        return float("nan")
    keep = ~np.isnan(scores)
    if not np.any(keep):
        return float("nan")
    if weights is None:
        return float(np.nanmean(scores))
    s, w = scores[keep], weights[keep].astype(np.float64)
    total = np.sum(w)
    if total == 0:
        return float(np.mean(s))
    return float(np.sum(s * w) / total)


def precision_recall_fscore_support(y_true: Any, y_pred: Any, *, beta: float = 1.0,
                                    labels: Sequence | None = None, pos_label: Any = 1,
                                    average: str | None = None, warn_for: Sequence[str] = (
                                        "precision", "recall", "f-score"),
                                    zero_division: Any = "warn"):
    """Precision, recall, F-beta and support per class or averaged, as sklearn's function of that name.

    Shapes:   y_true (n,), y_pred (n,) -> per class (L,) arrays (``average=None``) or floats; L = len(labels)
    Formulas: see the module docstring (TP, FP, FN per class; micro/macro/weighted/binary averaging).
    Returns:  (precision, recall, f_beta, support); support is None when averaged.
    """
    op = "precision_recall_fscore_support"
    if average not in AVERAGES:
        if average == "samples":
            raise ValueError(f"{op}: average='samples' is only meaningful for multilabel targets, which "
                             f"are not supported; use one of {AVERAGES}")
        raise ValueError(f"{op}: average has to be one of {AVERAGES}, got {average!r}")
    if not isinstance(beta, (int, float, np.number)) or isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"{op}: beta must be a non-negative number, got {beta!r}")
    zd_value = _zero_division_value(op, zero_division)
    kind, classes, yt, yp = _check_targets(op, y_true, y_pred)
    if average == "binary":
        if kind != "binary":
            raise ValueError(f"{op}: target is multiclass but average='binary'; choose another average "
                             "setting, one of [None, 'micro', 'macro', 'weighted']")
        if pos_label not in classes.tolist() and classes.shape[0] >= 2:
            raise ValueError(f"{op}: pos_label={pos_label!r} is not a valid label; it should be one of "
                             f"{classes.tolist()}")
        label_arr = _as_label_list(op, [pos_label], classes)
    else:
        if pos_label not in (None, 1):
            warnings.warn(f"pos_label (set to {pos_label!r}) is ignored when average != 'binary' (got "
                          f"{average!r}); use labels=[pos_label] to score a single class", UserWarning,
                          stacklevel=2)
        label_arr = classes if labels is None else _as_label_list(op, labels, classes)
    tp, pred, true = _counts(classes, yt, yp, label_arr)
    if average == "micro":
        tp, pred, true = (np.sum(a, keepdims=True) for a in (tp, pred, true))

    precision = _divide(tp, pred, zero_division, zd_value, "Precision", "precision" in warn_for)
    recall = _divide(tp, true, zero_division, zd_value, "Recall", "recall" in warn_for)
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        beta2 = beta ** 2
        den = beta2 * true.astype(np.float64) + pred.astype(np.float64)
        f_score = _divide((1 + beta2) * tp.astype(np.float64), den, zero_division, zd_value, "F-score",
                          "f-score" in warn_for)
    if average is None:
        return precision, recall, f_score, true
    weights = true if average == "weighted" else None
    return _average(precision, weights), _average(recall, weights), _average(f_score, weights), None


def precision(y_true: Any, y_pred: Any, *, labels: Sequence | None = None, pos_label: Any = 1,
              average: str | None = "binary", zero_division: Any = "warn"):
    """Precision TP / (TP + FP), per class (``average=None``) or averaged, as sklearn's precision_score."""
    p, _, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                                 average=average, warn_for=("precision",),
                                                 zero_division=zero_division)
    return p


def recall(y_true: Any, y_pred: Any, *, labels: Sequence | None = None, pos_label: Any = 1,
           average: str | None = "binary", zero_division: Any = "warn"):
    """Recall TP / (TP + FN), per class (``average=None``) or averaged, as sklearn's recall_score."""
    _, r, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                                 average=average, warn_for=("recall",),
                                                 zero_division=zero_division)
    return r


def f1_score(y_true: Any, y_pred: Any, *, labels: Sequence | None = None, pos_label: Any = 1,
             average: str | None = "binary", zero_division: Any = "warn"):
    """F1 = 2TP / (2TP + FP + FN), per class (``average=None``) or averaged, as sklearn's f1_score."""
    _, _, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                                 average=average, warn_for=("f-score",),
                                                 zero_division=zero_division)
    return f


def accuracy(y_true: Any, y_pred: Any, *, normalize: bool = True) -> float:
    """Fraction (``normalize=True``) or count of samples with y_pred == y_true (sklearn's accuracy_score)."""
    _, _, yt, yp = _check_targets("accuracy", y_true, y_pred)
    hits = (yt == yp).astype(np.float64)
    return float(np.mean(hits)) if normalize else float(np.sum(hits))


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence | None = None,
                     normalize: str | None = None) -> np.ndarray:
    """Confusion matrix ``cm[i, j]`` = number of samples of true class labels[i] predicted as labels[j].

    Shapes:    y_true (n,), y_pred (n,) -> cm (L, L) int64 (float64 when normalized)
    normalize: "true" divides each row by its sum (recall on the diagonal), "pred" each column (precision
               on the diagonal), "all" by n; 0/0 gives 0. Samples with labels outside ``labels`` are ignored.
    """
    op = "confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{op}: normalize must be one of None, 'true', 'pred', 'all', got {normalize!r}")
    _, classes, yt, yp = _check_targets(op, y_true, y_pred)
    if labels is None:
        label_arr = classes
    else:
        label_arr = _as_label_list(op, labels, classes)
        if label_arr.size == 0:
            raise ValueError(f"{op}: 'labels' should contain at least one label")
        if not np.any(np.isin(label_arr, yt)):
            raise ValueError(f"{op}: at least one label specified must be in y_true")
    n_labels = label_arr.shape[0]
    if labels is None:
        ti, pi = np.searchsorted(classes, yt), np.searchsorted(classes, yp)
    else:
        index = {label: i for i, label in enumerate(label_arr.tolist())}
        ti = np.array([index.get(v, -1) for v in yt.tolist()], dtype=np.int64)
        pi = np.array([index.get(v, -1) for v in yp.tolist()], dtype=np.int64)
    keep = (ti >= 0) & (pi >= 0)
    cm = np.bincount(ti[keep] * n_labels + pi[keep], minlength=n_labels * n_labels)
    cm = cm.reshape(n_labels, n_labels).astype(np.int64)
    if normalize is not None:
        with np.errstate(all="ignore"):
            if normalize == "true":
                cm = cm / cm.sum(axis=1, keepdims=True)
            elif normalize == "pred":
                cm = cm / cm.sum(axis=0, keepdims=True)
            else:
                cm = cm / cm.sum()
        cm = np.nan_to_num(cm)
    if cm.shape == (1, 1):
        warnings.warn("A single label was found in y_true and y_pred; pass all known labels with the labels "
                      "parameter to get the full matrix", UserWarning, stacklevel=2)
    return cm


def classification_report(y_true: Any, y_pred: Any, *, labels: Sequence | None = None,
                          target_names: Sequence[str] | None = None, digits: int = 2,
                          output_dict: bool = False, zero_division: Any = "warn"):
    """Per-class precision, recall, F1 and support plus averages, as text identical to sklearn's report.

    Rows: one per label (named by ``target_names``), then "accuracy" (or "micro avg" when ``labels`` leaves
    out an observed class), "macro avg", "weighted avg". Column width: max(longest name, 12, digits).
    ``output_dict=True`` returns {name: {"precision", "recall", "f1-score", "support"}, "accuracy": float}.
    """
    op = "classification_report"
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"{op}: digits must be a non-negative int, got {digits!r}")
    _, classes, _, _ = _check_targets(op, y_true, y_pred)
    if labels is None:
        label_arr, labels_given = classes, False
    else:
        label_arr, labels_given = _as_label_list(op, labels, classes), True
    if label_arr.size == 0:
        raise ValueError(f"{op}: labels must contain at least one label")
    micro_is_accuracy = not labels_given or set(label_arr.tolist()) >= set(classes.tolist())
    if target_names is not None and len(label_arr) != len(target_names):
        if not labels_given:
            raise ValueError(f"{op}: number of classes, {len(label_arr)}, does not match size of "
                             f"target_names, {len(target_names)}; try specifying the labels parameter")
        warnings.warn(f"labels size, {len(label_arr)}, does not match size of target_names, "
                      f"{len(target_names)}", UserWarning, stacklevel=2)
    if target_names is None:
        target_names = [str(label) for label in label_arr.tolist()]

    headers = ["precision", "recall", "f1-score", "support"]
    p, r, f1, s = precision_recall_fscore_support(y_true, y_pred, labels=label_arr, average=None,
                                                  zero_division=zero_division)
    rows = list(zip(target_names, p, r, f1, s, strict=False))
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        avg_p, avg_r, avg_f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=label_arr, average=average, zero_division=zero_division)
        averages.append((heading, avg_p, avg_r, avg_f1, np.sum(s)))

    if output_dict:
        report: dict[str, Any] = {}
        for name, *scores in rows + averages:
            report[name] = dict(zip(headers, [float(v) for v in scores], strict=True))
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report

    width = max(max(len(name) for name in target_names), len("weighted avg"), digits)
    text = "{:>{width}s} ".format("", width=width) + "".join(f" {h:>9}" for h in headers) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for row in rows:
        text += row_fmt.format(*row, width=width, digits=digits)
    text += "\n"
    for heading, avg_p, avg_r, avg_f1, support in averages:
        if heading == "accuracy":
            text += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
                heading, "", "", avg_f1, support, width=width, digits=digits)
        else:
            text += row_fmt.format(heading, avg_p, avg_r, avg_f1, support, width=width, digits=digits)
    return text
