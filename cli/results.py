"""``ftl-tff stats``, ``evaluate`` and ``score``: read what runs and experiments wrote."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ftl_tff.experiments.report import comparison_tables, read_per_node, tables_latex, tables_markdown
from ftl_tff.runs import evaluate_run, score_run

from .common import split_list


@click.command("stats")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--metric", default="f1", help="Metric compared (f1, roc_auc, pr_auc, precision, recall).")
@click.option("--baseline", default="local", help="Method transfer is compared with.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown",
              help="Output format.")
def stats_command(results: Path, metric: str, baseline: str, fmt: str) -> None:
    """Significance tests and effect sizes of a results folder (experiment, transfer or run) or per-node CSV."""
    per_node = read_per_node(results)
    tables = comparison_tables(per_node, metric=metric, baseline=baseline)
    if fmt == "markdown":
        click.echo(tables_markdown(tables))
    elif fmt == "latex":
        click.echo(tables_latex(tables))
    else:
        frames = [t for k in ("transfer_vs_local", "participants", "top_vs_random")
                  if isinstance(t := tables.get(k), pd.DataFrame) and not t.empty]
        click.echo(pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else "")


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
def evaluate(run_dir: Path, dataset_dir: Path, as_json: bool) -> None:
    """Per-node precision, recall, F1, event F1, MCC, lead time, ROC-AUC, PR-AUC and VUS-PR on the test windows."""
    table = evaluate_run(run_dir, dataset_dir)
    if as_json:
        click.echo(table.to_json(orient="records", indent=2))
        return
    columns = [c for c in ("node", "precision", "recall", "f1", "event_f1", "n_episodes", "n_episodes_detected",
                           "lead_time_median_min", "mcc", "roc_auc", "pr_auc", "vus_pr", "n", "n_anomalous",
                           "threshold") if c in table]
    click.echo(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@click.command("score")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output table (.csv or .parquet): per-window score, flag and top contributing metrics.")
@click.option("--top", "top_k", type=click.IntRange(min=1), default=3, help="Contributing metrics listed per window.")
@click.option("--nodes", "nodes", multiple=True,
              help="Nodes to score (comma-separated or repeated; 'all': every node). Default: a run's calibrated "
                   "nodes, or a saved detector's own node.")
def score(model: Path, dataset_dir: Path, out: Path, top_k: int, nodes: tuple[str, ...]) -> None:
    """Score every window of MODEL's nodes in DATASET_DIR: score, flag and top contributing metrics.

    \b
    MODEL is one of:
      - a run folder (from `train` or `federated`): its calibrated nodes,
        each with its own threshold, scaler and imputer (calibration.json);
      - a run's model/ folder: the same;
      - a saved detector folder that carries its own threshold, scaler and
        imputer, e.g. a transfer's TRANSFER/models/NODE/MODE/ (`ftl-tff
        transfer --save-models`): the detector's node, or the nodes given
        with --nodes (scaled with the detector's statistics).

    A window is flagged when its score is at or above the threshold.
    """
    table = score_run(model, dataset_dir, top_k=top_k, nodes=split_list(nodes))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    flagged = int(table["anomalous"].sum())
    click.echo(f"Scored {len(table)} windows of {table['node'].nunique()} nodes; {flagged} flagged. Wrote {out}")
