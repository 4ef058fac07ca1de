"""The ``ftl-tff`` command line: click commands that call the library.

Every command is a thin shell over the same library calls a user makes from
Python. Errors the user can fix (bad paths, bad data, bad options) are
printed as one line ``Error: ...`` with exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ftl_tff import __version__
from ftl_tff.errors import FtlError
from ftl_tff.paradigms import DEFAULT_BLOCK, DEFAULT_THRESHOLD_RULE, LABEL_FREE_RULES

#: Threshold rules a run can name (``contamination`` needs a known share, ``transferred`` a federation).
THRESHOLD_CHOICES = [rule for rule in LABEL_FREE_RULES if rule not in ("contamination", "transferred")]

EXIT_DATA_ERROR = 1
EXIT_INTERRUPTED = 130


class FriendlyGroup(click.Group):
    """A click group that reports library errors as one line, no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FtlError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_DATA_ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _split_list(values: tuple[str, ...]) -> list[str] | None:
    """Accept repeated options and comma-separated lists alike."""
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items or None


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, "--version", "-V", prog_name="ftl-tff")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's own log lines and retracing warnings.")
def main(verbose: bool) -> None:
    """Federated transfer learning for anomaly detection on HPC telemetry.

    Prepare Marconi100 (M100 ExaData) telemetry into per-node windows with
    Nagios labels (`data`), train a federated autoencoder over the nodes with
    TensorFlow Federated (`train`), and evaluate or score it (`evaluate`,
    `score`), choose the participating nodes and train (`federated`), carry
    the model to the other nodes (`transfer`), compare methods with
    significance tests and effect sizes (`stats`), and run whole grids of
    paradigms, strategies, N and seeds (`experiment`).
    """
    if not verbose:
        _quiet_tensorflow()


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ log lines and Python warnings (retracing...) off the console.

    TensorFlow is imported lazily by the commands that need it, so setting
    these here, before that import, takes effect.
    """
    import logging
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the cuDNN/cuBLAS registration lines are level E
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@main.group(cls=FriendlyGroup)
def data() -> None:
    """Generate, prepare and inspect M100 telemetry."""


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--nodes", "n_nodes", type=click.IntRange(min=1), default=8, help="Number of compute nodes.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=2.0, help="Days of telemetry.")
@click.option("--seed", type=int, default=0, help="Random seed (same seed, same files).")
@click.option("--start", default="2022-09-01", help="First day (UTC), e.g. 2022-09-01.")
@click.option("--metric-set", type=click.Choice(["full", "compact"]), default="full",
              help="'full': every M100 IPMI metric and ~40 Ganglia ones; 'compact': ~30 representative metrics.")
@click.option("--period", "period_s", type=click.IntRange(min=1), default=20,
              help="Sampling period of IPMI and Ganglia readings, in seconds (M100: 20).")
def data_synth(out: Path, n_nodes: int, days: float, seed: int, start: str, metric_set: str, period_s: int) -> None:
    """Write synthetic M100 telemetry in the raw release layout to OUT.

    OUT receives year_month=YY-MM/plugin=P/metric=M/a_*.parquet files for
    ipmi_pub, ganglia_pub and nagios_pub, plus ground_truth.csv listing the
    injected anomaly episodes.
    """
    from ftl_tff.data.synthetic import generate_raw

    result = generate_raw(out, n_nodes=n_nodes, days=days, seed=seed, start=start, metric_set=metric_set,
                          ipmi_period_s=period_s, ganglia_period_s=period_s, progress=sys.stderr.isatty())
    n_metrics = sum(len(m) for m in result.metrics.values())
    click.echo(f"Wrote {len(result.nodes)} nodes x {days:g} days ({n_metrics} metrics) to {out}")
    click.echo(f"Injected anomaly episodes: {len(result.ground_truth)} (see {out / 'ground_truth.csv'})")


@data.command("prepare")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["raw", "aggregated", "wide"]), default="raw",
              help="Shape of SOURCE: raw hive release, per-node aggregated release, or wide per-node tables.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the processed dataset to.")
@click.option("--window", default="15min", help="Window length (pandas offset).")
@click.option("--label-rule", type=click.Choice(["critical", "nonzero", "critical_or_unknown", "drained"]),
              default="critical", help="Nagios rule that makes a window anomalous.")
@click.option("--horizon", type=click.IntRange(min=0), default=0,
              help="Anticipation: label a window 1 if any of the next K windows is anomalous (0 = the window itself).")
@click.option("--plugins", multiple=True, help="Plugins to read (comma-separated or repeated). "
              "raw: ipmi_pub,ganglia_pub (default both); wide: file prefixes such as ipmi,ganglia,jobtable.")
@click.option("--metrics", multiple=True, help="Metrics to read (comma-separated or repeated); default all numeric.")
@click.option("--nodes", multiple=True, help="Node ids to keep (comma-separated or repeated); default all.")
@click.option("--start", default=None, help="Inclusive start time, UTC (e.g. 2022-09-01).")
@click.option("--end", default=None, help="Exclusive end time, UTC.")
@click.option("--core-temps", type=click.Choice(["socket", "core"]), default="socket",
              help="Pool per-core temperatures per socket (same columns on every node) or keep each core.")
@click.option("--align", type=click.Choice(["intersection", "union"]), default="intersection",
              help="Feature columns shared by all nodes (intersection) or all columns, NaN where absent (union).")
@click.option("--no-coverage", is_flag=True, help="Leave out the coverage features (cov_*).")
@click.option("--empty-windows", type=click.Choice(["keep", "drop"]), default="keep",
              help="Windows with Nagios reports but no telemetry: keep (coverage 0) or drop; counted either way.")
@click.option("--unlabelled", type=click.Choice(["normal", "drop"]), default="normal",
              help="Windows without a Nagios report: label 0 or drop; counted either way.")
@click.option("--exclude-metrics", default="boottime,*_total_energy_consumption",
              help="Metrics left out of the features (comma-separated shell patterns; 'none' keeps all). "
                   "The defaults are a boot timestamp and cumulative counters that jump at every reboot.")
def data_prepare(source: Path, fmt: str, out: Path, window: str, label_rule: str, horizon: int,
                 plugins: tuple[str, ...], metrics: tuple[str, ...], nodes: tuple[str, ...], start: str | None,
                 end: str | None, core_temps: str, align: str, no_coverage: bool, empty_windows: str,
                 unlabelled: str, exclude_metrics: str) -> None:
    """Turn M100 telemetry in SOURCE into a processed dataset (windows + labels)."""
    from ftl_tff.data import prepare

    dataset = prepare(
        source, out, fmt, window=window, label_rule=label_rule, horizon=horizon, plugins=_split_list(plugins),
        metrics=_split_list(metrics), nodes=_split_list(nodes), start=start, end=end, core_temps=core_temps,
        align=align, coverage=not no_coverage, empty_windows=empty_windows, unlabelled=unlabelled,
        exclude_metrics=() if exclude_metrics.strip().lower() == "none" else _split_list((exclude_metrics,)) or (),
        show_progress=sys.stderr.isatty(),
    )
    _print_summary(dataset)
    click.echo(f"Wrote {dataset.path}")


def _print_summary(dataset) -> None:
    summary = dataset.summary()
    click.echo(
        f"{len(dataset.nodes)} nodes, {len(dataset.feature_columns)} features, window {dataset.window}, "
        f"label rule '{dataset.label_rule}'"
    )
    columns = ["node", "windows", "anomalous_windows", "missing_share", "windows_without_telemetry",
               "windows_without_label"]
    click.echo(summary[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for note in dataset.manifest.get("notes", []):
        click.echo(f"note: {note}")


@data.command("inspect")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def data_inspect(dataset_dir: Path, as_json: bool) -> None:
    """Show per node the windows, anomalous windows, features and missing data of a processed dataset."""
    from ftl_tff.data import load_dataset

    dataset = load_dataset(dataset_dir)
    if as_json:
        summary = dataset.summary()
        payload = {
            "path": str(dataset.path),
            "window": dataset.window,
            "label_rule": dataset.label_rule,
            "n_features": len(dataset.feature_columns),
            "feature_columns": dataset.feature_columns,
            "nodes": json.loads(summary.to_json(orient="records")),
            "notes": dataset.manifest.get("notes", []),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    _print_summary(dataset)


def _paradigm_option(function):
    return click.option("--paradigm", type=click.Choice(["unsupervised", "semi-supervised", "supervised"]),
                        default="semi-supervised",
                        help="unsupervised: no labels; semi-supervised: train on normal windows; "
                             "supervised: labels also choose each node's threshold.")(function)


_TRAINING_OPTIONS = [
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run folder to write."),
    click.option("--rounds", type=click.IntRange(min=1), default=20, help="Federated rounds."),
    click.option("--local-epochs", type=click.IntRange(min=1), default=1, help="Local epochs per round."),
    click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Batch size on every client."),
    click.option("--client-optimizer", type=click.Choice(["adam", "sgd", "rmsprop"]), default="adam",
                 help="Client optimizer."),
    click.option("--client-lr", type=click.FloatRange(min=0, min_open=True), default=1e-3,
                 help="Client learning rate."),
    click.option("--server-lr", type=click.FloatRange(min=0, min_open=True), default=1.0,
                 help="Server SGD learning rate (1.0: plain FedAvg)."),
    click.option("--weighting", type=click.Choice(["examples", "uniform"]), default="examples",
                 help="FedAvg client weights: by examples processed, or equal."),
    click.option("--clients-per-round", type=click.IntRange(min=1), default=None,
                 help="Clients sampled per round (default: all participating nodes)."),
    click.option("--split", type=click.Choice(["blocked", "chronological"]), default="blocked",
                 help="Per-node split of windows into train/validation/test: blocked interleaves time blocks over "
                      "the parts, so every part samples the whole period and its failures (use it to evaluate); "
                      "chronological is the papers' single cut, which often leaves a test part without failures."),
    click.option("--block", default=DEFAULT_BLOCK, help="Block length of the blocked split (pandas offset, e.g. 6h, "
                                                        "1D)."),
    click.option("--threshold", "threshold", type=click.Choice(THRESHOLD_CHOICES), default=DEFAULT_THRESHOLD_RULE,
                 help="Label-free threshold rule of each node (unsupervised, semi-supervised; the supervised "
                      "fallback): log_robust_z = median + 3.5 MAD of the log scores, robust_z = the same on raw "
                      "scores, iqr = Tukey's fence, pot = extreme-value tail, trimmed = percentile after dropping "
                      "the top scores, percentile = plain percentile (see docs/concepts/thresholds.md)."),
    click.option("--percentile", type=click.FloatRange(0, 100, min_open=True, max_open=True), default=99.0,
                 help="Percentile of the percentile and trimmed threshold rules."),
    click.option("--score", type=click.Choice(["mse", "max"]), default="mse",
                 help="Window score: mean squared reconstruction error, or the largest per-feature error."),
    click.option("--gap-weight", type=click.FloatRange(min=0), default=1.0,
                 help="Weight of a window's missing-telemetry share in its score (0: reconstruction only)."),
    click.option("--smooth-windows", type=click.IntRange(min=1), default=4,
                 help="Average each window's reconstruction error with the windows before it (causal; 4 = an hour "
                      "of 15-minute windows; 1 = off). Gaps are added unsmoothed."),
    click.option("--clip", type=click.FloatRange(min=0), default=1.0,
                 help="Clip scaled values to [-CLIP, 1 + CLIP] of the node's training range."),
    click.option("--early-stopping", "patience", type=click.IntRange(min=1), default=None,
                 help="Stop after K rounds without validation improvement (default: off)."),
    click.option("--baselines", default="local,centralized",
                 help="Baselines to train with the same budget: local, centralized, both, or 'none'."),
    click.option("--seed", type=int, default=0, help="Seed of weights, shuffles, sampling and Random-N."),
    click.option("--features", type=click.Choice(["all", "D1", "D2"]), default="all",
                 help="Feature set: D1 = IPMI + Ganglia, D2 = every feature of the dataset (see the docs)."),
    click.option("--workers", default="", help="Remote TFF workers, host:port,host:port (trusted network only)."),
    click.option("--data-on-workers", is_flag=True,
                 help="Build each round's client datasets inside the TFF workers (the rows still travel with the "
                      "computation; see the remote-workers tutorial)."),
    click.option("--resume", is_flag=True,
                 help="Continue an interrupted run in OUT from its last checkpoint (same options required)."),
]


def _training_options(function):
    for option in reversed(_TRAINING_OPTIONS):
        function = option(function)
    return function


def _train_config(nodes: list[str], paradigm: str, options: dict, selection: dict | None = None):
    from ftl_tff.runs import TrainConfig

    baselines = options["baselines"]
    chosen_baselines = [] if baselines.strip().lower() == "none" else _split_list((baselines,)) or []
    return TrainConfig(
        paradigm=paradigm, nodes=nodes, rounds=options["rounds"], local_epochs=options["local_epochs"],
        batch_size=options["batch_size"], client_optimizer=options["client_optimizer"],
        client_learning_rate=options["client_lr"], server_learning_rate=options["server_lr"],
        weighting=options["weighting"], clients_per_round=options["clients_per_round"], split=options["split"],
        block=options["block"], threshold=options["threshold"], percentile=options["percentile"],
        score=options["score"], gap_weight=options["gap_weight"], clip=options["clip"],
        smooth_windows=options["smooth_windows"],
        early_stopping_patience=options["patience"], baselines=chosen_baselines, seed=options["seed"],
        features=options["features"], workers=_split_list((options["workers"],)) or [],
        data_on_workers=options["data_on_workers"], selection=selection or {},
    )


@main.command("train")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@_paradigm_option
@click.option("--nodes", "n_nodes", type=click.IntRange(min=1), default=None,
              help="Train on the first N nodes of the dataset (default: all).")
@_training_options
def train(dataset_dir: Path, paradigm: str, n_nodes: int | None, **options) -> None:
    """Train a federated autoencoder on a processed dataset and write a run folder.

    The participating nodes are the first N of the dataset; `ftl-tff
    federated` chooses them by Top-N or Random-N instead.
    """
    from ftl_tff.data import load_dataset
    from ftl_tff.runs import select_first_nodes, train_run

    dataset = load_dataset(dataset_dir)
    config = _train_config(select_first_nodes(dataset, n_nodes), paradigm, options)
    summary = train_run(dataset, options["out"], config, echo=click.echo, progress=sys.stderr.isatty(),
                        resume=options["resume"])
    _print_method_table(summary["metrics"])
    click.echo(f"Wrote {options['out']}")


@main.command("federated")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path), required=True,
              help="Processed dataset folder (from `ftl-tff data prepare`).")
@_paradigm_option
@click.option("--nodes", "n_nodes", type=click.IntRange(min=1), required=True, help="Participating nodes (N).")
@click.option("--strategy", type=click.Choice(["topN", "randomN", "top", "random"], case_sensitive=False),
              default="topN", help="Top-N by a criterion, or N drawn at random (seeded by --seed).")
@click.option("--by", "criterion", type=click.Choice(["training_windows", "normal_windows", "anomaly_rate",
                                                      "completeness"]),
              default="training_windows", help="Top-N ranking criterion.")
@_training_options
def federated(dataset_dir: Path, paradigm: str, n_nodes: int, strategy: str, criterion: str, **options) -> None:
    """Select N nodes (Top-N or Random-N), train the federated model on them, write a run folder.

    The selection (participating and non-participating nodes, criterion,
    seed) is written to OUT/selection.json; `ftl-tff transfer` carries the
    model to the non-participating nodes.
    """
    from ftl_tff.data import load_dataset
    from ftl_tff.runs import train_run
    from ftl_tff.selection import RandomN, TopN

    dataset = load_dataset(dataset_dir)
    if options["features"] != "all":
        dataset = dataset.with_features(options["features"])
    chooser = TopN(n_nodes, by=criterion) if strategy.lower().startswith("top") else RandomN(n_nodes, options["seed"])
    selection = chooser.select(dataset.summary())
    click.echo(f"{'Top' if selection.strategy == 'top' else 'Random'}-{n_nodes} ({selection.criterion}): "
               f"{', '.join(selection.participating)}; {len(selection.non_participating)} nodes left out")
    config = _train_config(selection.participating, paradigm, options, selection.to_dict())
    out = options["out"]
    summary = train_run(dataset, out, config, echo=click.echo, progress=sys.stderr.isatty(), resume=options["resume"])
    (Path(out) / "selection.json").write_text(json.dumps(selection.to_dict(), indent=2))
    _print_method_table(summary["metrics"])
    if selection.non_participating:
        click.echo(f"Wrote {out} (next: ftl-tff transfer --dataset {dataset_dir} --pretrained-model {out}/model "
                   f"--out {out}-transfer)")
    else:
        click.echo(f"Wrote {out} (every node of {dataset_dir} took part: no node left to transfer to; next: "
                   f"ftl-tff evaluate {out} {dataset_dir}, or ftl-tff stats {out})")


@main.command("transfer")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path), required=True,
              help="Processed dataset folder holding the target nodes.")
@click.option("--pretrained-model", "model", type=click.Path(path_type=Path), required=True,
              help="Run folder of the federated model, or its model/ folder.")
@click.option("--mode", "modes", multiple=True, default=("zero-shot", "fine-tune"),
              help="zero-shot, fine-tune (frozen encoder), full-fine-tune; repeat or comma-separate.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Results folder.")
@click.option("--nodes", "nodes", multiple=True,
              help="Target node ids (default: the nodes that did not train the model).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, help="Fine-tuning epochs (and local baseline's).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              help="Fine-tuning learning rate.")
@click.option("--reinit-decoder", is_flag=True, help="Fine-tune from a freshly initialised decoder.")
@click.option("--threshold", "threshold", type=click.Choice(["transferred", *THRESHOLD_CHOICES]), default=None,
              help="Label-free threshold rule of the targets (default: the run's); transferred = the federation's "
                   "threshold on each node's normalised score scale.")
@click.option("--no-trim", is_flag=True,
              help="Fine-tune (and train local) on every training window, also those the model already flags.")
@click.option("--no-local", is_flag=True, help="Skip the node-local baseline (no deltas then).")
@click.option("--efficiency-days", default="",
              help="Also run the data-efficiency study with these budgets in days, e.g. 1,3,7.")
@click.option("--save-models/--no-save-models", default=False, help="Save every target node's calibrated detector.")
@click.option("--seed", type=int, default=None, help="Seed of fine-tuning (default: the run's).")
def transfer(dataset_dir: Path, model: Path, modes: tuple[str, ...], out: Path, nodes: tuple[str, ...], epochs: int,
             learning_rate: float, reinit_decoder: bool, threshold: str | None, no_trim: bool, no_local: bool,
             efficiency_days: str, save_models: bool, seed: int | None) -> None:
    """Transfer a federated model to the nodes that did not train it, and compare with local models."""
    from ftl_tff.runs import transfer_run
    from ftl_tff.transfer import TransferConfig

    try:
        days = [float(d) for d in _split_list((efficiency_days,)) or []]
    except ValueError as error:
        raise click.BadParameter(f"--efficiency-days: {error}") from error
    config = TransferConfig(modes=_split_list(modes) or [], epochs=epochs, learning_rate=learning_rate,
                            reinit_decoder=reinit_decoder, local_baseline=not no_local, threshold=threshold,
                            trim=not no_trim)
    result = transfer_run(model, dataset_dir, out, config, nodes=_split_list(nodes), seed=seed,
                          efficiency_days=days, save_models=save_models, echo=click.echo)
    click.echo(result["summary_text"])
    click.echo(f"Wrote {out} (report: {out}/report.md)")


@main.command("stats")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--metric", default="f1", help="Metric compared (f1, roc_auc, pr_auc, precision, recall).")
@click.option("--baseline", default="local", help="Method transfer is compared with.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown",
              help="Output format.")
def stats_command(results: Path, metric: str, baseline: str, fmt: str) -> None:
    """Significance tests and effect sizes of a results folder (experiment, transfer or run) or per-node CSV."""
    from ftl_tff.experiments.report import comparison_tables, read_per_node, tables_latex, tables_markdown

    per_node = read_per_node(results)
    tables = comparison_tables(per_node, metric=metric, baseline=baseline)
    if fmt == "markdown":
        click.echo(tables_markdown(tables))
    elif fmt == "latex":
        click.echo(tables_latex(tables))
    else:
        import pandas as pd

        frames = [t for k in ("transfer_vs_local", "participants", "top_vs_random")
                  if isinstance(t := tables.get(k), pd.DataFrame) and not t.empty]
        click.echo(pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else "")


@main.command("experiment")
@click.argument("config_file", type=click.Path(path_type=Path), required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("ftl-experiment-results"),
              help="Results folder (an unfinished experiment there is resumed).")
@click.option("--fresh", is_flag=True, help="Delete OUT first instead of resuming.")
@click.option("--dataset", "dataset_dir", type=click.Path(path_type=Path), default=None,
              help="Processed dataset (overrides the file's).")
@click.option("--paradigms", default=None, help="Comma-separated paradigms (overrides the file's).")
@click.option("--strategies", default=None, help="Comma-separated strategies: top, random.")
@click.option("--n-nodes", default=None, help="Comma-separated N values.")
@click.option("--seeds", default=None, help="Comma-separated seeds.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Federated rounds.")
@click.option("--features", type=click.Choice(["all", "D1", "D2"]), default=None, help="Feature set.")
def experiment(config_file: Path | None, out: Path, fresh: bool, dataset_dir: Path | None, paradigms: str | None,
               strategies: str | None, n_nodes: str | None, seeds: str | None, rounds: int | None,
               features: str | None) -> None:
    """Run an experiment grid from CONFIG_FILE (TOML or YAML) and/or flags; write results and report.md."""
    from ftl_tff.errors import ConfigError
    from ftl_tff.experiments.config import ExperimentConfig, load_config
    from ftl_tff.experiments.runner import run_experiment

    def numbers(text: str | None, name: str) -> list[int] | None:
        if text is None:
            return None
        try:
            return [int(v) for v in _split_list((text,)) or []]
        except ValueError as error:
            raise ConfigError(f"{name} must be comma-separated integers, got {text!r}") from error

    overrides = {"dataset": None if dataset_dir is None else str(dataset_dir.resolve()),
                 "paradigms": _split_list((paradigms,)) if paradigms else None,
                 "strategies": _split_list((strategies,)) if strategies else None,
                 "n_nodes": numbers(n_nodes, "--n-nodes"), "seeds": numbers(seeds, "--seeds"),
                 "features": features, "training": {"rounds": rounds} if rounds else None}
    if config_file is not None:
        config = load_config(config_file).with_overrides(**overrides)
    else:
        if dataset_dir is None:
            raise ConfigError("give an experiment file or at least --dataset")
        config = ExperimentConfig(**{k: v for k, v in overrides.items() if v is not None})
    click.echo(f"Experiment {config.name!r}: {len(config.cells())} cell(s) -> {out}")
    result = run_experiment(config, out, echo=click.echo, progress=sys.stderr.isatty(), fresh=fresh)
    click.echo(f"{len(result.cells_run)} cell(s) run, {len(result.cells_skipped)} reused. Report: {result.report}")


#: Metrics of the per-method table: point-wise F1/precision/recall, event F1 (Nagios episodes), MCC, the AUCs.
_TABLE_METRICS = ("f1", "precision", "recall", "event_f1", "mcc", "roc_auc", "pr_auc", "vus_pr")


def _print_method_table(metrics: dict) -> None:
    import pandas as pd

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


@main.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
def evaluate(run_dir: Path, dataset_dir: Path, as_json: bool) -> None:
    """Per-node precision, recall, F1, event F1, MCC, lead time, ROC-AUC, PR-AUC and VUS-PR on the test windows."""
    from ftl_tff.runs import evaluate_run

    table = evaluate_run(run_dir, dataset_dir)
    if as_json:
        click.echo(table.to_json(orient="records", indent=2))
        return
    columns = [c for c in ("node", "precision", "recall", "f1", "event_f1", "n_episodes", "n_episodes_detected",
                           "lead_time_median_min", "mcc", "roc_auc", "pr_auc", "vus_pr", "n", "n_anomalous",
                           "threshold") if c in table]
    click.echo(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@main.command("score")
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
    from ftl_tff.runs import score_run

    table = score_run(model, dataset_dir, top_k=top_k, nodes=_split_list(nodes))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    flagged = int(table["anomalous"].sum())
    click.echo(f"Scored {len(table)} windows of {table['node'].nunique()} nodes; {flagged} flagged. Wrote {out}")


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("ftl-demo-results"),
              help="Results folder (an earlier demo there is replaced).")
@click.option("--quick", is_flag=True, help="A small version (6 nodes x 3 days, 2 rounds) for smoke tests.")
@click.option("--real-sample", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Run on the real four-node M100 sample (examples/data/m100-2209-rebuilt) instead.")
@click.option("--seed", type=int, default=0, help="Random seed.")
def demo(out: Path, quick: bool, real_sample: Path | None, seed: int) -> None:
    """Run the whole method on generated M100 data and write a report.

    Generates 40 nodes x 14 days of M100-format telemetry, prepares it,
    trains the federated model on the Top-10 nodes by normal windows, trains local and
    centralized baselines, transfers the model to the other 30 nodes
    (zero-shot and fine-tuned), compares with node-local models (Wilcoxon,
    effect sizes), runs the data-efficiency study, and writes OUT/report.md
    with figures. About 5-10 minutes on 2 cores.
    """
    from ftl_tff.demo import run_demo

    run_demo(out, quick=quick, real_sample=real_sample, seed=seed, echo=click.echo, progress=sys.stderr.isatty())


if __name__ == "__main__":  # pragma: no cover
    main()
