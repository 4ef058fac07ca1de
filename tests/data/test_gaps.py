"""Telemetry gaps: what the imputer fills, the score counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data.clients.client_data import prepare_federated_data
from ftl_tff.data.clients.gaps import NodeGap
from ftl_tff.detection import AnomalyDetector
from ftl_tff.errors import ConfigError, SchemaError

COLUMNS = ["a", "b", "never", "cov_share"]


def test_gap_share_by_hand():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, np.nan, 1.0, 2.0], "never": np.nan,
                          "cov_share": [1.0, 0.8, 0.8, 0.4]})
    gap = NodeGap().fit(train, COLUMNS)
    # 'never' is absent on this node (never observed in training): not counted as missing.
    assert gap.observed_columns == ["a", "b"] and gap.coverage_reference == pytest.approx(0.8)
    frame = pd.DataFrame({"a": [1.0, np.nan, np.nan, 2.0], "b": [1.0, 1.0, np.nan, 2.0], "never": np.nan,
                          "cov_share": [0.8, 0.8, 0.0, 0.6]})
    # row 0: nothing missing; row 1: 1 of 2 features; row 2: all, coverage 0; row 3: coverage 0.6 of the usual 0.8.
    np.testing.assert_allclose(gap.transform(frame), [0.0, 0.5, 1.0, 0.25], rtol=1e-6)
    again = NodeGap.from_dict(gap.to_dict())
    np.testing.assert_array_equal(again.transform(frame), gap.transform(frame))


def test_gap_without_coverage_column_counts_missing_features_only():
    train = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    gap = NodeGap().fit(train, ["a", "b"])
    assert gap.coverage_reference is None
    np.testing.assert_allclose(gap.transform(pd.DataFrame({"a": [np.nan], "b": [1.0]})), [0.5])


def test_gap_errors_name_the_problem():
    with pytest.raises(ConfigError, match="not fitted"):
        NodeGap().transform(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(SchemaError, match="lacks feature columns"):
        NodeGap().fit(pd.DataFrame({"a": [1.0]}), ["a", "b"])
    with pytest.raises(ConfigError, match="NodeGap"):
        NodeGap.from_dict({"format": "something else"})


class _OneNode:
    """A processed-dataset stand-in: one node of 8 days of smooth telemetry, 6 hours of silence in its test part."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        index = pd.date_range("2022-09-01", periods=8 * 96, freq="15min", tz="UTC", name="window_start")
        t = np.arange(len(index))
        values = {f"m{k}_avg": 50 + 10 * np.sin(2 * np.pi * t / 96 + k) + rng.normal(0, 1, len(t)) for k in range(12)}
        frame = pd.DataFrame(values, index=index)
        frame["cov_share"] = 1.0
        frame["label"] = 0
        self.silent = index[-40:-16]  # 24 windows = 6 hours, inside the last 20 % (the test part)
        frame.loc[self.silent, [c for c in frame.columns if c.endswith("_avg")]] = np.nan
        frame.loc[self.silent, "cov_share"] = 0.0
        frame.loc[self.silent, "label"] = 1
        self._frame = frame
        self.nodes = ["7"]
        self.feature_columns = [c for c in frame.columns if c != "label"]

    def frame(self, node: str) -> pd.DataFrame:
        return self._frame.copy()


def test_a_node_that_stops_reporting_for_six_hours_is_flagged_in_every_gap_window():
    dataset = _OneNode()
    node = prepare_federated_data(dataset, split="chronological", train=0.8).node_data["7"]
    silent = node.index_test.isin(dataset.silent)
    assert silent.sum() == 24 and (node.gap("test")[silent] == 1).all() and (node.gap("test")[~silent] == 0).all()
    detector = AnomalyDetector(encoder_units=(8, 4), epochs=5, seed=0).fit(node.x_train, gap=node.gap("train"))
    flags = detector.predict(node.x_test, gap=node.gap("test"))
    assert flags[silent].all(), "a window without telemetry was not flagged"
    assert flags[~silent].mean() < 0.2
    # The gap share is in the score: a silent window scores at least gap_weight above its reconstruction error.
    scores = detector.score_samples(node.x_test, gap=node.gap("test"))
    reconstruction = detector.score_samples(node.x_test)
    np.testing.assert_allclose(scores[silent] - reconstruction[silent], 1.0)
