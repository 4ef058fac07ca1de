"""The raw-release reader: selection, types, repairs and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import nagios_rows, readings, write_raw_file

from ftl_tff.data import prepare
from ftl_tff.data.readers.raw import read_raw, scan_raw
from ftl_tff.errors import CorruptFileError, SchemaError, SelectionError, SourceNotFoundError

START = "2022-09-01 00:00"


def test_reads_selected_metrics_with_exact_window_stats(small_raw):
    source = read_raw(small_raw)
    assert source.nodes == ["1", "2"]
    power = source.metrics["total_power"]["1"]
    # Readings every 300 s: 3 per 15-minute window, values 100..111.
    np.testing.assert_array_equal(power.count, [3, 3, 3, 3])
    np.testing.assert_allclose(power.avg, [101, 104, 107, 110])
    np.testing.assert_allclose(power.std, [np.std([100, 101, 102])] * 4)
    np.testing.assert_allclose(power.min, [100, 103, 106, 109])
    # float32 and int32 value types both arrive as float32 statistics, the
    # precision of the processed dataset.
    assert source.metrics["ambient"]["2"].avg.dtype == np.float32
    assert source.metrics["ambient"]["2"].avg[0] == np.float32(30.5)
    assert source.metric_plugins["load_one"] == "ganglia_pub"


def test_string_metrics_are_skipped_with_a_note(small_raw):
    source = read_raw(small_raw)
    assert "os_name" not in source.metrics
    assert source.counts["string_metrics_skipped"] == 1
    assert any("os_name" in note for note in source.notes)


def test_node_metric_and_time_selection(small_raw):
    source = read_raw(small_raw, nodes=["2"], metrics=["total_power"], start="2022-09-01 00:15", end="2022-09-01 00:45")
    assert list(source.metrics) == ["total_power"]
    assert set(source.metrics["total_power"]) == {"2"}
    starts = pd.to_datetime(source.metrics["total_power"]["2"].window, utc=True)
    assert list(starts.strftime("%H:%M")) == ["00:15", "00:30"]
    assert set(source.nagios) == {"2"}


def test_plugin_selection_reads_only_that_plugin(small_raw):
    source = read_raw(small_raw, plugins=["ganglia_pub"])
    assert set(source.metric_plugins.values()) == {"ganglia_pub"}


def test_nagios_summary_per_window(small_raw):
    nagios = read_raw(small_raw).nagios["1"]
    assert nagios["nagios_state_max"].tolist() == [0, 2, 0, 3]
    assert nagios["nagios_critical"].tolist() == [0, 1, 0, 0]
    assert nagios["nagios_unknown"].tolist() == [0, 0, 0, 1]
    assert nagios["nagios_drained"].tolist() == [0, 0, 1, 1]


def test_non_compute_nagios_hosts_are_dropped_and_counted(small_raw):
    rows = nagios_rows("1001", START, [2, 2]).assign(host_group="login")
    write_raw_file(small_raw, "22-09", "nagios_pub", "state", rows, pa.int32(), name="a_login.parquet")
    source = read_raw(small_raw)
    assert "1001" not in source.nodes
    assert source.counts["nagios_rows_of_non_compute_hosts_dropped"] == len(rows)


def test_several_files_per_folder_and_months_merge_exactly(tmp_path):
    root = tmp_path / "raw"
    values = np.arange(12, dtype=float)
    secs = list(range(0, 3600, 300))
    whole = readings("5", "2022-08-31 23:30", secs, list(values))
    # Same readings split across two files of August and one of September.
    write_raw_file(root, "22-08", "ipmi_pub", "p0_power", whole.iloc[:3], pa.int32(), name="a_0.parquet")
    write_raw_file(root, "22-08", "ipmi_pub", "p0_power", whole.iloc[3:6], pa.int32(), name="a_1.parquet")
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", whole.iloc[6:], pa.int32())
    write_raw_file(root, "22-08", "nagios_pub", "state", nagios_rows("5", "2022-08-31 23:30", [0, 0]), pa.int32())
    stats = read_raw(root).metrics["p0_power"]["5"]
    np.testing.assert_allclose(stats.avg, [values[i:i + 3].mean() for i in range(0, 12, 3)])
    assert stats.count.tolist() == [3, 3, 3, 3]


def test_month_without_a_plugin_is_noted(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-08", "ipmi_pub", "p0_power", readings("5", "2022-08-31 23:00", [0], [1.0]), pa.int32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("5", "2022-09-01", [0]), pa.int32())
    source = read_raw(root)
    assert any("22-09" in note and "no telemetry" in note for note in source.notes)


def test_timestamps_in_seconds_and_naive_are_normalised(tmp_path):
    root = tmp_path / "raw"
    rows = readings("5", START, [0, 60, 1000], [1.0, 2.0, 3.0])
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", rows, pa.int32(), timestamp_type=pa.timestamp("s", tz="UTC"))
    write_raw_file(root, "22-09", "ipmi_pub", "p1_power", rows, pa.int32(), timestamp_type=pa.timestamp("ms"))
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("5", START, [0, 0]), pa.int32())
    source = read_raw(root)
    np.testing.assert_array_equal(source.metrics["p0_power"]["5"].window, source.metrics["p1_power"]["5"].window)
    np.testing.assert_allclose(source.metrics["p0_power"]["5"].avg, [1.5, 3.0])
    assert source.counts["files_with_naive_timestamps_assumed_utc"] >= 1


def test_nan_readings_are_dropped_and_counted(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-09", "ipmi_pub", "ambient", readings("5", START, [0, 10, 20], [1.0, np.nan, 3.0]), pa.float32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("5", START, [0]), pa.int32())
    source = read_raw(root)
    assert source.metrics["ambient"]["5"].count.tolist() == [2]
    assert source.counts["null_or_nonfinite_readings_dropped"] == 1


def test_unsorted_readings_give_the_same_result(small_raw, tmp_path):
    rows = readings("9", START, [1000, 0, 500, 20], [4.0, 1.0, 2.0, 3.0])
    root = tmp_path / "unsorted"
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", rows, pa.int32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("9", START, [0]), pa.int32())
    stats = read_raw(root).metrics["p0_power"]["9"]
    np.testing.assert_allclose(stats.avg, [2.0, 4.0])


# --- bad input -----------------------------------------------------------------

def test_missing_root(tmp_path):
    with pytest.raises(SourceNotFoundError, match="not found"):
        read_raw(tmp_path / "nope")


def test_empty_root(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceNotFoundError, match="no Parquet files"):
        scan_raw(tmp_path / "empty")


def test_unknown_plugin_and_metric(small_raw):
    with pytest.raises(SelectionError, match="slurm_pub"):
        read_raw(small_raw, plugins=["slurm_pub"])
    with pytest.raises(SelectionError, match="no_such_metric"):
        read_raw(small_raw, metrics=["no_such_metric"])


def test_unknown_node_and_empty_range(small_raw):
    with pytest.raises(SelectionError, match="424"):
        read_raw(small_raw, nodes=["424"])
    with pytest.raises(SelectionError, match="empty time range"):
        read_raw(small_raw, start="2022-09-02", end="2022-09-01")


def test_corrupt_parquet_names_the_file(small_raw):
    victim = next(small_raw.glob("year_month=22-09/plugin=ipmi_pub/metric=total_power/*.parquet"))
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="total_power"):
        read_raw(small_raw)


def test_missing_column_names_file_and_column(tmp_path):
    root = tmp_path / "raw"
    path = write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("5", START, [0], [1.0]), pa.int32())
    table = pa.parquet.read_table(path).drop(["node"])
    pa.parquet.write_table(table, path)
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("5", START, [0]), pa.int32())
    with pytest.raises(SchemaError, match=r"p0_power.*missing column\(s\) node"):
        read_raw(root)


def test_no_nagios_means_a_clear_error(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("5", START, [0], [1.0]), pa.int32())
    with pytest.raises(SelectionError, match="nagios_pub"):
        read_raw(root)
    assert read_raw(root, labels=False).nodes == ["5"]


def test_prepare_end_to_end_on_raw(small_raw, tmp_path):
    ds = prepare(small_raw, tmp_path / "out", "raw")
    frame = ds.frame("1")
    assert len(frame) == 4
    assert frame["label"].tolist() == [0, 1, 0, 0]
    # Per-socket pooling gives both nodes the same core-temperature columns.
    assert "p0_core_temp_avg" in ds.feature_columns
    assert not any("core0" in c or "core2" in c for c in ds.feature_columns)
    assert ds.frame("2")["p0_core_temp_avg"].iloc[0] == pytest.approx((52 + 53) / 2)


def test_repeated_readings_are_dropped_and_counted(tmp_path):
    root = tmp_path / "raw"
    rows = readings("9", START, [0, 20, 20, 40], [1.0, 2.0, 2.0, 6.0])
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", rows, pa.int32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("9", START, [0]), pa.int32())
    source = read_raw(root)
    stats = source.metrics["p0_power"]["9"]
    assert stats.count.tolist() == [3]
    assert stats.avg[0] == pytest.approx(3.0)
    assert source.counts["duplicate_readings_dropped"] == 1
    assert any("repeated readings" in note for note in source.notes)
