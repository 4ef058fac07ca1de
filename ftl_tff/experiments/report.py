"""Statistics tables and ``report.md`` of an experiment (or any per-node results table).

:func:`comparison_tables` turns a long per-node table (columns ``node``,
``method``, metrics, and optionally ``paradigm``, ``strategy``, ``n_nodes``,
``seed``, ``role``) into the comparisons a reader of federated transfer
learning asks for:

* ``transfer_vs_local``: each transfer mode against the node-local model on
  the non-participating nodes (paired by node; Wilcoxon signed-rank);
* ``participants``: the federated model against the local and centralized
  baselines on the participating nodes (paired by node);
* ``top_vs_random``: the gain of transfer (``delta``) on the nodes left out
  by Top-N against the nodes left out by Random-N (independent groups;
  Mann-Whitney U);
* ``paradigms``: the transferred model across the three paradigms on the
  same nodes (Friedman, then Holm-corrected pairwise Wilcoxon);
* ``methods``: every method on the non-participating nodes (Friedman +
  pairwise).

Repeated rows of a node (several seeds) are averaged per node first, so the
node is the unit of analysis and a p-value never counts one node twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import stats, vocabulary
from ..errors import DataError, SourceNotFoundError

#: Condition columns; missing ones are filled with ``"-"``.
CONDITIONS: tuple[str, ...] = ("paradigm", "strategy", "n_nodes")
#: Transfer modes, in report order.
TRANSFER_METHODS = vocabulary.TRANSFER_MODES
_PAIRED_SHOWN = ["paradigm", "strategy", "n_nodes", "comparison", "n", "n_a_better", "n_b_better", "median_diff",
                 "ci_low", "ci_high", "p_value", "rank_biserial", "effect"]


def _with_conditions(per_node: pd.DataFrame) -> pd.DataFrame:
    table = per_node.copy()
    for column in CONDITIONS:
        if column not in table.columns:
            table[column] = "-"
    if "role" not in table.columns:
        table["role"] = np.where(table["method"].isin(["federated", "centralized"]), "participating",
                                 "non-participating")
    table["node"] = table["node"].astype(str)
    return table


def _groups(table: pd.DataFrame, columns: Sequence[str]):
    for key, rows in table.groupby(list(columns), sort=False, dropna=False):
        yield dict(zip(columns, key if isinstance(key, tuple) else (key,))), rows


def comparison_tables(
    per_node: pd.DataFrame,
    metric: str = "f1",
    baseline: str = "local",
    headline: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Every comparison of a per-node results table (see the module docstring).

    Args:
        per_node: Long table: ``node``, ``method``, ``metric`` and optional
            condition columns.
        metric: The metric compared.
        baseline: The method transfer is compared with.
        headline: The transfer mode used for Top-N vs Random-N and across
            paradigms (default: ``fine-tune`` when present, else the first
            transfer mode present).
        seed: Seed of the bootstrap intervals.

    Returns:
        ``{"transfer_vs_local", "participants", "top_vs_random"}`` as
        DataFrames (possibly empty) and ``{"paradigms", "methods"}`` as lists
        of ``(conditions, MultiComparison)``; ``"headline"`` names the mode.
    """
    missing = [c for c in ("node", "method", metric) if c not in per_node.columns]
    if missing:
        raise DataError(f"the per-node table lacks column(s) {', '.join(missing)}")
    table = _with_conditions(per_node)
    present = [m for m in TRANSFER_METHODS if m in set(table["method"])]
    headline = headline or ("fine-tune" if "fine-tune" in present else (present[0] if present else None))
    out: dict[str, Any] = {"headline": headline, "metric": metric}

    targets = table[table["role"] == "non-participating"]
    rows = []
    for keys, group in _groups(targets, CONDITIONS):
        if baseline not in set(group["method"]):
            continue
        for method in present:
            if method not in set(group["method"]):
                continue
            a, b = stats.paired_by(group, metric=metric, a=method, b=baseline)
            row = stats.paired_comparison(a, b, label_a=method, label_b=baseline, metric=metric, seed=seed)
            rows.append(row.assign(**keys))
    out["transfer_vs_local"] = _ordered(pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())

    participants = table[table["role"] == "participating"]
    rows = []
    for keys, group in _groups(participants, CONDITIONS):
        methods = set(group["method"])
        for other in ("local", "centralized"):
            if "federated" in methods and other in methods:
                a, b = stats.paired_by(group, metric=metric, a="federated", b=other)
                row = stats.paired_comparison(a, b, label_a="federated", label_b=other, metric=metric, seed=seed)
                rows.append(row.assign(**keys))
    out["participants"] = _ordered(pd.concat(rows, ignore_index=True) if rows else pd.DataFrame())

    rows = []
    if headline and baseline in set(targets["method"]):
        deltas = _deltas(targets, metric, headline, baseline)
        for keys, group in _groups(deltas, ["paradigm", "n_nodes"]):
            by_strategy = {s: g.set_index("node")["delta"] for s, g in group.groupby("strategy")}
            if {"top", "random"} <= set(by_strategy):
                row = stats.independent_comparison(by_strategy["top"], by_strategy["random"], label_a="Top-N",
                                                   label_b="Random-N", metric=f"delta {metric} ({headline} - "
                                                   f"{baseline})", seed=seed)
                rows.append(row.assign(**keys))
    out["top_vs_random"] = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    multis = []
    if headline:
        chosen = targets[targets["method"] == headline]
        for keys, group in _groups(chosen, ["strategy", "n_nodes"]):
            if group["paradigm"].nunique() >= 2:
                long = group.groupby(["node", "paradigm"], as_index=False)[metric].mean()
                multis.append((keys, stats.multi_comparison(long, dv=metric, within="paradigm", subject="node")))
    out["paradigms"] = multis
    multis = []
    for keys, group in _groups(targets, CONDITIONS):
        if group["method"].nunique() >= 3:
            long = group.groupby(["node", "method"], as_index=False)[metric].mean()
            multis.append((keys, stats.multi_comparison(long, dv=metric, within="method", subject="node")))
    out["methods"] = multis
    return out


def _deltas(targets: pd.DataFrame, metric: str, method: str, baseline: str) -> pd.DataFrame:
    keys = [*CONDITIONS, "node", "method"]
    means = targets[targets["method"].isin([method, baseline])].groupby(keys, dropna=False)[metric].mean()
    wide = means.unstack("method")
    if method not in wide.columns or baseline not in wide.columns:
        return pd.DataFrame(columns=[*CONDITIONS, "node", "delta"])
    return (wide[method] - wide[baseline]).rename("delta").reset_index()


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    front = [c for c in CONDITIONS if c in table.columns]
    return table[front + [c for c in table.columns if c not in front]]


def _condition_text(keys: Mapping[str, Any]) -> str:
    parts = []
    for name, value in keys.items():
        if value == "-" or value is None:
            continue
        if name == "strategy":
            parts.append({"top": "Top-N", "random": "Random-N"}.get(value, str(value)))
        elif name == "n_nodes":
            parts.append(f"N={value}")
        else:
            parts.append(str(value))
    return ", ".join(parts) or "all nodes"


def tables_markdown(tables: Mapping[str, Any]) -> str:
    """The comparisons of :func:`comparison_tables` as Markdown sections."""
    metric = tables.get("metric", "f1")
    lines: list[str] = []

    def paired_section(title: str, key: str, explanation: str) -> None:
        table = tables.get(key)
        if table is None or table.empty:
            return
        lines.extend([f"### {title}", "", explanation, ""])
        shown = [c for c in _PAIRED_SHOWN if c in table.columns and not (table[c] == "-").all()]
        lines.extend([stats.to_markdown(table, shown), ""])
        lines.extend(f"- {_condition_text({c: r[c] for c in CONDITIONS if c in r})}: {r['summary']}"
                     for _, r in table.iterrows())
        lines.append("")

    paired_section(f"Transfer vs local on the non-participating nodes ({metric})", "transfer_vs_local",
                   "Paired by node (seeds averaged per node first); Wilcoxon signed-rank test, rank-biserial r, "
                   "bootstrap 95% CI of the mean difference.")
    paired_section(f"Federated vs baselines on the participating nodes ({metric})", "participants",
                   "Paired by node; the same tests.")
    top = tables.get("top_vs_random")
    if top is not None and not top.empty:
        lines.extend([f"### Top-N vs Random-N: gain of {tables.get('headline')} over local ({metric})", "",
                      "Independent groups (the nodes each strategy leaves out); Mann-Whitney U, rank-biserial r.", ""])
        shown = [c for c in ["paradigm", "n_nodes", "comparison", "n_a", "n_b", "median_a", "median_b", "median_diff",
                             "p_value", "rank_biserial", "effect"] if c in top.columns]
        lines.extend([stats.to_markdown(top, shown), ""])
        lines.extend(f"- {_condition_text({c: r[c] for c in ('paradigm', 'n_nodes')})}: {r['summary']}"
                     for _, r in top.iterrows())
        lines.append("")
    for key, title in (("paradigms", f"Across paradigms ({tables.get('headline')}, {metric})"),
                       ("methods", f"Across methods on the non-participating nodes ({metric})")):
        multis = tables.get(key) or []
        if not multis:
            continue
        lines.extend([f"### {title}", "", "Friedman test over nodes, then pairwise Wilcoxon with Holm's correction "
                      "(read the pairs when the Friedman test is significant).", ""])
        for keys, multi in multis:
            lines.append(f"**{_condition_text(keys)}**: {multi.omnibus.iloc[0]['summary']}")
            lines.append("")
            shown = [c for c in ["a", "b", "n", "median_a", "median_b", "median_diff", "p_value", "p_holm",
                                 "rank_biserial", "effect"] if c in multi.pairwise.columns]
            if not multi.pairwise.empty:
                lines.extend([stats.to_markdown(multi.pairwise, shown), ""])
    return "\n".join(lines).rstrip() + "\n"


def tables_latex(tables: Mapping[str, Any]) -> str:
    """The paired and independent comparisons as LaTeX tables (booktabs)."""
    parts = []
    for key in ("transfer_vs_local", "participants", "top_vs_random"):
        table = tables.get(key)
        if table is not None and not table.empty:
            shown = [c for c in stats.REPORT_COLUMNS if c in table.columns]
            metric = tables.get("metric", "f1")
            parts.append(stats.to_latex(table, [*[c for c in CONDITIONS if c in table.columns], *shown],
                                        caption=f"{key.replace('_', ' ')} ({metric})", label=f"tab:{key}-{metric}"))
    return "\n\n".join(parts) + "\n"


def headline_table(per_node: pd.DataFrame,
                   metrics: Sequence[str] = ("f1", "event_f1", "mcc", "roc_auc", "vus_pr")) -> pd.DataFrame:
    """Median of each metric per condition, role and method (seeds averaged per node first)."""
    table = _with_conditions(per_node)
    metrics = [m for m in metrics if m in table.columns]
    keys = [*CONDITIONS, "role", "method"]
    per = table.groupby([*keys, "node"], dropna=False)[metrics].mean().reset_index()
    summary = per.groupby(keys, sort=False, dropna=False).agg(
        nodes=("node", "nunique"), **{f"median_{m}": (m, "median") for m in metrics},
        **{f"undefined_{m}": (m, lambda s: int(s.isna().sum())) for m in metrics}).reset_index()
    return summary


def write_report(
    out: str | Path,
    *,
    title: str,
    per_node: pd.DataFrame,
    tables: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    figures: Mapping[str, Path],
    config: Mapping[str, Any] | None = None,
    efficiency: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    timings: Mapping[str, float] | None = None,
    files: Sequence[str] | None = None,
) -> Path:
    """Write ``report.md`` (and ``stats/*.md``, ``stats/*.tex``, ``headline.csv``) into ``out``.

    ``tables`` is one :func:`comparison_tables` result or several (one per
    metric, e.g. F1 and ROC-AUC), reported in that order.

    Returns:
        The path of ``report.md``.
    """
    out = Path(out)
    (out / "stats").mkdir(parents=True, exist_ok=True)
    headline = headline_table(per_node)
    headline.to_csv(out / "headline.csv", index=False)
    sets = [tables] if isinstance(tables, Mapping) else list(tables)
    stats_md = "\n".join(tables_markdown(t) for t in sets)
    (out / "stats" / "comparisons.md").write_text(stats_md)
    (out / "stats" / "comparisons.tex").write_text("\n".join(tables_latex(t) for t in sets))
    for t in sets:
        for key in ("transfer_vs_local", "participants", "top_vs_random"):
            table = t.get(key)
            if table is not None and not table.empty:
                table.to_csv(out / "stats" / f"{key}_{t.get('metric', 'f1')}.csv", index=False)

    lines = [f"# {title}", ""]
    if config:
        lines.extend(["Configuration: `config.json` (the grid, training and transfer settings).", ""])
    shown = [c for c in headline.columns if not (headline[c].astype(str) == "-").all()]
    lines.extend(["## Headline", "", "Median over nodes (each node's seeds averaged first); `undefined_*` counts "
                  "nodes where the metric is undefined (e.g. no anomalous test window), left out of the median.", "",
                  stats.to_markdown(headline, shown), ""])
    if figures.get("f1_distributions"):
        lines.extend([f"![F1 per method]({_rel(figures['f1_distributions'], out)})", ""])
    lines.extend(["## Statistics", "", stats_md])
    for name, caption in (("delta_f1_per_node", "Delta F1 (transfer - local) per non-participating node"),
                          ("delta_roc_auc_per_node", "Delta ROC-AUC per non-participating node"),
                          ("roc_curves", "ROC curves (pooled test windows of one cell)"),
                          ("error_timeline", "Reconstruction error of one node, Nagios anomalies shaded"),
                          ("training_curves", "Federated training curves")):
        if figures.get(name):
            lines.extend([f"### {caption}", "", f"![{caption}]({_rel(figures[name], out)})", ""])
    if efficiency:
        lines.extend(["## Data efficiency", "", efficiency.get("sentence", ""), ""])
        curve = efficiency.get("curve") or {}
        if curve:
            methods = sorted({m for point in curve.values() for m in point if m != "days"})
            frame = pd.DataFrame([{"budget": b, "days": p["days"], **{m: p.get(m) for m in methods}}
                                  for b, p in curve.items()])
            lines.extend(["Median F1 over the non-participating nodes per training budget of the node's own data:",
                          "", stats.to_markdown(frame), ""])
        if figures.get("data_efficiency"):
            lines.extend([f"![Data efficiency]({_rel(figures['data_efficiency'], out)})", ""])
    if notes:
        lines.extend(["## Notes", "", *[f"- {n}" for n in notes], ""])
    if timings:
        lines.extend(["## Timings", "", *[f"- {k}: {v:.1f} s" for k, v in timings.items()], ""])
    if files is None:
        files = ["`per_node.csv` / `per_node.parquet`: every node, method and cell",
                 "`deltas.csv`: per-node gain of each transfer mode over local",
                 "`curves.csv`: federated training curves", "`stats/`: comparison tables (Markdown, LaTeX, CSV)",
                 "`figures/`: the figures above", "`cells/<cell>/`: run folder, selection and scores of each cell"]
    lines.extend(["## Files", "", *[f"- {f}" for f in files], ""])
    path = out / "report.md"
    path.write_text("\n".join(lines))
    if config is not None:
        (out / "config.json").write_text(json.dumps(dict(config), indent=2, default=str))
    return path


def read_per_node(results: str | Path) -> pd.DataFrame:
    """Read the per-node table of a results folder or file.

    Accepts an experiment or transfer results folder (``per_node.csv`` or
    ``.parquet``), a run folder (``metrics_per_node.csv``: federated and
    baselines on the participating nodes), or a CSV/Parquet file.

    Raises:
        SourceNotFoundError: If nothing readable is there.
    """
    results = Path(results)
    candidates = [results] if results.is_file() else [results / "per_node.parquet", results / "per_node.csv",
                                                       results / "metrics_per_node.csv"]
    for path in candidates:
        if path.is_file():
            if path.suffix == ".parquet":
                table = pd.read_parquet(path)
            else:
                table = pd.read_csv(path, dtype={"node": str})
            if path.name == "metrics_per_node.csv" and "role" not in table.columns:
                table.insert(0, "role", "participating")
            table["node"] = table["node"].astype(str)
            return table
    raise SourceNotFoundError(f"{results}: no per_node.csv/.parquet or metrics_per_node.csv (give an experiment, "
                              "transfer or run folder, or a per-node CSV)")


def _rel(path: Path, base: Path) -> str:
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return str(path)
