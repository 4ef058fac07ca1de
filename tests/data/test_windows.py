"""Window statistics against a hand computation, and exact merging of pieces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ftl_tff.data.readers.windows import (
    STATS,
    combine_partials,
    finalize,
    partial_stats,
    pool_metrics,
    window_ns,
)
from ftl_tff.errors import ConfigError

MIN15 = window_ns("15min")


def _table(node, seconds, values, start="2022-09-01 00:00"):
    base = pd.Timestamp(start, tz="UTC")
    ts = [base + pd.Timedelta(s, "s") for s in seconds]
    return pa.table(
        {
            "node": pa.array([node] * len(values), pa.string()),
            "timestamp": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "value": pa.array(values, pa.float64()),
        }
    )


def test_window_stats_match_hand_computation():
    # Window 00:00-00:15 gets 3 readings, 00:15-00:30 gets 2; 899 s is still
    # in the first window, 900 s starts the second.
    stats = finalize(partial_stats(_table("7", [0, 20, 899, 900, 1000], [1.0, 2.0, 6.0, 10.0, 14.0]), MIN15))["7"]
    first = np.array([1.0, 2.0, 6.0])
    second = np.array([10.0, 14.0])
    start = pd.Timestamp("2022-09-01", tz="UTC").value
    np.testing.assert_array_equal(stats.window, [start, start + MIN15])
    np.testing.assert_array_equal(stats.count, [3, 2])
    np.testing.assert_allclose(stats.avg, [first.mean(), second.mean()])
    np.testing.assert_allclose(stats.std, [first.std(ddof=0), second.std(ddof=0)], rtol=1e-6)
    np.testing.assert_array_equal(stats.min, [1.0, 10.0])
    np.testing.assert_array_equal(stats.max, [6.0, 14.0])


def test_single_reading_has_zero_std_and_nulls_are_ignored():
    table = _table("1", [0, 60], [5.0, None])
    stats = finalize(partial_stats(table, MIN15))["1"]
    assert stats.count.tolist() == [1]
    assert stats.std.tolist() == [0.0]


def test_pieces_merge_to_the_same_statistics_as_one_read():
    rng = np.random.default_rng(3)
    seconds = rng.integers(0, 6 * 3600, 2000).tolist()
    values = rng.normal(1e5, 3.0, 2000).tolist()  # large offset: catches naive sum-of-squares variance
    whole = finalize(partial_stats(_table("3", seconds, values), MIN15))["3"]
    pieces = [partial_stats(_table("3", seconds[i:i + 300], values[i:i + 300]), MIN15) for i in range(0, 2000, 300)]
    merged = finalize(combine_partials(pieces))["3"]
    np.testing.assert_array_equal(whole.window, merged.window)
    np.testing.assert_array_equal(whole.count, merged.count)
    for stat in STATS:
        np.testing.assert_allclose(getattr(whole, stat), getattr(merged, stat), rtol=1e-6, atol=1e-6)


def test_pool_metrics_equals_statistics_of_all_readings():
    a = finalize(partial_stats(_table("1", [0, 100, 1000], [40.0, 42.0, 50.0]), MIN15))["1"]
    b = finalize(partial_stats(_table("1", [10, 1100], [60.0, 30.0]), MIN15))["1"]
    pooled = pool_metrics([a, b])
    first = np.array([40.0, 42.0, 60.0])
    second = np.array([50.0, 30.0])
    np.testing.assert_allclose(pooled.avg, [first.mean(), second.mean()])
    np.testing.assert_allclose(pooled.std, [first.std(), second.std()])
    np.testing.assert_array_equal(pooled.min, [40.0, 30.0])
    np.testing.assert_array_equal(pooled.max, [60.0, 50.0])


@pytest.mark.parametrize("bad", ["0min", "-15min", "1500ms", "fifteen"])
def test_invalid_window_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="window"):
        window_ns(bad)


def test_windows_align_to_the_epoch():
    stats = finalize(partial_stats(_table("1", [0], [1.0], start="2022-09-01 00:07:30"), window_ns("15min")))["1"]
    assert pd.Timestamp(stats.window[0], tz="UTC") == pd.Timestamp("2022-09-01 00:00", tz="UTC")
    hourly = finalize(partial_stats(_table("1", [0], [1.0], start="2022-09-01 00:47:00"), window_ns("1h")))["1"]
    assert pd.Timestamp(hourly.window[0], tz="UTC") == pd.Timestamp("2022-09-01 00:00", tz="UTC")
