"""Figures of the experiment report, drawn from the runner's long tables.

Every function takes a pandas DataFrame in long format, writes one PNG
(120 dpi, tight bounding box) to ``path`` (parent folders are created) and
returns the path as a :class:`~pathlib.Path`. Figures are drawn on
:class:`matplotlib.figure.Figure` objects with the Agg canvas: the global
pyplot state is never touched, no window opens and no figure stays in
memory, so they are safe on headless login nodes and inside long runs.

Colours follow the Okabe-Ito palette (colour-blind safe); each method keeps
its colour in every figure. Node ids are shown as strings.

Figures and the columns they read (extra columns are ignored):

| function | table | required columns | optional columns |
|---|---|---|---|
| `plot_delta_per_node` | deltas | `node`, the metric (`delta_f1`) | `paradigm`, `strategy`, `n_nodes`, `method`, `baseline` (one subplot per group) |
| `plot_metric_distributions` | per-node metrics | `method`, the metric (`f1`) | `paradigm` (panels), `strategy` (adjacent boxes), `role` (filter) |
| `plot_roc_curves` | window scores | `method`, `score`, `label` | `node` (required when a node is asked for) |
| `plot_error_timeline` | window scores | `node`, `method`, `window_start`, `score`, `threshold`, `label` | |
| `plot_training_curves` | training curves | `round`, `train_loss` | `paradigm` (panels), `strategy`, `n_nodes`, `seed` (one line each), `validation_loss` (dashed) |
| `plot_data_efficiency` | data efficiency | `node`, `days`, `method`, the metric (`f1`) | |

The tables, as the experiment runner writes them:

* ``per_node``: ``paradigm`` (unsupervised | semi-supervised | supervised),
  ``strategy`` (top | random), ``n_nodes``, ``seed``, ``node``, ``role``
  (participating | non-participating), ``method`` (federated, local,
  centralized, zero-shot, fine-tune, full-fine-tune), ``f1``, ``precision``,
  ``recall``, ``roc_auc``, ``pr_auc`` (NaN when undefined), ``threshold``.
* ``deltas``: ``paradigm``, ``strategy``, ``n_nodes``, ``node``, ``method``
  (transfer mode), ``baseline``, ``delta_f1``, ``delta_roc_auc`` (averaged
  over seeds; NaN allowed).
* ``curves``: ``paradigm``, ``strategy``, ``n_nodes``, ``seed``, ``round``
  (1-based), ``train_loss``, optionally ``validation_loss``.
* ``scores``: ``node``, ``method``, ``window_start`` (UTC), ``score``,
  ``threshold`` (constant per node and method), ``label`` (0/1 Nagios).
* ``efficiency``: ``node``, ``days`` (days of the node's own training
  data), ``n_windows``, ``method`` (local | fine-tune | zero-shot), ``f1``,
  ``roc_auc``.

NaN metric values are left out of a figure and counted where it matters
(never drawn as 0). A required column that is absent raises
:class:`~ftl_tff.errors.SchemaError`, a table with nothing to draw raises
:class:`~ftl_tff.errors.DataError` and a node or method that is not in the
table raises :class:`~ftl_tff.errors.SelectionError` (all three are
:class:`~ftl_tff.errors.DataError`). :func:`plot_all` draws every figure
its tables allow.

Example:
    >>> paths = plot_all({"per_node": per_node, "deltas": deltas}, "report/figures")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['delta_f1_per_node', 'delta_roc_auc_per_node', 'f1_distributions']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from sklearn.metrics import auc, roc_curve

from .. import vocabulary
from ..errors import DataError, SchemaError, SelectionError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_NAMES",
    "METHOD_COLORS",
    "OKABE_ITO",
    "anomaly_spans",
    "plot_all",
    "plot_data_efficiency",
    "plot_delta_per_node",
    "plot_error_timeline",
    "plot_metric_distributions",
    "plot_roc_curves",
    "plot_training_curves",
]

#: The Okabe-Ito palette (Okabe & Ito 2008), distinguishable with the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "black": "#000000",
    "yellow": "#F0E442",
}

#: One fixed colour per method, the same in every figure.
METHOD_COLORS: dict[str, str] = {
    "federated": OKABE_ITO["blue"],
    "local": OKABE_ITO["orange"],
    "centralized": OKABE_ITO["black"],
    "zero-shot": OKABE_ITO["sky blue"],
    "fine-tune": OKABE_ITO["bluish green"],
    "full-fine-tune": OKABE_ITO["reddish purple"],
}

#: The file stem of each figure :func:`plot_all` draws, in drawing order.
FIGURE_NAMES: tuple[str, ...] = (
    "delta_f1_per_node",
    "delta_roc_auc_per_node",
    "f1_distributions",
    "roc_curves",
    "error_timeline",
    "training_curves",
    "data_efficiency",
)

_DPI = 120
_METHOD_ORDER = vocabulary.METHOD_ORDER
#: Transfer modes, in the order plot_all prefers them for the error timeline.
_TRANSFER_PREFERENCE = ("fine-tune", "zero-shot", "full-fine-tune")
_PARADIGM_ORDER = ("unsupervised", "semi-supervised", "supervised")
_STRATEGY_COLORS = {"top": OKABE_ITO["blue"], "random": OKABE_ITO["orange"]}
_STRATEGY_LABELS = {"top": "Top-N", "random": "Random-N"}
_CYCLE = tuple(OKABE_ITO.values())
_IMPROVED, _WORSE, _NEUTRAL = OKABE_ITO["bluish green"], OKABE_ITO["vermillion"], "#999999"
_ANOMALY_SHADE = OKABE_ITO["orange"]
_METRIC_LABELS = {
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
}
#: Metrics bounded to [0, 1], drawn on a fixed [0, 1] axis.
_UNIT_METRICS = frozenset(_METRIC_LABELS)
_MAX_NODE_TICKS = 60
#: Window length assumed when a timeline holds a single window (the M100 release's windows).
_DEFAULT_WINDOW = pd.Timedelta(minutes=15)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _require(table: Any, columns: Iterable[str], what: str) -> pd.DataFrame:
    """Checks that ``table`` is a DataFrame with ``columns`` and at least one row."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what} table must be a pandas DataFrame, not {type(table).__name__}")
    for column in columns:
        if column not in table.columns:
            raise SchemaError(f"{what} table lacks column {column!r} (columns: {', '.join(map(str, table.columns))})")
    if table.empty:
        raise DataError(f"nothing to plot: the {what} table is empty")
    return table


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float)


def _metric_label(metric: str) -> str:
    if metric.startswith("delta_"):
        return "Δ " + _METRIC_LABELS.get(metric[len("delta_"):], metric[len("delta_"):])
    return _METRIC_LABELS.get(metric, metric)


def _method_color(method: str, others: list[str]) -> str:
    """The fixed colour of a known method; unknown ones cycle through the palette."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    spare = [c for c in _CYCLE if c not in METHOD_COLORS.values()] or list(_CYCLE)
    index = others.index(method) if method in others else 0
    return spare[index % len(spare)]


def _order_methods(methods: Iterable[Any]) -> list[str]:
    """Known methods in their canonical order, then the others alphabetically."""
    present = {str(m) for m in methods}
    known = [m for m in _METHOD_ORDER if m in present]
    return known + sorted(present - set(known))


def _order_paradigms(paradigms: Iterable[Any]) -> list[str]:
    present = {str(p) for p in paradigms}
    known = [p for p in _PARADIGM_ORDER if p in present]
    return known + sorted(present - set(known))


def _order_strategies(strategies: Iterable[Any]) -> list[str]:
    present = {str(s) for s in strategies}
    known = [s for s in _STRATEGY_COLORS if s in present]
    return known + sorted(present - set(known))


def _strategy_color(strategy: str, order: list[str]) -> str:
    if strategy in _STRATEGY_COLORS:
        return _STRATEGY_COLORS[strategy]
    return _CYCLE[(2 + order.index(strategy)) % len(_CYCLE)]


def _rank(column: str, value: Any) -> tuple:
    """A sort key that puts known paradigms, strategies and methods in their canonical order."""
    canonical = {"paradigm": _PARADIGM_ORDER, "strategy": tuple(_STRATEGY_COLORS), "method": _METHOD_ORDER,
                 "baseline": _METHOD_ORDER}.get(column, ())
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return (2, 0, "")
    if str(value) in canonical:
        return (0, canonical.index(str(value)), "")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (1, float(value), "")
    return (1, 0, str(value))


def _as_key(key: Any) -> tuple:
    """groupby keys as tuples (pandas < 2 yields scalars for a one-column list)."""
    return key if isinstance(key, tuple) else (key,)


def _fmt_value(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _group_title(keys: Mapping[str, Any]) -> str:
    """``unsupervised · Top-4 · fine-tune vs local`` from a group's key values."""
    parts: list[str] = []
    if "paradigm" in keys:
        parts.append(str(keys["paradigm"]))
    strategy, n_nodes = keys.get("strategy"), keys.get("n_nodes")
    if strategy is not None and n_nodes is not None and not pd.isna(n_nodes):
        name = _STRATEGY_LABELS.get(str(strategy), f"{strategy}-N").replace("-N", f"-{_fmt_value(n_nodes)}")
        parts.append(name)
    elif strategy is not None:
        parts.append(_STRATEGY_LABELS.get(str(strategy), str(strategy)))
    elif n_nodes is not None:
        parts.append(f"N = {_fmt_value(n_nodes)}")
    if "method" in keys and "baseline" in keys:
        parts.append(f"{keys['method']} vs {keys['baseline']}")
    elif "method" in keys:
        parts.append(str(keys["method"]))
    elif "baseline" in keys:
        parts.append(f"vs {keys['baseline']}")
    if "seed" in keys:
        parts.append(f"seed {_fmt_value(keys['seed'])}")
    return " · ".join(p for p in parts if p and p != "nan")


def _figure(width: float, height: float) -> Figure:
    """A Figure outside pyplot (no global state, freed with its last reference)."""

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", format="png")
    fig.clear()
    return path


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return int(math.ceil(n / cols)), cols


def _spans_decades(values: Iterable[float], decades: float = 2.0) -> bool:
    """Whether the positive finite ``values`` span more than ``decades`` powers of ten."""
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array) & (array > 0)]
    if array.size < 2:
        return False
    return bool(np.log10(array.max()) - np.log10(array.min()) > decades)


def _note(ax: Axes, text: str, *, y: float = 0.5, fontsize: float = 9) -> None:
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=fontsize, color="#444444",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#BBBBBB", "alpha": 0.9})


def _select_node(table: pd.DataFrame, node: Any, what: str) -> pd.DataFrame:
    nodes = table["node"].astype(str)
    chosen = table[nodes == str(node)]
    if chosen.empty:
        known = sorted(nodes.unique())
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        raise SelectionError(f"node {str(node)!r} is not in the {what} table (nodes: {shown})")
    return chosen


# ---------------------------------------------------------------------------
# 1. Per-node deltas
# ---------------------------------------------------------------------------


def plot_delta_per_node(
    deltas: pd.DataFrame,
    path: str | Path,
    *,
    metric: str = "delta_f1",
    title: str | None = None,
) -> Path:
    """Bar chart of a per-node delta (transfer minus baseline), one bar per node.

    Bars are sorted by delta and coloured by sign (green: the transfer mode
    beats the baseline on that node; vermillion: it does worse), with a line
    at 0. Each (``paradigm``, ``strategy``, ``n_nodes``, ``method``,
    ``baseline``) group present gets its own subplot in a grid with a shared
    y-axis, annotated with the median delta and "k of n nodes improved".
    Nodes whose delta is NaN are left out and counted in the annotation; rows
    repeated for a node within a group are averaged. With more than 60
    nodes in a subplot the node ids are not written under the bars.

    Args:
        deltas: The deltas table: ``node`` and ``metric`` are required;
            ``paradigm``, ``strategy``, ``n_nodes``, ``method`` and
            ``baseline`` split it into subplots when present.
        path: The PNG to write.
        metric: The delta column to draw (``delta_f1``, ``delta_roc_auc``).
        title: The figure title (default: "Δ F1 per node: transfer vs
            baseline" for ``delta_f1``).

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If ``node`` or ``metric`` is not a column (a
            :class:`~ftl_tff.errors.DataError`).
        DataError: If the table is empty or every delta is NaN.
    """
    _require(deltas, ["node", metric], "deltas")
    table = deltas.copy()
    table["node"] = table["node"].astype(str)
    table[metric] = _numeric(table[metric])
    if table[metric].notna().sum() == 0:
        raise DataError(f"nothing to plot: every {metric} value of the deltas table is NaN")
    keys = [k for k in ("paradigm", "strategy", "n_nodes", "method", "baseline") if k in table.columns]
    groups = ([(dict(zip(keys, _as_key(k))), g) for k, g in table.groupby(keys, sort=True, dropna=False)]
              if keys else [({}, table)])
    groups.sort(key=lambda item: tuple(_rank(column, value) for column, value in item[0].items()))
    label = _metric_label(metric)


    rows, cols = _grid(len(groups))
    most = max(g["node"].nunique() for _, g in groups)
    width = min(7.0, max(4.0, 0.22 * most + 1.5)) * cols
    fig = _figure(min(width, 21.0), 3.6 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, (key, group) in zip(axes, groups):
        per_node = group.groupby("node", sort=True)[metric].mean()
        undefined = int(per_node.isna().sum())
        defined = per_node.dropna().sort_values(kind="mergesort")
        n = int(defined.size)
        ax.axhline(0.0, color="black", linewidth=0.9)
        ax.set_title(_group_title(key), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if n == 0:
            _note(ax, f"no defined {label} ({undefined} node{'s' * (undefined != 1)} NaN)")
            ax.set_xticks([])
            continue
        colours = [_IMPROVED if v > 0 else _WORSE if v < 0 else _NEUTRAL for v in defined.to_numpy()]
        ax.bar(np.arange(n), defined.to_numpy(), color=colours, width=0.8, edgecolor="none")
        ax.set_xlim(-0.7, n - 0.3)
        if n <= _MAX_NODE_TICKS:
            ax.set_xticks(np.arange(n))
            ax.set_xticklabels(defined.index.tolist(), rotation=90, fontsize=7 if n > 20 else 8)
            ax.set_xlabel("node (sorted by Δ)")
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"{n} nodes, sorted by Δ")
        improved = int((defined > 0).sum())
        text = f"median {label} = {float(defined.median()):+.3f}\n{improved} of {n} nodes improved"
        if undefined:
            text += f"\n{undefined} node{'s' * (undefined != 1)} undefined (NaN)"
        ax.text(0.02, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#BBBBBB", "alpha": 0.85})
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for row in range(rows):
        axes[row * cols].set_ylabel(f"{label} (transfer − baseline)")
    axes[0].legend(handles=[Patch(color=_IMPROVED, label="improved (Δ > 0)"),
                            Patch(color=_WORSE, label="worse (Δ < 0)")],
                   loc="lower right", fontsize=8, framealpha=0.85)
    fig.suptitle(title if title is not None else f"{label} per node: transfer vs baseline")
    return _save(fig, path)


# ---------------------------------------------------------------------------
# 2. Metric distributions
# ---------------------------------------------------------------------------


def plot_metric_distributions(
    per_node: pd.DataFrame,
    path: str | Path,
    *,
    metric: str = "f1",
    role: str | None = "non-participating",
) -> Path:
    """Box plots of a per-node metric per method, one panel per paradigm.

    Each method gets adjacent boxes, one per ``strategy`` (Top-N, Random-N),
    with every value drawn as a jittered point over its box (whiskers at 1.5
    IQR; outliers are among the points). Rows are first restricted to
    ``role`` when the table has a ``role`` column. NaN values (undefined
    metrics, e.g. F1 on a node whose test part has no anomaly) are dropped
    and their count is written under each panel's title.

    Args:
        per_node: The per-node metrics table: ``method`` and ``metric`` are
            required; ``paradigm`` (panels), ``strategy`` (adjacent boxes)
            and ``role`` are used when present.
        path: The PNG to write.
        metric: The metric column (``f1``, ``precision``, ``recall``,
            ``roc_auc``, ``pr_auc``).
        role: Keep only rows of this role (``participating`` or
            ``non-participating``); None keeps every row.

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If ``method`` or ``metric`` is not a column.
        DataError: If the table is empty, no row has the role, or every
            value is NaN.
    """
    _require(per_node, ["method", metric], "per-node metrics")
    table = per_node.copy()
    if role is not None and "role" in table.columns:
        table = table[table["role"].astype(str) == role]
        if table.empty:
            raise DataError(f"nothing to plot: no per-node metrics row has role {role!r}")
    table["method"] = table["method"].astype(str)
    table[metric] = _numeric(table[metric])
    if table[metric].notna().sum() == 0:
        raise DataError(f"nothing to plot: every {metric} value of the per-node metrics table is NaN")
    has_strategy = "strategy" in table.columns
    if has_strategy:
        table["strategy"] = table["strategy"].astype(str)
    paradigms = _order_paradigms(table["paradigm"].unique()) if "paradigm" in table.columns else [None]
    methods = _order_methods(table["method"].unique())
    strategies = _order_strategies(table["strategy"].unique()) if has_strategy else [None]
    label = _metric_label(metric)


    rng = np.random.default_rng(0)
    width = 0.8 / len(strategies)
    fig = _figure(max(4.0, 0.9 * len(methods) * max(1, len(strategies)) ** 0.5 + 1.5) * len(paradigms), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(paradigms), sharey=True, squeeze=False)).ravel()
    for ax, paradigm in zip(axes, paradigms):
        panel = table if paradigm is None else table[table["paradigm"].astype(str) == paradigm]
        dropped = int(panel[metric].isna().sum())
        kept = panel.dropna(subset=[metric])
        for i, method in enumerate(methods):
            for j, strategy in enumerate(strategies):
                rows = kept[kept["method"] == method]
                if strategy is not None:
                    rows = rows[rows["strategy"] == strategy]
                values = rows[metric].to_numpy(dtype=float)
                if values.size == 0:
                    continue
                position = i + (j - (len(strategies) - 1) / 2) * width
                colour = _method_color(method, methods) if strategy is None else _strategy_color(strategy, strategies)
                boxes = ax.boxplot([values], positions=[position], widths=width * 0.85, patch_artist=True,
                                   showfliers=False, manage_ticks=False,
                                   medianprops={"color": "black", "linewidth": 1.5})
                for box in boxes["boxes"]:
                    box.set_facecolor(colour)
                    box.set_alpha(0.55)
                jitter = rng.uniform(-width * 0.25, width * 0.25, size=values.size)
                ax.scatter(position + jitter, values, s=10, color="black", alpha=0.55, linewidths=0, zorder=3)
        ax.set_xticks(np.arange(len(methods)))
        ax.set_xticklabels(methods, rotation=20 if len(methods) > 3 else 0, ha="right" if len(methods) > 3 else "center")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_xlabel("method")
        ax.grid(axis="y", alpha=0.3)
        heading = "all rows" if paradigm is None else paradigm
        ax.set_title(f"{heading}\n{len(kept)} values, {dropped} NaN dropped", fontsize=10)
        if metric in _UNIT_METRICS:
            ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(label)
    if has_strategy:
        handles = [Patch(facecolor=_strategy_color(s, strategies), alpha=0.55, label=_STRATEGY_LABELS.get(s, s))
                   for s in strategies]
        axes[-1].legend(handles=handles, title="selection", loc="best", fontsize=8, title_fontsize=8)
    scope = f"{role} nodes" if role is not None and "role" in per_node.columns else "all nodes"
    fig.suptitle(f"{label} per node and method ({scope})")
    return _save(fig, path)


# ---------------------------------------------------------------------------
# 3. ROC curves
# ---------------------------------------------------------------------------


def plot_roc_curves(
    scores: pd.DataFrame,
    path: str | Path,
    *,
    node: str | None = None,
    methods: Sequence[str] | None = None,
) -> Path:
    """ROC curves of each method on one node's test windows, or pooled over nodes.

    The curve of a method is :func:`sklearn.metrics.roc_curve` of its window
    scores against the Nagios labels, with the AUC in the legend. A method
    whose windows hold one class (or no finite score) has no ROC curve: it is
    skipped and named in a note in the axes. Pooling (``node=None``) puts the
    windows of every node together; scores are not rescaled per node.

    Args:
        scores: The window-scores table: ``method``, ``score`` and ``label``
            are required, ``node`` too when ``node`` is given.
        path: The PNG to write.
        node: The node to draw; None pools all nodes (said in the title).
        methods: The methods to draw, in this order (default: every method
            present, in canonical order).

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If a required column is absent.
        DataError: If the table is empty.
        SelectionError: If ``node`` or one of ``methods`` is not in the table.
    """

    _require(scores, ["method", "score", "label"] + (["node"] if node is not None else []), "scores")
    table = _select_node(scores, node, "scores") if node is not None else scores
    present = _order_methods(table["method"].unique())
    if methods is None:
        chosen = present
    else:
        chosen = [str(m) for m in methods]
        missing = [m for m in chosen if m not in present]
        if missing:
            raise SelectionError(f"method(s) {', '.join(map(repr, missing))} not in the scores table "
                                 f"(methods: {', '.join(present)})")
        if not chosen:
            raise DataError("nothing to plot: no method asked for")

    fig = _figure(5.6, 5.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle=":", color="#888888", linewidth=1, label="chance (AUC = 0.5)")
    skipped: list[str] = []
    method_col = table["method"].astype(str)
    for method in chosen:
        rows = table[method_col == method]
        score = _numeric(rows["score"]).to_numpy()
        label = _numeric(rows["label"]).to_numpy()
        keep = np.isfinite(score) & np.isfinite(label)
        score, label = score[keep], label[keep].astype(int)
        if score.size == 0 or np.unique(label).size < 2:
            skipped.append(method)
            continue
        fpr, tpr, _ = roc_curve(label, score)
        ax.plot(fpr, tpr, color=_method_color(method, chosen), linewidth=1.8,
                label=f"{method} (AUC = {auc(fpr, tpr):.3f})")
    if skipped:
        _note(ax, "ROC undefined: test windows hold one class\n(" + ", ".join(skipped) + ")", y=0.2, fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) == 1:  # only the chance line: say so in the legend too
        handles.append(Line2D([], [], color="none"))
        labels.append("no method with both classes")
    ax.legend(handles, labels, loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.set_xlabel("false positive rate (share of normal windows flagged)")
    ax.set_ylabel("true positive rate (share of anomalous windows flagged)")
    if node is None:
        n_nodes = table["node"].nunique() if "node" in table.columns else None
        where = f"pooled over {n_nodes} nodes" if n_nodes is not None else "pooled over all nodes"
    else:
        where = f"node {node}"
    ax.set_title(f"ROC curves: {where}")
    return _save(fig, path)


# ---------------------------------------------------------------------------
# 4. Error timeline
# ---------------------------------------------------------------------------


def anomaly_spans(
    window_start: Sequence[Any] | pd.Series,
    labels: Sequence[int] | pd.Series,
    window: pd.Timedelta | None = None,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merges consecutive anomalous windows into ``(start, end)`` time spans.

    Windows are taken in time order. A run of anomalous windows whose starts
    follow each other by at most one window length is one span, from the
    start of its first window to the end (start + window length) of its
    last; a gap in time (missing windows) splits a run.

    Args:
        window_start: Start time of each window (any order; tz-aware or not).
        labels: Label of each window, 1 anomalous (anything else, NaN
            included, is normal).
        window: The window length (default: the median spacing of the
            distinct starts; 15 minutes when there is a single window).

    Returns:
        The spans, in time order, as ``(start, end)`` Timestamps.

    Raises:
        DataError: If the two sequences differ in length.

    Example:
        >>> starts = pd.date_range("2022-09-01", periods=5, freq="15min", tz="UTC")
        >>> [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in anomaly_spans(starts, [0, 1, 1, 0, 1])]
        [('00:15', '00:45'), ('01:00', '01:15')]
    """
    starts = pd.Series(pd.to_datetime(pd.Series(list(window_start)), utc=False))
    flags = pd.to_numeric(pd.Series(list(labels)), errors="coerce").to_numpy()
    if len(starts) != len(flags):
        raise DataError(f"window_start and labels differ in length ({len(starts)} vs {len(flags)})")
    if window is None:
        window = _window_length(starts)
    order = np.argsort(starts.to_numpy(), kind="mergesort")
    starts = starts.iloc[order].reset_index(drop=True)
    anomalous = flags[order] == 1
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    tolerance = window * 1.01
    current: list[pd.Timestamp] | None = None
    for start, flag in zip(starts, anomalous):
        if not flag:
            if current is not None:
                spans.append((current[0], current[1]))
                current = None
            continue
        if current is not None and start - (current[1] - window) <= tolerance:
            current[1] = start + window
        else:
            if current is not None:
                spans.append((current[0], current[1]))
            current = [start, start + window]
    if current is not None:
        spans.append((current[0], current[1]))
    return spans


def _window_length(starts: pd.Series) -> pd.Timedelta:
    """The median spacing of the distinct window starts (15 minutes for one window)."""
    distinct = pd.Series(pd.unique(starts.dropna())).sort_values()
    if distinct.size < 2:
        return _DEFAULT_WINDOW
    return pd.Timedelta(distinct.diff().dropna().median())


def _naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (matplotlib's date axis wants one time zone)."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)


def plot_error_timeline(
    scores: pd.DataFrame,
    path: str | Path,
    *,
    node: str,
    method: str,
) -> Path:
    """Anomaly score over time for one node and method, with Nagios anomalies and flags.

    The score (reconstruction error) is drawn against the window start (UTC),
    on a log axis when it spans more than two decades. The threshold is a
    dashed line; runs of consecutive Nagios-anomalous windows (label 1) are
    shaded as one span each (see :func:`anomaly_spans`; the window length is
    the median spacing of the windows), and windows the model flags
    (score >= threshold) are marked.

    Args:
        scores: The window-scores table (``node``, ``method``,
            ``window_start``, ``score``, ``threshold``, ``label``).
        path: The PNG to write.
        node: The node to draw.
        method: The method whose scores to draw.

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If a required column is absent.
        DataError: If the table is empty or the node's scores are all NaN.
        SelectionError: If the node, or the method for that node, is not in
            the table.
    """

    _require(scores, ["node", "method", "window_start", "score", "threshold", "label"], "scores")
    rows = _select_node(scores, node, "scores")
    methods = rows["method"].astype(str)
    rows = rows[methods == str(method)]
    if rows.empty:
        raise SelectionError(f"method {str(method)!r} has no scores for node {str(node)!r} "
                             f"(methods: {', '.join(_order_methods(methods.unique()))})")
    frame = pd.DataFrame({
        "start": _naive_utc(rows["window_start"]).to_numpy(),
        "score": _numeric(rows["score"]).to_numpy(),
        "threshold": _numeric(rows["threshold"]).to_numpy(),
        "label": _numeric(rows["label"]).to_numpy(),
    }).dropna(subset=["start"]).sort_values("start", kind="mergesort").reset_index(drop=True)
    if frame["score"].notna().sum() == 0:
        raise DataError(f"nothing to plot: every score of node {node!r}, method {method!r} is NaN")

    window = _window_length(frame["start"])
    spans = anomaly_spans(frame["start"], frame["label"], window)
    flagged = frame[frame["score"].notna() & frame["threshold"].notna() & (frame["score"] >= frame["threshold"])]
    thresholds = frame["threshold"].dropna()
    n_anomalous = int((frame["label"] == 1).sum())

    fig = _figure(11.0, 4.0)
    ax = fig.subplots()
    for start, end in spans:
        ax.axvspan(date2num(start), date2num(end), color=_ANOMALY_SHADE, alpha=0.3, linewidth=0, zorder=0)
    x = date2num(frame["start"].to_numpy())
    # The line breaks where windows are missing (between the test blocks of a blocked split, or a
    # stretch without data), so no score is drawn for time the part does not hold.
    breaks = np.flatnonzero(np.diff(frame["start"].to_numpy()) > np.timedelta64(window)) + 1
    ax.plot(np.insert(x, breaks, np.nan), np.insert(frame["score"].to_numpy(dtype=float), breaks, np.nan),
            color=OKABE_ITO["blue"], linewidth=0.9, zorder=2)
    if thresholds.nunique() == 1:
        ax.axhline(float(thresholds.iloc[0]), color="black", linestyle="--", linewidth=1.2, zorder=3)
    elif not thresholds.empty:
        ax.plot(x, frame["threshold"].to_numpy(), color="black", linestyle="--", linewidth=1.2,
                drawstyle="steps-post", zorder=3)
    ax.scatter(date2num(flagged["start"].to_numpy()), flagged["score"].to_numpy(), marker="v", s=22,
               color=OKABE_ITO["vermillion"], zorder=4)
    if _spans_decades(frame["score"].tolist() + thresholds.tolist()):
        ax.set_yscale("log", nonpositive="clip")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if len(x):
        pad = date2num(frame["start"].iloc[-1] + window) - x[-1]
        ax.set_xlim(x[0], x[-1] + pad)
    ax.grid(alpha=0.3)
    ax.set_xlabel("window start (UTC)")
    ax.set_ylabel("anomaly score (reconstruction + gap)")
    handles = [
        Line2D([], [], color=OKABE_ITO["blue"], linewidth=0.9, label="score"),
        Patch(color=_ANOMALY_SHADE, alpha=0.3, label="Nagios anomaly"),
        Line2D([], [], color="black", linestyle="--", linewidth=1.2, label="threshold"),
        Line2D([], [], color=OKABE_ITO["vermillion"], marker="v", linestyle="none", label="flagged"),
    ]
    fig.legend(handles=handles, loc="outside lower center", fontsize=8, ncol=4, frameon=False)
    ax.set_title(f"Anomaly score over time: node {node}, {method}\n"
                 f"{len(frame)} windows of {_fmt_timedelta(window)}, {n_anomalous} Nagios-anomalous "
                 f"in {len(spans)} span{'s' * (len(spans) != 1)}, {len(flagged)} flagged", fontsize=10)
    return _save(fig, path)


def _fmt_timedelta(delta: pd.Timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# ---------------------------------------------------------------------------
# 5. Training curves
# ---------------------------------------------------------------------------


def plot_training_curves(curves: pd.DataFrame, path: str | Path) -> Path:
    """Federated training loss per round, one panel per paradigm.

    One line per (``paradigm``, ``strategy``, ``n_nodes``, ``seed``) run: the
    colour tells the configuration (strategy and N), the seeds of a
    configuration share it. Validation loss, when the column exists and is
    not all NaN, is dashed in the same colour. A panel uses a log y-axis
    when its losses span more than two decades.

    Args:
        curves: The training-curves table: ``round`` and ``train_loss`` are
            required; ``paradigm`` (panels), ``strategy``, ``n_nodes``,
            ``seed`` (lines) and ``validation_loss`` are used when present.
        path: The PNG to write.

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If ``round`` or ``train_loss`` is not a column.
        DataError: If the table is empty or every training loss is NaN.
    """

    _require(curves, ["round", "train_loss"], "training curves")
    table = curves.copy()
    table["round"] = _numeric(table["round"])
    table["train_loss"] = _numeric(table["train_loss"])
    has_validation = "validation_loss" in table.columns and _numeric(table["validation_loss"]).notna().any()
    if has_validation:
        table["validation_loss"] = _numeric(table["validation_loss"])
    if table["train_loss"].notna().sum() == 0:
        raise DataError("nothing to plot: every train_loss of the training-curves table is NaN")
    paradigms = _order_paradigms(table["paradigm"].unique()) if "paradigm" in table.columns else [None]
    config_keys = [k for k in ("strategy", "n_nodes") if k in table.columns]
    line_keys = config_keys + (["seed"] if "seed" in table.columns else [])
    configs = ([_as_key(k) for k, _ in table.groupby(config_keys, sort=True, dropna=False)]
               if config_keys else [()])
    if "strategy" in config_keys:  # Top-N first, so that it takes the palette's first colour
        strategies = _order_strategies(table["strategy"].unique())
        configs.sort(key=lambda c: strategies.index(str(c[0])) if str(c[0]) in strategies else len(strategies))
    colours = {config: _CYCLE[i % len(_CYCLE)] for i, config in enumerate(configs)}

    fig = _figure(5.0 * len(paradigms) + 0.5, 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(paradigms), squeeze=False)).ravel()
    for ax, paradigm in zip(axes, paradigms):
        panel = table if paradigm is None else table[table["paradigm"].astype(str) == paradigm]
        lines = ([(_as_key(k), g) for k, g in panel.groupby(line_keys, sort=True, dropna=False)]
                 if line_keys else [((), panel)])
        drawn: dict[tuple, str] = {}
        losses: list[float] = []
        n_seeds = 0
        for key, group in lines:
            group = group.sort_values("round", kind="mergesort")
            config = key[: len(config_keys)]
            colour = colours.get(config, _CYCLE[0])
            alpha = 0.85
            ax.plot(group["round"], group["train_loss"], color=colour, linewidth=1.4, alpha=alpha,
                    marker="o" if len(group) <= 30 else None, markersize=2.5)
            losses.extend(group["train_loss"].dropna().tolist())
            if has_validation and group["validation_loss"].notna().any():
                ax.plot(group["round"], group["validation_loss"], color=colour, linewidth=1.2, alpha=alpha,
                        linestyle="--")
                losses.extend(group["validation_loss"].dropna().tolist())
            drawn[config] = colour
            n_seeds += 1
        if _spans_decades(losses):
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_xlabel("federated round")
        ax.set_ylabel("loss (training objective)")
        heading = "all runs" if paradigm is None else paradigm
        ax.set_title(f"{heading}\n{n_seeds} run{'s' * (n_seeds != 1)}", fontsize=10)
        handles = [Line2D([], [], color=colour, linewidth=1.4, label=_group_title(dict(zip(config_keys, config))))
                   for config, colour in drawn.items() if config]
        handles.append(Line2D([], [], color="#444444", linewidth=1.4, label="training loss"))
        if has_validation:
            handles.append(Line2D([], [], color="#444444", linewidth=1.2, linestyle="--", label="validation loss"))
        ax.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle("Federated training: loss per round")
    return _save(fig, path)


# ---------------------------------------------------------------------------
# 6. Data efficiency
# ---------------------------------------------------------------------------


def plot_data_efficiency(efficiency: pd.DataFrame, path: str | Path, *, metric: str = "f1") -> Path:
    """Median metric over nodes against days of the node's own training data, per method.

    For each method and amount of own data (``days``), the median over nodes
    is drawn with a marker at each measured point and the interquartile
    range as a band; the x-axis is logarithmic. A method measured only at
    ``days`` <= 0 (zero-shot uses none of the node's data) is drawn as a
    horizontal dotted line (median, IQR band) across the axis. NaN values are
    left out; the number of nodes is in each method's legend entry, and
    written at a point when it differs from that method's largest count.

    Args:
        efficiency: The data-efficiency table (``node``, ``days``,
            ``method`` and ``metric``).
        path: The PNG to write.
        metric: The metric column (``f1``, ``roc_auc``).

    Returns:
        ``path`` as a Path.

    Raises:
        SchemaError: If a required column is absent.
        DataError: If the table is empty or every value is NaN.
    """
    _require(efficiency, ["node", "days", "method", metric], "data-efficiency")
    table = efficiency.copy()
    table["node"] = table["node"].astype(str)
    table["method"] = table["method"].astype(str)
    table["days"] = _numeric(table["days"])
    table[metric] = _numeric(table[metric])
    table = table.dropna(subset=["days", metric])
    if table.empty:
        raise DataError(f"nothing to plot: no data-efficiency row has both days and a defined {metric}")
    methods = _order_methods(table["method"].unique())
    label = _metric_label(metric)
    stats = (table.groupby(["method", "days"], sort=True)
             .agg(median=(metric, "median"), q1=(metric, lambda s: s.quantile(0.25)),
                  q3=(metric, lambda s: s.quantile(0.75)), nodes=("node", "nunique"))
             .reset_index())
    positive = stats[stats["days"] > 0]
    measured_days = sorted(positive["days"].unique())


    fig = _figure(7.0, 4.6)
    ax = fig.subplots()
    for method in methods:
        rows = stats[stats["method"] == method]
        colour = _method_color(method, methods)
        n_nodes = table.loc[table["method"] == method, "node"].nunique()
        curve = rows[rows["days"] > 0]
        if curve.empty or not measured_days:
            # No own data (zero-shot): a reference level across the axis.
            flat = table.loc[table["method"] == method, metric]
            ax.axhline(float(flat.median()), color=colour, linestyle=":", linewidth=1.8,
                       label=f"{method}, no own data ({n_nodes} node{'s' * (n_nodes != 1)})")
            ax.axhspan(float(flat.quantile(0.25)), float(flat.quantile(0.75)), color=colour, alpha=0.12,
                       linewidth=0)
            continue
        ax.plot(curve["days"], curve["median"], color=colour, marker="o", linewidth=1.8, markersize=5,
                label=f"{method} ({n_nodes} node{'s' * (n_nodes != 1)})")
        ax.fill_between(curve["days"], curve["q1"], curve["q3"], color=colour, alpha=0.18, linewidth=0)
        most = int(curve["nodes"].max())
        for _, point in curve.iterrows():
            if int(point["nodes"]) != most:
                ax.annotate(f"n={int(point['nodes'])}", (point["days"], point["median"]), xytext=(4, 5),
                            textcoords="offset points", fontsize=7, color=colour)
    if measured_days:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(measured_days))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        low, high = min(measured_days), max(measured_days)
        ax.set_xlim(low / 1.3, high * 1.3)
    if metric in _UNIT_METRICS:
        ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.set_xlabel("own training data (days, log scale)")
    ax.set_ylabel(f"{label} (median over nodes; band: IQR)")
    ax.legend(fontsize=8, loc="best")
    total = table["node"].nunique()
    ax.set_title(f"Data efficiency: {label} vs own training data ({total} node{'s' * (total != 1)})")
    return _save(fig, path)


# ---------------------------------------------------------------------------
# 7. Everything
# ---------------------------------------------------------------------------


def _usable(table: Any) -> bool:
    return isinstance(table, pd.DataFrame) and not table.empty


def _timeline_choice(scores: pd.DataFrame) -> tuple[str, str]:
    """The node with the most anomalous windows, and its preferred transfer method."""
    for column in ("node", "method", "window_start", "label"):
        if column not in scores.columns:
            raise SchemaError(f"scores table lacks column {column!r}")
    frame = pd.DataFrame({
        "node": scores["node"].astype(str),
        "method": scores["method"].astype(str),
        "window_start": scores["window_start"],
        "anomalous": _numeric(scores["label"]) == 1,
    })
    per_node = (frame[frame["anomalous"]].drop_duplicates(["node", "window_start"])
                .groupby("node").size().reindex(sorted(frame["node"].unique()), fill_value=0))
    # Most anomalous windows first; ties broken by node id (stable sort of the sorted index).
    node = str(per_node.sort_values(ascending=False, kind="mergesort").index[0])
    present = _order_methods(frame.loc[frame["node"] == node, "method"].unique())
    method = next((m for m in _TRANSFER_PREFERENCE if m in present), present[0])
    return node, method


def plot_all(tables: Mapping[str, pd.DataFrame | None], out_dir: str | Path, *, strict: bool = False) -> dict[str, Path]:
    """Draws every report figure the given tables allow, with default file names.

    | figure (key; file `<key>.png`) | table | drawn by |
    |---|---|---|
    | `delta_f1_per_node` | `deltas` | `plot_delta_per_node` |
    | `delta_roc_auc_per_node` | `deltas` | `plot_delta_per_node` |
    | `f1_distributions` | `per_node` | `plot_metric_distributions` (non-participating nodes) |
    | `roc_curves` | `scores` | `plot_roc_curves` (pooled over nodes) |
    | `error_timeline` | `scores` | `plot_error_timeline` |
    | `training_curves` | `curves` | `plot_training_curves` |
    | `data_efficiency` | `efficiency` | `plot_data_efficiency` |

    A figure whose table is absent, None or empty is skipped, as is a delta
    figure whose column the deltas table lacks. The error timeline shows the
    node with the most Nagios-anomalous windows (ties: the smallest node id)
    and its first transfer method present, preferring ``fine-tune``, then
    ``zero-shot``, ``full-fine-tune`` (any method if none is a transfer).

    Args:
        tables: Any subset of ``per_node``, ``deltas``, ``curves``,
            ``scores`` and ``efficiency`` (other keys are ignored).
        out_dir: The folder to write the PNGs to (created when missing).
        strict: Raise the :class:`~ftl_tff.errors.DataError` of a figure
            that cannot be drawn from a present table (e.g. a missing
            column, or every value NaN). By default the figure is skipped
            with a warning, so one bad table never stops a report.

    Returns:
        Figure name (as in the table above) -> PNG path, for the figures
        drawn, in the table's order.

    Raises:
        DataError: Only with ``strict=True``, as above.
    """
    out_dir = Path(out_dir)
    jobs: list[tuple[str, Any]] = []
    deltas = tables.get("deltas")
    if _usable(deltas):
        for metric in ("delta_f1", "delta_roc_auc"):
            if metric in deltas.columns:
                jobs.append((f"{metric}_per_node", lambda p, m=metric: plot_delta_per_node(deltas, p, metric=m)))
    per_node = tables.get("per_node")
    if _usable(per_node):
        jobs.append(("f1_distributions", lambda p: plot_metric_distributions(per_node, p, metric="f1")))
    scores = tables.get("scores")
    if _usable(scores):
        jobs.append(("roc_curves", lambda p: plot_roc_curves(scores, p)))

        def timeline(p: Path) -> Path:
            node, method = _timeline_choice(scores)
            return plot_error_timeline(scores, p, node=node, method=method)

        jobs.append(("error_timeline", timeline))
    curves = tables.get("curves")
    if _usable(curves):
        jobs.append(("training_curves", lambda p: plot_training_curves(curves, p)))
    efficiency = tables.get("efficiency")
    if _usable(efficiency):
        jobs.append(("data_efficiency", lambda p: plot_data_efficiency(efficiency, p, metric="f1")))

    drawn: dict[str, Path] = {}
    for name, draw in jobs:
        try:
            drawn[name] = draw(out_dir / f"{name}.png")
        except DataError as error:
            if strict:
                raise
            warnings.warn(f"figure {name} skipped: {error}", stacklevel=2)
    return drawn
