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
  PR-AUC of 1, which says nothing, so it is NaN too;
* ``mcc`` (Matthews correlation coefficient) is undefined when a row or a
  column of the confusion matrix is empty (scikit-learn returns 0 there);
* the event-wise metrics (:func:`event_metrics`) count failure *episodes*
  (runs of anomalous windows) and *alarms* (runs of flagged windows) instead
  of windows; with a time index, a gap in time breaks a run, and the lead
  time of each detected episode is measured (:func:`episode_table`);
* ``vus_pr`` (:func:`vus_pr`) is the VUS-PR of Paparrizos et al. (PVLDB
  2022): a range-based PR-AUC averaged over label buffers of 0 to 4 windows.

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
from sklearn.metrics import average_precision_score, roc_auc_score

from .errors import ConfigError, DataError

__all__ = [
    "METRIC_COLUMNS",
    "VUS_MAX_BUFFER",
    "aggregate_metrics",
    "detection_metrics",
    "episode_table",
    "event_metrics",
    "per_node_metrics",
    "point_adjusted_f1",
    "vus_pr",
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
    "mcc",
    "vus_pr",
    "event_precision",
    "event_recall",
    "event_f1",
    "lead_time_median_min",
)

#: Largest label buffer of :func:`vus_pr` by default, in windows: buffers of
#: 0 to 4 windows, the largest reaching 2 windows (30 minutes at 15-minute
#: windows) before and after each episode, an hour in all.
VUS_MAX_BUFFER = 4

_NAN = float("nan")
_COUNT_COLUMNS = ("n", "n_anomalous", "n_flagged", "tp", "fp", "fn", "tn", "n_segments", "n_segments_detected",
                  "n_episodes", "n_episodes_detected", "n_alarms", "n_alarms_true")
_EVENT_RATES = ("event_precision", "event_recall", "event_f1")
_LEAD = "lead_time_median_min"
_NS_PER_MINUTE = 60_000_000_000


def detection_metrics(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray | None,
    y_pred: Sequence[int] | np.ndarray | None,
    index: Any = None,
    *,
    max_lead: Any = None,
    vus_max_buffer: int = VUS_MAX_BUFFER,
) -> dict[str, Any]:
    """Computes threshold, ranking and event metrics of one node's windows.

    Args:
        y_true: True labels, 0 normal / 1 anomalous, in time order.
        scores: Anomaly scores (higher = more anomalous), for the AUCs and
            ``vus_pr``; None leaves them undefined.
        y_pred: Predicted labels 0/1, for precision, recall, F1, MCC and the
            event metrics; None leaves them undefined.
        index: Optional window start times (anything
            :class:`pandas.DatetimeIndex` accepts), same length, strictly
            increasing. With it, a gap in time longer than the median step
            breaks episodes and alarms (see :func:`event_metrics`), buffers of
            ``vus_pr`` stop at gaps, and ``lead_time_median_min`` is added.
        max_lead: Passed to :func:`event_metrics` (lead time only).
        vus_max_buffer: Largest label buffer of :func:`vus_pr`, in windows.

    Returns:
        A flat dict: ``n``, ``n_anomalous``, ``n_flagged`` (predicted
        anomalous), ``tp``, ``fp``, ``fn``, ``tn`` (ints; the last four
        None without ``y_pred``), ``precision``, ``recall``, ``f1``,
        ``roc_auc``, ``pr_auc``, ``mcc``, ``vus_pr`` (floats, NaN when
        undefined), the keys of :func:`event_metrics` (``n_episodes``,
        ``n_episodes_detected``, ``n_alarms``, ``n_alarms_true``,
        ``event_precision``, ``event_recall``, ``event_f1``, and
        ``lead_time_median_min`` only when ``index`` is given; the counts
        other than ``n_episodes`` are None without ``y_pred``) and
        ``notes`` (one ``"metric: reason"`` per undefined metric,
        ``"; "``-joined; empty when all are defined).

    Raises:
        DataError: If lengths differ, labels or predictions are not 0/1,
            scores are not finite, or the index is not increasing times.

    Example:
        >>> m = detection_metrics([0, 0, 0], [0.1, 0.2, 0.3], [0, 0, 1])
        >>> m["roc_auc"], m["notes"]  # doctest: +NORMALIZE_WHITESPACE
        (nan, 'recall: no anomalous window in y_true; f1: no anomalous window in y_true;
        roc_auc: only normal windows in y_true; pr_auc: only normal windows in y_true;
        mcc: no anomalous window in y_true; vus_pr: only normal windows in y_true;
        event_recall: no anomalous window in y_true; event_f1: no anomalous window in y_true')
    """

    truth = _binary(y_true, "y_true")
    n = int(truth.size)
    positives = int(truth.sum())
    times, breaks = (None, None) if index is None else _time_index(index, n)
    lead_ns, max_buffer = _max_lead_ns(max_lead), _max_buffer(vus_max_buffer)
    result: dict[str, Any] = {"n": n, "n_anomalous": positives, "n_flagged": None,
                              "tp": None, "fp": None, "fn": None, "tn": None}
    notes: list[str] = []

    def undefined(metric: str, reason: str) -> None:
        result[metric] = _NAN
        notes.append(f"{metric}: {reason}")

    predicted = None
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

    values = None
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

    if predicted is None:
        undefined("mcc", "no predictions given")
    else:
        value, reason = _mcc(result["tp"], result["fp"], result["fn"], result["tn"])
        if reason:
            undefined("mcc", reason)
        else:
            result["mcc"] = value

    if values is None:
        undefined("vus_pr", "no scores given")
    else:
        reason = _one_class_reason(n, positives)
        if reason:
            undefined("vus_pr", reason)
        else:
            result["vus_pr"] = float(np.mean(_range_pr_aucs(truth, values, max_buffer, breaks)))

    if predicted is None:
        events = _events_without_predictions(truth, breaks, with_lead=index is not None)
    else:
        events = _event_metrics(truth, predicted, breaks, times, lead_ns)
    notes.extend(events.pop("_notes"))

    ordered = {key: result[key] for key in ("n", "n_anomalous", "n_flagged", "tp", "fp", "fn", "tn",
                                            "precision", "recall", "f1", "roc_auc", "pr_auc", "mcc", "vus_pr")}
    ordered.update(events)
    ordered["notes"] = "; ".join(notes)
    return ordered


def event_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    index: Any = None,
    max_lead: Any = None,
) -> dict[str, Any]:
    """Event-wise precision, recall and F1, and lead time, of one node.

    An *episode* is a maximal run of consecutive anomalous windows of
    ``y_true``; an *alarm* is a maximal run of consecutive flagged windows
    of ``y_pred``. Consecutive means adjacent in the arrays (pass each
    node's windows in time order); with ``index``, a step in time longer
    than the median step also breaks a run, since a blocked split leaves
    holes between its test blocks (one missing window is such a gap too).

    * episode recall = episodes with at least one flagged window / episodes;
    * event precision = alarms that share at least one window with an
      episode / alarms;
    * event F1 = their harmonic mean; 0 when episodes exist and none is
      detected (also when nothing is flagged), undefined without episodes,
      as ``f1`` in :func:`detection_metrics`.

    One long failure and one short one weigh the same, and a detector that
    flags one window per episode scores as well as one that flags all of
    them: read these next to the window-wise metrics, not instead of them.

    Lead time (only with ``index``): for each detected episode, the alarms
    sharing a window with it are considered, leaving out one that starts
    more than ``max_lead`` before the episode's first window; the lead is
    the time of the episode's first window minus the start time of the
    earliest of them. An alarm that begins before the episode and runs into
    it counts; one that ends before the episode does not. Positive: flagged
    before the first anomalous window (before Nagios' first CRITICAL); 0:
    flagged at it; negative: flagged only later inside the episode (a
    delay). ``lead_time_median_min`` is the median in minutes over detected
    episodes that have such an alarm (:func:`episode_table` lists them all).

    Args:
        y_true: True labels 0/1, in time order.
        y_pred: Predicted labels 0/1, same order.
        index: Optional window start times, same length, strictly
            increasing (anything :class:`pandas.DatetimeIndex` accepts).
        max_lead: Longest lead credited (a :class:`pandas.Timedelta` or
            anything it accepts, such as ``"2h"``); None: no limit. Affects
            only the lead time, not which episodes count as detected.

    Returns:
        ``{"n_episodes", "n_episodes_detected", "n_alarms",
        "n_alarms_true", "event_precision", "event_recall", "event_f1",
        "notes"}``, plus ``"lead_time_median_min"`` (before ``notes``) when
        ``index`` is given; rates NaN when undefined, with the reason in
        ``notes``.

    Raises:
        DataError: If lengths differ, values are not 0/1, or the index is
            not strictly increasing times.
        ConfigError: If ``max_lead`` is negative or not a duration.

    Example:
        >>> m = event_metrics([0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1],
        ...                   [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1])
        >>> m["n_episodes"], m["n_episodes_detected"], m["n_alarms"], m["n_alarms_true"]
        (3, 2, 4, 2)
        >>> round(m["event_recall"], 3), m["event_precision"], round(m["event_f1"], 3)
        (0.667, 0.5, 0.571)
    """
    truth = _binary(y_true, "y_true")
    predicted = _binary(y_pred, "y_pred", truth.size)
    times, breaks = (None, None) if index is None else _time_index(index, truth.size)
    result = _event_metrics(truth, predicted, breaks, times, _max_lead_ns(max_lead))
    result["notes"] = "; ".join(result.pop("_notes"))
    return result


def episode_table(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    index: Any,
    max_lead: Any = None,
) -> pd.DataFrame:
    """One row per episode of a node, with its detection and lead time.

    Episodes, alarms, detection and lead are those of :func:`event_metrics`
    (runs broken by gaps in ``index``).

    Args:
        y_true: True labels 0/1, in time order.
        y_pred: Predicted labels 0/1, same order.
        index: Window start times, same length, strictly increasing.
        max_lead: As in :func:`event_metrics`.

    Returns:
        Columns ``start`` and ``end`` (start times of the episode's first
        and last windows), ``n_windows``, ``detected`` (any window flagged),
        ``first_flag`` (start time of the alarm the lead is measured from;
        NaT when not detected, or when its only alarm began more than
        ``max_lead`` before it) and ``lead_minutes`` (NaN likewise).

    Raises:
        DataError: As :func:`event_metrics`.
        ConfigError: As :func:`event_metrics`.

    Example:
        >>> import pandas as pd
        >>> times = pd.date_range("2022-01-01", periods=6, freq="15min")
        >>> episode_table([0, 0, 0, 1, 1, 0], [0, 1, 1, 1, 0, 0], times)[["n_windows", "lead_minutes"]]
           n_windows  lead_minutes
        0          2          30.0
    """
    truth = _binary(y_true, "y_true")
    predicted = _binary(y_pred, "y_pred", truth.size)
    times, breaks = _time_index(index, truth.size)
    core = _event_core(truth, predicted, breaks)
    first, lead = _leads(core, times.asi8, _max_lead_ns(max_lead))
    flagged = first >= 0
    first_flag = pd.Series(pd.NaT, index=range(first.size), dtype=times.dtype)
    if flagged.any():
        first_flag[flagged] = times[first[flagged]]
    return pd.DataFrame({
        "start": times[core["ep_starts"]],
        "end": times[core["ep_stops"] - 1],
        "n_windows": (core["ep_stops"] - core["ep_starts"]).astype(np.int64),
        "detected": core["detected"],
        "first_flag": first_flag.to_numpy(),
        "lead_minutes": lead / _NS_PER_MINUTE,
    })


def vus_pr(
    y_true: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    max_buffer: int = VUS_MAX_BUFFER,
    index: Any = None,
    thresholds: int | None = None,
) -> float:
    """VUS-PR: range-based PR-AUC averaged over label buffers (Paparrizos et al.).

    The volume under the precision-recall surface of Paparrizos, Boniol,
    Palpanas, Tsay, Elmore and Franklin, "Volume Under the Surface: a New
    Accuracy Evaluation Measure for Time-Series Anomaly Detection", PVLDB
    15(11), 2022, as their maintained code computes it
    (``RangeAUC_volume_opt`` of TSB-AD / TSB-UAD, step-wise version):

    For each buffer length ``l`` in ``0 .. max_buffer``, with ``h = l // 2``,
    each episode (run of anomalous windows) gets a buffer of ``h`` windows
    on each side; a buffer window at distance ``d`` (1..h) from the episode
    gets the soft label ``sqrt(1 - d / l)`` (overlapping buffers add up,
    capped at 1). Episodes whose buffers share a window form one *segment*. At each
    threshold t (flagged = score >= t), with P the number of anomalous
    windows and B the soft labels summed over the flagged buffer windows:

    * TP = flagged anomalous windows + B; precision = TP / flagged windows;
    * recall = min(1, TP / (P + B / 2));
    * existence = segments holding at least one flagged window / segments;
    * TPR = recall * existence.

    The range PR-AUC at ``l`` is ``sum_k (TPR_k - TPR_{k-1}) * precision_k``
    over the thresholds in decreasing order (TPR_0 = 0), and VUS-PR is its
    mean over ``l = 0 .. max_buffer``.

    Reductions: with ``max_buffer = 0`` it is scikit-learn's average
    precision with recall replaced by recall * existence, so it *equals*
    average precision when y_true holds one episode (existence is then 1 as
    soon as recall > 0); with several episodes it differs (higher or lower:
    recall gained while some episodes are still unfound is credited later,
    at the precision of the threshold where they are found). A scorer
    that ranks exactly the anomalous windows first gets 1 at every buffer.
    Flags just before (or after) an episode earn soft credit that average
    precision does not give.

    Differences from the reference code, both deliberate: every distinct
    score is a threshold (the reference samples 250 of the sorted scores;
    ``thresholds=250`` reproduces that, and for 250 windows or fewer both
    are the same), and with ``index`` episodes are split, and buffers
    stopped, at gaps in time (without it the computation is the
    reference's). Note that TSB-AD's ``get_metrics(slidingWindow=w)`` uses
    ``max_buffer = 2 * w``.

    Args:
        y_true: True labels 0/1, in time order.
        scores: Anomaly scores, higher = more anomalous.
        max_buffer: Largest buffer length ``l``, in windows (default 4: up to
            2 windows, 30 minutes, on each side of an episode at 15-minute
            windows).
        index: Optional window start times (breaks at gaps, as in
            :func:`event_metrics`).
        thresholds: None (every distinct score) or the number of sampled
            thresholds of the reference code.

    Returns:
        VUS-PR in [0, 1]; NaN when y_true holds one class only (or nothing).

    Raises:
        DataError: If lengths differ, labels are not 0/1, scores are not
            finite, or the index is not increasing times.
        ConfigError: If ``max_buffer`` or ``thresholds`` is not a
            non-negative / positive integer.

    Example:
        >>> y = [0, 0, 1, 1, 0, 0, 0, 0]
        >>> vus_pr(y, [0, 0, 1, 1, 0, 0, 0, 0])
        1.0
        >>> vus_pr(y, [0, 1, 0.5, 0.5, 0, 0, 0, 0], max_buffer=0) < vus_pr(y, [0, 1, 0.5, 0.5, 0, 0, 0, 0])
        True
    """
    truth = _binary(y_true, "y_true")
    values = _finite_scores(scores, truth.size)
    breaks = None if index is None else _time_index(index, truth.size)[1]
    if thresholds is not None and (isinstance(thresholds, bool) or not isinstance(thresholds, (int, np.integer))
                                   or thresholds < 1):
        raise ConfigError(f"thresholds must be None or a positive integer, got {thresholds!r}")
    if _one_class_reason(truth.size, int(truth.sum())):
        return _NAN
    return float(np.mean(_range_pr_aucs(truth, values, _max_buffer(max_buffer), breaks, thresholds)))


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
    indices: Mapping[str, Any] | None = None,
    max_lead: Any = None,
) -> pd.DataFrame:
    """Computes :func:`detection_metrics` for every node.

    Args:
        results: Node id -> ``(y_true, scores, y_pred)`` (``scores`` or
            ``y_pred`` may be None).
        point_adjusted: Also add the columns of :func:`point_adjusted_f1`
            (``f1_point_adjusted``, ...), for comparison with papers that
            report it.
        indices: Optional node id -> window start times of its windows
            (e.g. the test part's index), passed to
            :func:`detection_metrics`: time gaps then break episodes and
            alarms, and ``lead_time_median_min`` is computed. A node missing
            from it gets ``lead_time_median_min`` NaN, noted as such.
        max_lead: Passed to :func:`detection_metrics`.

    Returns:
        One row per node, index ``node`` (in the order of ``results``),
        the columns of :func:`detection_metrics` (``notes`` last).

    Raises:
        DataError: As :func:`detection_metrics`, with the node named.
    """
    rows = []
    for node, (y_true, scores, y_pred) in results.items():
        index = None if indices is None else indices.get(node)
        try:
            row = detection_metrics(y_true, scores, y_pred, index, max_lead=max_lead)
            if point_adjusted:
                adjusted = _point_adjusted_or_undefined(y_true, y_pred)
                notes = [text for text in (row.pop("notes"), adjusted.pop("notes")) if text]
                row.update(adjusted, notes="; ".join(notes))
        except DataError as error:
            raise DataError(f"node {node!r}: {error}") from error
        rows.append({"node": node, **row})
    if indices is not None:
        for row in rows:
            if _LEAD not in row:
                notes = row.pop("notes")
                row[_LEAD] = _NAN
                row["notes"] = "; ".join(text for text in (notes, f"{_LEAD}: no index given") if text)
    if not rows:
        return pd.DataFrame(columns=["notes"], index=pd.Index([], name="node"))
    frame = pd.DataFrame(rows).set_index("node")
    frame = frame[[column for column in frame.columns if column != "notes"] + ["notes"]]
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


def _mcc(tp: int, fp: int, fn: int, tn: int) -> tuple[float, str]:
    """Matthews correlation coefficient, or NaN and why (an empty row or column)."""
    for total, reason in ((tp + fn, "no anomalous window in y_true"),
                          (fp + tn, "only anomalous windows in y_true"),
                          (tp + fp, "no window predicted anomalous"),
                          (fn + tn, "every window predicted anomalous")):
        if total == 0:
            return _NAN, "no windows" if tp + fp + fn + tn == 0 else reason
    # In floats: the product of the four margins overflows int64 past ~55k windows.
    denominator = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(denominator)), ""


def _time_index(index: Any, length: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The index as a DatetimeIndex, and where a time gap breaks runs (length - 1 booleans)."""
    try:
        times = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as error:
        raise DataError(f"index must hold window start times: {error}") from error
    if times.size != length:
        raise DataError(f"index has {times.size} values, y_true has {length}")
    if times.hasnans:
        raise DataError(f"index holds {int(times.isna().sum())} missing times (NaT)")
    steps = np.diff(times.asi8)
    if steps.size and (steps <= 0).any():
        raise DataError("index must be strictly increasing (each node's windows in time order, no duplicate)")
    breaks = steps > np.median(steps) if steps.size else np.zeros(0, dtype=bool)
    return times, breaks


def _max_lead_ns(max_lead: Any) -> int | None:
    if max_lead is None:
        return None
    try:
        value = pd.Timedelta(max_lead)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"max_lead must be a duration such as '2h', got {max_lead!r}") from error
    if pd.isna(value) or value < pd.Timedelta(0):
        raise ConfigError(f"max_lead must be a non-negative duration, got {max_lead!r}")
    return int(value.value)


def _max_buffer(max_buffer: Any) -> int:
    if isinstance(max_buffer, bool) or not isinstance(max_buffer, (int, np.integer)) or max_buffer < 0:
        raise ConfigError(f"the VUS buffer must be a non-negative number of windows, got {max_buffer!r}")
    return int(max_buffer)


def _runs(mask: np.ndarray, breaks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) stops of the maximal runs of True, split where ``breaks`` is True."""
    if mask.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    first = mask.copy()
    last = mask.copy()
    boundary = ~mask[:-1] if breaks is None else ~mask[:-1] | breaks
    first[1:] &= boundary
    boundary = ~mask[1:] if breaks is None else ~mask[1:] | breaks
    last[:-1] &= boundary
    return np.flatnonzero(first), np.flatnonzero(last) + 1


def _event_core(truth: np.ndarray, predicted: np.ndarray, breaks: np.ndarray | None) -> dict[str, np.ndarray]:
    ep_starts, ep_stops = _runs(truth, breaks)
    al_starts, al_stops = _runs(predicted, breaks)
    flagged = np.concatenate(([0], np.cumsum(predicted, dtype=np.int64)))
    anomalous = np.concatenate(([0], np.cumsum(truth, dtype=np.int64)))
    return {
        "ep_starts": ep_starts, "ep_stops": ep_stops, "al_starts": al_starts, "al_stops": al_stops,
        "detected": flagged[ep_stops] - flagged[ep_starts] > 0,
        "alarm_true": anomalous[al_stops] - anomalous[al_starts] > 0,
    }


def _leads(core: dict[str, np.ndarray], times_ns: np.ndarray, max_lead_ns: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per episode: the position where the credited alarm starts (-1: none) and the lead in ns (NaN: none)."""
    starts, stops = core["ep_starts"], core["ep_stops"]
    al_starts, al_stops = core["al_starts"], core["al_stops"]
    first = np.full(starts.size, -1, dtype=np.int64)
    lead = np.full(starts.size, _NAN)
    if starts.size == 0 or al_starts.size == 0:
        return first, lead
    # The earliest alarm sharing a window with the episode: the first one that stops after its start.
    candidate = np.searchsorted(al_stops, starts, side="right")
    for step in (0, 1):
        # The first candidate may start too early (only an alarm running into the episode can); the
        # next alarm, if it overlaps, starts inside the episode and always counts.
        k = candidate + step
        exists = k < al_starts.size
        k_safe = np.where(exists, k, 0)
        ok = exists & (first < 0) & (al_starts[k_safe] < stops)
        gap = times_ns[starts] - times_ns[al_starts[k_safe]]
        if max_lead_ns is not None:
            ok &= gap <= max_lead_ns
        first[ok] = al_starts[k_safe[ok]]
        lead[ok] = gap[ok]
    return first, lead


def _event_metrics(truth: np.ndarray, predicted: np.ndarray, breaks: np.ndarray | None,
                   times: pd.DatetimeIndex | None, max_lead_ns: int | None) -> dict[str, Any]:
    """The event metrics with their reasons in ``_notes`` (a list)."""
    core = _event_core(truth, predicted, breaks)
    n_episodes, n_alarms = int(core["ep_starts"].size), int(core["al_starts"].size)
    detected, true_alarms = int(core["detected"].sum()), int(core["alarm_true"].sum())
    result: dict[str, Any] = {"n_episodes": n_episodes, "n_episodes_detected": detected,
                              "n_alarms": n_alarms, "n_alarms_true": true_alarms}
    notes: list[str] = []

    def undefined(metric: str, reason: str) -> None:
        result[metric] = _NAN
        notes.append(f"{metric}: {reason}")

    if truth.size == 0:
        for metric in _EVENT_RATES:
            undefined(metric, "no windows")
    else:
        if n_alarms == 0:
            undefined("event_precision", "no window predicted anomalous")
        else:
            result["event_precision"] = true_alarms / n_alarms
        if n_episodes == 0:
            undefined("event_recall", "no anomalous window in y_true")
            undefined("event_f1", "no anomalous window in y_true")
        else:
            recall = detected / n_episodes
            result["event_recall"] = recall
            # detected > 0 implies a true alarm, so precision > 0 there.
            result["event_f1"] = 0.0 if detected == 0 else (
                2 * result["event_precision"] * recall / (result["event_precision"] + recall))
    result = {key: result[key] for key in ("n_episodes", "n_episodes_detected", "n_alarms", "n_alarms_true",
                                           *_EVENT_RATES)}
    if times is not None:
        _, lead = _leads(core, times.asi8, max_lead_ns)
        defined = lead[~np.isnan(lead)]
        if truth.size == 0:
            undefined(_LEAD, "no windows")
        elif n_episodes == 0:
            undefined(_LEAD, "no anomalous window in y_true")
        elif detected == 0:
            undefined(_LEAD, "no episode detected")
        elif defined.size == 0:
            undefined(_LEAD, "no detected episode has an alarm starting within max_lead")
        else:
            result[_LEAD] = float(np.median(defined)) / _NS_PER_MINUTE
    result["_notes"] = notes
    return result


def _events_without_predictions(truth: np.ndarray, breaks: np.ndarray | None, with_lead: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"n_episodes": int(_runs(truth, breaks)[0].size), "n_episodes_detected": None,
                              "n_alarms": None, "n_alarms_true": None}
    metrics = (*_EVENT_RATES, _LEAD) if with_lead else _EVENT_RATES
    result.update(dict.fromkeys(metrics, _NAN))
    result["_notes"] = [f"{metric}: no predictions given" for metric in metrics]
    return result


def _range_pr_aucs(truth: np.ndarray, values: np.ndarray, max_buffer: int, breaks: np.ndarray | None,
                   thresholds: int | None = None) -> np.ndarray:
    """The range PR-AUC of :func:`vus_pr` at each buffer length 0..max_buffer (both classes present)."""
    n = truth.size
    positives = float(truth.sum())
    ep_starts, ep_stops = _runs(truth, breaks)
    ep_last = ep_stops - 1
    # Time blocks (split at gaps): buffers do not cross them, and episodes in two never merge.
    if breaks is None or not breaks.any():
        block = np.zeros(n, dtype=np.int64)
        block_first, block_last = np.array([0]), np.array([n - 1])
    else:
        block = np.concatenate(([0], np.cumsum(breaks)))
        block_first = np.flatnonzero(np.concatenate(([True], breaks)))
        block_last = np.concatenate((block_first[1:] - 1, [n - 1]))
    ep_block = block[ep_starts]
    lowest, highest = block_first[ep_block], block_last[ep_block]

    order = np.argsort(-values, kind="stable")
    ranked = values[order]  # decreasing
    if thresholds is None:
        flagged = np.concatenate((np.flatnonzero(np.diff(ranked) != 0) + 1, [n]))
    else:  # the reference's sampling: thresholds at evenly spaced positions of the sorted scores
        at = ranked[np.linspace(0, n - 1, thresholds).astype(int)]
        flagged = n - np.searchsorted(ranked[::-1], at, side="left")
    threshold = ranked[flagged - 1]
    tp_anomalous = np.cumsum(truth[order], dtype=np.float64)[flagged - 1]

    aucs = np.empty(max_buffer + 1)
    for length in range(max_buffer + 1):
        half = length // 2
        soft = np.zeros(n)
        for distance in range(1, half + 1):
            weight = np.sqrt(1 - distance / length)
            before, after = ep_starts - distance, ep_last + distance
            np.add.at(soft, before[before >= lowest], weight)
            np.add.at(soft, after[after <= highest], weight)
        soft = np.minimum(soft, 1.0)
        soft[truth] = 0.0  # anomalous windows count 1, in tp_anomalous
        buffer_tp = np.cumsum(soft[order])[flagged - 1]
        tp = tp_anomalous + buffer_tp
        recall = np.minimum(tp / (positives + buffer_tp / 2), 1.0)
        precision = tp / flagged
        # Segments: episodes with their buffers, merged where the buffers share a window (as the reference does).
        new = np.concatenate(([True], (ep_last[:-1] + half < ep_starts[1:] - half) | (ep_block[:-1] != ep_block[1:])))
        seg_first = np.maximum(ep_starts - half, lowest)[new]
        seg_last = np.minimum(ep_last + half, highest)[np.concatenate((np.flatnonzero(new)[1:] - 1, [new.size - 1]))]
        bounds = np.column_stack((seg_first, seg_last + 1)).ravel()
        seg_max = np.maximum.reduceat(np.append(values, -np.inf), bounds)[::2]
        found = seg_max.size - np.searchsorted(np.sort(seg_max), threshold, side="left")
        tpr = recall * (found / seg_max.size)
        aucs[length] = float(np.sum(np.diff(tpr, prepend=0.0) * precision))
    return aucs
