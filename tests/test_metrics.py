"""Tests of the detection metrics: hand-checked values, undefined cases, aggregation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ftl_tff.errors import ConfigError, DataError
from ftl_tff.metrics import (
    METRIC_COLUMNS,
    _range_pr_aucs,
    aggregate_metrics,
    detection_metrics,
    episode_table,
    event_metrics,
    per_node_metrics,
    point_adjusted_f1,
    vus_pr,
)


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
    # precision, recall, f1, mcc and the three event rates; roc_auc, pr_auc and vus_pr
    assert m["notes"].count("no predictions given") == 7 and m["notes"].count("no scores given") == 3
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


# --- event-wise metrics ----------------------------------------------------------------------------------------

EVENT_KEYS = ["n_episodes", "n_episodes_detected", "n_alarms", "n_alarms_true",
              "event_precision", "event_recall", "event_f1"]


def _times(n: int, start: str = "2022-03-01 00:00") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="15min")


def test_event_metrics_on_a_hand_example():
    y_true = [0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    y_pred = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1]
    # Episodes [1, 3), [5, 8), [11, 12): the first and last have a flag, the middle one none.
    # Alarms [0, 1), [2, 3), [9, 10), [11, 12): the 2nd and 4th touch an episode.
    m = event_metrics(y_true, y_pred)
    assert [m[k] for k in EVENT_KEYS[:4]] == [3, 2, 4, 2]
    assert m["event_recall"] == pytest.approx(2 / 3) and m["event_precision"] == 0.5
    assert m["event_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["notes"] == "" and "lead_time_median_min" not in m
    assert list(m) == [*EVENT_KEYS, "notes"]


def test_one_alarm_spanning_two_episodes_detects_both_and_counts_once():
    y_true = [0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    y_pred = [0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    # Alarm [2, 6) touches episodes 1 and 2; [9, 10) is false; [11, 12) finds episode 3.
    m = event_metrics(y_true, y_pred)
    assert [m[k] for k in EVENT_KEYS[:4]] == [3, 3, 3, 2]
    assert (m["event_precision"], m["event_recall"]) == (pytest.approx(2 / 3), 1.0)
    assert m["event_f1"] == pytest.approx(0.8)


def test_event_metrics_undefined_cases_follow_the_point_wise_rules():
    no_episode = event_metrics([0, 0, 0, 0], [0, 1, 1, 0])
    assert no_episode["event_precision"] == 0.0  # one false alarm: defined, and bad
    assert math.isnan(no_episode["event_recall"]) and math.isnan(no_episode["event_f1"])
    assert "event_recall: no anomalous window in y_true" in no_episode["notes"]
    assert "event_f1: no anomalous window in y_true" in no_episode["notes"]
    assert "event_precision" not in no_episode["notes"]

    nothing_flagged = event_metrics([0, 1, 1, 0], [0, 0, 0, 0])
    assert math.isnan(nothing_flagged["event_precision"])
    assert "event_precision: no window predicted anomalous" in nothing_flagged["notes"]
    assert (nothing_flagged["event_recall"], nothing_flagged["event_f1"]) == (0.0, 0.0)  # like f1

    missed = event_metrics([0, 1, 1, 0, 0], [0, 0, 0, 0, 1])
    assert (missed["event_precision"], missed["event_recall"], missed["event_f1"]) == (0.0, 0.0, 0.0)

    empty = event_metrics([], [])
    assert all(math.isnan(empty[k]) for k in EVENT_KEYS[4:]) and empty["notes"].count("no windows") == 3


def test_a_time_gap_breaks_episodes_and_alarms():
    y_true = [0, 1, 1, 1, 0, 0]
    y_pred = [0, 1, 0, 0, 0, 0]
    steps = [0, 15, 30, 45 + 24 * 60, 60 + 24 * 60, 75 + 24 * 60]  # a day missing between windows 2 and 3
    index = pd.Timestamp("2022-03-01") + pd.to_timedelta(steps, unit="min")
    plain = event_metrics(y_true, y_pred)
    assert (plain["n_episodes"], plain["n_episodes_detected"]) == (1, 1)
    gapped = event_metrics(y_true, y_pred, index)
    assert (gapped["n_episodes"], gapped["n_episodes_detected"], gapped["event_recall"]) == (2, 1, 0.5)

    # An alarm across the same gap is two alarms; only the part after it touches the episode there.
    split = event_metrics([0, 0, 0, 1, 0, 0], [0, 0, 1, 1, 0, 0], index)
    assert (split["n_alarms"], split["n_alarms_true"]) == (2, 1)
    assert split["lead_time_median_min"] == 0.0  # the alarm before the gap does not lead the episode
    assert event_metrics([0, 0, 0, 1, 0, 0], [0, 0, 1, 1, 0, 0])["n_alarms"] == 1


def test_only_steps_longer_than_the_median_step_break_runs():
    # Steps 15, 15, 30, 15, 15, 1440 minutes: the median is 15, so the 30-minute step (one missing
    # window) is a gap as well as the day; the mean step (255) would miss the first.
    index = pd.Timestamp("2022-03-01") + pd.to_timedelta([0, 15, 30, 60, 75, 90, 1530], unit="min")
    m = event_metrics([1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 0], index)
    assert (m["n_episodes"], m["n_episodes_detected"]) == (3, 1)


def test_lead_time_on_a_hand_example():
    index = _times(20)
    y_true = [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    y_pred = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0]
    # Episode 1 starts at window 4; its alarm starts at window 2, 30 minutes earlier: +30.
    # Episode 2 starts at window 11; the first flag is its 2nd window: -15.
    # Episode 3 starts at window 17 and is flagged right there: 0.
    m = event_metrics(y_true, y_pred, index)
    assert m["lead_time_median_min"] == 0.0  # median of +30, -15 and 0 (their mean would be 5)
    table = episode_table(y_true, y_pred, index)
    assert list(table.columns) == ["start", "end", "n_windows", "detected", "first_flag", "lead_minutes"]
    assert table["lead_minutes"].tolist() == [30.0, -15.0, 0.0]
    assert table["start"].tolist() == [index[4], index[11], index[17]]
    assert table["end"].tolist() == [index[6], index[13], index[18]]
    assert table["n_windows"].tolist() == [3, 3, 2] and table["detected"].tolist() == [True, True, True]
    assert table["first_flag"].tolist() == [index[2], index[12], index[17]]
    assert list(m)[-2:] == ["lead_time_median_min", "notes"]
    two = event_metrics(y_true[:16], y_pred[:16], index[:16])
    assert two["lead_time_median_min"] == pytest.approx(7.5)  # median of +30 and -15


def test_lead_time_ignores_alarms_that_end_before_the_episode():
    index = _times(10)
    # An alarm at windows 1-2 ends before the episode (4-6) and does not touch it; the one that counts
    # starts at window 5, the 2nd window of the episode. A flag right at window 4 gives 0.
    assert episode_table([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 1, 0, 0, 0, 0], index)[
        "lead_minutes"].tolist() == [-15.0]
    assert episode_table([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0], index)[
        "lead_minutes"].tolist() == [0.0]
    missed = episode_table([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0, 1, 0], index)
    assert missed["detected"].tolist() == [False] and pd.isna(missed.loc[0, "first_flag"])
    assert math.isnan(missed.loc[0, "lead_minutes"])
    m = event_metrics([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0, 1, 0], index)
    assert math.isnan(m["lead_time_median_min"]) and "lead_time_median_min: no episode detected" in m["notes"]


def test_max_lead_leaves_out_alarms_that_start_too_early():
    index = _times(14)
    y_true = [0] * 8 + [1, 1, 1, 1] + [0, 0]
    early = [0] * 8 + [0] * 6
    early[0:10] = [1] * 10  # an alarm from window 0 (2 h before the episode) into its 2nd window
    assert event_metrics(y_true, early, index)["lead_time_median_min"] == 120.0
    limited = event_metrics(y_true, early, index, max_lead="1h")
    assert math.isnan(limited["lead_time_median_min"])
    assert "no detected episode has an alarm starting within max_lead" in limited["notes"]
    assert limited["event_recall"] == 1.0  # max_lead affects the lead time only, not detection
    assert episode_table(y_true, early, index, max_lead="1h")["detected"].tolist() == [True]

    # With a later alarm inside the episode, that one is credited instead.
    later = list(early)
    later[11] = 1  # windows 0-9 flagged, 10 not, 11 flagged
    assert event_metrics(y_true, later, index, max_lead=pd.Timedelta("1h"))["lead_time_median_min"] == -45.0
    assert event_metrics(y_true, later, index, max_lead="2h")["lead_time_median_min"] == 120.0

    # An alarm starting 45 minutes before stays within a 1-hour limit.
    near = [0] * 5 + [1] * 4 + [0] * 5
    assert event_metrics(y_true, near, index, max_lead="1h")["lead_time_median_min"] == 45.0
    with pytest.raises(ConfigError, match="max_lead"):
        event_metrics(y_true, near, index, max_lead="-1h")


@pytest.mark.parametrize("index, message", [
    (pd.date_range("2022-03-01", periods=3, freq="15min"), "index has 3 values"),
    (pd.DatetimeIndex(["2022-03-01 00:30", "2022-03-01 00:15", "2022-03-01 00:45", "2022-03-01 01:00"]),
     "strictly increasing"),
    (pd.DatetimeIndex(["2022-03-01 00:15", "2022-03-01 00:15", "2022-03-01 00:45", "2022-03-01 01:00"]),
     "strictly increasing"),
    (pd.DatetimeIndex(["2022-03-01 00:15", None, "2022-03-01 00:45", "2022-03-01 01:00"]), "NaT"),
])
def test_a_bad_index_raises_data_error(index, message):
    with pytest.raises(DataError, match=message):
        event_metrics([0, 1, 1, 0], [0, 1, 0, 0], index)
    with pytest.raises(DataError, match=message):
        detection_metrics([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], [0, 1, 0, 0], index)


# --- MCC -------------------------------------------------------------------------------------------------------

def test_mcc_equals_scikit_learn():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, 1 - y_true)
    m = detection_metrics(y_true, None, y_pred)
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y_true, y_pred))
    # Hand check: tp 2, fp 1, fn 2, tn 3 -> (6 - 2) / sqrt(3 * 4 * 4 * 5)
    hand = detection_metrics([0, 0, 1, 1, 1, 0, 0, 1], None, [0, 1, 1, 0, 1, 0, 0, 0])
    assert hand["mcc"] == pytest.approx(4 / math.sqrt(240))


def test_mcc_does_not_overflow_on_a_long_node():
    y_true = np.zeros(200_000, dtype=np.int8)
    y_true[:100_000] = 1
    y_pred = y_true.copy()
    y_pred[:10] = 0
    assert detection_metrics(y_true, None, y_pred)["mcc"] == pytest.approx(matthews_corrcoef(y_true, y_pred))


@pytest.mark.parametrize("y_true, y_pred, reason", [
    ([0, 0, 0, 0], [0, 1, 0, 0], "no anomalous window in y_true"),
    ([1, 1, 1, 1], [0, 1, 0, 0], "only anomalous windows in y_true"),
    ([0, 1, 1, 0], [0, 0, 0, 0], "no window predicted anomalous"),
    ([0, 1, 1, 0], [1, 1, 1, 1], "every window predicted anomalous"),
    ([], [], "no windows"),
])
def test_mcc_is_undefined_when_a_margin_is_empty(y_true, y_pred, reason):
    m = detection_metrics(y_true, None, y_pred)
    assert math.isnan(m["mcc"]) and f"mcc: {reason}" in m["notes"]
    if y_true:
        assert matthews_corrcoef(y_true, y_pred) == 0.0  # what scikit-learn makes of it


# --- VUS-PR ----------------------------------------------------------------------------------------------------

def _literal_range_pr_auc(y_true, scores, length):
    """The range PR-AUC at one buffer, straight from the definition in vus_pr's docstring (slow)."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n = len(y)
    half = length // 2
    episodes = []
    for i in range(n):
        if y[i] and (i == 0 or not y[i - 1]):
            j = i
            while j + 1 < n and y[j + 1]:
                j += 1
            episodes.append((i, j))
    soft = np.zeros(n)
    for start, last in episodes:
        for d in range(1, half + 1):
            for position in (start - d, last + d):
                if 0 <= position < n:
                    soft[position] += math.sqrt(1 - d / length)
    soft = np.minimum(soft, 1)
    soft[y] = 0
    segments = []
    for start, last in episodes:
        if segments and segments[-1][1] + half >= start - half:
            segments[-1][1] = last
        else:
            segments.append([start, last])
    segments = [(max(a - half, 0), min(b + half, n - 1)) for a, b in segments]
    area, previous = 0.0, 0.0
    for threshold in sorted(set(s), reverse=True):
        flagged = s >= threshold
        buffer_tp = soft[flagged].sum()
        tp = y[flagged].sum() + buffer_tp
        recall = min(tp / (y.sum() + buffer_tp / 2), 1)
        existence = np.mean([flagged[a:b + 1].any() for a, b in segments])
        tpr = recall * existence
        area += (tpr - previous) * tp / flagged.sum()
        previous = tpr
    return area


def test_vus_pr_of_a_perfect_scorer_is_one():
    y_true = np.zeros(60, dtype=int)
    y_true[[5, 6, 7, 20, 33, 34, 50, 51, 52, 53]] = 1
    rng = np.random.default_rng(0)
    scores = np.where(y_true == 1, 2 + rng.random(60), rng.random(60))
    for max_buffer in (0, 1, 4, 10):
        assert vus_pr(y_true, scores, max_buffer) == pytest.approx(1.0)
    assert detection_metrics(y_true, scores, None)["vus_pr"] == pytest.approx(1.0)


def test_vus_pr_without_buffer_is_average_precision_for_one_episode():
    y_true = [0, 0, 1, 1, 1, 0, 0, 0]
    scores = [0.3, 0.9, 0.8, 0.2, 0.7, 0.1, 0.6, 0.0]
    assert vus_pr(y_true, scores, max_buffer=0) == pytest.approx(average_precision_score(y_true, scores))
    rng = np.random.default_rng(4)
    y = np.zeros(200, dtype=int)
    y[120:150] = 1
    s = np.round(rng.normal(size=200) + y, 1)  # with ties
    assert vus_pr(y, s, max_buffer=0) == pytest.approx(average_precision_score(y, s))
    # A buffer of one window has no room (l // 2 = 0): the same value.
    assert vus_pr(y, s, max_buffer=1) == pytest.approx(average_precision_score(y, s))


def test_vus_pr_without_buffer_weighs_recall_by_the_share_of_episodes_found():
    y_true = [1, 0, 0, 1, 1, 0]
    scores = [0.9, 0.1, 0.8, 0.7, 0.3, 0.0]
    # Thresholds 0.9, 0.8, 0.7, 0.3: TPR = recall * existence = 1/3 * 1/2, 1/6, 2/3 * 1, 1 and
    # precision 1, 1/2, 2/3, 3/4: area 1/6 + 0 + (1/2)(2/3) + (1/3)(3/4) = 3/4.
    assert vus_pr(y_true, scores, max_buffer=0) == pytest.approx(0.75)
    assert average_precision_score(y_true, scores) == pytest.approx(1 / 3 + 2 / 9 + 1 / 4)  # not the same


def test_vus_pr_credits_a_flag_just_before_an_episode():
    y_true = [0, 0, 1, 0, 0]
    scores = [0.0, 1.0, 0.5, 0.0, 0.0]  # the window before the episode ranks first
    # Buffers 0 and 1: average precision, 0.5 (the first flag earns nothing). Buffer 2: window 1 gets the
    # soft label w = sqrt(1 - 1/2); at the first threshold TP = w, recall = w / (1 + w / 2), precision w.
    w = math.sqrt(0.5)
    recall = w / (1 + w / 2)
    at_two = recall * w + (1 - recall) * (1 + w) / 2
    assert vus_pr(y_true, scores, max_buffer=0) == pytest.approx(average_precision_score(y_true, scores)) == 0.5
    assert vus_pr(y_true, scores, max_buffer=2) == pytest.approx((0.5 + 0.5 + at_two) / 3)


def test_vus_pr_grows_with_the_buffer_for_a_scorer_that_flags_early():
    y_true = np.zeros(40, dtype=int)
    y_true[[10, 11, 12, 13, 28, 29]] = 1
    scores = np.full(40, 0.1)
    scores[[8, 9, 26, 27]] = [0.8, 0.9, 0.8, 0.9]  # the two windows before each episode rank first
    scores[[10, 11, 12, 13, 28, 29]] = 0.5
    per_buffer = _range_pr_aucs(y_true.astype(bool), scores, 8, None)
    assert per_buffer[0] == pytest.approx(average_precision_score(y_true, scores) * 1.0)
    assert np.all(np.diff(per_buffer) >= -1e-12) and per_buffer[4] > per_buffer[0] + 0.05
    assert vus_pr(y_true, scores) > vus_pr(y_true, scores, max_buffer=0)
    # A scorer that puts its top scores far from any episode gets no such credit.
    far = np.full(40, 0.1)
    far[[0, 1, 38, 39]] = [0.8, 0.9, 0.8, 0.9]
    far[[10, 11, 12, 13, 28, 29]] = 0.5
    assert vus_pr(y_true, far) == pytest.approx(vus_pr(y_true, far, max_buffer=0))


def test_vus_pr_equals_a_literal_computation_of_its_definition():
    rng = np.random.default_rng(11)
    for _ in range(40):
        n = int(rng.integers(8, 120))
        y = np.zeros(n, dtype=int)
        for start in rng.integers(0, n, rng.integers(1, 5)):
            y[start:start + rng.integers(1, 6)] = 1
        if y.all():
            continue
        s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), 1)
        max_buffer = int(rng.integers(0, 9))
        expected = np.mean([_literal_range_pr_auc(y, s, length) for length in range(max_buffer + 1)])
        assert vus_pr(y, s, max_buffer) == pytest.approx(expected, abs=1e-12)
        # 250 sampled thresholds (the reference code's) are every threshold for 250 windows or fewer.
        assert vus_pr(y, s, max_buffer, thresholds=250) == pytest.approx(expected, abs=1e-12)


def test_vus_pr_buffers_stop_at_time_gaps():
    y_true = [0, 0, 1, 1, 0, 0]
    scores = [0.0, 0.0, 0.5, 0.5, 1.0, 0.0]  # the top score right after the episode ...
    after_gap = pd.Timestamp("2022-03-01") + pd.to_timedelta([0, 15, 30, 45, 600, 615], unit="min")
    plain = vus_pr(y_true, scores, max_buffer=4)
    gapped = vus_pr(y_true, scores, max_buffer=4, index=after_gap)  # ... but ten hours later
    assert gapped == pytest.approx(vus_pr(y_true, scores, max_buffer=0)) and plain > gapped
    assert detection_metrics(y_true, scores, None, after_gap)["vus_pr"] == pytest.approx(gapped)


def test_vus_pr_is_undefined_with_one_class_and_checks_its_options():
    assert math.isnan(vus_pr([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(vus_pr([1, 1], [0.1, 0.2])) and math.isnan(vus_pr([], []))
    m = detection_metrics([1, 1, 1], [0.1, 0.2, 0.3], None)
    assert math.isnan(m["vus_pr"]) and "vus_pr: only anomalous windows in y_true" in m["notes"]
    assert "vus_pr: no scores given" in detection_metrics([0, 1], None, None)["notes"]
    with pytest.raises(ConfigError, match="buffer"):
        vus_pr([0, 1], [0.1, 0.2], max_buffer=-1)
    with pytest.raises(ConfigError, match="thresholds"):
        vus_pr([0, 1], [0.1, 0.2], thresholds=0)
    with pytest.raises(DataError, match="NaN"):
        vus_pr([0, 1], [0.1, np.nan])


# --- wiring ----------------------------------------------------------------------------------------------------

def test_detection_metrics_keeps_its_keys_first_and_appends_the_new_ones():
    y_true = [0, 0, 1, 1, 0, 0, 1, 0]
    scores = [0.1, 0.2, 0.9, 0.4, 0.3, 0.2, 0.8, 0.1]
    y_pred = [0, 1, 1, 0, 0, 0, 1, 0]
    old = ["n", "n_anomalous", "n_flagged", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "roc_auc",
           "pr_auc"]
    m = detection_metrics(y_true, scores, y_pred)
    assert list(m) == [*old, "mcc", "vus_pr", *EVENT_KEYS, "notes"]
    indexed = detection_metrics(y_true, scores, y_pred, _times(8))
    assert list(indexed) == [*old, "mcc", "vus_pr", *EVENT_KEYS, "lead_time_median_min", "notes"]
    assert indexed["lead_time_median_min"] == 7.5  # +15 (alarm from window 1) and 0 (flag at window 6)
    for key in EVENT_KEYS:
        assert m[key] == event_metrics(y_true, y_pred)[key], key
    no_pred = detection_metrics(y_true, scores, None, _times(8))
    assert no_pred["n_episodes"] == 2 and no_pred["n_alarms"] is None
    assert "lead_time_median_min: no predictions given" in no_pred["notes"]


def test_per_node_metrics_passes_each_nodes_index():
    gap = pd.Timestamp("2022-03-01") + pd.to_timedelta([0, 15, 30, 600, 615, 630], unit="min")
    results = {
        "a": ([0, 1, 1, 1, 1, 0], [0.1, 0.9, 0.8, 0.7, 0.6, 0.2], [0, 0, 1, 0, 0, 0]),
        "b": ([0, 1, 1, 0, 0, 0], [0.1, 0.9, 0.8, 0.2, 0.1, 0.1], [0, 1, 0, 0, 0, 0]),
    }
    frame = per_node_metrics(results, indices={"a": gap})
    # Node a: the gap splits its failure in two episodes, one flagged (at its 2nd window: -15 min).
    assert frame.loc["a", "n_episodes"] == 2 and frame.loc["a", "event_recall"] == 0.5
    assert frame.loc["a", "lead_time_median_min"] == -15.0
    assert math.isnan(frame.loc["b", "lead_time_median_min"])
    assert "lead_time_median_min: no index given" in frame.loc["b", "notes"]
    assert frame.columns[-1] == "notes" and str(frame["n_episodes"].dtype) == "Int64"
    plain = per_node_metrics(results, point_adjusted=True)
    assert plain.loc["a", "n_episodes"] == 1 and "lead_time_median_min" not in plain.columns
    assert plain.columns[-1] == "notes" and "f1_point_adjusted" in plain.columns
    with pytest.raises(DataError, match="node 'a'"):
        per_node_metrics(results, indices={"a": gap[:5]})


def test_aggregate_summarises_the_new_metrics():
    frame = per_node_metrics({
        "a": ([0, 1, 1, 0, 0, 1], [0.1, 0.9, 0.3, 0.2, 0.1, 0.8], [0, 1, 0, 0, 1, 1]),
        "b": ([0, 0, 0, 0, 0, 0], [0.1, 0.9, 0.8, 0.2, 0.1, 0.1], [0, 1, 0, 0, 0, 0]),
    }, indices={"a": _times(6), "b": _times(6)})
    summary = aggregate_metrics(frame)
    for metric in ("mcc", "vus_pr", "event_precision", "event_recall", "event_f1", "lead_time_median_min"):
        assert metric in METRIC_COLUMNS and metric in summary.index, metric
    assert summary.loc["event_recall", "mean"] == 1.0 and summary.loc["event_recall", "n_undefined"] == 1
    # a: alarms [1, 2) and [4, 6) both touch an episode (1.0); b: one false alarm (0.0)
    assert summary.loc["event_precision", "mean"] == pytest.approx((1.0 + 0.0) / 2)
    assert summary.loc["lead_time_median_min", "n_defined"] == 1
    assert "n_episodes" not in summary.index  # counts are not rates
