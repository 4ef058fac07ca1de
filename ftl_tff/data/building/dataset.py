"""The processed dataset: per-node window tables written once, reloaded fast.

On disk::

    DIR/manifest.json          source, window, label rule, features, per-node counts
    DIR/nodes/<node>.parquet   window_start (UTC), feature columns, label, nagios_* columns

Each node file has one row per 15-minute window (by default) in which the node
sent telemetry or Nagios reported on it, sorted by ``window_start``. Feature
columns are ``{metric}_{avg,std,min,max}`` (float32; NaN where the metric
sent nothing in that window) followed by the coverage features ``cov_*``;
``label`` is 0/1 under the dataset's label rule; the ``nagios_*`` columns keep
what the label was computed from.

Nothing is dropped silently: windows without telemetry, windows without a
Nagios report, columns dropped by schema alignment, and every repair made by
the readers are counted in the manifest (``nodes[*]`` and ``notes``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ... import __version__
from ...errors import ConfigError, CorruptFileError, EmptyNodeError, SchemaError, SourceNotFoundError
from ...records import read_record
from ...vocabulary import sort_nodes
from ..readers.source import NAGIOS_COLUMNS, SourceWindows
from ..readers.windows import STATS, window_ns
from .features import feature_set_columns
from .labels import LABEL_RULES, anticipate, rule_positive
from .schema import align_columns, check_policies, coverage_arrays, coverage_names_for, pool_core_temperatures

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NODES_DIR = "nodes"
EMPTY_WINDOW_POLICIES = ("keep", "drop")
#: Metrics left out of the features by default (shell-style patterns): the
#: boot timestamp and cumulative energy counters. Their level says nothing
#: about a node's health and jumps at every reboot, so a model scaled on
#: the training period flags every window after the next reboot.
DEFAULT_EXCLUDED_METRICS: tuple[str, ...] = ("boottime", "*_total_energy_consumption")
UNLABELLED_POLICIES = ("normal", "drop")
_SAFE_NODE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class BuildOptions:
    """How window statistics become a processed dataset.

    Attributes:
        label_rule: One of :data:`ftl_tff.data.building.labels.LABEL_RULES`.
        horizon: Anticipation horizon in windows (0 = the window itself).
        core_temps: ``"socket"`` or ``"core"`` (see :mod:`ftl_tff.data.building.schema`).
        align: ``"intersection"`` or ``"union"``.
        stats: Window statistics kept per metric; ``"auto"`` keeps all four,
            except for metrics that never have more than one value per window
            (wide tables at the window's own cadence), where std/min/max would
            repeat the average and only ``avg`` is kept.
        coverage: Add the coverage features.
        empty_windows: ``"keep"`` windows where Nagios reported but no
            telemetry arrived (features NaN, coverage 0: a node that stopped
            reporting) or ``"drop"`` them; counted either way.
        unlabelled: ``"normal"`` labels windows without any Nagios report 0;
            ``"drop"`` removes them; counted either way.
        exclude_metrics: Shell-style patterns of metrics left out of the
            features (default :data:`DEFAULT_EXCLUDED_METRICS`); each metric
            left out is named in the manifest's notes.
    """

    label_rule: str = "critical"
    horizon: int = 0
    core_temps: str = "socket"
    align: str = "intersection"
    stats: str | tuple[str, ...] = "auto"
    coverage: bool = True
    empty_windows: str = "keep"
    unlabelled: str = "normal"
    exclude_metrics: tuple[str, ...] = DEFAULT_EXCLUDED_METRICS

    def validate(self) -> None:
        """Raise ConfigError on an unknown option value."""
        if self.label_rule not in LABEL_RULES:
            raise ConfigError(f"unknown label rule {self.label_rule!r}: use one of {', '.join(LABEL_RULES)}")
        if self.horizon < 0:
            raise ConfigError(f"horizon must be >= 0, got {self.horizon}")
        check_policies(self.core_temps, self.align)
        if self.empty_windows not in EMPTY_WINDOW_POLICIES:
            raise ConfigError(f"empty_windows must be one of {', '.join(EMPTY_WINDOW_POLICIES)}")
        if self.unlabelled not in UNLABELLED_POLICIES:
            raise ConfigError(f"unlabelled must be one of {', '.join(UNLABELLED_POLICIES)}")
        if self.stats != "auto":
            unknown = [s for s in self.stats if s not in STATS]
            if unknown or not self.stats:
                raise ConfigError(f"stats must be 'auto' or a non-empty subset of {', '.join(STATS)}")


def _exclude_metrics(source: SourceWindows, patterns: tuple[str, ...]) -> None:
    excluded = sorted(m for m in source.metrics if any(fnmatch.fnmatchcase(m, p) for p in patterns))
    for metric in excluded:
        del source.metrics[metric]
        del source.metric_plugins[metric]
    if excluded:
        source.count("metrics_excluded", len(excluded))
        source.notes.append(f"left out {len(excluded)} non-stationary metric(s) by exclude_metrics: {', '.join(excluded)}")


def _kept_stats(source: SourceWindows, options: BuildOptions) -> dict[str, tuple[str, ...]]:
    if options.stats != "auto":
        chosen = tuple(s for s in STATS if s in options.stats)
        return {metric: chosen for metric in source.metrics}
    kept = {}
    for metric, per_node in source.metrics.items():
        single = all(int(stats.count.max(initial=0)) <= 1 for stats in per_node.values())
        # Only wide tables hold plain values; a pre-aggregated row carries
        # real std/min/max even when it is the window's only row.
        kept[metric] = ("avg",) if single and source.format == "wide" else STATS
    return kept


def _node_table(source: SourceWindows, node: str, kept: dict[str, tuple[str, ...]], options: BuildOptions,
                wanted: set[str]):
    """Feature columns (those in ``wanted``) of one node on its own window grid."""
    node_metrics = [m for m in source.metrics if node in source.metrics[m]]
    pieces = [source.metrics[m][node].window for m in node_metrics]
    telemetry_windows = np.unique(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)
    nagios = source.nagios.get(node)
    nagios_windows = nagios.index.to_numpy(np.int64) if nagios is not None else np.empty(0, np.int64)
    windows = np.union1d(telemetry_windows, nagios_windows)
    columns: dict[str, np.ndarray] = {}
    for metric in node_metrics:
        stats = source.metrics[metric][node]
        pos = np.searchsorted(windows, stats.window)
        for stat in kept[metric]:
            if f"{metric}_{stat}" not in wanted:
                continue
            column = np.full(len(windows), np.nan, dtype=np.float32)
            column[pos] = stats.column(stat)
            columns[f"{metric}_{stat}"] = column
    coverage = coverage_arrays(source, node, windows, node_metrics) if options.coverage else {}
    has_telemetry = np.isin(windows, telemetry_windows)
    return windows, columns, coverage, has_telemetry, nagios


def build_tables(source: SourceWindows, options: BuildOptions) -> tuple[dict[str, Any], Iterator[tuple[str, pa.Table]]]:
    """Turn window statistics into one labelled table per node.

    Returns:
        ``(info, tables)``: ``info`` holds the feature list and, filled in as
        ``tables`` is consumed, the per-node counters for the manifest;
        ``tables`` yields ``(node, table)`` one node at a time: an Arrow table
        with ``window_start`` (UTC), the shared feature columns, ``label`` and
        the ``nagios_*`` columns.
    """
    options.validate()
    _exclude_metrics(source, options.exclude_metrics)
    pooled = pool_core_temperatures(source) if options.core_temps == "socket" else 0
    if pooled:
        source.notes.append(f"pooled {pooled} per-core temperature metrics into per-socket metrics (core_temps='socket')")
    kept = _kept_stats(source, options)

    # First pass: column names only, so that the shared schema is known
    # before any node's table is built (tables are then built and written
    # one node at a time).
    node_columns: dict[str, list[str]] = {}
    coverage_set: set[str] = set()
    skipped_nodes = []
    for node in source.nodes:
        node_metrics = [m for m in source.metrics if node in source.metrics[m]]
        if not node_metrics:
            skipped_nodes.append(node)
            continue
        node_columns[node] = [f"{m}_{stat}" for m in node_metrics for stat in kept[m]]
        if options.coverage:
            coverage_set.update(coverage_names_for(source, node_metrics))
    if skipped_nodes:
        source.notes.append(
            f"{len(skipped_nodes)} node(s) had Nagios reports but no telemetry at all and were left out: "
            + ", ".join(skipped_nodes)
        )
    if not node_columns:
        raise EmptyNodeError(f"{source.source}: no node has any telemetry window in the selection")
    shared, differences = align_columns(node_columns, options.align)
    coverage_names = sorted(coverage_set, key=_coverage_order)
    feature_columns = shared + coverage_names
    info = {"feature_columns": feature_columns, "nodes": {}, "skipped_nodes": skipped_nodes}
    return info, _iter_node_tables(source, options, kept, list(node_columns), shared, coverage_names, differences,
                                   info)


def _iter_node_tables(source, options, kept, nodes, shared, coverage_names, differences, info):
    length = pd.Timedelta(window_ns(source.window), "ns")
    feature_columns = info["feature_columns"]
    wanted = set(shared)
    for node in nodes:
        windows, columns, coverage, has_telemetry, nagios = _node_table(source, node, kept, options, wanted)
        n_windows = len(windows)
        features = [columns.get(c, np.full(n_windows, np.nan, dtype=np.float32)) for c in shared]
        features += [coverage.get(name, np.zeros(n_windows)).astype(np.float32) for name in coverage_names]
        index = pd.DatetimeIndex(pd.to_datetime(windows, utc=True), name="window_start")
        summary = (
            nagios.reindex(windows) if nagios is not None
            else pd.DataFrame(np.nan, index=pd.Index(windows), columns=list(NAGIOS_COLUMNS))
        )
        summary.index = index
        labelled = summary["nagios_state_max"].notna().to_numpy()
        positive = anticipate(rule_positive(summary, options.label_rule), length, options.horizon)
        keep = np.ones(n_windows, dtype=bool)
        if options.empty_windows == "drop":
            keep &= has_telemetry
        if options.unlabelled == "drop":
            keep &= labelled
        if not keep.any():
            raise EmptyNodeError(f"node {node}: no window left after the empty-window and unlabelled policies")
        label = positive.fillna(0.0).to_numpy().astype(np.int8)[keep]
        features = [column[keep] for column in features]
        missing = [np.isnan(column) for column in features]
        kept_index = index[keep]
        counts = {
            "windows_without_telemetry": int((~has_telemetry).sum()),
            "windows_without_label": int((~labelled).sum()),
            "windows_dropped": int((~keep).sum()),
            "windows": int(keep.sum()),
            "anomalous_windows": int(label.sum()),
            "missing_cells": int(sum(int(m.sum()) for m in missing)),
            "windows_with_missing": int(np.logical_or.reduce(missing).sum()) if missing else 0,
            "first_window": kept_index[0].isoformat(),
            "last_window": kept_index[-1].isoformat(),
            "metrics": sum(1 for m in source.metrics if node in source.metrics[m]),
        }
        counts["columns_dropped_by_alignment" if options.align == "intersection" else "columns_absent"] = differences[node]
        arrays = [pa.array(kept_index), *features, label,
                  *(summary[c].to_numpy(np.float32)[keep] for c in NAGIOS_COLUMNS)]
        names = ["window_start", *feature_columns, "label", *NAGIOS_COLUMNS]
        info["nodes"][node] = counts
        yield node, pa.table(arrays, names=names)


def _coverage_order(name: str) -> tuple[int, str]:
    return (1, name) if name == "cov_share" else (0, name)


def write_dataset(
    out: str | Path, tables: Iterable[tuple[str, pa.Table]], info: dict[str, Any], source: SourceWindows,
    options: BuildOptions,
) -> ProcessedDataset:
    """Write node tables and manifest to ``out`` (created; an existing dataset is replaced)."""
    out = Path(out)
    nodes_dir = out / NODES_DIR
    nodes_dir.mkdir(parents=True, exist_ok=True)
    for stale in nodes_dir.glob("*.parquet"):
        stale.unlink()
    for node, table in tables:
        if not _SAFE_NODE.match(node):
            raise SchemaError(f"node id {node!r} cannot be used as a file name")
        # Dictionary pages and per-column statistics cost ~40 us per column
        # and help float features little; keep statistics for window_start.
        pq.write_table(table, nodes_dir / f"{node}.parquet", compression="zstd", use_dictionary=False,
                       write_statistics=["window_start"])
    manifest = {
        "format_version": FORMAT_VERSION,
        "library": "ftl-tff",
        "library_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {"path": os.path.abspath(source.source), "format": source.format},
        "window": source.window,
        "label_rule": options.label_rule,
        "horizon": options.horizon,
        "schema": {
            "core_temps": options.core_temps,
            "align": options.align,
            "stats": options.stats if options.stats == "auto" else list(options.stats),
            "coverage": options.coverage,
            "empty_windows": options.empty_windows,
            "unlabelled": options.unlabelled,
            "exclude_metrics": list(options.exclude_metrics),
        },
        "feature_columns": info["feature_columns"],
        "label_columns": ["label", *NAGIOS_COLUMNS],
        "metric_plugins": {m: source.metric_plugins[m] for m in sorted(source.metric_plugins)},
        "nodes": {node: info["nodes"][node] for node in sort_nodes(info["nodes"])},
        "skipped_nodes": info["skipped_nodes"],
        "notes": list(source.notes),
        "counts": dict(sorted(source.counts.items())),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(out / MANIFEST)
    return ProcessedDataset(out, manifest)


class ProcessedDataset:
    """A processed dataset folder: manifest plus one Parquet file per node.

    Args:
        path: The dataset folder.
        manifest: The parsed ``manifest.json`` (read from ``path`` when None).

    Example:
        >>> ds = load_dataset("prepared/")          # doctest: +SKIP
        >>> ds.nodes[:3], len(ds.feature_columns)   # doctest: +SKIP
        >>> ds.frame(ds.nodes[0]).head()            # doctest: +SKIP
    """

    def __init__(self, path: str | Path, manifest: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.manifest = manifest if manifest is not None else _read_manifest(self.path)

    @property
    def nodes(self) -> list[str]:
        """Node ids, sorted numerically."""
        return list(self.manifest["nodes"])

    @property
    def feature_columns(self) -> list[str]:
        """The shared feature columns, in model input order."""
        return list(self.manifest["feature_columns"])

    @property
    def label_rule(self) -> str:
        """The Nagios rule the ``label`` column was built with."""
        return self.manifest["label_rule"]

    @property
    def window(self) -> str:
        """The window length."""
        return self.manifest["window"]

    @property
    def feature_set(self) -> str:
        """The named feature set this view selects (``all`` for the whole dataset)."""
        return self.manifest.get("feature_set", "all")

    def with_features(self, features: str | list[str]) -> ProcessedDataset:
        """A view of this dataset restricted to a feature set.

        Args:
            features: ``"D1"``, ``"D2"``, ``"all"`` (see
                :mod:`ftl_tff.data.building.features`) or a list of feature columns.

        Returns:
            A dataset whose ``feature_columns`` are the set's columns; the
            files on disk are shared, nothing is copied.
        """
        columns = feature_set_columns(self.manifest, features)
        name = features if isinstance(features, str) else f"{len(columns)} columns"
        manifest = {**self.manifest, "feature_columns": columns, "feature_set": name}
        return ProcessedDataset(self.path, manifest)

    def frame(self, node: str) -> pd.DataFrame:
        """Load one node's windows, indexed by ``window_start`` (UTC)."""
        node = str(node)
        if node not in self.manifest["nodes"]:
            raise EmptyNodeError(f"node {node} is not in the dataset {self.path} (nodes: {', '.join(self.nodes[:20])}...)")
        path = self.path / NODES_DIR / f"{node}.parquet"
        try:
            frame = pq.read_table(path).to_pandas()
        except FileNotFoundError as exc:
            raise SourceNotFoundError(f"{path}: node file listed in the manifest is missing") from exc
        except (pa.ArrowException, OSError) as exc:
            raise CorruptFileError(f"{path}: corrupt node file ({exc})") from exc
        missing = [c for c in ["window_start", *self.feature_columns, "label"] if c not in frame.columns]
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(missing[:10])}")
        return frame.set_index("window_start")

    def frames(self) -> dict[str, pd.DataFrame]:
        """Load every node's frame (``node -> DataFrame``)."""
        return {node: self.frame(node) for node in self.nodes}

    def summary(self) -> pd.DataFrame:
        """One row per node: windows, anomalous windows, share, missing data."""
        rows = []
        n_features = len(self.feature_columns)
        for node, info in self.manifest["nodes"].items():
            rows.append(
                {
                    "node": node,
                    "windows": info["windows"],
                    "anomalous_windows": info["anomalous_windows"],
                    "anomaly_share": info["anomalous_windows"] / info["windows"] if info["windows"] else float("nan"),
                    "features": n_features,
                    "missing_cells": info["missing_cells"],
                    "missing_share": info["missing_cells"] / (info["windows"] * n_features) if info["windows"] else float("nan"),
                    "windows_with_missing": info["windows_with_missing"],
                    "windows_without_telemetry": info["windows_without_telemetry"],
                    "windows_without_label": info["windows_without_label"],
                    "first_window": info["first_window"],
                    "last_window": info["last_window"],
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"ProcessedDataset({str(self.path)!r}, nodes={len(self.nodes)}, "
            f"features={len(self.feature_columns)}, feature_set={self.feature_set!r}, window={self.window!r}, label_rule={self.label_rule!r})"
        )


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not path.exists():
        raise SourceNotFoundError(f"processed dataset not found: {path}")
    if not manifest_path.exists():
        raise SourceNotFoundError(f"{path} is not a processed dataset: no {MANIFEST} (make one with `ftl-tff data prepare`)")
    manifest = read_record(manifest_path, "dataset manifest")
    for key in ("feature_columns", "nodes", "label_rule", "window"):
        if key not in manifest:
            raise SchemaError(f"{manifest_path}: missing key {key!r}")
    return manifest


def load_dataset(path: str | Path) -> ProcessedDataset:
    """Open a processed dataset folder written by :func:`ftl_tff.data.building.prepare`."""
    return ProcessedDataset(path)
