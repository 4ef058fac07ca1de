"""One transfer with its report: what ``ftl-tff transfer`` does.

A one-cell experiment: a trained run's global model is carried to the nodes
that did not train it (:func:`~ftl_tff.transfer.transfer_to_nodes`), the
methods are compared with significance tests and effect sizes, and a results
folder with tables, figures and ``report.md`` is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, vocabulary
from ..config import RunConfig, TransferConfig
from ..data import ProcessedDataset
from ..data.clients.client_data import FederatedData
from ..errors import SelectionError
from ..runs import check_features, load_global_model, load_run, open_dataset
from ..transfer import (
    TransferResult,
    data_efficiency,
    efficiency_summary,
    prepare_targets,
    transfer_deltas,
    transfer_to_nodes,
)
from .figures import plot_all
from .report import comparison_tables, write_report

__all__ = ["transfer_run"]

_FILES = ["`per_node.csv`: every target node and method",
          "`scores.parquet`: test-window scores of every method",
          "`deltas.csv`: per-node gain of each transfer mode over local (with the local baseline)",
          "`efficiency.csv`: the data-efficiency study (with efficiency days)",
          "`stats/`: comparison tables (Markdown, LaTeX, CSV)", "`figures/`: the figures above",
          "`models/`: calibrated detectors per node and method (with save_models)",
          "`transfer.json`: the source run, targets and settings"]


def transfer_run(
    run_dir: str | Path,
    dataset: str | Path | ProcessedDataset,
    out: str | Path,
    config: TransferConfig | None = None,
    *,
    nodes: Sequence[str] | None = None,
    seed: int | None = None,
    efficiency_days: Sequence[float] = (),
    save_models: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Transfer a run's federated model to other nodes and write a results folder.

    The paradigm, split, feature set, score and threshold rule are the run's
    (:class:`~ftl_tff.config.RunConfig`); the target nodes default to the
    dataset's nodes that did not train the model. ``out`` receives
    ``per_node.csv``, ``scores.parquet``, ``deltas.csv`` (with the local
    baseline), ``efficiency.csv`` (with ``efficiency_days``), ``stats/``,
    ``figures/``, ``report.md``, ``transfer.json`` and, with
    ``save_models``, ``models/<node>/<method>/`` (loadable with
    :meth:`~ftl_tff.detection.AnomalyDetector.load`, scaler included).

    Args:
        run_dir: Run folder of the federated model (or its ``model/``).
        dataset: Processed dataset holding the target nodes.
        out: Results folder.
        config: A :class:`~ftl_tff.config.TransferConfig` (modes, epochs,
            trimming, the targets' threshold rule).
        nodes: Target node ids (default: every node not in the run).
        seed: Seed of fine-tuning and of the local baseline (default: the run's).
        efficiency_days: Budgets of the data-efficiency study (empty: none).
        save_models: Save every calibrated target detector.
        echo: Progress lines.

    Returns:
        ``{"per_node", "deltas", "tables", "efficiency", "report", "summary_text"}``.
    """
    run_dir, run, _ = load_run(run_dir)
    if seed is not None:
        run = replace(run, seed=seed).validate()
    config = (config or TransferConfig()).validate()
    dataset = open_dataset(dataset, run.features)
    targets = _targets(dataset, run, nodes, run_dir)
    detector, federation_z = load_global_model(run_dir)
    check_features(detector, dataset)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    echo(f"Transferring {run_dir / 'model'} ({run.paradigm}) to {len(targets)} node(s): "
         f"{', '.join(config.modes)}{' + local baseline' if config.local_baseline else ''}")
    target_data = prepare_targets(dataset, targets, run)
    result = transfer_to_nodes(detector.model_, target_data, run, config, keep_detectors=save_models,
                               echo=echo, federation_z=federation_z)
    per_node = result.per_node.copy()
    per_node.insert(0, "role", ["participating" if n in set(run.nodes) else "non-participating"
                                for n in per_node["node"]])
    per_node.insert(0, "paradigm", run.paradigm)
    per_node.to_csv(out / "per_node.csv", index=False)
    result.scores.to_parquet(out / "scores.parquet", index=False)
    tables: dict[str, Any] = {"per_node": per_node, "scores": result.scores}
    deltas = None
    if config.local_baseline and config.modes:
        deltas = transfer_deltas(per_node, baseline=vocabulary.LOCAL, by=["paradigm"])
        deltas.to_csv(out / "deltas.csv", index=False)
        tables["deltas"] = deltas
    if save_models:
        _save_detectors(result, target_data, run, run_dir, out)
    efficiency = None
    if efficiency_days:
        echo(f"Data-efficiency study: budgets {list(efficiency_days)} days ...")
        table = data_efficiency(detector.model_, dataset, targets, run, config, days=efficiency_days,
                                echo=echo, federation_z=federation_z)
        table.to_csv(out / "efficiency.csv", index=False)
        tables["efficiency"] = table
        efficiency = efficiency_summary(table)
    every = [comparison_tables(per_node, metric=m) for m in ("f1", "event_f1", "roc_auc")]
    record = {"source_run": str(run_dir), "dataset": str(dataset.path), "features": dataset.feature_set,
              "paradigm": run.paradigm, "targets": targets, "transfer": config.to_dict(),
              "split": run.to_dict()["data"], "seed": run.seed, "library_version": __version__}
    (out / "transfer.json").write_text(json.dumps(record, indent=2, default=str))
    report = write_report(out, title=f"Transfer of {run_dir.name} to {len(targets)} node(s)", per_node=per_node,
                          tables=every, figures=plot_all(tables, out / "figures"), efficiency=efficiency,
                          files=_FILES)
    return {"per_node": per_node, "deltas": deltas, "tables": every[0], "efficiency": efficiency,
            "report": report, "summary_text": _summary_text(per_node, every[0], efficiency, len(targets))}


def _targets(dataset: ProcessedDataset, run: RunConfig, nodes: Sequence[str] | None, run_dir: Path) -> list[str]:
    if nodes:
        unknown = [n for n in nodes if n not in dataset.nodes]
        if unknown:
            raise SelectionError(f"target node(s) {', '.join(unknown)} not in the dataset {dataset.path}")
        return list(nodes)
    targets = [n for n in dataset.nodes if n not in set(run.nodes)]
    if not targets:
        raise SelectionError(f"nodes: every node of {dataset.path} trained the model in {run_dir}, so there is "
                             "no non-participating node to transfer to; name target nodes, or use a dataset with "
                             "other nodes")
    return targets


def _save_detectors(result: TransferResult, target_data: FederatedData, run: RunConfig, run_dir: Path,
                    out: Path) -> None:
    for (node, method), node_detector in result.detectors.items():
        data = target_data.node_data[node]
        node_detector.save(out / "models" / node / method, feature_columns=target_data.feature_columns,
                           scaler=data.scaler, imputer=data.imputer, gaps=data.gaps,
                           extra={"paradigm": run.paradigm, "node": node, "method": method,
                                  "source_run": str(run_dir)})


def _summary_text(per_node: pd.DataFrame, stats_tables: dict[str, Any], efficiency: dict[str, Any] | None,
                  n_targets: int) -> str:
    lines = [f"{n_targets} target node(s); median F1 / event F1 / ROC-AUC / VUS-PR on their test windows:"]
    for method, rows in per_node.groupby("method", sort=False):
        lines.append(f"  {method:15s} F1 {rows['f1'].median():.3f}  event F1 {rows['event_f1'].median():.3f}  "
                     f"ROC-AUC {rows['roc_auc'].median():.3f}  VUS-PR {rows['vus_pr'].median():.3f}  "
                     f"({int(rows['f1'].notna().sum())} nodes with F1 defined)")
    table = stats_tables.get("transfer_vs_local")
    if table is not None and not table.empty:
        lines.extend(f"  {row['summary']}" for _, row in table.iterrows())
    if efficiency:
        lines.append(f"  {efficiency['sentence']}")
    return "\n".join(lines)
