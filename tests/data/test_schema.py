"""One feature schema across nodes with different sensors; coverage features."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import nagios_rows, readings, write_raw_file

from ftl_tff.data import prepare
from ftl_tff.data.building.schema import align_columns
from ftl_tff.errors import ConfigError

START = "2022-09-01 00:00"


def test_socket_pooling_gives_every_node_the_same_columns(small_raw, tmp_path):
    ds = prepare(small_raw, tmp_path / "out")
    assert [c for c in ds.feature_columns if "core" in c] == [
        "p0_core_temp_avg", "p0_core_temp_std", "p0_core_temp_min", "p0_core_temp_max"]
    assert ds.manifest["nodes"]["1"]["columns_dropped_by_alignment"] == []
    # Node 1: cores 0 and 1 at 40 and 41 degrees: pooled std is their spread.
    first = ds.frame("1").iloc[0]
    assert first["p0_core_temp_avg"] == pytest.approx(40.5)
    assert first["p0_core_temp_std"] == pytest.approx(0.5)
    assert (first["p0_core_temp_min"], first["p0_core_temp_max"]) == (40.0, 41.0)


def test_per_core_with_intersection_drops_and_reports_node_specific_cores(small_raw, tmp_path):
    ds = prepare(small_raw, tmp_path / "out", core_temps="core", align="intersection")
    assert not any("core" in c for c in ds.feature_columns)
    dropped = ds.manifest["nodes"]["1"]["columns_dropped_by_alignment"]
    assert "p0_core0_temp_avg" in dropped and "p0_core1_temp_max" in dropped


def test_per_core_with_union_keeps_all_and_reports_absent_columns(small_raw, tmp_path):
    ds = prepare(small_raw, tmp_path / "out", core_temps="core", align="union")
    assert {"p0_core0_temp_avg", "p0_core2_temp_avg"} <= set(ds.feature_columns)
    assert "p0_core2_temp_avg" in ds.manifest["nodes"]["1"]["columns_absent"]
    assert ds.frame("1")["p0_core2_temp_avg"].isna().all()
    assert ds.manifest["nodes"]["1"]["missing_cells"] >= 4 * 4


def test_align_columns_orders_and_reports():
    shared, diff = align_columns({"a": ["x", "y", "z"], "b": ["y", "x"]}, "intersection")
    assert shared == ["x", "y"] and diff == {"a": ["z"], "b": []}
    shared, diff = align_columns({"a": ["x", "y", "z"], "b": ["y", "x"]}, "union")
    assert shared == ["x", "y", "z"] and diff == {"a": [], "b": ["z"]}


def test_unknown_policy_is_a_config_error(small_raw, tmp_path):
    with pytest.raises(ConfigError, match="align"):
        prepare(small_raw, tmp_path / "out", align="outer")


def test_coverage_features_count_readings_and_reporting_metrics(tmp_path):
    root = tmp_path / "raw"
    # Window 0: both ipmi metrics report (3 + 1 readings); window 1: only p0_power.
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("4", START, [0, 10, 20, 900], [1, 1, 1, 1]), pa.int32())
    write_raw_file(root, "22-09", "ipmi_pub", "p1_power", readings("4", START, [5], [1]), pa.int32())
    write_raw_file(root, "22-09", "ganglia_pub", "load_one", readings("4", START, [0], [0.1]), pa.float32())
    # Window 2: Nagios reports but no telemetry arrives (the node went silent).
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("4", START, [0, 0, 2]), pa.int32())
    ds = prepare(root, tmp_path / "out")
    frame = ds.frame("4")
    np.testing.assert_allclose(frame["cov_ipmi_samples"], [4, 1, 0])
    np.testing.assert_allclose(frame["cov_ipmi_share"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(frame["cov_ganglia_share"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(frame["cov_share"], [1.0, 1 / 3, 0.0])
    assert frame["label"].tolist() == [0, 0, 1]
    info = ds.manifest["nodes"]["4"]
    assert info["windows_without_telemetry"] == 1
    assert info["windows_with_missing"] == 2


def test_empty_window_policy_drop_counts_what_it_drops(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("4", START, [0], [1]), pa.int32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("4", START, [0, 2, 2]), pa.int32())
    ds = prepare(root, tmp_path / "out", empty_windows="drop")
    assert len(ds.frame("4")) == 1
    assert ds.manifest["nodes"]["4"]["windows_dropped"] == 2
    assert ds.manifest["nodes"]["4"]["windows_without_telemetry"] == 2


def test_windows_without_nagios_are_counted(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("4", START, [0, 900, 1800], [1, 2, 3]), pa.int32())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("4", START, [2]), pa.int32())
    ds = prepare(root, tmp_path / "out")
    assert ds.frame("4")["label"].tolist() == [1, 0, 0]
    assert ds.manifest["nodes"]["4"]["windows_without_label"] == 2
    dropped = prepare(root, tmp_path / "out2", unlabelled="drop")
    assert len(dropped.frame("4")) == 1 and dropped.manifest["nodes"]["4"]["windows_dropped"] == 2


def test_node_with_nagios_but_no_telemetry_is_left_out_with_a_note(small_raw, tmp_path):
    write_raw_file(small_raw, "22-09", "nagios_pub", "state", nagios_rows("77", START, [2, 2]), pa.int32(),
                   name="a_77.parquet")
    ds = prepare(small_raw, tmp_path / "out")
    assert "77" not in ds.nodes
    assert ds.manifest["skipped_nodes"] == ["77"]
    assert any("77" in note for note in ds.manifest["notes"])


def test_non_stationary_metrics_are_left_out_by_default_and_named(tmp_path):
    root = tmp_path / "raw"
    write_raw_file(root, "22-09", "ipmi_pub", "p0_power", readings("4", START, [0], [1]), pa.int32())
    write_raw_file(root, "22-09", "ganglia_pub", "boottime", readings("4", START, [0], [1.66e9]), pa.float64())
    write_raw_file(root, "22-09", "ganglia_pub", "Gpu0_total_energy_consumption", readings("4", START, [0], [5e6]),
                   pa.float64())
    write_raw_file(root, "22-09", "nagios_pub", "state", nagios_rows("4", START, [0]), pa.int32())
    ds = prepare(root, tmp_path / "out")
    assert not any(c.startswith(("boottime", "Gpu0_total")) for c in ds.feature_columns)
    assert any("boottime" in note and "Gpu0_total_energy_consumption" in note for note in ds.manifest["notes"])
    kept = prepare(root, tmp_path / "all", exclude_metrics=())
    assert "boottime_avg" in kept.feature_columns
