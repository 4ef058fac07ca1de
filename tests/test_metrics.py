"""Tests of the detection metrics: hand-checked values, undefined cases, aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from ftl_tff.errors import DataError
from ftl_tff.metrics import aggregate_metrics, detection_metrics, per_node_metrics, point_adjusted_f1


def test_precision_recall_f1_match_hand_counts():
    y_true = [0, 0, 1, 1, 1, 0, 0, 1]
    y_pred = [0, 1, 1, 0, 1, 0, 0, 0]
    # tp = 2 (windows 2, 4), fp = 1 (window 1), fn = 2 (windows 3, 7), tn = 3
    m = detection_metrics(y_true, None, y_pred)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 2, 3)
    assert (m["n"], m["n_anomalous"], m["n_flagged"]) == (8, 4, 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert m["precision"] == pytest.approx(precision_score(y_true, y_pred))
    assert m["recall"] == pytest.approx(recall_score(y_true, y_pred))
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred))


def test_auc_values_equal_scikit_learn():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 200)
    scores = rng.normal(size=200) + y_true  # informative, with ties below
    scores[:20] = np.round(scores[:20])
    m = detection_metrics(y_true, scores, (scores > 0.5).astype(int))
    assert m["roc_auc"] == roc_auc_score(y_true, scores)
    assert m["pr_auc"] == average_precision_score(y_true, scores)
    assert m["notes"] == ""


def test_hand_checked_roc_auc():
    # Anomalous 0.35 beats normal 0.1 but not 0.4; 0.8 beats both: 3 of 4 pairs.
    m = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0, 1, 0, 1])
    assert m["roc_auc"] == 0.75
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)


def test_only_normal_windows_leave_recall_f1_and_aucs_undefined_with_reasons():
    m = detection_metrics([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.9], [0, 0, 0, 1])
    assert m["precision"] == 0.0  # one false alarm: defined, and bad
    for metric in ("recall", "f1", "roc_auc", "pr_auc"):
        assert math.isnan(m[metric]), metric
        assert f"{metric}:" in m["notes"]
    assert "only normal windows" in m["notes"] and "no anomalous window" in m["notes"]
    assert "precision:" not in m["notes"]


def test_only_anomalous_windows_leave_the_aucs_undefined_not_perfect():
    m = detection_metrics([1, 1, 1], [0.1, 0.2, 0.3], [1, 0, 1])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert "only anomalous windows" in m["notes"]
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)


def test_nothing_flagged_leaves_precision_undefined_but_f1_zero():
    m = detection_metrics([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.0], [0, 0, 0, 0])
    assert math.isnan(m["precision"]) and "precision: no window predicted anomalous" in m["notes"]
    assert m["recall"] == 0.0 and m["f1"] == 0.0


def test_missing_scores_or_predictions_and_empty_input_are_undefined():
    m = detection_metrics([0, 1], None, None)
    assert all(math.isnan(m[k]) for k in ("precision", "recall", "f1", "roc_auc", "pr_auc"))
    assert m["notes"].count("no predictions given") == 3 and m["notes"].count("no scores given") == 2
    empty = detection_metrics([], [], [])
    assert empty["n"] == 0 and all(math.isnan(empty[k]) for k in ("precision", "f1", "roc_auc"))
    assert "no windows" in empty["notes"]


@pytest.mark.parametrize("y_true, scores, y_pred, message", [
    ([0, 1, 2], [0.1, 0.2, 0.3], [0, 1, 1], "only 0 and 1"),
    ([0, 1, 1], [0.1, 0.2, 0.3], [0, 1], "y_pred has 2 values"),
    ([0, 1, 1], [0.1, np.nan, 0.3], [0, 1, 1], "NaN"),
    ([0, 1, 1], [0.1, 0.3], [0, 1, 1], "scores has 2 values"),
    ([[0, 1], [1, 0]], None, None, "1-D"),
])
def test_invalid_inputs_raise_data_error(y_true, scores, y_pred, message):
    with pytest.raises(DataError, match=message):
        detection_metrics(y_true, scores, y_pred)


def test_point_adjusted_f1_on_a_hand_example():
    y_true = [0, 1, 1, 1, 0, 0, 1, 1, 0, 1]
    y_pred = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    # Segments [1, 4) and [9, 10) are hit and count whole; [6, 8) is missed.
    # Adjusted: tp = 3 + 1 = 4, fp = 1 (window 0), fn = 2 -> F1 = 8 / 11.
    result = point_adjusted_f1(y_true, y_pred)
    assert result["n_segments"] == 3 and result["n_segments_detected"] == 2
    assert result["precision_point_adjusted"] == pytest.approx(4 / 5)
    assert result["recall_point_adjusted"] == pytest.approx(4 / 6)
    assert result["f1_point_adjusted"] == pytest.approx(8 / 11)
    assert "f1" not in result
    # The plain F1 of the same predictions is lower: the protocol is optimistic.
    assert detection_metrics(y_true, None, y_pred)["f1"] == pytest.approx(4 / 9)


def test_point_adjusted_f1_is_undefined_without_anomalies():
    result = point_adjusted_f1([0, 0, 0], [0, 1, 0])
    assert math.isnan(result["f1_point_adjusted"]) and result["n_segments"] == 0
    assert "f1_point_adjusted: no anomalous window" in result["notes"]


def test_per_node_metrics_has_one_row_per_node_in_order():
    results = {
        "n2": ([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2], [0, 1, 1, 0]),
        "n1": ([0, 0, 0, 0], [0.1, 0.9, 0.8, 0.2], [0, 1, 0, 0]),
    }
    frame = per_node_metrics(results, point_adjusted=True)
    assert list(frame.index) == ["n2", "n1"] and frame.index.name == "node"
    assert frame.loc["n2", "f1"] == 1.0 and frame.loc["n2", "roc_auc"] == 1.0
    assert math.isnan(frame.loc["n1", "f1"]) and math.isnan(frame.loc["n1", "f1_point_adjusted"])
    assert "roc_auc: only normal windows" in frame.loc["n1", "notes"]
    assert frame.columns[-1] == "notes"
    assert frame["n_anomalous"].tolist() == [2, 0]


def test_per_node_metrics_names_the_node_at_fault():
    with pytest.raises(DataError, match="node 'bad'"):
        per_node_metrics({"ok": ([0, 1], [0.1, 0.2], [0, 1]), "bad": ([0, 1], [0.1], [0, 1])})


def test_aggregate_excludes_undefined_values_and_counts_them():
    frame = pd.DataFrame(
        {"f1": [0.2, np.nan, 0.6, 1.0], "roc_auc": [np.nan, np.nan, 0.7, np.nan], "notes": ["", "", "", ""]},
        index=pd.Index(["a", "b", "c", "d"], name="node"),
    )
    summary = aggregate_metrics(frame)
    assert list(summary.index) == ["f1", "roc_auc"]
    assert summary.loc["f1", "mean"] == pytest.approx(0.6)  # (0.2 + 0.6 + 1.0) / 3, not / 4
    assert summary.loc["f1", "median"] == pytest.approx(0.6)
    assert summary.loc["f1", "std"] == pytest.approx(np.std([0.2, 0.6, 1.0], ddof=1))
    assert (summary.loc["f1", "n_defined"], summary.loc["f1", "n_undefined"]) == (3, 1)
    assert summary.loc["roc_auc", "mean"] == 0.7 and math.isnan(summary.loc["roc_auc", "std"])
    assert (summary.loc["roc_auc", "n_defined"], summary.loc["roc_auc", "n_undefined"]) == (1, 3)


def test_aggregate_of_per_node_metrics_end_to_end():
    frame = per_node_metrics({
        "a": ([0, 1, 1, 0], [0.1, 0.9, 0.3, 0.2], [0, 1, 0, 0]),
        "b": ([0, 0, 0, 0], [0.1, 0.9, 0.8, 0.2], [0, 1, 0, 0]),
    })
    summary = aggregate_metrics(frame)
    assert summary.loc["recall", "mean"] == 0.5 and summary.loc["recall", "n_undefined"] == 1
    assert summary.loc["precision", "mean"] == 0.5  # a: 1.0, b: 0.0 (a false alarm)
