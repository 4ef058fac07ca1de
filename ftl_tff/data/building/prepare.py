"""One call from any M100 source to a processed dataset on disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import ConfigError
from ..readers.aggregated import read_aggregated
from ..readers.raw import read_raw
from ..readers.source import SourceWindows
from ..readers.wide import read_wide
from .dataset import DEFAULT_EXCLUDED_METRICS, BuildOptions, ProcessedDataset, build_tables, write_dataset

FORMATS: tuple[str, ...] = ("raw", "aggregated", "wide")


def read_source(
    source: str | Path,
    format: str = "raw",
    *,
    window: str = "15min",
    plugins: list[str] | None = None,
    metrics: list[str] | None = None,
    nodes: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    show_progress: bool = False,
) -> SourceWindows:
    """Read any of the three M100 shapes into window statistics.

    Args:
        source: The raw release root, the aggregated release folder, or a
            folder (or file) of wide tables.
        format: ``"raw"``, ``"aggregated"`` or ``"wide"``.
        window: Window length (pandas offset, e.g. ``"15min"``).
        plugins: Raw: telemetry plugins (default ``ipmi_pub``, ``ganglia_pub``);
            wide: file-name prefixes such as ``ipmi``; aggregated: unused.
        metrics: Metric names to keep (raw and aggregated).
        nodes: Node ids to keep.
        start: Inclusive start time (UTC when no time zone is given).
        end: Exclusive end time.
        show_progress: Show progress bars.
    """
    if format == "raw":
        return read_raw(source, window=window, plugins=tuple(plugins) if plugins else None, metrics=metrics,
                        nodes=nodes, start=start, end=end, show_progress=show_progress)
    if format == "aggregated":
        if plugins:
            raise ConfigError("plugins: do not apply to the aggregated release (it holds IPMI metrics only)")
        return read_aggregated(source, window=window, nodes=nodes, start=start, end=end, metrics=metrics,
                               show_progress=show_progress)
    if format == "wide":
        if metrics:
            raise ConfigError("metrics: do not apply to wide tables; select tables with plugins")
        return read_wide(source, window=window, nodes=nodes, start=start, end=end, plugins=plugins,
                         show_progress=show_progress)
    raise ConfigError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")


def prepare(
    source: str | Path,
    out: str | Path,
    format: str = "raw",
    *,
    window: str = "15min",
    label_rule: str = "critical",
    horizon: int = 0,
    plugins: list[str] | None = None,
    metrics: list[str] | None = None,
    nodes: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    core_temps: str = "socket",
    align: str = "intersection",
    stats: str | tuple[str, ...] = "auto",
    coverage: bool = True,
    empty_windows: str = "keep",
    unlabelled: str = "normal",
    exclude_metrics: tuple[str, ...] | list[str] | None = None,
    show_progress: bool = False,
) -> ProcessedDataset:
    """Prepare a processed dataset from M100 telemetry.

    Reads the source, aggregates readings into windows (avg/std/min/max per
    metric), aligns one feature schema across nodes, adds coverage features,
    labels each window from Nagios, and writes ``out/manifest.json`` plus one
    Parquet file per node.

    Example:
        >>> from ftl_tff.data import prepare
        >>> ds = prepare("m100-2209-rebuilt", "prepared", format="wide")  # doctest: +SKIP
        >>> ds.summary()[["node", "windows", "anomalous_windows"]]        # doctest: +SKIP

    See :class:`ftl_tff.data.building.dataset.BuildOptions` for ``label_rule`` to
    ``exclude_metrics`` (None: the default exclusions; ``()`` keeps every
    metric) and :func:`read_source` for the reading options.

    Returns:
        The written :class:`ProcessedDataset`.
    """
    options = BuildOptions(label_rule=label_rule, horizon=horizon, core_temps=core_temps, align=align,
                           stats=stats, coverage=coverage, empty_windows=empty_windows, unlabelled=unlabelled,
                           exclude_metrics=DEFAULT_EXCLUDED_METRICS if exclude_metrics is None
                           else tuple(exclude_metrics))
    options.validate()
    if label_rule == "drained" and format == "aggregated":
        raise ConfigError("the aggregated release has no nagiosdrained column: the 'drained' rule needs raw or wide data")
    windows = read_source(source, format, window=window, plugins=plugins, metrics=metrics, nodes=nodes,
                          start=start, end=end, show_progress=show_progress)
    info, tables = build_tables(windows, options)
    return write_dataset(out, tables, info, windows, options)
