"""Detection metrics per node, with undefined values kept undefined.

On real nodes a test part often holds one class only (failures cluster in
time): recall, F1 and the AUCs are then undefined. Here they are NaN, with
the reason in a ``notes`` string, never a made-up 0 or 0.5; and
:func:`aggregate_metrics` leaves them out of the means and counts them.

Conventions:

* labels and predictions are 0 (normal) / 1 (anomalous); scores are higher
  for more anomalous windows;
* ``precision`` is undefined when no window is predicted anomalous;
  ``recall`` and ``f1`` are undefined when no window is truly anomalous
  (an F1 of 0 there would only say the node had no failure); ``f1`` is 0,
  not undefined, when anomalies exist and none is found;
* ``roc_auc`` and ``pr_auc`` (average precision, scikit-learn's step-wise
  area) need both classes: with only anomalous windows every scorer gets a
  PR-AUC of 1, which says nothing, so it is NaN too.

Example:
    >>> m = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0, 1, 0, 1])
    >>> m["precision"], m["recall"], m["f1"], m["roc_auc"]
    (0.5, 0.5, 0.5, 0.75)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = [
    "METRIC_COLUMNS",
    "aggregate_metrics",
    "detection_metrics",
    "per_node_metrics",
    "point_adjusted_f1",
]

#: Rate metrics that :func:`aggregate_metrics` summarises (when present).
METRIC_COLUMNS = (
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "f1_point_adjusted",
    "precision_point_adjusted",
    "recall_point_adjusted",
)

_NAN = float("nan")
_COUNT_COLUMNS = ("n", "n_anomalous", "n_flagged", "tp", "fp", "fn", "tn", "n_segments", "n_segments_detected")


def detection_metrics(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray | None,
    y_pred: Sequence[int] | np.ndarray | None,
) -> dict[str, Any]:
    """Computes threshold and ranking metrics of one node's windows.

    Args:
        y_true: True labels, 0 normal / 1 anomalous.
        scores: Anomaly scores (higher = more anomalous), for the AUCs; None
            leaves ``roc_auc`` and ``pr_auc`` undefined.
        y_pred: Predicted labels 0/1, for precision, recall and F1; None
            leaves them undefined.

    Returns:
        A flat dict: ``n``, ``n_anomalous``, ``n_flagged`` (predicted
        anomalous), ``tp``, ``fp``, ``fn``, ``tn`` (ints; the last four
        None without ``y_pred``), ``precision``, ``recall``, ``f1``,
        ``roc_auc``, ``pr_auc`` (floats, NaN when undefined) and ``notes``
        (one ``"metric: reason"`` per undefined metric, ``"; "``-joined;
        empty when all are defined).

    Raises:
        DataError: If lengths differ, labels or predictions are not 0/1, or
            scores are not finite.

    Example:
        >>> m = detection_metrics([0, 0, 0], [0.1, 0.2, 0.3], [0, 0, 1])
        >>> m["roc_auc"], m["notes"]  # doctest: +NORMALIZE_WHITESPACE
        (nan, 'recall: no anomalous window in y_true; f1: no anomalous window in y_true;
        roc_auc: only normal windows in y_true; pr_auc: only normal windows in y_true')
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth = _binary(y_true, "y_true")
    n = int(truth.size)
    positives = int(truth.sum())
    result: dict[str, Any] = {"n": n, "n_anomalous": positives, "n_flagged": None,
                              "tp": None, "fp": None, "fn": None, "tn": None}
    notes: list[str] = []

    def undefined(metric: str, reason: str) -> None:
        result[metric] = _NAN
        notes.append(f"{metric}: {reason}")

    if y_pred is None:
        for metric in ("precision", "recall", "f1"):
            undefined(metric, "no predictions given")
    else:
        predicted = _binary(y_pred, "y_pred", n)
        tp = int((truth & predicted).sum())
        fp = int((~truth & predicted).sum())
        fn = positives - tp
        result.update(n_flagged=tp + fp, tp=tp, fp=fp, fn=fn, tn=n - tp - fp - fn)
        if n == 0:
            for metric in ("precision", "recall", "f1"):
                undefined(metric, "no windows")
        else:
            if tp + fp == 0:
                undefined("precision", "no window predicted anomalous")
            else:
                result["precision"] = tp / (tp + fp)
            if positives == 0:
                undefined("recall", "no anomalous window in y_true")
                undefined("f1", "no anomalous window in y_true")
            else:
                result["recall"] = tp / positives
                result["f1"] = 2 * tp / (2 * tp + fp + fn)

    if scores is None:
        for metric in ("roc_auc", "pr_auc"):
            undefined(metric, "no scores given")
    else:
        values = _finite_scores(scores, n)
        reason = _one_class_reason(n, positives)
        if reason:
            undefined("roc_auc", reason)
            undefined("pr_auc", reason)
        else:
            result["roc_auc"] = float(roc_auc_score(truth, values))
            result["pr_auc"] = float(average_precision_score(truth, values))

    ordered = {key: result[key] for key in ("n", "n_anomalous", "n_flagged", "tp", "fp", "fn", "tn",
                                            "precision", "recall", "f1", "roc_auc", "pr_auc")}
    ordered["notes"] = "; ".join(notes)
    return ordered


def point_adjusted_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> dict[str, Any]:
    """F1 under the point-adjust protocol (optimistic; never report it as F1).

    A true anomalous segment is a maximal run of consecutive anomalous
    windows in array order (pass each node's windows in time order; a gap in
    time does not split a run). If any window of a segment is flagged, every
    window of the segment counts as detected; predictions on normal windows
    are kept as they are. Then precision, recall and F1 are computed as in
    :func:`detection_metrics`.

    The protocol is common in the time-series anomaly literature but
    optimistic: one lucky flag in a long segment earns credit for all of it,
    so random predictions can reach a high score. It is returned under its
    own keys so it can never be mistaken for ``f1``.

    Args:
        y_true: True labels 0/1, in time order.
        y_pred: Predicted labels 0/1, same order.

    Returns:
        ``{"f1_point_adjusted", "precision_point_adjusted",
        "recall_point_adjusted", "n_segments", "n_segments_detected",
        "notes"}``; the rates are NaN when undefined (as in
        :func:`detection_metrics`), with the reason in ``notes``.

    Raises:
        DataError: If lengths differ or values are not 0/1.

    Example:
        >>> point_adjusted_f1([0, 1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 0, 0, 0])["f1_point_adjusted"]
        0.75
    """
    truth = _binary(y_true, "y_true")
    predicted = _binary(y_pred, "y_pred", truth.size)
    adjusted = predicted.copy()
    segments = _segments(truth)
    detected = 0
    for start, stop in segments:
        if predicted[start:stop].any():
            adjusted[start:stop] = True
            detected += 1
    base = detection_metrics(truth.astype(np.int8), None, adjusted.astype(np.int8))
    notes = [note.replace(":", "_point_adjusted:", 1) for note in base["notes"].split("; ")
             if note and not note.startswith(("roc_auc", "pr_auc"))]
    return {
        "f1_point_adjusted": base["f1"],
        "precision_point_adjusted": base["precision"],
        "recall_point_adjusted": base["recall"],
        "n_segments": len(segments),
        "n_segments_detected": detected,
        "notes": "; ".join(notes),
    }


def per_node_metrics(
    results: Mapping[str, tuple[Any, Any, Any]],
    point_adjusted: bool = False,
) -> pd.DataFrame:
    """Computes :func:`detection_metrics` for every node.

    Args:
        results: Node id -> ``(y_true, scores, y_pred)`` (``scores`` or
            ``y_pred`` may be None).
        point_adjusted: Also add the columns of :func:`point_adjusted_f1`
            (``f1_point_adjusted``, ...), for comparison with papers that
            report it.

    Returns:
        One row per node, index ``node`` (in the order of ``results``),
        the columns of :func:`detection_metrics` (``notes`` last).

    Raises:
        DataError: As :func:`detection_metrics`, with the node named.
    """
    rows = []
    for node, (y_true, scores, y_pred) in results.items():
        try:
            row = detection_metrics(y_true, scores, y_pred)
            if point_adjusted:
                adjusted = _point_adjusted_or_undefined(y_true, y_pred)
                notes = [text for text in (row.pop("notes"), adjusted.pop("notes")) if text]
                row.update(adjusted, notes="; ".join(notes))
        except DataError as error:
            raise DataError(f"node {node!r}: {error}") from error
        rows.append({"node": node, **row})
    if not rows:
        return pd.DataFrame(columns=["notes"], index=pd.Index([], name="node"))
    frame = pd.DataFrame(rows).set_index("node")
    # Nullable integers: a count missing for want of predictions stays <NA>
    # instead of turning the whole column into floats.
    counts = [c for c in _COUNT_COLUMNS if c in frame.columns]
    frame[counts] = frame[counts].astype("Int64")
    return frame


def aggregate_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Summarises per-node metrics over nodes, leaving undefined ones out.

    Args:
        df: A frame of :func:`per_node_metrics` (any frame with some of
            :data:`METRIC_COLUMNS`, one row per node).

    Returns:
        One row per metric present (in the order of :data:`METRIC_COLUMNS`),
        columns ``mean``, ``median``, ``std`` (sample standard deviation,
        NaN with fewer than two defined values), ``n_defined`` and
        ``n_undefined`` (nodes where the metric is NaN). Statistics use the
        defined values only.
    """
    metrics = [column for column in METRIC_COLUMNS if column in df.columns]
    rows = []
    for metric in metrics:
        values = pd.to_numeric(df[metric], errors="coerce").astype(float)
        defined = values.dropna()
        rows.append(
            {
                "metric": metric,
                "mean": defined.mean() if len(defined) else _NAN,
                "median": defined.median() if len(defined) else _NAN,
                "std": defined.std(ddof=1) if len(defined) > 1 else _NAN,
                "n_defined": int(len(defined)),
                "n_undefined": int(len(values) - len(defined)),
            }
        )
    columns = ["mean", "median", "std", "n_defined", "n_undefined"]
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="metric"))
    return pd.DataFrame(rows).set_index("metric")[columns]


def _point_adjusted_or_undefined(y_true: Any, y_pred: Any) -> dict[str, Any]:
    if y_pred is not None:
        return point_adjusted_f1(y_true, y_pred)
    rates = ("f1_point_adjusted", "precision_point_adjusted", "recall_point_adjusted")
    return {**dict.fromkeys(rates, _NAN), "n_segments": None, "n_segments_detected": None,
            "notes": "; ".join(f"{rate}: no predictions given" for rate in rates)}


def _binary(values: Any, name: str, length: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {np.shape(values)}")
    if length is not None and array.size != length:
        raise DataError(f"{name} has {array.size} values, y_true has {length}")
    if array.dtype == bool:
        return array
    if array.size and not np.isin(array, (0, 1)).all():
        bad = np.unique(array[~np.isin(array, (0, 1))])[:5]
        raise DataError(f"{name} must hold only 0 and 1, found {bad.tolist()}")
    return array.astype(bool)


def _finite_scores(scores: Any, length: int) -> np.ndarray:
    try:
        values = np.asarray(scores, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise DataError(f"scores must be numbers: {error}") from error
    if values.size != length:
        raise DataError(f"scores has {values.size} values, y_true has {length}")
    if not np.isfinite(values).all():
        raise DataError(f"scores hold {int((~np.isfinite(values)).sum())} NaN or infinite values")
    return values


def _one_class_reason(n: int, positives: int) -> str:
    if n == 0:
        return "no windows"
    if positives == 0:
        return "only normal windows in y_true"
    if positives == n:
        return "only anomalous windows in y_true"
    return ""


def _segments(truth: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([False], truth, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist()))
