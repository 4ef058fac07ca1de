"""Wide per-node tables and the pre-aggregated release: readers and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data import prepare
from ftl_tff.data.readers.aggregated import read_aggregated
from ftl_tff.data.readers.wide import read_wide
from ftl_tff.errors import (
    ConfigError,
    CorruptFileError,
    SchemaError,
    SelectionError,
    SourceNotFoundError,
)

GRID = pd.date_range("2022-09-01", periods=6, freq="15min", tz="UTC")


def _wide(folder, name, frame):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def _feature_table(offset=0.0):
    return pd.DataFrame({"timestamp": GRID.astype(str), "p0_power": np.arange(6) + offset, "fan0_0": 5000.0 + offset})


def _nagios_table(states):
    return pd.DataFrame({"timestamp": GRID.astype(str), "nagiosdrained": 0, "alive::ping": states,
                         "ssh::daemon": 0})


def test_wide_folder_groups_files_by_plugin_and_node(tmp_path):
    src = tmp_path / "wide"
    _wide(src, "ipmi_x_node3.csv", _feature_table())
    _wide(src, "ganglia_x_node3.parquet", pd.DataFrame({"timestamp": GRID, "load_one": 1.0}))
    _wide(src, "nagios_x_node3.csv", _nagios_table([0, 2, 2, 0, 3, 0]))
    _wide(src, "ipmi_x_node8.csv", _feature_table(1.0))
    _wide(src, "nagios_x_node8.csv", _nagios_table([0] * 6))
    source = read_wide(src)
    assert source.nodes == ["3", "8"]
    assert source.metric_plugins == {"p0_power": "ipmi", "fan0_0": "ipmi", "load_one": "ganglia"}
    np.testing.assert_allclose(source.metrics["p0_power"]["8"].avg, np.arange(6) + 1.0)
    ds = prepare(src, tmp_path / "out", "wide")
    # One value per window: only the average is kept.
    assert "p0_power_avg" in ds.feature_columns and "p0_power_std" not in ds.feature_columns
    assert ds.frame("3")["label"].tolist() == [0, 1, 1, 0, 0, 0]
    assert prepare(src, tmp_path / "o2", "wide", label_rule="nonzero").frame("3")["label"].tolist() == [0, 1, 1, 0, 1, 0]
    # node 8 has no ganglia table: intersection drops load_one and says so.
    assert ds.manifest["nodes"]["3"]["columns_dropped_by_alignment"] == ["load_one_avg"]


def test_wide_finer_than_the_window_gets_all_four_statistics(tmp_path):
    src = tmp_path / "wide"
    minutes = pd.date_range("2022-09-01", periods=30, freq="1min", tz="UTC")
    _wide(src, "7.csv", pd.DataFrame({"timestamp": minutes.astype(str), "temp": np.arange(30.0), "label": [0] * 29 + [1]}))
    ds = prepare(src, tmp_path / "out", "wide")
    frame = ds.frame("7")
    np.testing.assert_allclose(frame["temp_avg"], [7.0, 22.0])
    np.testing.assert_allclose(frame["temp_std"], [np.arange(15.0).std()] * 2)
    assert frame["label"].tolist() == [0, 1]


def test_wide_table_with_a_node_column_and_label_column(tmp_path):
    table = pd.concat([_feature_table().assign(node=n, label=[0, 0, 1, 0, 0, 0]) for n in ("11", "12")])
    path = _wide(tmp_path, "all.parquet", table)
    ds = prepare(path, tmp_path / "out", "wide")
    assert ds.nodes == ["11", "12"]
    assert ds.frame("12")["label"].tolist() == [0, 0, 1, 0, 0, 0]


def test_wide_repairs_are_counted(tmp_path):
    src = tmp_path / "wide"
    table = _feature_table()
    naive = GRID.tz_localize(None).astype(str)
    table["timestamp"] = list(naive)
    table = pd.concat([table.iloc[[3]], table]).reset_index(drop=True)  # duplicate + unsorted
    table["p0_power"] = table["p0_power"].astype(object)
    table.loc[2, "p0_power"] = "err"  # pandas already reads "n/a" and "" as missing
    table["os_name"] = "Linux"
    _wide(src, "ipmi_node1.csv", table)
    source = read_wide(src)
    assert source.counts["tables_with_naive_timestamps_assumed_utc"] == 1
    assert source.counts["duplicate_timestamp_rows_dropped"] == 1
    assert source.counts["tables_sorted_by_timestamp"] == 1
    assert source.counts["non_numeric_cells_set_to_nan"] == 1
    assert source.counts["text_columns_skipped"] == 1
    assert "os_name" not in source.metrics
    assert any("p0_power" in note and "non-numeric" in note for note in source.notes)


def test_wide_bad_input(tmp_path):
    with pytest.raises(SourceNotFoundError):
        read_wide(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceNotFoundError, match="no .csv"):
        read_wide(tmp_path / "empty")
    src = tmp_path / "w1"
    _wide(src, "ipmi_node1.csv", pd.DataFrame({"time": GRID.astype(str), "x": 1.0}))
    with pytest.raises(SchemaError, match=r"ipmi_node1.csv: no 'timestamp' column"):
        read_wide(src)
    src = tmp_path / "w2"
    _wide(src, "ipmi_node1.csv", pd.DataFrame({"timestamp": ["yesterday"] * 3, "x": 1.0}))
    with pytest.raises(SchemaError, match="timestamp"):
        read_wide(src)
    src = tmp_path / "w3"
    _wide(src, "ipmi_node1.csv", _feature_table())
    _wide(src, "nagios_node1.csv", _nagios_table([0, 7, 0, 0, 0, 0]))
    with pytest.raises(SchemaError, match="alive::ping"):
        read_wide(src)
    src = tmp_path / "w4"
    src.mkdir()
    (src / "ipmi_node1.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CorruptFileError, match="ipmi_node1.parquet"):
        read_wide(src)
    with pytest.raises(SelectionError, match="node.*99"):
        read_wide(tmp_path / "w3", nodes=["99"])
    with pytest.raises(ConfigError, match="metrics"):
        prepare(tmp_path / "w3", tmp_path / "o", "wide", metrics=["x"])


# --- pre-aggregated release ------------------------------------------------------

def _aggregated(folder, node, values, states):
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"timestamp": GRID[: len(values)]})
    for metric, offset in (("p0_power", 0.0), ("ambient", 20.0)):
        frame[f"{metric}_avg"] = np.asarray(values) + offset
        frame[f"{metric}_std"] = 1.0
        frame[f"{metric}_min"] = np.asarray(values) + offset - 1
        frame[f"{metric}_max"] = np.asarray(values) + offset + 1
    frame["value"] = states
    frame.to_parquet(folder / f"{node}.parquet")


def test_aggregated_reads_racks_and_states(tmp_path):
    _aggregated(tmp_path / "agg" / "0", "5", [1.0, 2.0, 3.0, 4.0], [0.0, 2.0, np.nan, 3.0])
    _aggregated(tmp_path / "agg" / "1", "25", [5.0, 6.0, 7.0, 8.0], [0.0, 0.0, 0.0, 0.0])
    ds = prepare(tmp_path / "agg", tmp_path / "out", "aggregated")
    assert ds.nodes == ["5", "25"]
    frame = ds.frame("5")
    np.testing.assert_allclose(frame["p0_power_avg"], [1, 2, 3, 4])
    np.testing.assert_allclose(frame["p0_power_std"], [1, 1, 1, 1])
    assert frame["label"].tolist() == [0, 1, 0, 0]
    assert ds.manifest["nodes"]["5"]["windows_without_label"] == 1
    assert prepare(tmp_path / "agg", tmp_path / "o2", "aggregated",
                   label_rule="critical_or_unknown").frame("5")["label"].tolist() == [0, 1, 0, 1]


def test_aggregated_coarser_window_pools_rows(tmp_path):
    _aggregated(tmp_path / "agg", "5", [1.0, 3.0, 5.0, 7.0], [0, 0, 0, 2])
    frame = prepare(tmp_path / "agg", tmp_path / "out", "aggregated", window="1h").frame("5")
    assert len(frame) == 1
    assert frame["p0_power_avg"].iloc[0] == pytest.approx(4.0)
    # Pooled variance = mean within-row variance (1) + variance of the row means (5).
    assert frame["p0_power_std"].iloc[0] == pytest.approx(np.sqrt(1 + np.var([1, 3, 5, 7])))
    assert (frame["p0_power_min"].iloc[0], frame["p0_power_max"].iloc[0]) == (0.0, 8.0)
    assert frame["label"].iloc[0] == 1


def test_aggregated_bad_input(tmp_path):
    with pytest.raises(SourceNotFoundError):
        read_aggregated(tmp_path / "none")
    (tmp_path / "a").mkdir()
    pd.DataFrame({"timestamp": GRID, "p0_power_avg": 1.0, "value": 0}).to_parquet(tmp_path / "a" / "3.parquet")
    with pytest.raises(SchemaError, match=r"3.parquet: missing column\(s\) p0_power_std"):
        read_aggregated(tmp_path / "a")
    _aggregated(tmp_path / "b", "3", [1.0], [0])
    with pytest.raises(ConfigError, match="nagiosdrained"):
        prepare(tmp_path / "b", tmp_path / "o", "aggregated", label_rule="drained")
    with pytest.raises(SelectionError, match="nope"):
        read_aggregated(tmp_path / "b", metrics=["nope"])
