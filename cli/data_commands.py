"""``ftl-tff data``: generate, prepare and inspect M100 telemetry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ftl_tff.data import load_dataset, prepare
from ftl_tff.data.building.dataset import EMPTY_WINDOW_POLICIES, UNLABELLED_POLICIES
from ftl_tff.data.building.labels import LABEL_RULES
from ftl_tff.data.building.prepare import FORMATS
from ftl_tff.data.building.schema import ALIGNS, CORE_TEMPS
from ftl_tff.data.synthetic import generate_raw

from .common import FriendlyGroup, split_list


@click.group(cls=FriendlyGroup)
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
    result = generate_raw(out, n_nodes=n_nodes, days=days, seed=seed, start=start, metric_set=metric_set,
                          ipmi_period_s=period_s, ganglia_period_s=period_s, progress=sys.stderr.isatty())
    n_metrics = sum(len(m) for m in result.metrics.values())
    click.echo(f"Wrote {len(result.nodes)} nodes x {days:g} days ({n_metrics} metrics) to {out}")
    click.echo(f"Injected anomaly episodes: {len(result.ground_truth)} (see {out / 'ground_truth.csv'})")


@data.command("prepare")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="raw",
              help="Shape of SOURCE: raw hive release, per-node aggregated release, or wide per-node tables.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the processed dataset to.")
@click.option("--window", default="15min", help="Window length (pandas offset).")
@click.option("--label-rule", type=click.Choice(list(LABEL_RULES)),
              default="critical", help="Nagios rule that makes a window anomalous.")
@click.option("--horizon", type=click.IntRange(min=0), default=0,
              help="Anticipation: label a window 1 if any of the next K windows is anomalous (0 = the window itself).")
@click.option("--plugins", multiple=True, help="Plugins to read (comma-separated or repeated). "
              "raw: ipmi_pub,ganglia_pub (default both); wide: file prefixes such as ipmi,ganglia,jobtable.")
@click.option("--metrics", multiple=True, help="Metrics to read (comma-separated or repeated); default all numeric.")
@click.option("--nodes", multiple=True, help="Node ids to keep (comma-separated or repeated); default all.")
@click.option("--start", default=None, help="Inclusive start time, UTC (e.g. 2022-09-01).")
@click.option("--end", default=None, help="Exclusive end time, UTC.")
@click.option("--core-temps", type=click.Choice(list(CORE_TEMPS)), default="socket",
              help="Pool per-core temperatures per socket (same columns on every node) or keep each core.")
@click.option("--align", type=click.Choice(list(ALIGNS)), default="intersection",
              help="Feature columns shared by all nodes (intersection) or all columns, NaN where absent (union).")
@click.option("--no-coverage", is_flag=True, help="Leave out the coverage features (cov_*).")
@click.option("--empty-windows", type=click.Choice(list(EMPTY_WINDOW_POLICIES)), default="keep",
              help="Windows with Nagios reports but no telemetry: keep (coverage 0) or drop; counted either way.")
@click.option("--unlabelled", type=click.Choice(list(UNLABELLED_POLICIES)), default="normal",
              help="Windows without a Nagios report: label 0 or drop; counted either way.")
@click.option("--exclude-metrics", default="boottime,*_total_energy_consumption",
              help="Metrics left out of the features (comma-separated shell patterns; 'none' keeps all). "
                   "The defaults are a boot timestamp and cumulative counters that jump at every reboot.")
def data_prepare(source: Path, fmt: str, out: Path, window: str, label_rule: str, horizon: int,
                 plugins: tuple[str, ...], metrics: tuple[str, ...], nodes: tuple[str, ...], start: str | None,
                 end: str | None, core_temps: str, align: str, no_coverage: bool, empty_windows: str,
                 unlabelled: str, exclude_metrics: str) -> None:
    """Turn M100 telemetry in SOURCE into a processed dataset (windows + labels)."""
    dataset = prepare(
        source, out, fmt, window=window, label_rule=label_rule, horizon=horizon, plugins=split_list(plugins),
        metrics=split_list(metrics), nodes=split_list(nodes), start=start, end=end, core_temps=core_temps,
        align=align, coverage=not no_coverage, empty_windows=empty_windows, unlabelled=unlabelled,
        exclude_metrics=() if exclude_metrics.strip().lower() == "none" else split_list((exclude_metrics,)) or (),
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
