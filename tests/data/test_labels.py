"""Label rules and anticipation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data import prepare
from ftl_tff.data.building.labels import anticipate, rule_positive
from ftl_tff.errors import ConfigError


def _nagios(states, critical, unknown, drained):
    return pd.DataFrame(
        {
            "nagios_state_max": states,
            "nagios_warning": [float(s == 1) for s in states],
            "nagios_critical": critical,
            "nagios_unknown": unknown,
            "nagios_drained": drained,
        }
    )


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("critical", [0, 0, 1, 0, np.nan]),
        ("nonzero", [0, 1, 1, 1, np.nan]),
        ("critical_or_unknown", [0, 0, 1, 1, np.nan]),
        ("drained", [0, 0, 0, 1, np.nan]),
    ],
)
def test_each_rule(rule, expected):
    nagios = _nagios([0, 1, 2, 3, np.nan], [0, 0, 1, 0, np.nan], [0, 0, 0, 1, np.nan], [0, 0, 0, 1, np.nan])
    np.testing.assert_array_equal(rule_positive(nagios, rule).to_numpy(), expected)


def test_unknown_rule():
    with pytest.raises(ConfigError, match="unknown label rule"):
        rule_positive(_nagios([0], [0], [0], [0]), "loud")


def test_anticipation_looks_ahead_in_time_not_rows():
    index = pd.DatetimeIndex(pd.to_datetime(
        ["2022-09-01 00:00", "2022-09-01 00:15", "2022-09-01 00:30", "2022-09-01 01:15", "2022-09-01 01:30"], utc=True))
    positive = pd.Series([0.0, 0.0, 0.0, 0.0, 1.0], index=index)
    ahead = anticipate(positive, pd.Timedelta("15min"), horizon=2)
    # 01:15 sees 01:30 (1 step); 00:30 is 4 steps before 01:30, too far, even
    # though it is only 2 rows before it; the positive window itself is not
    # in its own future.
    assert ahead.tolist() == [0, 0, 0, 1, 0]
    assert anticipate(positive, pd.Timedelta("15min"), 0).equals(positive)


def test_label_rule_and_horizon_reach_the_dataset(small_raw, tmp_path):
    assert prepare(small_raw, tmp_path / "c", label_rule="critical").frame("1")["label"].tolist() == [0, 1, 0, 0]
    assert prepare(small_raw, tmp_path / "n", label_rule="nonzero").frame("1")["label"].tolist() == [0, 1, 0, 1]
    assert prepare(small_raw, tmp_path / "u", label_rule="critical_or_unknown").frame("1")["label"].tolist() == [0, 1, 0, 1]
    assert prepare(small_raw, tmp_path / "d", label_rule="drained").frame("1")["label"].tolist() == [0, 0, 1, 1]
    ahead = prepare(small_raw, tmp_path / "h", label_rule="critical", horizon=1)
    assert ahead.frame("1")["label"].tolist() == [1, 0, 0, 0]
    assert ahead.manifest["horizon"] == 1
