"""Shared fixtures: hand-built raw M100 trees and the real four-node sample."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLE = REPO / "examples" / "data" / "m100-2209-rebuilt"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_raw_file(
    root: Path,
    year_month: str,
    plugin: str,
    metric: str,
    rows: pd.DataFrame,
    value_type: pa.DataType | None = None,
    name: str = "a_0.parquet",
    timestamp_type: pa.DataType | None = None,
) -> Path:
    """Write one raw-release file (``timestamp, value, node`` [+ nagios columns]).

    ``value_type`` defaults to float64 and ``timestamp_type`` to the release's
    ``timestamp[ms, tz=UTC]``.
    """
    value_type = value_type or pa.float64()
    timestamp_type = timestamp_type or pa.timestamp("ms", tz="UTC")
    folder = root / f"year_month={year_month}" / f"plugin={plugin}" / f"metric={metric}"
    folder.mkdir(parents=True, exist_ok=True)
    columns = {
        "timestamp": pa.array(pd.to_datetime(rows["timestamp"], utc=True)).cast(timestamp_type)
        if pa.types.is_timestamp(timestamp_type) else pa.array(rows["timestamp"], timestamp_type),
        "value": pa.array(rows["value"].to_numpy()).cast(value_type),  # NaN stays NaN, as in real files
    }
    for extra in ("description", "host_group", "nagiosdrained", "state_type"):
        if extra in rows:
            columns[extra] = pa.array(rows[extra].astype(str))
    columns["node"] = pa.array(rows["node"].astype(str)).dictionary_encode()
    path = folder / name
    pq.write_table(pa.table(columns), path, compression="zstd")
    return path


def readings(node: str, start: str, seconds: list[int], values: list[float]) -> pd.DataFrame:
    """Readings of one node at ``start + seconds``."""
    base = pd.Timestamp(start, tz="UTC")
    return pd.DataFrame(
        {"timestamp": [base + pd.Timedelta(s, "s") for s in seconds], "value": values, "node": node}
    )


def nagios_rows(node: str, start: str, states: list[int], drained: list[int] | None = None,
                checks: tuple[str, ...] = ("alive::ping", "ssh::daemon")) -> pd.DataFrame:
    """Nagios rows: one per check every 15 minutes, the window's state on the first check."""
    base = pd.Timestamp(start, tz="UTC")
    rows = []
    for i, state in enumerate(states):
        for j, check in enumerate(checks):
            rows.append(
                {
                    "timestamp": base + pd.Timedelta(15 * i, "min") + pd.Timedelta(30 + j, "s"),
                    "value": state if j == 0 else 0,
                    "description": check,
                    "host_group": "compute",
                    "nagiosdrained": str(drained[i] if drained else 0),
                    "node": node,
                    "state_type": "1",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def small_raw(tmp_path: Path) -> Path:
    """Two nodes, one hour (4 windows), three metrics with known readings.

    Node 1 has cores 0 and 1 of socket 0; node 2 has cores 2 and 3: the
    per-core sets differ, as on M100.
    """
    root = tmp_path / "raw"
    start = "2022-09-01 00:00"
    secs = [0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000, 3300]
    for node, offset in (("1", 0.0), ("2", 10.0)):
        power = [100.0 + offset + i for i in range(12)]
        write_raw_file(root, "22-09", "ipmi_pub", "total_power", readings(node, start, secs, power), pa.int32(),
                       name=f"a_{node}.parquet")
        write_raw_file(root, "22-09", "ipmi_pub", "ambient", readings(node, start, secs, [20.5 + offset] * 12),
                       pa.float32(), name=f"a_{node}.parquet")
        cores = (0, 1) if node == "1" else (2, 3)
        for core in cores:
            write_raw_file(root, "22-09", "ipmi_pub", f"p0_core{core}_temp",
                           readings(node, start, secs, [40.0 + core + offset] * 12), pa.int32(),
                           name=f"a_{node}.parquet")
        write_raw_file(root, "22-09", "ganglia_pub", "load_one", readings(node, start, secs, [0.5] * 12), pa.float64(),
                       name=f"a_{node}.parquet")
        write_raw_file(root, "22-09", "nagios_pub", "state",
                       nagios_rows(node, start, [0, 2, 0, 3], drained=[0, 0, 1, 1]), pa.int32(),
                       name=f"a_{node}.parquet")
    # A string metric, as ganglia's os_name: must be skipped with a note.
    os_rows = readings("1", start, [0], [0.0]).assign(value="Linux")
    write_raw_file(root, "22-09", "ganglia_pub", "os_name", os_rows, pa.string())
    return root


@pytest.fixture
def real_sample() -> Path:
    """The real four-node M100 sample (September 2022) carried in examples/data."""
    assert REAL_SAMPLE.exists(), f"missing {REAL_SAMPLE}"
    return REAL_SAMPLE


@pytest.fixture(scope="session", autouse=True)
def no_worker_binary_left():
    """Fail the run if any test left a TFF worker_binary child behind (and stop it)."""
    yield
    from ftl_tff._processes import stop_children_named

    left = stop_children_named("worker_binary")
    assert not left, f"tests left TFF worker_binary processes running: {left}"


__all__ = ["REAL_SAMPLE", "nagios_rows", "readings", "write_raw_file"]
