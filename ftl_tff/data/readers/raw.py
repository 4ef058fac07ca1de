"""Reader for the raw M100 ExaData release (hive-partitioned Parquet).

Layout: ``year_month=YY-MM/plugin=P/metric=M/a_*.parquet``. The files hold no
partition columns, and the type of ``value`` changes from metric to metric
(int32, float32, float64, and string metrics), so a single
``pyarrow.dataset.dataset(root, partitioning="hive")`` fails on real data: its
schema comes from the first file. This reader lists the tree first, keeps only
the selected months, plugins and metrics (nothing else is opened), and then
streams each file record batch by record batch into partial window statistics
(:mod:`ftl_tff.data.readers.windows`). Peak memory is one record batch plus the
window statistics produced so far, whatever the number of months read.

Repairs, each counted and reported in the manifest's notes:

* string-valued metrics (``gexec``, ``os_name``, ...) are skipped;
* null, NaN and infinite readings are dropped;
* tz-naive timestamps are taken as UTC; integer timestamps are read as epoch
  seconds, milliseconds, microseconds or nanoseconds by magnitude;
* Nagios rows of non-compute hosts (ids outside ``0..n_compute_nodes-1``,
  or non-numeric) are dropped.

* a reading that repeats the previous row's node and timestamp is dropped
  (files are written in node/time order, so duplicates sit next to each
  other; duplicates far apart in a file, or across files, are not detected).

Readings are aggregated per window regardless of their order, so unsorted
files need no repair.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import CorruptFileError, SchemaError, SelectionError, SourceNotFoundError
from ...vocabulary import sort_nodes
from .._progress import progress_bar
from .source import SourceWindows, nagios_frame, to_utc
from .windows import finalize, partial_stats_arrays, window_ns, window_numbers

#: Plugins read by default: hardware sensors and OS/GPU metrics.
DEFAULT_PLUGINS: tuple[str, ...] = ("ipmi_pub", "ganglia_pub")
#: The plugin that provides labels.
NAGIOS_PLUGIN = "nagios_pub"
#: Plugins whose files have the per-node ``timestamp, value, node`` shape.
NODE_PLUGINS: tuple[str, ...] = ("ipmi_pub", "ganglia_pub")
#: Marconi100 had 980 compute nodes, ids 0..979.
N_COMPUTE_NODES = 980

_BATCH_ROWS = 1 << 18  # rows decoded at a time: bounds memory whatever the file size
_READ_THREADS = 2
_PART_RE = re.compile(r"^(year_month|plugin|metric)=(.+)$")


@dataclass(frozen=True)
class RawFile:
    """One Parquet file of the raw release and its partition values."""

    year_month: str
    plugin: str
    metric: str
    path: Path


def scan_raw(root: str | Path) -> list[RawFile]:
    """List every Parquet file of a raw release tree without opening any.

    Raises:
        SourceNotFoundError: If ``root`` does not exist or holds no file in the
            ``year_month=/plugin=/metric=`` layout.
    """
    root = Path(root)
    if not root.exists():
        raise SourceNotFoundError(f"raw source not found: {root}")
    if not root.is_dir():
        raise SourceNotFoundError(f"raw source is not a directory: {root}")
    files = []
    for path in sorted(root.glob("year_month=*/plugin=*/metric=*/*.parquet")):
        parts = {}
        for folder in path.relative_to(root).parts[:-1]:
            match = _PART_RE.match(folder)
            if match:
                parts[match.group(1)] = match.group(2)
        files.append(RawFile(parts["year_month"], parts["plugin"], parts["metric"], path))
    if not files:
        raise SourceNotFoundError(
            f"no Parquet files in the raw layout year_month=YY-MM/plugin=P/metric=M/*.parquet under {root}"
        )
    return files


def _month_of(ts: pd.Timestamp) -> str:
    return ts.strftime("%y-%m")


def select_files(
    files: list[RawFile],
    plugins: list[str] | tuple[str, ...],
    metrics: list[str] | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> list[RawFile]:
    """Keep the files of the selected plugins, metrics and months.

    Raises:
        SelectionError: If a requested plugin or metric is absent from the
            tree, or no month overlaps the time range.
    """
    available_plugins = sorted({f.plugin for f in files})
    for plugin in plugins:
        if plugin not in available_plugins:
            raise SelectionError(f"unknown plugin {plugin!r}: the source has {', '.join(available_plugins)}")
    chosen = [f for f in files if f.plugin in plugins]
    if metrics:
        available_metrics = {f.metric for f in chosen}
        unknown = [m for m in metrics if m not in available_metrics]
        if unknown:
            raise SelectionError(
                f"unknown metric(s) {', '.join(unknown)} in plugins {', '.join(plugins)}"
            )
        chosen = [f for f in chosen if f.metric in set(metrics) or f.plugin == NAGIOS_PLUGIN]
    if start is not None:
        chosen = [f for f in chosen if f.year_month >= _month_of(start)]
    if end is not None:
        # ``end`` is exclusive: a range ending at 00:00 of a month's first day
        # does not need that month.
        last = end - pd.Timedelta(1, "ns")
        chosen = [f for f in chosen if f.year_month <= _month_of(last)]
    if not chosen:
        raise SelectionError("no file of the selected plugins and metrics falls in the requested time range")
    return chosen


def _normalise_timestamp(column: pa.ChunkedArray | pa.Array, path: Path, source: SourceWindows) -> pa.Array:
    """Return a UTC timestamp column in its own unit (see module notes)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            source.count("files_with_naive_timestamps_assumed_utc")
            return pc.cast(column, pa.timestamp(kind.unit, tz="UTC"))
        return column
    if pa.types.is_integer(kind):
        values = pc.cast(column, pa.int64())
        magnitude = pc.max(pc.abs(values)).as_py() or 0
        unit = "ns" if magnitude > 1e17 else "us" if magnitude > 1e14 else "ms" if magnitude > 1e11 else "s"
        source.count("files_with_integer_timestamps")
        return values.cast(pa.timestamp(unit, tz="UTC"))
    raise SchemaError(f"{path}: column 'timestamp' has type {kind}, expected a timestamp")


def _node_dictionary(column) -> pa.Array:
    """Node ids as a dictionary array of strings (the release's own encoding)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type):
        return column
    return pc.dictionary_encode(_node_strings(column))


def _node_strings(column) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string()) if not isinstance(column, pa.ChunkedArray) else column.cast(pa.string())
    elif not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({exc})") from exc


def _require(schema: pa.Schema, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(schema.names)})")


def _batches(parquet: pq.ParquetFile, columns: list[str], path: Path):
    try:
        yield from parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns, use_threads=True)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFileError(f"{path}: corrupt or truncated Parquet ({exc})") from exc


def _row_mask(node: pa.DictionaryArray, timestamps: pa.Array, nodes: set[str] | None, start_ns, end_ns):
    """Rows of the selected nodes and time range (None: every row)."""
    mask = None
    if nodes is not None:
        # Test the few dictionary entries, then spread the answer to the rows.
        wanted = pc.is_in(pc.cast(node.dictionary, pa.string()), value_set=pa.array(sorted(nodes), pa.string()))
        mask = np.asarray(wanted.to_numpy(zero_copy_only=False), dtype=bool)[node.indices.to_numpy(zero_copy_only=False)]
    if start_ns is not None or end_ns is not None:
        per = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[timestamps.type.unit]
        ticks = pc.cast(timestamps, pa.int64()).to_numpy(zero_copy_only=False)
        in_range = np.ones(len(ticks), dtype=bool)
        if start_ns is not None:
            in_range &= ticks >= -(-start_ns // per)
        if end_ns is not None:
            in_range &= ticks < -(-end_ns // per)
        mask = in_range if mask is None else mask & in_range
    return mask


def _adjacent_duplicates(indices: np.ndarray, timestamps: pa.Array) -> np.ndarray | None:
    """Rows that repeat the previous row's (node, timestamp); None when there are none.

    Files written in node/time order keep duplicates next to each other, so one
    vectorised comparison finds them without sorting.
    """
    ticks = pc.cast(timestamps, pa.int64()).to_numpy(zero_copy_only=False)
    repeated = (ticks[1:] == ticks[:-1]) & (indices[1:] == indices[:-1])
    if not repeated.any():
        return None
    return np.concatenate([[False], repeated])


def _read_metric_file(
    item: RawFile, nodes: set[str] | None, start_ns, end_ns, length_ns: int, source: SourceWindows
) -> list[pa.Table] | None:
    """Partial statistics of one metric file; None if the metric is not numeric."""
    parquet = _open(item.path)
    schema = parquet.schema_arrow
    _require(schema, ("timestamp", "value", "node"), item.path)
    value_type = schema.field("value").type
    if pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type) or pa.types.is_boolean(value_type)):
        return None
    partials = []
    for batch in _batches(parquet, ["timestamp", "value", "node"], item.path):
        node = _node_dictionary(batch.column("node"))
        timestamps = _normalise_timestamp(batch.column("timestamp"), item.path, source)
        raw_values = batch.column("value")
        value = pc.cast(raw_values, pa.float64()).to_numpy(zero_copy_only=False)
        usable = _row_mask(node, timestamps, nodes, start_ns, end_ns)
        if raw_values.null_count or pa.types.is_floating(value_type):
            finite = np.isfinite(value)  # nulls arrive as NaN
            in_selection = finite if usable is None else finite[usable]
            dropped = len(in_selection) - int(in_selection.sum())
            if dropped:
                source.count("null_or_nonfinite_readings_dropped", dropped)
            usable = finite if usable is None else usable & finite
        windows = window_numbers(timestamps, length_ns)
        indices = node.indices.to_numpy(zero_copy_only=False)
        repeated = _adjacent_duplicates(indices, timestamps)
        if repeated is not None:
            source.count("duplicate_readings_dropped", int(repeated.sum()))
            usable = ~repeated if usable is None else usable & ~repeated
        if usable is not None:
            windows, indices, value = windows[usable], indices[usable], value[usable]
        partials.append(
            partial_stats_arrays(indices, pc.cast(node.dictionary, pa.string()), windows, value, length_ns)
        )
    return partials


def _read_nagios(
    files: list[RawFile], nodes: set[str] | None, start_ns, end_ns, length_ns: int,
    source: SourceWindows, n_compute_nodes: int, show_progress: bool,
) -> None:
    pieces = []
    dropped_rows = 0
    dropped_hosts: set[str] = set()
    for item in progress_bar(files, desc="nagios", disable=not show_progress):
        parquet = _open(item.path)
        schema = parquet.schema_arrow
        _require(schema, ("timestamp", "value", "node"), item.path)
        has_drained = "nagiosdrained" in schema.names
        if not has_drained:
            source.count("nagios_files_without_nagiosdrained")
        columns = ["timestamp", "value", "node"] + (["nagiosdrained"] if has_drained else [])
        for batch in _batches(parquet, columns, item.path):
            node = _node_dictionary(batch.column("node"))
            names = pc.cast(node.dictionary, pa.string()).to_pylist()
            compute_entry = np.array(
                [name is not None and name.isdigit() and int(name) < n_compute_nodes for name in names], dtype=bool
            )
            indices = node.indices.to_numpy(zero_copy_only=False)
            compute = compute_entry[indices]
            if not compute.all():
                dropped_rows += int((~compute).sum())
                dropped_hosts.update(names[i] for i in np.unique(indices[~compute]))
            timestamps = _normalise_timestamp(batch.column("timestamp"), item.path, source)
            usable = _row_mask(node, timestamps, nodes, start_ns, end_ns)
            usable = compute if usable is None else usable & compute
            if has_drained:
                drained = pc.cast(pc.cast(batch.column("nagiosdrained"), pa.string()), pa.float64())
                drained = drained.to_numpy(zero_copy_only=False)
            else:
                drained = np.full(batch.num_rows, np.nan)
            pieces.append(
                pd.DataFrame(
                    {
                        "node": np.asarray(names, dtype=object)[indices[usable]],
                        "window": window_numbers(timestamps, length_ns)[usable] * length_ns,
                        "state": pc.cast(batch.column("value"), pa.float64()).to_numpy(zero_copy_only=False)[usable],
                        "drained": drained[usable],
                    }
                )
            )
    if dropped_rows:
        source.count("nagios_rows_of_non_compute_hosts_dropped", dropped_rows)
        source.notes.append(
            f"dropped {dropped_rows} Nagios rows of {len(dropped_hosts)} non-compute host(s) "
            f"(ids outside 0..{n_compute_nodes - 1})"
        )
    rows = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
    if rows.empty:
        return
    state = rows["state"]
    rows = rows.assign(warning=(state == 1) * 1.0, critical=(state == 2) * 1.0, unknown=(state == 3) * 1.0)
    summary = rows.groupby(["node", "window"], sort=True).agg(
        {"state": "max", "warning": "sum", "critical": "sum", "unknown": "sum", "drained": "max"}
    )
    for node, per_node in summary.groupby(level="node", sort=False):
        per_node = per_node.droplevel("node")
        source.nagios[str(node)] = nagios_frame(
            per_node.index.to_numpy(), per_node["state"], per_node["warning"], per_node["critical"],
            per_node["unknown"], per_node["drained"],
        )


def read_raw(
    root: str | Path,
    *,
    window: str = "15min",
    plugins: list[str] | tuple[str, ...] | None = None,
    metrics: list[str] | None = None,
    nodes: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    labels: bool = True,
    n_compute_nodes: int = N_COMPUTE_NODES,
    show_progress: bool = False,
) -> SourceWindows:
    """Read a raw M100 release tree into window statistics.

    Args:
        root: The folder holding ``year_month=*`` folders (one or more months).
        window: Window length (pandas offset string).
        plugins: Telemetry plugins to read (``ipmi_pub``, ``ganglia_pub``);
            when None, those of :data:`DEFAULT_PLUGINS` that the tree has.
        metrics: Metric names to read; all numeric metrics when None.
        nodes: Node ids to keep; all compute nodes when None.
        start: Inclusive start of the time range (UTC if tz-naive).
        end: Exclusive end of the time range.
        labels: Read ``nagios_pub`` for labels.
        n_compute_nodes: Nagios rows of ids at or above this are not compute nodes.
        show_progress: Show a progress bar per file.

    Returns:
        The window statistics of every selected metric and node.

    Raises:
        SourceNotFoundError, SelectionError, SchemaError, CorruptFileError:
            On a missing tree, an unknown selection, or an unreadable file;
            each message names the path, plugin, metric or column.
    """
    length_ns = window_ns(window)
    start_ts = to_utc(start)
    end_ts = to_utc(end)
    if start_ts is not None and end_ts is not None and end_ts <= start_ts:
        raise SelectionError(f"empty time range: end {end_ts} is not after start {start_ts}")
    files = scan_raw(root)
    if plugins is None:
        present = {f.plugin for f in files}
        plugins = tuple(p for p in DEFAULT_PLUGINS if p in present)
        if not plugins:
            raise SelectionError(f"{root}: none of the telemetry plugins {', '.join(DEFAULT_PLUGINS)} is present")
    for plugin in plugins:
        if plugin not in NODE_PLUGINS:
            raise SelectionError(f"plugin {plugin!r} is not a per-node telemetry plugin; use {', '.join(NODE_PLUGINS)}")
    wanted = list(plugins) + ([NAGIOS_PLUGIN] if labels else [])
    if labels and NAGIOS_PLUGIN not in {f.plugin for f in files}:
        raise SelectionError(f"{root}: no {NAGIOS_PLUGIN} folder, so no labels; pass labels=False to read telemetry only")
    chosen = select_files(files, wanted, metrics, start_ts, end_ts)
    node_set = {str(n) for n in nodes} if nodes else None
    start_ns = None if start_ts is None else start_ts.value
    end_ns = None if end_ts is None else end_ts.value
    source = SourceWindows(source=str(root), format="raw", window=str(window), sample_counts=True)

    by_metric: dict[tuple[str, str], list[RawFile]] = defaultdict(list)
    for item in chosen:
        by_metric[(item.plugin, item.metric)].append(item)
    months_without = sorted(
        {f.year_month for f in chosen} - {f.year_month for f in chosen if f.plugin in plugins}
    )
    if months_without:
        source.notes.append(f"month(s) {', '.join(months_without)} have no telemetry of {', '.join(plugins)}")

    skipped_strings = []
    telemetry = [(key, items) for key, items in by_metric.items() if key[0] != NAGIOS_PLUGIN]

    def read_metric(entry):
        # Each metric counts into its own scratch record: threads share nothing.
        (_plugin, _metric), items = entry
        scratch = SourceWindows(source=source.source, format="raw", window=source.window)
        partials: list[pa.Table] = []
        for item in items:
            part = _read_metric_file(item, node_set, start_ns, end_ns, length_ns, scratch)
            if part is None:
                return None, scratch.counts
            partials.extend(part)
        return finalize(partials), scratch.counts

    # Two metrics at a time: Parquet decoding and most numpy kernels release
    # the GIL, so a second thread keeps the second core busy. Results are
    # taken in order, so the output does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
        results = pool.map(read_metric, telemetry)
        for ((plugin, metric), _items), (stats, counts) in progress_bar(
            zip(telemetry, results), desc="metrics", disable=not show_progress, total=len(telemetry)
        ):
            for key, amount in counts.items():
                source.count(key, amount)
            if stats is None:
                skipped_strings.append(metric)
                continue
            source.add_metric(metric, plugin, stats)
    if skipped_strings:
        source.count("string_metrics_skipped", len(skipped_strings))
        source.notes.append(f"skipped {len(skipped_strings)} non-numeric metric(s): {', '.join(sorted(skipped_strings))}")
    if source.counts.get("duplicate_readings_dropped"):
        source.notes.append(
            f"dropped {source.counts['duplicate_readings_dropped']} repeated readings (same node and timestamp "
            "as the row before)"
        )
    if source.counts.get("null_or_nonfinite_readings_dropped"):
        source.notes.append(f"dropped {source.counts['null_or_nonfinite_readings_dropped']} null/NaN/inf readings")
    if source.counts.get("files_with_naive_timestamps_assumed_utc"):
        source.notes.append(
            f"{source.counts['files_with_naive_timestamps_assumed_utc']} file batch(es) had tz-naive timestamps, taken as UTC"
        )
    if labels:
        _read_nagios(by_metric.get((NAGIOS_PLUGIN, "state"), []), node_set, start_ns, end_ns, length_ns,
                     source, n_compute_nodes, show_progress)
    if node_set is not None:
        absent = sort_nodes(node_set - set(source.nodes))
        if absent:
            raise SelectionError(f"node(s) {', '.join(absent)} not found in {root} for the selected range")
    if not source.metrics:
        raise SelectionError(f"{root}: no numeric telemetry for the selected plugins, metrics, nodes and range")
    return source



__all__ = ["DEFAULT_PLUGINS", "N_COMPUTE_NODES", "RawFile", "read_raw", "scan_raw", "select_files"]
