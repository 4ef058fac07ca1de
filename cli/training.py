"""``ftl-tff train``, ``federated`` and ``transfer``: options built from :mod:`ftl_tff.config`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd
from click.core import ParameterSource

from ftl_tff import vocabulary
from ftl_tff.config import RunConfig, TransferConfig
from ftl_tff.data import load_dataset
from ftl_tff.experiments.transfer_run import transfer_run
from ftl_tff.runs import select_and_train, select_first_nodes, train_run

from .common import split_list
from .options import config_file_option, explicit, file_options, from_config, run_config


def _selection_options(function):
    function = click.option("--by", "criterion", type=click.Choice(list(vocabulary.CRITERIA)), default=None,
                            help="Top-N ranking criterion  [default: training_windows]")(function)
    function = click.option("--strategy", type=click.Choice(sorted(vocabulary.STRATEGY_NAMES), case_sensitive=False),
                            default=None, help="Top-N by a criterion, or N drawn at random (seeded by --seed)  "
                                               "[default: top]")(function)
    return function


def _run_options(function):
    function = click.option("--resume", is_flag=True, help="Continue an interrupted run in OUT from its last "
                                                           "checkpoint (same options required).")(function)
    function = from_config(RunConfig)(function)
    function = config_file_option(function)
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                        help="Run folder to write.")(function)


@click.command("train")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--nodes", "n_nodes", type=click.IntRange(min=1), default=None,
              help="Train on the first N nodes of the dataset (default: all).")
@_run_options
@click.pass_context
def train(ctx: click.Context, dataset_dir: Path, n_nodes: int | None, out: Path, config_file: Path | None,
          resume: bool, **options) -> None:
    """Train a federated autoencoder on a processed dataset and write a run folder.

    The participating nodes are the first N of the dataset; `ftl-tff
    federated` chooses them by Top-N or Random-N instead.
    """
    from_file = file_options(config_file, {"paradigm": options.get("paradigm") if _typed(ctx, "paradigm") else None,
                                           "seed": options.get("seed") if _typed(ctx, "seed") else None,
                                           "n_nodes": n_nodes}, grid=("paradigm", "seed", "n_nodes"))
    n_nodes = n_nodes if n_nodes is not None else from_file["n_nodes"]
    dataset = load_dataset(dataset_dir)
    config = run_config(ctx, options, from_file, select_first_nodes(dataset, n_nodes))
    summary = train_run(dataset, out, config, echo=click.echo, progress=sys.stderr.isatty(), resume=resume)
    print_method_table(summary["metrics"])
    click.echo(f"Wrote {out}")


@click.command("federated")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path), default=None,
              help="Processed dataset folder (from `ftl-tff data prepare`; default: the --config file's).")
@click.option("--nodes", "n_nodes", type=click.IntRange(min=1), default=None,
              help="Participating nodes (N; required unless the --config file sets n_nodes).")
@_selection_options
@_run_options
@click.pass_context
def federated(ctx: click.Context, dataset_dir: Path | None, n_nodes: int | None, strategy: str | None,
              criterion: str | None, out: Path, config_file: Path | None, resume: bool, **options) -> None:
    """Select N nodes (Top-N or Random-N), train the federated model on them, write a run folder.

    The selection (participating and non-participating nodes, criterion,
    seed) is written to OUT/selection.json; `ftl-tff transfer` carries the
    model to the non-participating nodes.
    """
    from_file = file_options(config_file, {"paradigm": options.get("paradigm") if _typed(ctx, "paradigm") else None,
                                           "seed": options.get("seed") if _typed(ctx, "seed") else None,
                                           "strategy": strategy, "n_nodes": n_nodes})
    dataset_dir = dataset_dir or (Path(from_file["dataset"]) if from_file["dataset"] else None)
    n_nodes = n_nodes or from_file["n_nodes"]
    if dataset_dir is None or n_nodes is None:
        raise click.UsageError("give --dataset and --nodes (or a --config file that sets dataset and n_nodes)")
    config = run_config(ctx, options, from_file, [])
    selection, summary = select_and_train(dataset_dir, out, config, strategy=strategy or from_file["strategy"] or "top",
                                          n_nodes=n_nodes, criterion=criterion or from_file["criterion"]
                                          or "training_windows", echo=click.echo, progress=sys.stderr.isatty(),
                                          resume=resume)
    print_method_table(summary["metrics"])
    if selection.non_participating:
        click.echo(f"Wrote {out} (next: ftl-tff transfer --dataset {dataset_dir} --pretrained-model {out}/model "
                   f"--out {out}-transfer)")
    else:
        click.echo(f"Wrote {out} (every node of {dataset_dir} took part: no node left to transfer to; next: "
                   f"ftl-tff evaluate {out} {dataset_dir}, or ftl-tff stats {out})")


def _typed(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


@click.command("transfer")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path), required=True,
              help="Processed dataset folder holding the target nodes.")
@click.option("--pretrained-model", "model", type=click.Path(path_type=Path), required=True,
              help="Run folder of the federated model, or its model/ folder.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Results folder.")
@click.option("--nodes", "nodes", multiple=True,
              help="Target node ids (default: the nodes that did not train the model).")
@from_config(TransferConfig)
@config_file_option
@click.option("--efficiency-days", default="",
              help="Also run the data-efficiency study with these budgets in days, e.g. 1,3,7.")
@click.option("--save-models/--no-save-models", default=False, help="Save every target node's calibrated detector.")
@click.option("--seed", type=int, default=None, help="Seed of fine-tuning (default: the run's).")
@click.pass_context
def transfer(ctx: click.Context, dataset_dir: Path, model: Path, out: Path, nodes: tuple[str, ...],
             config_file: Path | None, efficiency_days: str, save_models: bool, seed: int | None, **options) -> None:
    """Transfer a federated model to the nodes that did not train it, and compare with local models."""
    try:
        days = [float(d) for d in split_list((efficiency_days,)) or []]
    except ValueError as error:
        raise click.BadParameter(f"--efficiency-days: {error}") from error
    base = file_options(config_file, grid=())["transfer"]
    config = base.with_options(explicit(ctx, TransferConfig, options), "options")
    result = transfer_run(model, dataset_dir, out, config, nodes=split_list(nodes), seed=seed,
                          efficiency_days=days, save_models=save_models, echo=click.echo)
    click.echo(result["summary_text"])
    click.echo(f"Wrote {out} (report: {out}/report.md)")


#: Metrics of the per-method table: point-wise F1/precision/recall, event F1 (Nagios episodes), MCC, the AUCs.
_TABLE_METRICS = ("f1", "precision", "recall", "event_f1", "mcc", "roc_auc", "pr_auc", "vus_pr")


def print_method_table(metrics: dict) -> None:
    rows = []
    for method, table in metrics.items():
        row = {"method": method}
        for metric in _TABLE_METRICS:
            values = table.get(metric, {})
            row[metric] = float("nan") if values.get("mean") is None else values["mean"]
            row[f"{metric}_nodes"] = values.get("n_defined")
        rows.append(row)
    frame = pd.DataFrame(rows)
    columns = ["method", *_TABLE_METRICS, "f1_nodes", "roc_auc_nodes"]
    click.echo("Mean over the nodes where each metric is defined (test windows; *_nodes: how many):")
    click.echo(frame[[c for c in columns if c in frame]].to_string(index=False, na_rep="n/a",
                                                                 float_format=lambda v: f"{v:.3f}"))
