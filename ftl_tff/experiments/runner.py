"""Run an experiment grid, resumably, and write its results folder.

Results folder::

    OUT/config.json             the experiment (what produced the numbers)
    OUT/cells/<cell>/run/       run folder of the cell's federated training (model, curves, baselines)
    OUT/cells/<cell>/selection.json   participating / non-participating nodes, criterion, seed
    OUT/cells/<cell>/per_node.csv     metrics of every node and method of the cell
    OUT/cells/<cell>/scores.parquet   test-window scores of the transferred and local models
    OUT/cells/<cell>/done.json        written last: the cell is finished
    OUT/efficiency.csv          data-efficiency study (when configured)
    OUT/per_node.csv|.parquet   every cell's rows together
    OUT/deltas.csv              per-node gain of each transfer mode over local
    OUT/curves.csv              federated training curves of every cell
    OUT/stats/                  comparison tables (Markdown, LaTeX, CSV)
    OUT/figures/                PNG figures
    OUT/report.md               the report tying them together

A cell is skipped when its ``done.json`` exists and was written by the same
configuration; an unfinished cell is redone, its federated training resumed
from its last checkpoint. Training is seeded, so an interrupted experiment
resumed ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import ProcessedDataset, load_dataset
from ..errors import ConfigError, RecordError
from ..federated.runtime import FederatedRuntime
from ..records import read_record
from ..runs import load_global_model, select_and_train
from ..transfer import data_efficiency, efficiency_summary, prepare_targets, transfer_deltas, transfer_to_nodes
from ..vocabulary import sort_nodes
from .config import Cell, ExperimentConfig
from .figures import plot_all
from .report import CONDITIONS, comparison_tables, write_report

DONE = "done.json"


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns.

    Attributes:
        out: The results folder.
        per_node: Every node's metrics in every cell.
        report: Path of ``report.md``.
        cells_run: Cells computed in this call.
        cells_skipped: Cells found finished and reused.
        efficiency: The data-efficiency summary (None without the study).
        tables: The statistics of :func:`~ftl_tff.experiments.report.comparison_tables`.
    """

    out: Path
    per_node: pd.DataFrame
    report: Path
    cells_run: list[str] = field(default_factory=list)
    cells_skipped: list[str] = field(default_factory=list)
    efficiency: dict[str, Any] | None = None
    tables: dict[str, Any] = field(default_factory=dict)


def run_experiment(
    config: ExperimentConfig,
    out: str | Path,
    *,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    fresh: bool = False,
    stop_after: int | None = None,
) -> ExperimentResult:
    """Run every cell not yet finished, then write the statistics, figures and report.

    Args:
        config: The experiment.
        out: Results folder (created; reused when it holds the same experiment).
        echo: Progress lines.
        progress: Progress bars of federated training (on a terminal).
        fresh: Delete ``out`` first instead of resuming.
        stop_after: Stop (raise ``KeyboardInterrupt``) after this many cells
            computed in this call: simulates an interruption (tests, demos).

    Returns:
        An :class:`ExperimentResult`.

    Raises:
        ConfigError: If ``out`` holds results of a different configuration.
    """
    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, config)
    dataset = load_dataset(config.dataset)
    if config.features != "all":
        dataset = dataset.with_features(config.features)
    timings: dict[str, float] = {}
    started_all = time.perf_counter()
    cells = config.cells()
    run: list[str] = []
    skipped: list[str] = []
    with ExitStack() as stack:
        if not config.training.runtime.workers:
            stack.enter_context(FederatedRuntime())  # one local worker for every cell
        for position, cell in enumerate(cells, start=1):
            folder = out / "cells" / cell.cell_id
            if _finished(folder, config):
                skipped.append(cell.cell_id)
                echo(f"[{position}/{len(cells)}] {cell.cell_id}: finished earlier, skipped")
                continue
            echo(f"[{position}/{len(cells)}] {cell.cell_id}")
            started = time.perf_counter()
            _run_cell(config, cell, dataset, folder, echo=echo, progress=progress)
            timings[cell.cell_id] = time.perf_counter() - started
            run.append(cell.cell_id)
            if stop_after is not None and len(run) >= stop_after:
                raise KeyboardInterrupt(f"stopped after {len(run)} cell(s) (stop_after)")
        efficiency = _run_efficiency(config, dataset, out, echo)
    timings["total"] = time.perf_counter() - started_all
    return _finish(config, out, run, skipped, efficiency, timings, echo)


def _claim(out: Path, config: ExperimentConfig) -> None:
    """Record the configuration in ``out``; refuse a folder made by another one."""
    marker = out / "experiment.json"
    record = {"fingerprint": config.cell_fingerprint(), "config": config.to_dict()}
    if marker.exists():
        saved = read_record(marker, "experiment record")
        if saved.get("fingerprint") != record["fingerprint"]:
            before, now = saved.get("config", {}), record["config"]
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k)
                             and k not in ("name", "metric", "data_efficiency"))
            raise ConfigError(f"out: {out} holds results of a different experiment (changed: {', '.join(changed)}); "
                              "use another folder, or fresh=True to start over")
    marker.write_text(json.dumps(record, indent=2, default=str))


def _finished(folder: Path, config: ExperimentConfig) -> bool:
    done = folder / DONE
    if not done.exists():
        return False
    try:
        return read_record(done, "cell marker").get("fingerprint") == config.cell_fingerprint()
    except RecordError:  # a marker cut short by a crash: the cell runs again
        return False


def _run_cell(config: ExperimentConfig, cell: Cell, dataset: ProcessedDataset, folder: Path, *,
              echo: Callable[[str], None], progress: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if cell.n_nodes > len(dataset.nodes):
        raise ConfigError(f"cell {cell.cell_id}: N={cell.n_nodes} but the dataset has {len(dataset.nodes)} nodes")
    run = config.train_config(cell)
    selection, _ = select_and_train(dataset, folder / "run", run, strategy=cell.strategy, n_nodes=cell.n_nodes,
                                    criterion=config.criterion, echo=lambda line: echo(f"  {line}"),
                                    progress=progress, resume=True)
    (folder / "selection.json").write_text(json.dumps(selection.to_dict(), indent=2))
    participants = pd.read_csv(folder / "run" / "metrics_per_node.csv", dtype={"node": str})
    participants.insert(0, "role", "participating")
    frames = [participants]
    if selection.non_participating:
        targets = prepare_targets(dataset, selection.non_participating, run)
        detector, federation_z = load_global_model(folder / "run")
        echo(f"  transferring to {len(targets.nodes)} non-participating nodes ...")
        result = transfer_to_nodes(detector.model_, targets, run, config.transfer, federation_z=federation_z)
        transferred = result.per_node.copy()
        transferred.insert(0, "role", "non-participating")
        frames.append(transferred)
        result.scores.to_parquet(folder / "scores.parquet", index=False)
    per_node = pd.concat(frames, ignore_index=True)
    for position, (key, value) in enumerate(cell.to_dict().items()):
        per_node.insert(position, key, value)
    per_node.to_csv(folder / "per_node.csv", index=False)
    done = {"fingerprint": config.cell_fingerprint(), "cell": cell.to_dict(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (folder / DONE).write_text(json.dumps(done, indent=2))


def _run_efficiency(config: ExperimentConfig, dataset: ProcessedDataset, out: Path,
                    echo: Callable[[str], None]) -> dict[str, Any] | None:
    cell = config.efficiency_cell()
    if cell is None:
        return None
    spec = config.data_efficiency
    path = out / "efficiency.csv"
    marker = out / "efficiency.done.json"
    if not (marker.exists() and read_record(marker, "data-efficiency marker").get("fingerprint")
            == config.fingerprint()):
        folder = out / "cells" / cell.cell_id
        selection = read_record(folder / "selection.json", "node selection")
        if not selection["non_participating"]:
            return None
        targets = sort_nodes(selection["non_participating"])[: spec.max_nodes]
        detector, federation_z = load_global_model(folder / "run")
        echo(f"Data efficiency ({cell.cell_id} model, {len(targets)} non-participating nodes): budgets "
             f"{list(spec.days)} days and the full training part ...")
        table = data_efficiency(detector.model_, dataset, targets, config.train_config(cell), config.transfer,
                                days=spec.days, include_full=spec.include_full, echo=echo,
                                federation_z=federation_z)
        table.to_csv(path, index=False)
        marker.write_text(json.dumps({"fingerprint": config.fingerprint(), "cell": cell.to_dict()}))
    table = pd.read_csv(path, dtype={"node": str})
    return {"cell": cell.cell_id, **efficiency_summary(table, metric=config.metric if config.metric in table else "f1")}


def collect(out: str | Path) -> dict[str, pd.DataFrame]:
    """Read the finished cells of a results folder back into tables.

    Returns:
        ``{"per_node", "curves", "scores", "efficiency"}`` (``scores`` from the
        first cell that has them; absent tables are omitted).
    """
    out = Path(out)
    per_node, curves = [], []
    scores = None
    for folder in sorted((out / "cells").glob("*")):
        if not (folder / DONE).exists():
            continue
        cell = read_record(folder / DONE, "cell marker")["cell"]
        per_node.append(pd.read_csv(folder / "per_node.csv", dtype={"node": str}))
        rounds = folder / "run" / "metrics_per_round.csv"
        if rounds.exists():
            frame = pd.read_csv(rounds)
            for position, (key, value) in enumerate(cell.items()):
                frame.insert(position, key, value)
            curves.append(frame)
        if scores is None and (folder / "scores.parquet").exists():
            scores = pd.read_parquet(folder / "scores.parquet")
    tables: dict[str, pd.DataFrame] = {}
    if per_node:
        tables["per_node"] = pd.concat(per_node, ignore_index=True)
    if curves:
        tables["curves"] = pd.concat(curves, ignore_index=True)
    if scores is not None and not scores.empty:
        tables["scores"] = scores
    if (out / "efficiency.csv").exists():
        tables["efficiency"] = pd.read_csv(out / "efficiency.csv", dtype={"node": str})
    return tables


def _finish(config: ExperimentConfig, out: Path, run: list[str], skipped: list[str],
            efficiency: dict[str, Any] | None, timings: dict[str, float],
            echo: Callable[[str], None]) -> ExperimentResult:
    echo("Statistics, figures and report ...")
    tables = collect(out)
    per_node = tables["per_node"]
    per_node.to_csv(out / "per_node.csv", index=False)
    per_node.to_parquet(out / "per_node.parquet", index=False)
    if "curves" in tables:
        tables["curves"].to_csv(out / "curves.csv", index=False)
    targets = per_node[per_node["role"] == "non-participating"]
    notes = []
    if not targets.empty and "local" in set(targets["method"]):
        deltas = transfer_deltas(targets, baseline="local", by=list(CONDITIONS))
        deltas.to_csv(out / "deltas.csv", index=False)
        tables["deltas"] = deltas
    undefined = per_node[per_node[config.metric].isna()] if config.metric in per_node else per_node.iloc[:0]
    if len(undefined):
        notes.append(f"{len(undefined)} of {len(per_node)} node x method rows have an undefined {config.metric} "
                     f"(reasons in per_node.csv, column `notes`); they are left out of medians and tests.")
    metrics = [config.metric] + [m for m in ("f1", "event_f1", "roc_auc") if m != config.metric and m in per_node.columns]
    every = [comparison_tables(per_node, metric=m) for m in metrics]
    stats_tables = every[0]
    figures = plot_all(tables, out / "figures")
    if skipped:
        notes.append(f"{len(skipped)} cell(s) were finished in an earlier call and reused: {', '.join(skipped)}.")
    report = write_report(out, title=f"Experiment: {config.name}", per_node=per_node, tables=every,
                          figures=figures, config=config.to_dict(), efficiency=efficiency, notes=notes,
                          timings=timings)
    if efficiency is not None:
        (out / "efficiency_summary.json").write_text(json.dumps(efficiency, indent=2, default=str))
    echo(f"Report: {report}")
    return ExperimentResult(out=out, per_node=per_node, report=report, cells_run=run, cells_skipped=skipped,
                            efficiency=efficiency, tables=stats_tables)
