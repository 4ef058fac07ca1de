"""Reader for wide per-node tables (CSV or Parquet).

A wide table has a ``timestamp`` column and one column per metric, such as
per-node exports of 15-minute means. The real four-node sample shipped with
ftl-tff (``m100-2209-rebuilt``) is of this kind. Files are found in a folder
and grouped by node and plugin from their names::

    ipmi_rebuild_node10.csv      -> plugin "ipmi",     node "10"
    ganglia_rebuild_node10.csv   -> plugin "ganglia",  node "10"
    jobtable_rebuild_node10.csv  -> plugin "jobtable", node "10"
    nagios_rebuild_node10.csv    -> labels of node "10"
    381.parquet                  -> plugin "wide",     node "381"

The plugin is the first ``_``-separated word of the file name; the node is the
text after ``node`` (or the whole stem when there is no ``node`` in it). A
table may instead carry a ``node`` column, and then holds several nodes.

Labels come from label tables (file names starting with ``nagios`` or
``labels``) or from columns of the feature tables: Nagios check columns with
states 0-3 and ``nagiosdrained``, or a ready-made ``label`` column (1 =
anomalous; it counts as a CRITICAL state, so use the default ``critical``
rule). Each metric column is windowed like raw readings: with one value per
window (a table at the window's own cadence) only ``{metric}_avg`` is kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import SchemaError, SelectionError, SourceNotFoundError
from .._progress import progress_bar
from .source import SourceWindows, nagios_frame, to_utc
from .tables import clean_timestamps, numeric_columns, read_table, table_suffix
from .windows import finalize, window_ns

LABEL_PREFIXES = ("nagios", "labels", "label")
_NODE_IN_NAME = re.compile(r"node[_-]?([A-Za-z0-9]+)$")
_NON_FEATURE = {"timestamp", "node", "label", "nagiosdrained", "value"}


def _describe(path: Path) -> tuple[str, str | None]:
    """(plugin, node) from a file name; node None when not in the name."""
    stem = path.name[: -len(table_suffix(path))]
    match = _NODE_IN_NAME.search(stem)
    plugin = stem.split("_")[0].lower() if "_" in stem else "wide"
    if match:
        return plugin, match.group(1)
    return "wide", stem


def discover_wide(source: str | Path) -> list[Path]:
    """List the table files of a wide source (a folder or one file)."""
    source = Path(source)
    if not source.exists():
        raise SourceNotFoundError(f"wide source not found: {source}")
    if source.is_file():
        if table_suffix(source) is None:
            raise SourceNotFoundError(f"{source}: not a .csv, .csv.gz or .parquet table")
        return [source]
    files = sorted(p for p in source.iterdir() if p.is_file() and table_suffix(p) is not None)
    if not files:
        raise SourceNotFoundError(f"no .csv, .csv.gz or .parquet tables in {source}")
    return files


def _window_partials(frame: pd.DataFrame, columns: list[str], node: str, length_ns: int) -> dict[str, pd.DataFrame]:
    """Partial window statistics of each column of one node's table."""
    window = (frame["timestamp"].astype("int64").to_numpy() // length_ns) * length_ns
    grouped = frame[columns].groupby(window)
    n = grouped.count()
    mean = grouped.mean()
    var = grouped.var(ddof=0)
    low = grouped.min()
    high = grouped.max()
    out = {}
    for column in columns:
        present = n[column].to_numpy() > 0
        if not present.any():
            continue
        counts = n[column].to_numpy()[present]
        out[column] = pd.DataFrame(
            {
                "node": node,
                "window": n.index.to_numpy(np.int64)[present],
                "n": counts,
                "mean": mean[column].to_numpy()[present],
                "m2": np.nan_to_num(var[column].to_numpy()[present]) * counts,
                "min": low[column].to_numpy()[present],
                "max": high[column].to_numpy()[present],
            }
        )
    return out


def _labels_from(frame: pd.DataFrame, node: str, length_ns: int, path: Path) -> pd.DataFrame | None:
    """Nagios summary per window from check-state columns or a ``label`` column."""
    window = (frame["timestamp"].astype("int64").to_numpy() // length_ns) * length_ns
    if "label" in frame.columns:
        label = pd.to_numeric(frame["label"], errors="coerce")
        if not label.dropna().isin([0, 1]).all():
            raise SchemaError(f"{path}: column 'label' must hold 0/1 values")
        states = (label * 2).to_frame("label")
    else:
        checks = [c for c in frame.columns if c not in _NON_FEATURE]
        if not checks and "nagiosdrained" not in frame.columns:
            return None
        states = frame[checks].apply(pd.to_numeric, errors="coerce")
        bad = states.notna() & ~states.isin([0, 1, 2, 3])
        if bad.to_numpy().any():
            column = states.columns[bad.any().to_numpy()][0]
            raise SchemaError(f"{path}: Nagios column {column!r} holds values other than 0-3")
    grouped = pd.DataFrame(
        {
            "state": states.max(axis=1, skipna=True) if states.shape[1] else np.nan,
            "warning": (states == 1).sum(axis=1),
            "critical": (states == 2).sum(axis=1),
            "unknown": (states == 3).sum(axis=1),
            "drained": pd.to_numeric(frame["nagiosdrained"], errors="coerce") if "nagiosdrained" in frame.columns else np.nan,
        }
    ).groupby(window)
    summary = grouped.agg({"state": "max", "warning": "sum", "critical": "sum", "unknown": "sum", "drained": "max"})
    return nagios_frame(summary.index.to_numpy(), summary["state"], summary["warning"], summary["critical"],
                        summary["unknown"], summary["drained"])


def _by_node(frame: pd.DataFrame, default_node: str | None, path: Path):
    if "node" in frame.columns:
        for node, rows in frame.groupby(frame["node"].astype(str), sort=True):
            yield str(node), rows.drop(columns="node")
    elif default_node is None:
        raise SchemaError(f"{path}: cannot tell the node: no 'node' column and no node id in the file name")
    else:
        yield default_node, frame


def read_wide(
    source: str | Path,
    *,
    window: str = "15min",
    nodes: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    plugins: list[str] | None = None,
    show_progress: bool = False,
) -> SourceWindows:
    """Read wide per-node tables into window statistics.

    Args:
        source: A folder of tables, or one table.
        window: Window length.
        nodes: Node ids to keep (all when None).
        start: Inclusive start (UTC if tz-naive).
        end: Exclusive end.
        plugins: Feature plugins (file-name prefixes) to read, e.g.
            ``["ipmi", "ganglia"]``; all when None.
        show_progress: Show a progress bar per file.

    Raises:
        SourceNotFoundError, SchemaError, CorruptFileError, SelectionError:
            Each naming the file, node or column at fault.
    """
    length_ns = window_ns(window)
    files = discover_wide(source)
    result = SourceWindows(source=str(source), format="wide", window=str(window), sample_counts=False)
    start_ts = to_utc(start)
    end_ts = to_utc(end)
    wanted_nodes = {str(n) for n in nodes} if nodes else None
    found_plugins = sorted({_describe(p)[0] for p in files} - set(LABEL_PREFIXES))
    if plugins:
        unknown = [p for p in plugins if p not in found_plugins]
        if unknown:
            raise SelectionError(f"unknown plugin(s) {', '.join(unknown)} in {source}: found {', '.join(found_plugins)}")
    partials: dict[tuple[str, str], list[pd.DataFrame]] = defaultdict(list)
    label_parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    seen_nodes: set[str] = set()
    for path in progress_bar(files, desc="tables", disable=not show_progress):
        plugin, default_node = _describe(path)
        is_label_table = plugin in LABEL_PREFIXES
        if not is_label_table and plugins and plugin not in plugins:
            continue
        for node, rows in _by_node(read_table(path), default_node, path):
            seen_nodes.add(node)
            if wanted_nodes is not None and node not in wanted_nodes:
                continue
            rows = clean_timestamps(rows, path, result)
            if start_ts is not None:
                rows = rows[rows["timestamp"] >= start_ts]
            if end_ts is not None:
                rows = rows[rows["timestamp"] < end_ts]
            if is_label_table or "label" in rows.columns or "nagiosdrained" in rows.columns:
                label_rows = rows if is_label_table else rows[["timestamp", *[c for c in ("label", "nagiosdrained") if c in rows]]]
                labels = _labels_from(label_rows, node, length_ns, path)
                if labels is not None:
                    label_parts[node].append(labels)
            if is_label_table:
                continue
            columns = [c for c in rows.columns if c not in _NON_FEATURE]
            values = numeric_columns(rows, columns, path, result)
            values.insert(0, "timestamp", rows["timestamp"])
            for column, part in _window_partials(values, list(values.columns[1:]), node, length_ns).items():
                partials[(plugin, column)].append(part)
    if wanted_nodes is not None:
        absent = sorted(wanted_nodes - seen_nodes)
        if absent:
            raise SelectionError(f"node(s) {', '.join(absent)} not found in {source}")
    for (plugin, column), parts in partials.items():
        metric = column if column not in result.metric_plugins else f"{plugin}_{column}"
        result.add_metric(metric, plugin, finalize(parts))
    for node, parts in label_parts.items():
        merged = pd.concat(parts).groupby(level=0).agg(
            {"nagios_state_max": "max", "nagios_warning": "sum", "nagios_critical": "sum",
             "nagios_unknown": "sum", "nagios_drained": "max"}
        )
        result.nagios[node] = merged
    if not result.metrics:
        raise SelectionError(f"{source}: no numeric feature columns in the selected tables")
    if not result.nagios:
        result.notes.append("no labels found (no nagios/labels table, no 'label' column): every window is labelled 0")
    return result
