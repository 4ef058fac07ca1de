"""One feature schema for every client, and coverage features.

Sensor sets differ between M100 nodes: each socket has only 16 of its 24
core-temperature sensors, a different 16 on each node, and some nodes carry
extra sensors. A federated model needs the same input columns on every node,
so the builder offers:

* ``core_temps="socket"`` (default): the core-temperature sensors of a socket
  are pooled into one metric ``p{s}_core_temp`` whose window statistics are
  those of all the socket's core readings together (avg = mean over cores and
  readings, min/max over all cores, std over all readings, so it grows when
  cores disagree). Nothing is dropped and every node gets the same columns.
  ``core_temps="core"`` keeps each core as its own metric.
* ``align="intersection"`` (default): keep the columns every node has; the
  columns that only some nodes have are dropped and listed per node in the
  manifest. ``align="union"``: keep every column; a node that lacks one gets
  NaN there (imputed at training time, counted in the manifest).

Coverage features say how much telemetry arrived in each window. On the real
M100 nodes missing telemetry is the strongest anomaly signal there is, so they
are on by default:

* ``cov_{plugin}_share``: share of the node's metrics of that plugin with at
  least one reading in the window;
* ``cov_{plugin}_samples``: number of readings of that plugin in the window
  (raw release only, where counts are real reading counts);
* ``cov_share``: share of all the node's metrics reporting.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from ...errors import ConfigError
from ..readers.source import SourceWindows
from ..readers.windows import WindowStats, pool_metrics

CORE_TEMPS: tuple[str, ...] = ("socket", "core")
ALIGNS: tuple[str, ...] = ("intersection", "union")
_CORE_TEMP = re.compile(r"^(p\d+)_core\d+_temp$")


def plugin_short_name(plugin: str) -> str:
    """``ipmi_pub`` -> ``ipmi``: the prefix used in coverage feature names."""
    return plugin.removesuffix("_pub")


def pool_core_temperatures(source: SourceWindows) -> int:
    """Replace per-core temperature metrics by one pooled metric per socket.

    Modifies ``source`` in place and returns the number of core metrics pooled.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for metric in source.metrics:
        match = _CORE_TEMP.match(metric)
        if match:
            groups[f"{match.group(1)}_core_temp"].append(metric)
    pooled = 0
    for socket_metric, members in sorted(groups.items()):
        plugin = source.metric_plugins[members[0]]
        per_node_parts: dict[str, list[WindowStats]] = defaultdict(list)
        for metric in members:
            for node, stats in source.metrics.pop(metric).items():
                per_node_parts[node].append(stats)
            source.metric_plugins.pop(metric)
            pooled += 1
        source.add_metric(
            socket_metric, plugin, {node: pool_metrics(parts) for node, parts in per_node_parts.items()}
        )
    return pooled


def coverage_arrays(
    source: SourceWindows, node: str, windows: np.ndarray, node_metrics: list[str]
) -> dict[str, np.ndarray]:
    """Coverage features of one node on the given window grid."""
    by_plugin: dict[str, list[str]] = defaultdict(list)
    for metric in node_metrics:
        by_plugin[source.metric_plugins[metric]].append(metric)
    out: dict[str, np.ndarray] = {}
    total_reporting = np.zeros(len(windows))
    for plugin in sorted(by_plugin):
        reporting = np.zeros(len(windows))
        samples = np.zeros(len(windows))
        for metric in by_plugin[plugin]:
            stats = source.metrics[metric][node]
            pos = np.searchsorted(windows, stats.window)
            reporting[pos] += stats.count > 0
            samples[pos] += stats.count
        short = plugin_short_name(plugin)
        out[f"cov_{short}_share"] = reporting / len(by_plugin[plugin])
        if source.sample_counts:
            out[f"cov_{short}_samples"] = samples
        total_reporting += reporting
    out["cov_share"] = total_reporting / max(len(node_metrics), 1)
    return out


def coverage_names_for(source: SourceWindows, node_metrics: list[str]) -> list[str]:
    """Names of the coverage features :func:`coverage_arrays` makes for these metrics."""
    names = ["cov_share"]
    for plugin in {source.metric_plugins[m] for m in node_metrics}:
        short = plugin_short_name(plugin)
        names.append(f"cov_{short}_share")
        if source.sample_counts:
            names.append(f"cov_{short}_samples")
    return names


def check_policies(core_temps: str, align: str) -> None:
    """Raise ConfigError for an unknown schema policy."""
    if core_temps not in CORE_TEMPS:
        raise ConfigError(f"unknown core_temps policy {core_temps!r}: use one of {', '.join(CORE_TEMPS)}")
    if align not in ALIGNS:
        raise ConfigError(f"unknown align policy {align!r}: use one of {', '.join(ALIGNS)}")


def align_columns(node_columns: dict[str, list[str]], align: str) -> tuple[list[str], dict[str, list[str]]]:
    """Choose the shared columns and, per node, the columns dropped or absent.

    Returns:
        ``(shared_columns, per_node)`` where ``per_node[node]`` lists the
        node's columns dropped (intersection) or the shared columns it lacks
        (union). Column order follows first appearance, nodes in given order.
    """
    order: list[str] = []
    seen: set[str] = set()
    for columns in node_columns.values():
        for column in columns:
            if column not in seen:
                seen.add(column)
                order.append(column)
    if align == "intersection":
        common = set.intersection(*(set(c) for c in node_columns.values())) if node_columns else set()
        shared = [c for c in order if c in common]
        differences = {node: [c for c in columns if c not in common] for node, columns in node_columns.items()}
    else:
        shared = order
        differences = {node: [c for c in order if c not in set(columns)] for node, columns in node_columns.items()}
    return shared, differences
