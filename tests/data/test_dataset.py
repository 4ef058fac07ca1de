"""The processed dataset on disk, and the real four-node M100 sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftl_tff import __version__
from ftl_tff.data import load_dataset, prepare
from ftl_tff.errors import CorruptFileError, EmptyNodeError, SchemaError, SourceNotFoundError

# Windows with any Nagios check CRITICAL, per node, as the sample's README gives them.
REAL_CRITICAL = {"10": 774, "38": 348, "104": 841, "355": 111}


def test_manifest_records_what_a_reader_needs(small_raw, tmp_path):
    ds = prepare(small_raw, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["library_version"] == __version__
    assert manifest["source"] == {"path": str(small_raw.resolve()), "format": "raw"}
    assert manifest["window"] == "15min" and manifest["label_rule"] == "critical"
    assert manifest["feature_columns"] == ds.feature_columns
    assert manifest["nodes"]["1"]["windows"] == 4 and manifest["nodes"]["1"]["anomalous_windows"] == 1
    assert manifest["metric_plugins"]["load_one"] == "ganglia_pub"
    assert sorted(p.name for p in (tmp_path / "out" / "nodes").iterdir()) == ["1.parquet", "2.parquet"]


def test_reload_gives_identical_frames(small_raw, tmp_path):
    written = prepare(small_raw, tmp_path / "out")
    again = load_dataset(tmp_path / "out")
    for node in written.nodes:
        frame = again.frame(node)
        assert str(frame.index.tz) == "UTC" and frame.index.name == "window_start"
        assert frame.index.is_monotonic_increasing
        assert frame[again.feature_columns].dtypes.unique().tolist() == [np.float32]
        assert frame.equals(written.frame(node))
    summary = again.summary()
    assert summary.set_index("node").loc["1", "anomalous_windows"] == 1


def test_load_errors_name_the_path(small_raw, tmp_path):
    with pytest.raises(SourceNotFoundError, match="not found"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceNotFoundError, match="manifest.json"):
        load_dataset(tmp_path / "plain")
    ds = prepare(small_raw, tmp_path / "out")
    (tmp_path / "out" / "nodes" / "2.parquet").write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match="2.parquet"):
        ds.frame("2")
    (tmp_path / "out" / "nodes" / "1.parquet").unlink()
    with pytest.raises(SourceNotFoundError, match="1.parquet"):
        ds.frame("1")
    with pytest.raises(EmptyNodeError, match="node 5"):
        ds.frame("5")
    (tmp_path / "out" / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="manifest.json"):
        load_dataset(tmp_path / "out")
    (tmp_path / "out" / "manifest.json").write_text("{}")
    with pytest.raises(SchemaError, match="feature_columns"):
        load_dataset(tmp_path / "out")


def test_rerun_replaces_stale_node_files(small_raw, tmp_path):
    prepare(small_raw, tmp_path / "out")
    ds = prepare(small_raw, tmp_path / "out", nodes=["2"])
    assert ds.nodes == ["2"]
    assert [p.name for p in (tmp_path / "out" / "nodes").iterdir()] == ["2.parquet"]


def test_real_sample_critical_windows_match_its_readme(real_sample, tmp_path):
    ds = prepare(real_sample, tmp_path / "real", "wide")
    assert ds.nodes == ["10", "38", "104", "355"]
    counts = {node: info["anomalous_windows"] for node, info in ds.manifest["nodes"].items()}
    assert counts == REAL_CRITICAL
    # Every node gets the same columns: per-socket core temperatures pooled
    # from different per-node core sets, plus the coverage features.
    assert {"p0_core_temp_avg", "p1_core_temp_max", "cov_ipmi_share", "cov_ganglia_share", "cov_share"} <= set(
        ds.feature_columns)
    assert not any("_core1" in c for c in ds.feature_columns)
    frame = ds.frame("10")
    assert frame.index[0].isoformat() == "2022-09-01T00:00:00+00:00"
    # Ganglia rows are missing where node 10 did not report: the windows are
    # kept, coverage says so, and the missing cells are counted.
    assert (frame["cov_ganglia_share"] == 0).sum() > 400
    assert ds.manifest["nodes"]["10"]["missing_cells"] > 0
    drained = prepare(real_sample, tmp_path / "drained", "wide", label_rule="drained")
    assert drained.manifest["nodes"]["355"]["anomalous_windows"] == 16
