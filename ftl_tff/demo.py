"""The main job behind ``ftl-tff demo`` and ``make demo``.

One command shows the whole method: generate M100-format telemetry (40 nodes
x 14 days of the raw release layout, with injected faults that Nagios
reports), prepare it into 15-minute windows with Nagios labels, select the
Top-10 nodes by normal windows (the most material for a model of normal
behaviour), train the federated autoencoder on them (semi-supervised),
train the node-local and centralized baselines, transfer the model to the 30
nodes that did not take part (zero-shot and fine-tuned), compare with
node-local models (Wilcoxon test, effect size), run the data-efficiency
study, and write ``report.md`` with figures. ``real_sample`` runs the same
on the real four-node M100 sample (Top-2 of 4); ``quick`` is a small version
for smoke tests.

It is an :mod:`ftl_tff.experiments` run of one cell: the results folder has
the layout described in :mod:`ftl_tff.experiments.runner`, plus ``data/``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .data import prepare
from .data.synthetic import generate_raw
from .errors import ConfigError
from .experiments.config import ExperimentConfig
from .experiments.runner import run_experiment

#: Sizes of the generated demo: (nodes, days, sampling period in seconds).
FULL_SIZE = (40, 14.0, 60)
QUICK_SIZE = (6, 3.0, 120)


def _settings(quick: bool, real: bool) -> dict:
    if quick:
        return {"n": 3, "rounds": 2, "epochs": 2, "days": [0.5], "max_nodes": 3}
    if real:
        return {"n": 2, "rounds": 10, "epochs": 10, "days": [1, 3, 7], "max_nodes": 2}
    return {"n": 10, "rounds": 10, "epochs": 10, "days": [1, 3, 7], "max_nodes": 10}


def _clear(out: Path) -> None:
    """Start from an empty folder, refusing to delete anything that is not a demo's results."""
    if out.exists() and any(out.iterdir()):
        if not (out / "experiment.json").exists() and not (out / "data").exists():
            raise ConfigError(f"out: {out} exists and is not an ftl-tff demo results folder: choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_demo(
    out: str | Path = "ftl-demo-results",
    quick: bool = False,
    real_sample: str | Path | None = None,
    seed: int = 0,
    echo: Callable[[str], None] = print,
    progress: bool = False,
):
    """Run the demo and write its results to ``out``.

    Args:
        out: Results folder (replaced if it holds an earlier demo).
        quick: A small version (6 nodes x 3 days, 2 rounds) for smoke tests.
        real_sample: Folder of the real four-node sample
            (``examples/data/m100-2209-rebuilt``): run on it instead of
            generated data.
        seed: Seed of the generated data and of training.
        echo: Where progress lines go.
        progress: Progress bars for federated training.

    Returns:
        The :class:`~ftl_tff.experiments.runner.ExperimentResult`.
    """
    out = Path(out)
    _clear(out)
    started = time.perf_counter()
    settings = _settings(quick, real_sample is not None)
    if real_sample is not None:
        echo(f"[1/3] Preparing the real M100 sample in {real_sample} (15-minute windows, Nagios 'critical') ...")
        dataset = prepare(real_sample, out / "data" / "prepared", "wide")
    else:
        n_nodes, days, period = QUICK_SIZE if quick else FULL_SIZE
        echo(f"[1/3] Generating {n_nodes} nodes x {days:g} days of M100-format telemetry (seed {seed}) ...")
        synthetic = generate_raw(out / "data" / "raw", n_nodes=n_nodes, days=days, seed=seed, metric_set="compact",
                                 ipmi_period_s=period, ganglia_period_s=period, anomaly_rate=2.0 if quick else 1.0,
                                 overwrite=True)
        echo(f"      {len(synthetic.ground_truth)} injected anomaly episodes; preparing 15-minute windows ...")
        dataset = prepare(out / "data" / "raw", out / "data" / "prepared", "raw")
    summary = dataset.summary()
    echo(f"      {len(dataset.nodes)} nodes, {len(dataset.feature_columns)} features, "
         f"{int(summary['windows'].sum())} windows, {int(summary['anomalous_windows'].sum())} anomalous "
         f"({time.perf_counter() - started:.0f} s)")

    config = ExperimentConfig(
        dataset=str(dataset.path), name="ftl-tff demo" + (" (real M100 sample)" if real_sample else ""),
        paradigms=["semi-supervised"], strategies=["top"], criterion="normal_windows", n_nodes=[settings["n"]],
        seeds=[seed],
        baselines=["local", "centralized"],
        training={"rounds": settings["rounds"], "train": 0.7, "validation": 0.1},
        transfer={"modes": ["zero-shot", "fine-tune"], "epochs": settings["epochs"]},
        data_efficiency={"days": settings["days"], "max_nodes": settings["max_nodes"]},
    )
    echo(f"[2/3] Top-{settings['n']} nodes train the federated model ({settings['rounds']} rounds), baselines, "
         f"transfer to the other {len(dataset.nodes) - settings['n']} nodes ...")
    result = run_experiment(config, out, echo=lambda line: echo(f"      {line}"), progress=progress)
    echo("[3/3] Results")
    for line in headline_lines(result):
        echo(f"      {line}")
    echo(f"Done in {time.perf_counter() - started:.0f} s. Report: {result.report}")
    return result


#: Metrics of the demo's headline, with the words it prints for them.
HEADLINE_METRICS = (("f1", "F1"), ("event_f1", "event F1"), ("roc_auc", "ROC-AUC"))


def headline_lines(result) -> list[str]:
    """The demo's headline: median F1, event F1 and ROC-AUC per method and the transfer statistics, in words."""
    per_node = result.per_node
    lines = []
    for role in ("participating", "non-participating"):
        rows = per_node[per_node["role"] == role]
        if rows.empty:
            continue
        for metric, words in HEADLINE_METRICS:
            if metric not in rows:
                continue
            parts = ", ".join(
                f"{method} {_median(group[metric])}" for method, group in rows.groupby("method", sort=False))
            lines.append(f"{role} nodes ({rows['node'].nunique()}): median {words} {parts}")
    table = result.tables.get("transfer_vs_local")
    if table is not None and not table.empty:
        lines.extend(str(row["summary"]) for _, row in table.iterrows())
    if result.efficiency:
        lines.append(str(result.efficiency["sentence"]))
    return lines


def _median(values) -> str:
    defined = values.dropna()
    if defined.empty:
        return "n/a (undefined on every node)"
    note = f" ({len(defined)} of {len(values)} nodes defined)" if len(defined) < len(values) else ""
    return f"{defined.median():.2f}{note}"
