"""``ftl-tff experiment`` and ``demo``: whole grids and the embedded demonstration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftl_tff import vocabulary
from ftl_tff.demo import run_demo
from ftl_tff.errors import ConfigError
from ftl_tff.experiments.config import ExperimentConfig, load_config
from ftl_tff.experiments.runner import run_experiment

from .common import split_list


@click.command("experiment")
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
@click.option("--features", type=click.Choice(list(vocabulary.FEATURE_SETS)), default=None, help="Feature set.")
def experiment(config_file: Path | None, out: Path, fresh: bool, dataset_dir: Path | None, paradigms: str | None,
               strategies: str | None, n_nodes: str | None, seeds: str | None, rounds: int | None,
               features: str | None) -> None:
    """Run an experiment grid from CONFIG_FILE (TOML or YAML) and/or flags; write results and report.md."""
    def numbers(text: str | None, name: str) -> list[int] | None:
        if text is None:
            return None
        try:
            return [int(v) for v in split_list((text,)) or []]
        except ValueError as error:
            raise ConfigError(f"{name} must be comma-separated integers, got {text!r}") from error

    overrides = {"dataset": None if dataset_dir is None else str(dataset_dir.resolve()),
                 "paradigms": split_list((paradigms,)) if paradigms else None,
                 "strategies": split_list((strategies,)) if strategies else None,
                 "n_nodes": numbers(n_nodes, "n_nodes"), "seeds": numbers(seeds, "seeds"),
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


@click.command("demo")
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
    run_demo(out, quick=quick, real_sample=real_sample, seed=seed, echo=click.echo, progress=sys.stderr.isatty())
