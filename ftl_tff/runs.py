"""Train, evaluate and score runs: what ``ftl-tff train|evaluate|score`` do.

A *run folder* holds everything needed to score new windows of the nodes it
was calibrated on::

    RUN/model/                 the global autoencoder (weights + JSON metadata)
    RUN/calibration.json       per node: threshold, rule, scaler, imputer, gap measure
    RUN/config.json            the training configuration (data split included)
    RUN/metrics_per_round.csv  federated training curve
    RUN/metrics_per_node.csv   test metrics per node and method
    RUN/summary.json           aggregated metrics per method, timings
    RUN/checkpoints/           federated training checkpoints (resume)
    RUN/selection.json         how the nodes were chosen (written by ``ftl-tff federated``)

The federated model is trained on the participating nodes' training windows
(which windows depends on the paradigm: :mod:`ftl_tff.paradigms`), then
calibrated per node on that node's own data, and evaluated on each node's test
windows next to the node-local and centralized baselines trained with the same
budget (the same number of passes over each training window).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__, vocabulary
from .calibration import ThresholdRule, calibrate_and_evaluate
from .config import RunConfig
from .data import ProcessedDataset, load_dataset
from .data.clients.client_data import FederatedData, prepare_federated_data
from .data.clients.gaps import NodeGap
from .data.clients.scaling import NodeImputer, NodeScaler
from .detection import AnomalyDetector
from .errors import ConfigError, SchemaError, SelectionError, SourceNotFoundError
from .federated.runtime import FederatedRuntime
from .federated.training import FederatedTrainingResult, train_federated
from .metrics import aggregate_metrics, detection_metrics
from .models.io import METADATA_FILE
from .paradigms import Paradigm, get_paradigm
from .records import read_record
from .selection import Selection, selector
from .transfer import train_local_model

METHODS = vocabulary.RUN_METHODS


def open_dataset(dataset: str | Path | ProcessedDataset, features: str = "all") -> ProcessedDataset:
    """A processed dataset (loaded from its folder when a path is given) in the feature set ``features``."""
    dataset = dataset if isinstance(dataset, ProcessedDataset) else load_dataset(dataset)
    if features != dataset.feature_set:
        dataset = dataset.with_features(features)
    return dataset


def select_first_nodes(dataset: ProcessedDataset, n_nodes: int | None, nodes: list[str] | None = None) -> list[str]:
    """The participating nodes: ``nodes`` as given, else the first ``n_nodes`` of the dataset."""
    if nodes:
        missing = [n for n in nodes if n not in dataset.nodes]
        if missing:
            raise SelectionError(f"node(s) {', '.join(missing)} not in the dataset {dataset.path}")
        return list(nodes)
    if n_nodes is None:
        return dataset.nodes
    if n_nodes < 1 or n_nodes > len(dataset.nodes):
        raise ConfigError(f"n_nodes: must be between 1 and {len(dataset.nodes)} (the dataset's nodes), got {n_nodes}")
    return dataset.nodes[:n_nodes]


def select_and_train(
    dataset: str | Path | ProcessedDataset,
    out: str | Path,
    config: RunConfig,
    *,
    strategy: str,
    n_nodes: int,
    criterion: str = "training_windows",
    echo: Callable[[str], None] = print,
    progress: bool = True,
    resume: bool = False,
) -> tuple[Selection, dict[str, Any]]:
    """Choose the participating nodes (Top-N or Random-N, seeded by ``config.seed``), train, record the choice.

    What ``ftl-tff federated``, the experiment runner and the examples do:
    the selection is made on the dataset's node summary (in ``config``'s
    feature set), stored in the run's configuration and in
    ``out/selection.json``, and :func:`train_run` trains on it.

    Returns:
        The :class:`~ftl_tff.selection.Selection` and the run's summary.
    """
    config.validate()
    dataset = open_dataset(dataset, config.features)
    selection = selector(strategy, n_nodes, criterion, config.seed).select(dataset.summary())
    echo(f"{'Top' if selection.strategy == 'top' else 'Random'}-{n_nodes} ({selection.criterion}): "
         f"{', '.join(selection.participating)}; {len(selection.non_participating)} nodes left out")
    config = RunConfig.from_flat({**config.flat(), "nodes": list(selection.participating),
                                  "selection": selection.to_dict()})
    summary = train_run(dataset, out, config, echo=echo, progress=progress, resume=resume)
    (Path(out) / "selection.json").write_text(json.dumps(selection.to_dict(), indent=2))
    return selection, summary


def train_run(
    dataset: str | Path | ProcessedDataset,
    out: str | Path,
    config: RunConfig,
    echo: Callable[[str], None] = print,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Train the federated model (and baselines) and write a run folder.

    Federated training is checkpointed in ``out/checkpoints``; ``resume=True``
    continues an interrupted run from its last checkpoint (the configuration
    must be the same) and ends with the same model as an uninterrupted run.

    Returns:
        The summary written to ``out/summary.json``.
    """
    config.validate()
    if not config.nodes:
        raise ConfigError("nodes: a run needs participating nodes (select_first_nodes or select_and_train choose them)")
    dataset = open_dataset(dataset, config.features)
    paradigm = get_paradigm(config.paradigm)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    fed = prepare_federated_data(dataset, list(config.nodes), **config.split_kwargs())
    timings["prepare_s"] = time.perf_counter() - started
    echo(f"{len(fed.nodes)} nodes, {fed.n_features} features ({dataset.feature_set}), paradigm {paradigm.name}")

    started = time.perf_counter()
    result = _train_federated(fed, paradigm, config, out, progress, resume)
    timings["federated_s"] = time.perf_counter() - started
    result.history.to_csv(out / "metrics_per_round.csv", index=False)

    rule = ThresholdRule(config.scoring.threshold)
    rows, calibration = _calibrate_participants(AnomalyDetector.from_model(result.model,
                                                                           **config.detector_params(False)),
                                                fed, config, rule, keep=True)
    _save_global_model(result.model, fed, dataset, config, calibration, out)
    for baseline in config.baselines:
        started = time.perf_counter()
        detectors = _baseline_detectors(baseline, result.model, fed, config, echo)
        rows.extend(_calibrate_participants(detectors, fed, config, rule, method=baseline)[0])
        timings[f"{baseline}_s"] = time.perf_counter() - started

    per_node = pd.DataFrame(rows)
    per_node.to_csv(out / "metrics_per_node.csv", index=False)
    summary = {
        "library_version": __version__,
        "paradigm": paradigm.name,
        "nodes": fed.nodes,
        "features": dataset.feature_set,
        "n_features": fed.n_features,
        "selection": dict(config.selection) or None,
        "rounds_run": int(result.rounds_run),
        "best_round": None if result.best_round is None else int(result.best_round),
        "final_train_loss": float(result.history["train_loss"].iloc[-1]),
        "metrics": _aggregate_by_method(per_node),
        "split_report": json.loads(fed.split_report.reset_index().to_json(orient="records")),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    (out / "calibration.json").write_text(json.dumps(calibration, indent=1))
    (out / "config.json").write_text(json.dumps({"dataset": str(dataset.path), **config.to_dict()}, indent=2))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return summary


def _train_federated(fed: FederatedData, paradigm: Paradigm, config: RunConfig, out: Path, progress: bool,
                     resume: bool) -> FederatedTrainingResult:
    runtime = config.runtime
    return train_federated(
        {n: fed.node_data[n].x_train for n in fed.nodes}, _validation_sets(fed, paradigm), config.fedavg,
        config.model, seed=config.seed, checkpoint_dir=out / "checkpoints",
        checkpoint_every=max(1, config.fedavg.rounds // 10), resume=resume, progress=progress,
        runtime=FederatedRuntime(workers=list(runtime.workers)) if runtime.workers else None,
        data_on_workers=runtime.data_on_workers,
    )


def _calibrate_participants(detectors: AnomalyDetector | dict[str, AnomalyDetector], fed: FederatedData,
                            config: RunConfig, rule: ThresholdRule, method: str = vocabulary.FEDERATED,
                            keep: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Calibrate and evaluate each participant (one shared detector, or one per node); the calibration records."""
    rows, calibration = [], {}
    for node in fed.nodes:
        node_data = fed.node_data[node]
        detector = detectors if isinstance(detectors, AnomalyDetector) else detectors[node]
        done, metrics, _ = calibrate_and_evaluate(detector, node_data, config.paradigm, rule,
                                                  config.scoring.percentile)
        rows.append({"node": node, "method": method, **done, **metrics})
        if keep:
            calibration[node] = {**done, "scaler": node_data.scaler.to_dict(),
                                 "imputer": node_data.imputer.to_dict(), "gaps": node_data.gaps.to_dict()}
    return rows, calibration


def _save_global_model(model: Any, fed: FederatedData, dataset: ProcessedDataset, config: RunConfig,
                       calibration: dict[str, Any], out: Path) -> None:
    """Save the global model with what every node shares, and no node's threshold.

    Per-node scalers and thresholds live in ``calibration.json``. A fresh,
    uncalibrated wrapper is saved (calibrating the shared detector node by
    node leaves the last node's threshold on it). What it carries is the
    federation's threshold on the normalised scale (the median of the
    participants'), for targets (``threshold="transferred"``).
    """
    federation_z = float(np.median([calibration[n]["threshold_z"] for n in fed.nodes]))
    AnomalyDetector.from_model(model, **config.detector_params(False)).save(
        out / "model", feature_columns=fed.feature_columns,
        extra={"paradigm": config.paradigm, "nodes": fed.nodes, "features": dataset.feature_set,
               "threshold_rule": config.scoring.threshold, "federation_threshold_z": federation_z,
               "thresholds": "per node, in the run's calibration.json"})


def _baseline_detectors(baseline: str, global_model: Any, fed: FederatedData, config: RunConfig,
                        echo: Callable[[str], None]) -> AnomalyDetector | dict[str, AnomalyDetector]:
    """The ``local`` (one per node) or ``centralized`` (one shared) baseline, trained with the federated budget."""
    budget = config.fedavg.budget
    params = config.detector_params()
    if baseline == vocabulary.CENTRALIZED:
        echo(f"Training the centralized baseline on pooled windows ({budget} epochs) ...")
        pooled = np.concatenate([fed.node_data[n].x_train for n in fed.nodes])
        return AnomalyDetector(epochs=budget, **params).fit(pooled)
    echo(f"Training {len(fed.nodes)} node-local baselines ({budget} epochs each) ...")
    local_params = config.detector_params(architecture=False)
    return {node: AnomalyDetector.from_model(
        train_local_model(global_model, fed.node_data[node].x_train, epochs=budget,
                          learning_rate=config.fedavg.client_learning_rate, batch_size=config.fedavg.batch_size,
                          optimizer=config.fedavg.client_optimizer, seed=config.seed), **local_params)
            for node in fed.nodes}


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _validation_sets(fed: FederatedData, paradigm) -> dict[str, np.ndarray] | None:
    """Held-out windows for the validation loss: normal ones when labels may be used."""
    sets = {}
    for node in fed.nodes:
        data = fed.node_data[node]
        x = data.x_validation
        if paradigm.normal_only_training:
            x = x[data.y_validation == 0]
        if len(x):
            sets[node] = x
    return sets or None


def _aggregate_by_method(per_node: pd.DataFrame) -> dict[str, Any]:
    out = {}
    for method, rows in per_node.groupby("method", sort=False):
        table = aggregate_metrics(rows.set_index("node"))
        out[method] = json.loads(table.to_json(orient="index"))
    return out


def load_run(run_dir: str | Path) -> tuple[Path, RunConfig, dict[str, Any]]:
    """A run folder (or its ``model/``), its configuration and its calibration records."""
    run_dir = Path(run_dir)
    if (run_dir / METADATA_FILE).exists() and not (run_dir / "calibration.json").exists():
        run_dir = run_dir.parent  # RUN/model given
    for name in _RUN_FILES:
        if not (run_dir / name).exists():
            raise SourceNotFoundError(f"{run_dir} is not a run folder: no {name} (make one with `ftl-tff train`)")
    saved = read_record(run_dir / "config.json", "run configuration")
    config = RunConfig.from_dict(saved, source=str(run_dir / "config.json"))
    return run_dir, config, read_record(run_dir / "calibration.json", "run calibration")


def load_global_model(run_dir: str | Path) -> tuple[AnomalyDetector, float | None]:
    """A run's saved global detector (uncalibrated) and the federation's normalised threshold stored with it."""
    run_dir, _, _ = load_run(run_dir)
    detector = AnomalyDetector.load(run_dir / "model")
    return detector, ((detector.metadata_ or {}).get("extra") or {}).get("federation_threshold_z")


def evaluate_run(run_dir: str | Path, dataset: str | Path | ProcessedDataset) -> pd.DataFrame:
    """Test metrics per calibrated node of a run on ``dataset``.

    The split is rebuilt from the run's configuration; each node's test
    windows are scaled and imputed with the statistics stored at training time.
    """
    run_dir, config, calibration = load_run(run_dir)
    dataset = open_dataset(dataset, config.features)
    nodes = [n for n in config.nodes if n in dataset.nodes]
    if not nodes:
        raise SelectionError(f"none of the run's nodes ({', '.join(config.nodes[:10])}) is in {dataset.path}")
    detector = AnomalyDetector.load(run_dir / "model")
    check_features(detector, dataset)
    fed = prepare_federated_data(dataset, nodes, **config.split_kwargs())
    rows = []
    for node in nodes:
        data = fed.node_data[node]
        x_test, gap_test = _transform_with_stored(dataset, node, data.index_test, calibration[node])
        scores = detector.score_samples(x_test, gap=gap_test, index=data.index_test)
        detector.threshold_ = float(calibration[node]["threshold"])
        metrics = detection_metrics(data.y_test, scores, detector.predict_scores(scores), index=data.index_test)
        rows.append({"node": node, "threshold": detector.threshold_, **metrics})
    return pd.DataFrame(rows)


def check_features(detector: AnomalyDetector, dataset: ProcessedDataset) -> None:
    """Raise SchemaError when ``dataset``'s feature columns are not the ones ``detector`` was trained on."""
    expected = getattr(detector, "feature_columns_", None)
    if expected and list(expected) != dataset.feature_columns:
        raise SchemaError(
            f"{dataset.path}: feature columns differ from the model's ({len(dataset.feature_columns)} vs "
            f"{len(expected)}); prepare the data with the same options as the training data"
        )


def _transform_with_stored(dataset: ProcessedDataset, node: str, index,
                           stored: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """The node's windows at ``index``, scaled and imputed as stored, and their gap shares (None: not stored)."""
    frame = dataset.frame(node).loc[index]
    scaler = NodeScaler.from_dict(stored["scaler"])
    imputer = NodeImputer.from_dict(stored["imputer"])
    imputed = imputer.transform(scaler.transform(frame[dataset.feature_columns]))
    gaps = stored.get("gaps")
    gap = None if gaps is None else NodeGap.from_dict(gaps).transform(frame)[imputed.kept_rows]
    return imputed.values.astype(np.float32), gap


def score_run(
    model: str | Path,
    dataset: str | Path | ProcessedDataset,
    top_k: int = 3,
    nodes: list[str] | None = None,
) -> pd.DataFrame:
    """Score every window of a model's nodes in ``dataset``: what ``ftl-tff score`` does.

    ``model`` is one of:

    * a run folder (``config.json``, ``calibration.json``, ``model/``): every
      node calibrated in the run (or those of ``nodes``) is scaled, imputed,
      given its gap shares and thresholded with the statistics of
      ``calibration.json``;
    * a run's ``model/`` folder: the same, from the run folder around it;
    * a saved detector folder (:meth:`~ftl_tff.detection.AnomalyDetector.save`
      with its threshold, scaler and imputer), e.g. a transfer's per-node
      detector ``TRANSFER/models/<node>/<mode>/``: it scores the node stored
      in its metadata (``extra.node``), or the ``nodes`` given (``["all"]``:
      every node of ``dataset``), with its own threshold, scaler, imputer
      and gap measure (when saved).

    Args:
        model: The run folder, its ``model/`` folder or a saved detector folder.
        dataset: Processed dataset holding the nodes' windows.
        top_k: Contributing metrics listed per window.
        nodes: Nodes to score (default: the run's calibrated nodes, or the
            detector's node). For a run, each must be calibrated in it
            (``["all"]``: every calibrated node); for a detector, any node of
            ``dataset``, scaled with the detector's own statistics
            (``["all"]``: every node of ``dataset``).

    Returns:
        One row per window: node, window_start, score, threshold, anomalous
        (``score >= threshold``, 0/1), label (Nagios, for reference) and the
        ``top_k`` metrics with the largest reconstruction error
        (``top1_feature``, ``top1_share``, ...).

    Raises:
        SourceNotFoundError: ``model`` is missing, or is neither a run folder
            nor a saved detector folder (the message names the folder and
            what it lacks).
        SchemaError: The detector lacks its threshold, scaler, imputer or
            feature columns, or ``dataset`` lacks its feature columns.
        SelectionError: No node to score, or a requested node is not
            calibrated in the run or not in ``dataset``.
    """
    path = Path(model)
    run_dir = _scored_run_folder(path)
    if run_dir is not None:
        run_dir, config, calibration = load_run(run_dir)
        dataset = open_dataset(dataset, config.features)
        detector = AnomalyDetector.load(run_dir / "model")
        check_features(detector, dataset)
        if nodes and [n.lower() for n in nodes] == ["all"]:
            nodes = None
        if nodes:
            uncalibrated = [n for n in nodes if n not in calibration]
            if uncalibrated:
                raise SelectionError(f"node(s) {', '.join(uncalibrated)} not calibrated in the run {run_dir} "
                                     f"(it calibrated {', '.join(list(calibration)[:20])})")
            _check_nodes_in(nodes, dataset)
            chosen = list(nodes)
        else:
            chosen = [n for n in calibration if n in dataset.nodes]
            if not chosen:
                raise SelectionError(f"none of the calibrated nodes of the run {run_dir} "
                                     f"({', '.join(list(calibration)[:10])}) is in {dataset.path}")
        columns = dataset.feature_columns
        parts = [(node, NodeScaler.from_dict(stored["scaler"]), NodeImputer.from_dict(stored["imputer"]),
                  None if stored.get("gaps") is None else NodeGap.from_dict(stored["gaps"]),
                  float(stored["threshold"]))
                 for node, stored in ((n, calibration[n]) for n in chosen)]
    else:
        detector = _load_scoring_detector(path)
        threshold, scaler, imputer, gaps, columns = (detector.threshold_, detector.scaler_, detector.imputer_,
                                                     getattr(detector, "gaps_", None), list(detector.feature_columns_))
        dataset = open_dataset(dataset)
        missing = [c for c in columns if c not in dataset.feature_columns]
        if missing:
            raise SchemaError(f"{dataset.path} lacks {len(missing)} of the {len(columns)} feature columns of the "
                              f"detector in {path} ({', '.join(missing[:5])}); prepare the data with the same "
                              "options as the detector's training data")
        dataset = dataset.with_features(columns)
        chosen = _detector_nodes(detector, path, dataset, nodes)
        parts = [(node, scaler, imputer, gaps, threshold) for node in chosen]

    frames = []
    for node, scaler, imputer, gaps, threshold in parts:
        frame = dataset.frame(node)
        imputed = imputer.transform(scaler.transform(frame[columns]))
        x = imputed.values.astype(np.float32)
        kept = frame.index[imputed.kept_rows]
        gap = None if gaps is None else gaps.transform(frame)[imputed.kept_rows]
        scores = detector.score_samples(x, gap=gap, index=kept)
        detector.threshold_ = threshold
        out = pd.DataFrame({"node": node, "window_start": kept, "score": scores, "threshold": threshold,
                            "anomalous": detector.predict_scores(scores),
                            "label": frame["label"].to_numpy()[imputed.kept_rows]})
        top = detector.feature_contributions(x, columns, top_k=top_k)
        frames.append(pd.concat([out.reset_index(drop=True), _wide_contributions(top, top_k)], axis=1))
    return pd.concat(frames, ignore_index=True)


_RUN_FILES = ("config.json", "calibration.json")


def _scored_run_folder(path: Path) -> Path | None:
    """The run folder ``path`` stands for (itself, or the run around its ``model/``), or None for a detector.

    Raises SourceNotFoundError when ``path`` is neither a run folder nor a saved model folder.
    """
    if not path.exists():
        raise SourceNotFoundError(f"model folder {path} does not exist (give a run folder, its model/ folder or a "
                                  "saved detector folder)")
    if not path.is_dir():
        raise SourceNotFoundError(f"{path} is a file: give a run folder, its model/ folder or a saved detector "
                                  "folder")
    if any((path / name).exists() for name in _RUN_FILES):
        return path  # a run folder (load_run names a missing file)
    if (path / METADATA_FILE).exists():
        parent = path.parent
        return parent if all((parent / name).exists() for name in _RUN_FILES) else None
    hint = ""
    saved = sorted(p.parent for p in path.glob(f"*/{METADATA_FILE}")) or sorted(
        p.parent for p in path.glob(f"models/*/*/{METADATA_FILE}"))
    if saved:
        hint = f"; it holds saved detectors, e.g. {', '.join(str(p) for p in saved[:3])}"
    raise SourceNotFoundError(f"{path} is neither a run folder (no {' or '.join(_RUN_FILES)}) nor a saved model "
                              f"folder (no {METADATA_FILE}){hint}")


def _load_scoring_detector(path: Path):
    """A saved detector that can score raw windows alone: threshold, scaler, imputer and feature columns."""
    detector = AnomalyDetector.load(path)
    parts = {"threshold": getattr(detector, "threshold_", None), "scaler": detector.scaler_,
             "imputer": detector.imputer_, "feature columns": detector.feature_columns_}
    lacking = [name for name, value in parts.items() if value is None]
    if lacking:
        around = ""
        if path.name == "model":
            absent = [name for name in _RUN_FILES if not (path.parent / name).exists()]
            around = f" (nor is it a run's model/ folder: {path.parent} has no {' and no '.join(absent)})"
        raise SchemaError(f"the saved detector in {path} cannot score windows on its own: it has no "
                          f"{', no '.join(lacking)} (its model.json){around}; give its run folder, or a detector "
                          "saved with its node's threshold, scaler and imputer (`ftl-tff transfer --save-models`)")
    return detector


def _detector_nodes(detector, path: Path, dataset: ProcessedDataset, nodes: list[str] | None) -> list[str]:
    """The nodes a saved detector scores: those given (``all``: every node of the dataset), else its own."""
    if nodes:
        if [n.lower() for n in nodes] == ["all"]:
            return dataset.nodes
        _check_nodes_in(nodes, dataset)
        return list(nodes)
    extra = detector.metadata_.get("extra") or {}
    node = extra.get("node") if isinstance(extra, dict) else None
    if node is None:
        raise SelectionError(f"nodes: the saved detector in {path} does not record its node; name the node(s) of "
                             f"{dataset.path} to score, or 'all'")
    node = str(node)
    if node not in dataset.nodes:
        raise SelectionError(f"nodes: the saved detector in {path} belongs to node {node}, which is not in "
                             f"{dataset.path}; name other nodes to score them with its statistics")
    return [node]


def _check_nodes_in(nodes: list[str], dataset: ProcessedDataset) -> None:
    unknown = [n for n in nodes if n not in dataset.nodes]
    if unknown:
        raise SelectionError(f"node(s) {', '.join(unknown)} not in the dataset {dataset.path}")


def _wide_contributions(top: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The detector's long attribution table (window, rank, feature, share) as top{k}_* columns."""
    wide = {}
    for rank in range(1, top_k + 1):
        part = top[top["rank"] == rank].set_index("window")
        wide[f"top{rank}_feature"] = part["feature"]
        wide[f"top{rank}_share"] = part["share"]
    return pd.DataFrame(wide).reset_index(drop=True)
