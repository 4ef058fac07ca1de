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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .data import ProcessedDataset, load_dataset
from .data.client_data import FederatedData, prepare_federated_data
from .data.gaps import NodeGap
from .data.scaling import NodeImputer, NodeScaler
from .errors import ConfigError, SchemaError, SelectionError, SourceNotFoundError
from .metrics import aggregate_metrics, detection_metrics
from .paradigms import DEFAULT_BLOCK, DEFAULT_THRESHOLD_RULE, get_paradigm
from .transfer import ThresholdRule, TransferConfig, calibrate_target, target_view

METHODS: tuple[str, ...] = ("federated", "local", "centralized")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    Attributes:
        paradigm: ``unsupervised``, ``semi-supervised`` or ``supervised``.
        nodes: Participating node ids.
        rounds: Federated rounds.
        local_epochs: Local epochs per round.
        batch_size: Batch size on every client (and for the baselines).
        client_optimizer: ``adam``, ``sgd`` or ``rmsprop``.
        client_learning_rate: Client learning rate.
        server_optimizer: Server optimizer (``sgd``: plain FedAvg at lr 1.0).
        server_learning_rate: Server learning rate.
        weighting: ``examples`` (weighted FedAvg) or ``uniform``.
        clients_per_round: Clients sampled per round (None: all).
        seed: Seed of weights, shuffles and sampling.
        split: ``blocked`` (default: time blocks interleaved over the parts,
            so every part samples the whole period and its failures) or
            ``chronological`` (the papers' single cut, which often leaves a
            node's test part without any failure).
        train: Share of each node's windows for training.
        validation: Share for validation (early stopping, supervised thresholds).
        block: Block length of the blocked split.
        impute: Imputation policy for missing values (the score still counts
            what was missing, see ``gap_weight``).
        clip: Scaled values are clipped to ``[-clip, 1 + clip]`` (False: unbounded).
        threshold: Label-free threshold rule (unsupervised and
            semi-supervised; the supervised fallback), one of
            :data:`~ftl_tff.detection.LABEL_FREE_RULES` except
            ``contamination``.
        percentile: Percentile of the ``percentile`` and ``trimmed`` rules.
        score: ``mse`` or ``max`` (Borghesi's largest per-feature error).
        gap_weight: Weight of a window's telemetry gap share in its score.
        smooth_windows: Causal moving average of the reconstruction error over
            this many windows (1: none).
        encoder_units: Encoder widths (decoder mirrors them).
        early_stopping_patience: Rounds without validation improvement before stopping.
        baselines: Baselines trained next to the federated model.
        workers: Remote TFF workers (``host:port``); empty for the local runtime.
        data_on_workers: Build client datasets inside the workers from client ids.
        features: Feature set of the dataset: ``all``, ``D1`` or ``D2``
            (:mod:`ftl_tff.data.features`).
        selection: How ``nodes`` were chosen (:meth:`ftl_tff.selection.Selection.to_dict`),
            recorded with the run; empty when the nodes were given.
    """

    paradigm: str = "semi-supervised"
    nodes: list[str] = field(default_factory=list)
    rounds: int = 20
    local_epochs: int = 1
    batch_size: int = 32
    client_optimizer: str = "adam"
    client_learning_rate: float = 1e-3
    server_optimizer: str = "sgd"
    server_learning_rate: float = 1.0
    weighting: str = "examples"
    clients_per_round: int | None = None
    seed: int = 0
    split: str = "blocked"
    train: float = 0.7
    validation: float = 0.1
    block: str = DEFAULT_BLOCK
    impute: str = "median"
    clip: float | bool = 1.0
    threshold: str = DEFAULT_THRESHOLD_RULE
    percentile: float = 99.0
    score: str = "mse"
    gap_weight: float = 1.0
    smooth_windows: int = 4
    encoder_units: list[int] = field(default_factory=lambda: [100, 80, 60, 40, 20])
    early_stopping_patience: int | None = None
    baselines: list[str] = field(default_factory=lambda: ["local", "centralized"])
    workers: list[str] = field(default_factory=list)
    data_on_workers: bool = False
    features: str = "all"
    selection: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ConfigError on inconsistent values."""
        get_paradigm(self.paradigm)
        if self.rounds < 1 or self.local_epochs < 1 or self.batch_size < 1:
            raise ConfigError("rounds, local epochs and batch size must be >= 1")
        unknown = [b for b in self.baselines if b not in METHODS[1:]]
        if unknown:
            raise ConfigError(f"unknown baseline(s) {', '.join(unknown)}: use local, centralized")
        if not 0 < self.percentile < 100:
            raise ConfigError(f"percentile must be in (0, 100), got {self.percentile}")
        if self.threshold == "transferred":
            raise ConfigError("threshold 'transferred' applies to transfer targets (it needs a trained federation)")
        TransferConfig(threshold=self.threshold, gap_weight=self.gap_weight,
                       smooth_windows=self.smooth_windows).validate()

    def split_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`prepare_federated_data` that fix the split."""
        kwargs: dict[str, Any] = {"split": self.split, "train": self.train, "validation": self.validation,
                                  "impute": self.impute, "clip": self.clip,
                                  "semi_supervised": get_paradigm(self.paradigm).normal_only_training}
        if self.split == "blocked":
            kwargs["block"] = self.block
        return kwargs


def _open(dataset: str | Path | ProcessedDataset, features: str = "all") -> ProcessedDataset:
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
        raise ConfigError(f"--nodes must be between 1 and {len(dataset.nodes)} (the dataset's nodes), got {n_nodes}")
    return dataset.nodes[:n_nodes]


def _calibrate(detector, node_data, paradigm, config: TrainConfig) -> dict[str, Any]:
    """Set the node's threshold on its own data (what the paradigm lets it read); return what was done."""
    return calibrate_target(detector, target_view(node_data, paradigm), paradigm, config.percentile,
                            rule=ThresholdRule(config.threshold))


def _evaluate(detector, node_data) -> tuple[dict[str, Any], np.ndarray]:
    scores = detector.score_samples(node_data.x_test, gap=node_data.gap("test"), index=node_data.index_test)
    return detection_metrics(node_data.y_test, scores, detector.predict_scores(scores),
                             index=node_data.index_test), scores


def _detector_params(config: TrainConfig) -> dict[str, Any]:
    return {"encoder_units": tuple(config.encoder_units), "batch_size": config.batch_size,
            "optimizer": config.client_optimizer, "learning_rate": config.client_learning_rate,
            "score": config.score, "percentile": config.percentile, "seed": config.seed,
            "gap_weight": config.gap_weight, "smooth_windows": config.smooth_windows}


def train_run(
    dataset: str | Path | ProcessedDataset,
    out: str | Path,
    config: TrainConfig,
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
    from .detection import AnomalyDetector
    from .federated.runtime import FederatedRuntime
    from .federated.training import train_federated

    config.validate()
    dataset = _open(dataset, config.features)
    paradigm = get_paradigm(config.paradigm)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    fed = prepare_federated_data(dataset, config.nodes, **config.split_kwargs())
    timings["prepare_s"] = time.perf_counter() - started
    echo(f"{len(fed.nodes)} nodes, {fed.n_features} features ({dataset.feature_set}), paradigm {paradigm.name}")

    validation = _validation_sets(fed, paradigm)
    started = time.perf_counter()
    result = train_federated(
        {n: fed.node_data[n].x_train for n in fed.nodes}, validation, rounds=config.rounds,
        local_epochs=config.local_epochs, batch_size=config.batch_size, client_optimizer=config.client_optimizer,
        client_learning_rate=config.client_learning_rate, server_optimizer=config.server_optimizer,
        server_learning_rate=config.server_learning_rate, weighting=config.weighting,
        clients_per_round=config.clients_per_round, seed=config.seed,
        model_kwargs={"encoder_units": tuple(config.encoder_units)},
        early_stopping_patience=config.early_stopping_patience, checkpoint_dir=out / "checkpoints",
        checkpoint_every=max(1, config.rounds // 10), resume=resume, progress=progress,
        runtime=FederatedRuntime(workers=config.workers) if config.workers else None,
        data_on_workers=config.data_on_workers,
    )
    timings["federated_s"] = time.perf_counter() - started
    result.history.to_csv(out / "metrics_per_round.csv", index=False)

    rows = []
    calibration: dict[str, Any] = {}
    params = _detector_params(config)
    global_detector = AnomalyDetector.from_model(result.model, **params)
    for node in fed.nodes:
        node_data = fed.node_data[node]
        done = _calibrate(global_detector, node_data, paradigm, config)
        metrics, _ = _evaluate(global_detector, node_data)
        rows.append({"node": node, "method": "federated", **done, **metrics})
        calibration[node] = {**done, "scaler": node_data.scaler.to_dict(), "imputer": node_data.imputer.to_dict(),
                             "gaps": node_data.gaps.to_dict()}
    # Per-node scalers and thresholds live in calibration.json; the model
    # folder holds what every node shares, and no node's threshold: a fresh,
    # uncalibrated wrapper is saved (calibrating it node by node above left
    # the last node's threshold on it). What it does carry is the federation's
    # threshold on the normalised scale, for targets (threshold="transferred").
    federation_z = float(np.median([calibration[n]["threshold_z"] for n in fed.nodes]))
    AnomalyDetector.from_model(result.model, **params).save(
        out / "model", feature_columns=fed.feature_columns,
        extra={"paradigm": paradigm.name, "nodes": fed.nodes, "features": dataset.feature_set,
               "threshold_rule": config.threshold, "federation_threshold_z": federation_z,
               "thresholds": "per node, in the run's calibration.json"})

    budget = config.rounds * config.local_epochs
    if "local" in config.baselines:
        started = time.perf_counter()
        echo(f"Training {len(fed.nodes)} node-local baselines ({budget} epochs each) ...")
        from .transfer import train_local_model

        for node in fed.nodes:
            node_data = fed.node_data[node]
            local = AnomalyDetector.from_model(
                train_local_model(result.model, node_data.x_train, epochs=budget, learning_rate=config.client_learning_rate,
                                  batch_size=config.batch_size, optimizer=config.client_optimizer, seed=config.seed),
                **{k: v for k, v in params.items() if k != "encoder_units"})
            done = _calibrate(local, node_data, paradigm, config)
            metrics, _ = _evaluate(local, node_data)
            rows.append({"node": node, "method": "local", **done, **metrics})
        timings["local_s"] = time.perf_counter() - started
    if "centralized" in config.baselines:
        started = time.perf_counter()
        echo(f"Training the centralized baseline on pooled windows ({budget} epochs) ...")
        pooled = np.concatenate([fed.node_data[n].x_train for n in fed.nodes])
        central = AnomalyDetector(epochs=budget, **params).fit(pooled)
        for node in fed.nodes:
            node_data = fed.node_data[node]
            done = _calibrate(central, node_data, paradigm, config)
            metrics, _ = _evaluate(central, node_data)
            rows.append({"node": node, "method": "centralized", **done, **metrics})
        timings["centralized_s"] = time.perf_counter() - started

    per_node = pd.DataFrame(rows)
    per_node.to_csv(out / "metrics_per_node.csv", index=False)
    summary = {
        "library_version": __version__,
        "paradigm": paradigm.name,
        "nodes": fed.nodes,
        "features": dataset.feature_set,
        "n_features": fed.n_features,
        "selection": config.selection or None,
        "rounds_run": int(result.rounds_run),
        "best_round": None if result.best_round is None else int(result.best_round),
        "final_train_loss": float(result.history["train_loss"].iloc[-1]),
        "metrics": _aggregate_by_method(per_node),
        "split_report": json.loads(fed.split_report.reset_index().to_json(orient="records")),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    (out / "calibration.json").write_text(json.dumps(calibration, indent=1))
    (out / "config.json").write_text(json.dumps({"dataset": str(dataset.path), **asdict(config)}, indent=2))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    return summary


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


def _load_run(run_dir: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    run_dir = Path(run_dir)
    if (run_dir / "model.json").exists() and not (run_dir / "calibration.json").exists():
        run_dir = run_dir.parent  # RUN/model given
    for name in ("config.json", "calibration.json"):
        if not (run_dir / name).exists():
            raise SourceNotFoundError(f"{run_dir} is not a run folder: no {name} (make one with `ftl-tff train`)")
    config = json.loads((run_dir / "config.json").read_text())
    calibration = json.loads((run_dir / "calibration.json").read_text())
    return run_dir, config, calibration


def _config_from(saved: dict[str, Any]) -> TrainConfig:
    fields = {k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__}
    return TrainConfig(**fields)


def evaluate_run(run_dir: str | Path, dataset: str | Path | ProcessedDataset) -> pd.DataFrame:
    """Test metrics per calibrated node of a run on ``dataset``.

    The split is rebuilt from the run's configuration; each node's test
    windows are scaled and imputed with the statistics stored at training time.
    """
    from .detection import AnomalyDetector

    run_dir, saved, calibration = _load_run(run_dir)
    config = _config_from(saved)
    dataset = _open(dataset, config.features)
    nodes = [n for n in config.nodes if n in dataset.nodes]
    if not nodes:
        raise SelectionError(f"none of the run's nodes ({', '.join(config.nodes[:10])}) is in {dataset.path}")
    detector = AnomalyDetector.load(run_dir / "model")
    _check_features(detector, dataset)
    fed = prepare_federated_data(dataset, nodes, **config.split_kwargs())
    rows = []
    for node in nodes:
        data = fed.node_data[node]
        x_test, gap_test = _transform_with_stored(dataset, node, data.index_test, calibration[node])
        scores = detector.score_samples(x_test, gap=gap_test, index=data.index_test)
        threshold = calibration[node]["threshold"]
        metrics = detection_metrics(data.y_test, scores, (scores >= threshold).astype(np.int8), index=data.index_test)
        rows.append({"node": node, "threshold": threshold, **metrics})
    return pd.DataFrame(rows)


def _check_features(detector, dataset: ProcessedDataset) -> None:
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
    from .detection import AnomalyDetector

    path = Path(model)
    run_dir = _scored_run_folder(path)
    if run_dir is not None:
        run_dir, saved, calibration = _load_run(run_dir)
        dataset = _open(dataset, saved.get("features", "all"))
        detector = AnomalyDetector.load(run_dir / "model")
        _check_features(detector, dataset)
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
        dataset = _open(dataset)
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
        out = pd.DataFrame({"node": node, "window_start": kept, "score": scores, "threshold": threshold,
                            "anomalous": (scores >= threshold).astype(np.int8),
                            "label": frame["label"].to_numpy()[imputed.kept_rows]})
        top = detector.feature_contributions(x, columns, top_k=top_k)
        frames.append(pd.concat([out.reset_index(drop=True), _wide_contributions(top, top_k)], axis=1))
    return pd.concat(frames, ignore_index=True)


_RUN_FILES = ("config.json", "calibration.json")


def _scored_run_folder(path: Path) -> Path | None:
    """The run folder ``path`` stands for (itself, or the run around its ``model/``), or None for a detector.

    Raises SourceNotFoundError when ``path`` is neither a run folder nor a saved model folder.
    """
    from .models.io import METADATA_FILE

    if not path.exists():
        raise SourceNotFoundError(f"model folder {path} does not exist (give a run folder, its model/ folder or a "
                                  "saved detector folder)")
    if not path.is_dir():
        raise SourceNotFoundError(f"{path} is a file: give a run folder, its model/ folder or a saved detector "
                                  "folder")
    if any((path / name).exists() for name in _RUN_FILES):
        return path  # a run folder (_load_run names a missing file)
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
    from .detection import AnomalyDetector

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
        raise SelectionError(f"the saved detector in {path} does not record its node: give the node(s) of "
                             f"{dataset.path} to score (--nodes NODE, or --nodes all)")
    node = str(node)
    if node not in dataset.nodes:
        raise SelectionError(f"the saved detector in {path} belongs to node {node}, which is not in {dataset.path} "
                             "(give other nodes with --nodes to score them with its statistics)")
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


def transfer_run(
    run_dir: str | Path,
    dataset: str | Path | ProcessedDataset,
    out: str | Path,
    config: Any = None,
    *,
    nodes: list[str] | None = None,
    seed: int | None = None,
    efficiency_days: list[float] | tuple[float, ...] = (),
    save_models: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Transfer a run's federated model to other nodes and write a results folder.

    What ``ftl-tff transfer`` does. The paradigm, split, feature set and
    threshold settings are the run's; the target nodes default to the
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
        config: A :class:`~ftl_tff.transfer.TransferConfig` (modes, epochs...);
            its ``percentile``, ``score``, ``gap_weight``, ``smooth_windows`` and ``batch_size`` are
            taken from the run, and its ``threshold`` too when it names none.
        nodes: Target node ids (default: every node not in the run).
        seed: Seed of fine-tuning (default: the run's).
        efficiency_days: Budgets of the data-efficiency study (empty: none).
        save_models: Save every calibrated target detector.
        echo: Progress lines.

    Returns:
        ``{"per_node", "deltas", "tables", "efficiency", "report", "summary_text"}``.
    """
    from .detection import AnomalyDetector
    from .experiments.figures import plot_all
    from .experiments.report import comparison_tables, write_report
    from .transfer import (
        TransferConfig,
        data_efficiency,
        efficiency_summary,
        prepare_targets,
        transfer_deltas,
        transfer_to_nodes,
    )

    run_dir, saved, _calibration = _load_run(run_dir)
    train_config = _config_from(saved)
    dataset = _open(dataset, train_config.features)
    paradigm = get_paradigm(train_config.paradigm)
    participants = set(train_config.nodes)
    if nodes:
        unknown = [n for n in nodes if n not in dataset.nodes]
        if unknown:
            raise SelectionError(f"target node(s) {', '.join(unknown)} not in the dataset {dataset.path}")
        targets = list(nodes)
    else:
        targets = [n for n in dataset.nodes if n not in participants]
    if not targets:
        raise SelectionError(f"every node of {dataset.path} trained the model in {run_dir}: there is no "
                             "non-participating node to transfer to (give --nodes, or a dataset with other nodes)")
    config = config or TransferConfig()
    config = replace(config, seed=train_config.seed if seed is None else seed,
                     percentile=train_config.percentile, score=train_config.score,
                     batch_size=train_config.batch_size, gap_weight=train_config.gap_weight,
                     smooth_windows=train_config.smooth_windows,
                     threshold=config.threshold or train_config.threshold)
    config.validate()
    detector = AnomalyDetector.load(run_dir / "model")
    federation_z = ((detector.metadata_ or {}).get("extra") or {}).get("federation_threshold_z")
    _check_features(detector, dataset)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    split = train_config.split_kwargs()
    echo(f"Transferring {run_dir / 'model'} ({paradigm.name}) to {len(targets)} node(s): "
         f"{', '.join(config.modes)}{' + local baseline' if config.local_baseline else ''}")
    target_data = prepare_targets(dataset, targets, paradigm, **split)
    result = transfer_to_nodes(detector.model_, target_data, paradigm, config, keep_detectors=save_models,
                               echo=echo, federation_z=federation_z)
    per_node = result.per_node.copy()
    per_node.insert(0, "role", ["participating" if n in participants else "non-participating"
                                for n in per_node["node"]])
    per_node.insert(0, "paradigm", paradigm.name)
    per_node.to_csv(out / "per_node.csv", index=False)
    result.scores.to_parquet(out / "scores.parquet", index=False)
    tables: dict[str, Any] = {"per_node": per_node, "scores": result.scores}
    deltas = None
    if config.local_baseline and config.modes:
        deltas = transfer_deltas(per_node, baseline="local", by=["paradigm"])
        deltas.to_csv(out / "deltas.csv", index=False)
        tables["deltas"] = deltas
    if save_models:
        for (node, method), node_detector in result.detectors.items():
            data = target_data.node_data[node]
            node_detector.save(out / "models" / node / method, feature_columns=target_data.feature_columns,
                               scaler=data.scaler, imputer=data.imputer, gaps=data.gaps,
                               extra={"paradigm": paradigm.name, "node": node, "method": method,
                                      "source_run": str(run_dir)})
    efficiency = None
    if efficiency_days:
        echo(f"Data-efficiency study: budgets {list(efficiency_days)} days ...")
        table = data_efficiency(detector.model_, dataset, targets, paradigm, config, days=efficiency_days,
                                echo=echo, federation_z=federation_z, **split)
        table.to_csv(out / "efficiency.csv", index=False)
        tables["efficiency"] = table
        efficiency = efficiency_summary(table)
    stats_tables = comparison_tables(per_node)
    auc_tables = comparison_tables(per_node, metric="roc_auc")
    event_tables = comparison_tables(per_node, metric="event_f1")
    figures = plot_all(tables, out / "figures")
    record = {"source_run": str(run_dir), "dataset": str(dataset.path), "features": dataset.feature_set,
              "paradigm": paradigm.name, "targets": targets, "transfer": config.to_dict(),
              "split": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                        for k, v in split.items() if k != "semi_supervised"}, "library_version": __version__}
    (out / "transfer.json").write_text(json.dumps(record, indent=2))
    report = write_report(out, title=f"Transfer of {run_dir.name} to {len(targets)} node(s)", per_node=per_node,
                          tables=[stats_tables, event_tables, auc_tables], figures=figures, efficiency=efficiency,
                          files=["`per_node.csv`: every target node and method",
                                 "`scores.parquet`: test-window scores of every method",
                                 "`deltas.csv`: per-node gain of each transfer mode over local (with the local baseline)",
                                 "`efficiency.csv`: the data-efficiency study (with --efficiency-days)",
                                 "`stats/`: comparison tables (Markdown, LaTeX, CSV)", "`figures/`: the figures above",
                                 "`models/`: calibrated detectors per node and method (with --save-models)",
                                 "`transfer.json`: the source run, targets and settings"])
    lines = [f"{len(targets)} target node(s); median F1 / event F1 / ROC-AUC / VUS-PR on their test windows:"]
    for method, rows in per_node.groupby("method", sort=False):
        lines.append(f"  {method:15s} F1 {rows['f1'].median():.3f}  event F1 {rows['event_f1'].median():.3f}  "
                     f"ROC-AUC {rows['roc_auc'].median():.3f}  VUS-PR {rows['vus_pr'].median():.3f}  "
                     f"({int(rows['f1'].notna().sum())} nodes with F1 defined)")
    table = stats_tables.get("transfer_vs_local")
    if table is not None and not table.empty:
        lines.extend(f"  {row['summary']}" for _, row in table.iterrows())
    if efficiency:
        lines.append(f"  {efficiency['sentence']}")
    return {"per_node": per_node, "deltas": deltas, "tables": stats_tables, "efficiency": efficiency,
            "report": report, "summary_text": "\n".join(lines)}
