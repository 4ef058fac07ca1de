"""Named feature sets of a processed dataset: ``D1``, ``D2`` and ``all``.

Farooq et al. (ESWA 2025) train on two datasets they call D1 (462 inputs) and
D2 (573 inputs) without publishing which columns each holds. ftl-tff defines
the names as feature *sets* of one processed dataset, chosen by plugin, so the
paper's command lines (``--dataset D1``) have a documented meaning:

| name | columns | why |
|---|---|---|
| ``D1`` | IPMI and Ganglia statistics only | the node's own hardware sensors (IPMI) and operating-system/GPU metrics (Ganglia): the telemetry every M100 node reports |
| ``D2`` | every feature column of the dataset | D1 plus whatever else the dataset was prepared with: coverage features (``cov_*``), job-table or other plugins of wide tables |
| ``all`` | the same as ``D2`` | the default |

A dataset prepared from the raw release with the default plugins
(``ipmi_pub``, ``ganglia_pub``) differs between D1 and D2 only by its
coverage features; prepare with more plugins (wide tables with a job table,
for example) to make D2 wider. The widths 462/573 of the paper are not
reproduced: they depend on choices the paper does not state.

A column's plugin is read from the manifest's ``metric_plugins`` (metric ->
plugin); ``cov_*`` columns belong to the ``coverage`` group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import ConfigError, SchemaError

#: Plugins of each named feature set (None: every feature column).
FEATURE_SETS: dict[str, tuple[str, ...] | None] = {"D1": ("ipmi", "ganglia"), "D2": None, "all": None}

_STATS = ("_avg", "_std", "_min", "_max")


def column_plugin(column: str, metric_plugins: Mapping[str, str]) -> str:
    """The plugin a feature column comes from (``coverage`` for ``cov_*``).

    Args:
        column: A feature column, e.g. ``p0_power_avg``.
        metric_plugins: The manifest's metric -> plugin map.

    Returns:
        The plugin name without the ``_pub`` suffix, ``coverage``, or
        ``unknown`` when the manifest does not name the metric.
    """
    if column.startswith("cov_"):
        return "coverage"
    metric = column
    for suffix in _STATS:
        if column.endswith(suffix):
            metric = column[: -len(suffix)]
            break
    plugin = metric_plugins.get(metric) or metric_plugins.get(column)
    return "unknown" if plugin is None else str(plugin).removesuffix("_pub")


def feature_set_columns(manifest: Mapping[str, Any], name: str | Sequence[str]) -> list[str]:
    """The feature columns of a named set, or of an explicit column list.

    Args:
        manifest: A processed dataset's manifest (``feature_columns`` and
            ``metric_plugins``).
        name: ``"D1"``, ``"D2"``, ``"all"``, or a list of column names.

    Returns:
        The columns, in the dataset's order.

    Raises:
        ConfigError: For an unknown set name.
        SchemaError: When the set selects no column, or listed columns are
            not in the dataset.
    """
    columns = list(manifest["feature_columns"])
    if not isinstance(name, str):
        wanted = [str(c) for c in name]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise SchemaError(f"feature column(s) not in the dataset: {', '.join(missing[:10])}")
        chosen = set(wanted)
        return [c for c in columns if c in chosen]
    if name not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {name!r}: use one of {', '.join(FEATURE_SETS)} or a list of columns")
    plugins = FEATURE_SETS[name]
    if plugins is None:
        return columns
    metric_plugins = manifest.get("metric_plugins") or {}
    selected = [c for c in columns if column_plugin(c, metric_plugins) in plugins]
    if not selected:
        raise SchemaError(f"feature set {name!r} ({'+'.join(plugins)}) selects no column of this dataset")
    return selected
