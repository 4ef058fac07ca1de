"""Reader for the per-node pre-aggregated M100 release (Zenodo 7541722).

Layout: ``{rack}/{node}.parquet`` (a flat folder of ``{node}.parquet`` works
too). Each file holds 15-minute windows: ``timestamp`` (UTC), then
``{metric}_avg``, ``{metric}_std``, ``{metric}_min``, ``{metric}_max`` for
every IPMI metric of that node, and ``value``, the Nagios state of the window
(0-3, NaN allowed). The release carries no ``nagiosdrained``, so the
``drained`` label rule is not available for it.

Windows coarser than the release's 15 minutes pool the rows of a window with
equal weights (avg = mean of avgs, std from the pooled variance, min of mins,
max of maxes).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import SchemaError, SelectionError, SourceNotFoundError
from .._progress import progress_bar
from .source import SourceWindows, nagios_frame, to_utc
from .tables import clean_timestamps, numeric_columns, read_table
from .windows import STATS, finalize, window_ns

PLUGIN = "ipmi_pub"


def discover_aggregated(source: str | Path) -> dict[str, Path]:
    """Map node id -> file for ``{rack}/{node}.parquet`` or ``{node}.parquet``."""
    source = Path(source)
    if not source.exists():
        raise SourceNotFoundError(f"aggregated source not found: {source}")
    paths = sorted(source.glob("*.parquet")) + sorted(source.glob("*/*.parquet"))
    if not paths:
        raise SourceNotFoundError(f"no {{rack}}/{{node}}.parquet files under {source}")
    files: dict[str, Path] = {}
    for path in paths:
        node = path.stem
        if node in files:
            raise SchemaError(f"node {node} appears twice: {files[node]} and {path}")
        files[node] = path
    return files


def _metrics_of(columns: list[str], path: Path) -> list[str]:
    metrics = [c[: -len("_avg")] for c in columns if c.endswith("_avg")]
    if not metrics:
        raise SchemaError(f"{path}: no '<metric>_avg' columns: not a pre-aggregated M100 file")
    for metric in metrics:
        missing = [f"{metric}_{s}" for s in STATS if f"{metric}_{s}" not in columns]
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(missing)}")
    return metrics


def read_aggregated(
    source: str | Path,
    *,
    window: str = "15min",
    nodes: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    metrics: list[str] | None = None,
    show_progress: bool = False,
) -> SourceWindows:
    """Read per-node pre-aggregated files into window statistics.

    Raises:
        SourceNotFoundError, SchemaError, CorruptFileError, SelectionError:
            Each naming the file, node or column at fault.
    """
    length_ns = window_ns(window)
    files = discover_aggregated(source)
    if nodes:
        absent = sorted({str(n) for n in nodes} - set(files))
        if absent:
            raise SelectionError(f"node(s) {', '.join(absent)} not found in {source}")
        files = {n: p for n, p in files.items() if n in {str(x) for x in nodes}}
    result = SourceWindows(source=str(source), format="aggregated", window=str(window), sample_counts=False)
    per_metric: dict[str, dict] = defaultdict(dict)
    for node, path in progress_bar(list(files.items()), desc="nodes", disable=not show_progress):
        frame = clean_timestamps(read_table(path), path, result)
        if start is not None:
            frame = frame[frame["timestamp"] >= to_utc(start)]
        if end is not None:
            frame = frame[frame["timestamp"] < to_utc(end)]
        node_metrics = _metrics_of(list(frame.columns), path)
        if metrics:
            node_metrics = [m for m in node_metrics if m in set(metrics)]
        window = (frame["timestamp"].astype("int64").to_numpy() // length_ns) * length_ns
        stat_columns = [f"{m}_{s}" for m in node_metrics for s in STATS]
        values = numeric_columns(frame, stat_columns, path, result)
        for metric in node_metrics:
            avg = values.get(f"{metric}_avg")
            if avg is None:
                continue
            present = avg.notna().to_numpy()
            if not present.any():
                continue
            std = values[f"{metric}_std"].to_numpy()[present]
            rows = pd.DataFrame(
                {
                    "node": node,
                    "window": window[present],
                    "n": 1,
                    "mean": avg.to_numpy()[present],
                    "m2": np.nan_to_num(std) ** 2,
                    "min": values[f"{metric}_min"].to_numpy()[present],
                    "max": values[f"{metric}_max"].to_numpy()[present],
                }
            )
            per_metric[metric][node] = finalize(rows)[node]
        if "value" in frame.columns:
            state = pd.to_numeric(frame["value"], errors="coerce")
            bad = state.notna() & ~state.isin([0, 1, 2, 3])
            if bad.any():
                raise SchemaError(f"{path}: Nagios column 'value' holds values other than 0-3")
            summary = pd.DataFrame(
                {"state": state, "warning": (state == 1) * 1.0, "critical": (state == 2) * 1.0,
                 "unknown": (state == 3) * 1.0}
            ).groupby(window).agg({"state": "max", "warning": "sum", "critical": "sum", "unknown": "sum"})
            known = summary["state"].notna().to_numpy()
            summary = summary[known]
            result.nagios[node] = nagios_frame(summary.index.to_numpy(), summary["state"], summary["warning"],
                                               summary["critical"], summary["unknown"], np.full(len(summary), np.nan))
        else:
            result.count("files_without_nagios_value")
    if metrics:
        unknown = sorted(set(metrics) - set(per_metric))
        if unknown:
            raise SelectionError(f"unknown metric(s) {', '.join(unknown)} in {source}")
    for metric, per_node in per_metric.items():
        result.add_metric(metric, PLUGIN, per_node)
    if result.counts.get("files_without_nagios_value"):
        result.notes.append(f"{result.counts['files_without_nagios_value']} file(s) have no Nagios 'value' column: no labels there")
    return result
