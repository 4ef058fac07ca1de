"""Carry the federated model to the nodes that did not train it.

For every non-participating (*target*) node:

* **zero-shot**: the global model as it is; only the threshold is set, on the
  node's own training windows;
* **fine-tune**: the encoder is frozen and the decoder trained on the node's
  training windows (``epochs``, ``learning_rate``; ``reinit_decoder`` starts
  the decoder from fresh weights), threshold recalibrated;
* **full-fine-tune**: every layer trained from the global weights;
* **local** (baseline): a model trained from scratch on the same windows
  with the same epoch budget (``local_epochs``, by default ``epochs``).

All methods of a node see the same windows and are evaluated on the same
test windows. Per-node differences (:func:`transfer_deltas`) are the gain of
transfer over the local model.

What a target node's labels are used for depends on the paradigm
(:mod:`ftl_tff.paradigms`): in the **unsupervised** and **semi-supervised**
paradigms a target node is unlabelled, so transfer reads *no* label of it:
its threshold comes from a label-free rule on its training scores
(:data:`~ftl_tff.paradigms.DEFAULT_THRESHOLD_RULE`, or the federation's
threshold carried over on a normalised scale with ``threshold="transferred"``),
and, since its training windows hold faults nobody has labelled, fine-tuning
and the local baseline are *trimmed*: they do not train on the windows that
are already flagged (by the global model for fine-tuning, by a first local
pass for the local baseline), so they do not learn to reconstruct the faults
(``trim``). The semi-supervised paradigm differs from the unsupervised one
in how the global model was trained, on the participants' normal windows. In the
**supervised** paradigm the target's normal training windows are used and
the threshold is the F1-best one on its labelled validation windows. In every
paradigm the test labels only score the result.
:class:`~ftl_tff.calibration.TargetView` is the one place that decides what
transfer may read; :func:`transfer_to_nodes` reads nothing else.

Example:
    >>> from ftl_tff.config import RunConfig, TransferConfig  # doctest: +SKIP
    >>> run = RunConfig(paradigm="semi-supervised")  # doctest: +SKIP
    >>> targets = prepare_targets(dataset, ["38", "104"], run)  # doctest: +SKIP
    >>> result = transfer_to_nodes(global_model, targets, run, TransferConfig())  # doctest: +SKIP
    >>> transfer_deltas(result.per_node)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import vocabulary
from .calibration import ThresholdRule, calibrate_and_evaluate, target_view, unflagged_windows
from .config import RunConfig, TransferConfig
from .data.clients.client_data import FederatedData, prepare_federated_data
from .detection import AnomalyDetector
from .errors import ConfigError, DataError
from .models.autoencoder import build_autoencoder, build_keras_optimizer
from .models.io import autoencoder_architecture
from .paradigms import get_paradigm

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "TRANSFER_MODES",
    "TransferConfig",
    "TransferResult",
    "data_efficiency",
    "efficiency_summary",
    "fine_tune",
    "prepare_targets",
    "train_local_model",
    "transfer_deltas",
    "transfer_to_nodes",
]

#: Transfer modes understood by :func:`fine_tune` and :class:`TransferConfig`.
TRANSFER_MODES = vocabulary.TRANSFER_MODES
#: The node-local baseline's method name.
LOCAL = vocabulary.LOCAL


def prepare_targets(dataset: Any, nodes: Sequence[str], run: RunConfig, train_days: float | None = None) -> FederatedData:
    """Split, scale and impute the target nodes as ``run`` splits its participants.

    Target nodes are prepared like participants except that, outside the
    supervised paradigm, their training part keeps every window: selecting
    the normal windows would read labels that an unlabelled node does not
    have.

    Args:
        dataset: A processed dataset (or feature-set view of one).
        nodes: The target node ids.
        run: The source run's configuration (its paradigm and split).
        train_days: Keep only the most recent days of each training part
            (the data-efficiency study).

    Returns:
        The targets' :class:`~ftl_tff.data.clients.client_data.FederatedData`.
    """
    kwargs = {**run.split_kwargs(), "semi_supervised": get_paradigm(run.paradigm).name == "supervised"}
    if train_days is not None:
        kwargs["train_days"] = train_days
    return prepare_federated_data(dataset, list(nodes), **kwargs)


def fine_tune(
    model: tf.keras.Model,
    x: np.ndarray,
    *,
    mode: str = "fine-tune",
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    reinit_decoder: bool = False,
    seed: int | None = 0,
    x_validation: np.ndarray | None = None,
) -> tf.keras.Model:
    """Fine-tune a copy of an autoencoder on one node's windows.

    The given model is never modified: its weights are copied into a new
    model of the same architecture first.

    Args:
        model: A trained autoencoder of
            :func:`~ftl_tff.models.autoencoder.build_autoencoder` (e.g. the
            federated global model).
        x: The node's training windows (scaled, imputed).
        mode: ``"fine-tune"`` (encoder frozen, decoder trained),
            ``"full-fine-tune"`` (every layer trained) or ``"zero-shot"``
            (the copy is returned untrained).
        epochs: Training epochs.
        learning_rate: Learning rate.
        batch_size: Batch size.
        optimizer: ``adam``, ``rmsprop`` or ``sgd``.
        reinit_decoder: Re-initialise the decoder (seeded) before training;
            ``fine-tune`` only.
        seed: Seed of shuffling and of a re-initialised decoder.
        x_validation: Windows for Keras' validation loss (optional).

    Returns:
        The fine-tuned copy; its ``history_`` attribute holds the Keras
        history (empty for zero-shot).

    Raises:
        ConfigError: For an unknown mode or optimizer, or ``reinit_decoder``
            with a mode that keeps the decoder untrained.
        DataError: If ``x`` is empty or does not match the model's input.
    """
    trained, history = _TRAINERS.fine_tune(model, x, mode=mode, epochs=epochs, learning_rate=learning_rate,
                                           batch_size=batch_size, optimizer=optimizer,
                                           reinit_decoder=reinit_decoder, seed=seed, x_validation=x_validation)
    copy = _TRAINERS.copy(trained)
    copy.history_ = history
    return copy


def train_local_model(
    like: tf.keras.Model,
    x: np.ndarray,
    *,
    epochs: int,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    seed: int | None = 0,
) -> tf.keras.Model:
    """Train a node-local autoencoder from scratch, with the architecture of ``like``.

    The model starts from the weights :func:`~ftl_tff.models.autoencoder.build_autoencoder`
    gives for ``seed`` (as :class:`~ftl_tff.detection.AnomalyDetector` would),
    and is trained on a compiled model kept across calls, which saves the
    seconds of building and tracing a new Keras model per node.

    Returns:
        A new, independent trained model.
    """
    architecture = autoencoder_architecture(like)
    weights = _TRAINERS.initial_weights(architecture, seed)
    model, _ = _TRAINERS.train(architecture, weights, np.asarray(x, np.float32), frozen_encoder=False,
                               epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                               optimizer=optimizer, seed=seed)
    return _TRAINERS.copy(model)


class _Trainers:
    """Compiled Keras models reused across nodes, one per (architecture, frozen encoder, optimizer).

    Building and compiling a Keras model and tracing its training and
    prediction functions costs seconds, more than fine-tuning a small
    autoencoder on one node's windows. The trainers are built once; each use
    loads the starting weights, zeroes the optimizer's state (moments and
    step counter), sets the learning rate and reseeds, so a node's result
    does not depend on which nodes were trained before it.
    """

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}
        self._initial: dict[tuple, list[np.ndarray]] = {}

    def _trainer(self, architecture: dict[str, Any], frozen_encoder: bool, optimizer: str) -> tf.keras.Model:
        key = (_architecture_key(architecture), frozen_encoder, optimizer)
        if key not in self._models:
            optimizer_object = build_keras_optimizer(optimizer, 1e-3)  # the rate is set at each use
            model = build_autoencoder(architecture["input_dim"], **_build_kwargs(architecture), name="trainer")
            if frozen_encoder:
                model.get_layer("encoder").trainable = False
            # 32 batches per call of the compiled step: the same updates, less Python overhead per step.
            model.compile(optimizer=optimizer_object, loss="mse", steps_per_execution=32)
            self._models[key] = model
        return self._models[key]

    def initial_weights(self, architecture: dict[str, Any], seed: int | None) -> list[np.ndarray]:
        """The weights :func:`build_autoencoder` starts from for ``seed`` (cached)."""
        key = (_architecture_key(architecture), seed)
        if seed is None or key not in self._initial:
            built = build_autoencoder(architecture["input_dim"], seed=seed, **_build_kwargs(architecture))
            if seed is None:
                return built.get_weights()
            self._initial[key] = built.get_weights()
        return self._initial[key]

    def train(self, architecture: dict[str, Any], weights: list[np.ndarray], x: np.ndarray, *,
              frozen_encoder: bool, epochs: int, learning_rate: float, batch_size: int, optimizer: str,
              seed: int | None, x_validation: np.ndarray | None = None) -> tuple[tf.keras.Model, dict]:
        """Train from ``weights``; returns the (shared) trainer model and the history."""
        import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training needs it

        model = self._trainer(architecture, frozen_encoder, optimizer)
        model.set_weights(weights)
        for variable in model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        model.optimizer.learning_rate.assign(learning_rate)
        if seed is not None:
            tf.keras.utils.set_random_seed(seed)
        validation = None
        if x_validation is not None and len(x_validation):
            validation = (np.asarray(x_validation, np.float32), np.asarray(x_validation, np.float32))
        history = model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                            validation_data=validation)
        return model, {k: [float(v) for v in values] for k, values in history.history.items()}

    def fine_tune(self, model: tf.keras.Model, x: np.ndarray, *, mode: str, epochs: int, learning_rate: float,
                  batch_size: int, optimizer: str, reinit_decoder: bool, seed: int | None,
                  x_validation: np.ndarray | None = None) -> tuple[tf.keras.Model, dict]:
        """Fine-tune from ``model``'s weights (``model`` itself is not touched)."""
        if mode not in TRANSFER_MODES:
            raise ConfigError(f"unknown transfer mode {mode!r}: use {', '.join(TRANSFER_MODES)}")
        if reinit_decoder and mode != "fine-tune":
            raise ConfigError("reinit_decoder applies to mode='fine-tune' only")
        architecture = autoencoder_architecture(model)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0 or x.shape[1] != architecture["input_dim"]:
            raise DataError(f"fine-tuning needs windows of shape (n>0, {architecture['input_dim']}), got {x.shape}")
        if mode == "zero-shot":
            return model, {}
        weights = model.get_weights()
        if reinit_decoder:
            n_encoder = len(model.get_layer("encoder").get_weights())
            fresh = self.initial_weights(architecture, None if seed is None else seed + 7919)
            weights = weights[:n_encoder] + fresh[n_encoder:]
        return self.train(architecture, weights, x, frozen_encoder=mode == "fine-tune", epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, optimizer=optimizer, seed=seed,
                          x_validation=x_validation)

    @staticmethod
    def copy(model: tf.keras.Model) -> tf.keras.Model:
        """A new, independent model with ``model``'s architecture and weights."""
        architecture = autoencoder_architecture(model)
        copy = build_autoencoder(architecture["input_dim"], **_build_kwargs(architecture), name="autoencoder")
        copy.set_weights(model.get_weights())
        return copy


_TRAINERS = _Trainers()


def _build_kwargs(architecture: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in architecture.items() if k != "input_dim"}


def _architecture_key(architecture: dict[str, Any]) -> tuple:
    return (architecture["input_dim"], tuple(architecture["encoder_units"]), tuple(architecture["decoder_units"]),
            architecture["activation"], architecture["output_activation"])


@dataclass
class TransferResult:
    """What :func:`transfer_to_nodes` returns.

    Attributes:
        per_node: One row per (node, method): ``node``, ``method``,
            ``threshold``, ``rule``, ``note``, ``labels_used``,
            ``train_windows``, ``test_windows``, ``seconds`` and the
            :func:`~ftl_tff.metrics.detection_metrics` columns.
        scores: One row per test window and method: ``node``, ``method``,
            ``window_start``, ``score``, ``threshold``, ``label``.
        detectors: ``(node, method) -> AnomalyDetector`` (calibrated), when
            ``keep_detectors`` was set.
        config: The transfer configuration.
    """

    per_node: pd.DataFrame
    scores: pd.DataFrame
    detectors: dict[tuple[str, str], AnomalyDetector]
    config: dict[str, Any]


def transfer_to_nodes(
    global_model: tf.keras.Model,
    targets: FederatedData,
    run: RunConfig,
    config: TransferConfig | None = None,
    *,
    keep_detectors: bool = False,
    echo: Callable[[str], None] | None = None,
    federation_z: float | None = None,
) -> TransferResult:
    """Transfer the global model to every target node and score each method.

    Unlabelled targets (unsupervised and semi-supervised paradigms) with
    ``config.trim``: the zero-shot detector is calibrated on the node's
    training windows first, and fine-tuning trains only on the windows it
    does not flag; the local baseline is trained on every training window,
    calibrated, and trained again from the same initial weights on the
    windows its first pass did not flag. ``trained_windows`` and
    ``trimmed_windows`` in the result count what each method trained on.

    Args:
        global_model: The federated global autoencoder (left unchanged).
        targets: The target nodes, prepared with :func:`prepare_targets`.
        run: The source run's configuration: its paradigm (which labels may
            be read), score, threshold rule, batch size and seed.
        config: Modes, epochs, trimming and the targets' threshold rule
            (default :class:`~ftl_tff.config.TransferConfig`).
        keep_detectors: Return the calibrated detectors (to save them).
        echo: Called with one progress line per node.
        federation_z: The federation's threshold on the normalised scale,
            needed by the ``transferred`` rule.

    Returns:
        A :class:`TransferResult`.

    Raises:
        ConfigError: If the ``transferred`` rule has no ``federation_z``.
    """
    config = (config or TransferConfig()).validate()
    run = run.validate()
    rule = ThresholdRule.of(config.threshold or run.scoring.threshold, federation_z)
    trainer = _NodeTrainer(global_model, run, config, rule)
    rows: list[dict[str, Any]] = []
    score_frames: list[pd.DataFrame] = []
    detectors: dict[tuple[str, str], AnomalyDetector] = {}
    for position, node in enumerate(targets.nodes, start=1):
        node_data = targets.node_data[node]
        view = target_view(node_data, run.paradigm)
        trim = config.trim and not view.labels_used  # labelled targets train on normal windows already
        zero_shot_keep = None
        for method in [*config.modes, *([LOCAL] if config.local_baseline else [])]:
            started = time.perf_counter()
            if method == LOCAL:
                model, train_rows = trainer.local(view, trim)
            else:
                if trim and method != vocabulary.ZERO_SHOT and zero_shot_keep is None:
                    zero_shot_keep = unflagged_windows(trainer.detector(global_model), view, run.paradigm, rule)
                model, train_rows = trainer.transfer(view, method, zero_shot_keep if trim else None)
            detector = trainer.detector(model)
            done, metrics, scores = calibrate_and_evaluate(detector, node_data, run.paradigm, rule,
                                                           run.scoring.percentile)
            trained = 0 if method == vocabulary.ZERO_SHOT else int(train_rows.sum())
            rows.append({"node": node, "method": method, **done, "labels_used": view.labels_used,
                         "train_windows": int(len(view.x_train)), "trained_windows": trained,
                         "trimmed_windows": 0 if method == vocabulary.ZERO_SHOT else int((~train_rows).sum()),
                         "test_windows": int(len(scores)), "seconds": round(time.perf_counter() - started, 3),
                         **metrics})
            score_frames.append(pd.DataFrame({"node": node, "method": method,
                                              "window_start": node_data.index_test, "score": scores,
                                              "threshold": detector.threshold_, "label": node_data.y_test,
                                              "gap": node_data.gap("test")}))
            if keep_detectors:
                if detector.model_ is not global_model:  # the trainer is reused by the next node
                    detector.model_ = _TRAINERS.copy(detector.model_)
                detectors[(node, method)] = detector
        if echo is not None:
            echo(f"  transfer {position}/{len(targets.nodes)}: node {node} done")
    per_node = pd.DataFrame(rows)
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame()
    return TransferResult(per_node=per_node, scores=scores, detectors=detectors, config=config.to_dict())


class _NodeTrainer:
    """Trains one target node's models for :func:`transfer_to_nodes` (shared compiled trainers)."""

    def __init__(self, global_model: tf.keras.Model, run: RunConfig, config: TransferConfig,
                 rule: ThresholdRule) -> None:
        self.global_model = global_model
        self.run = run
        self.config = config
        self.rule = rule
        self.architecture = autoencoder_architecture(global_model)
        params = run.detector_params(architecture=False)
        self.params = {k: v for k, v in params.items() if k not in ("optimizer", "learning_rate")}
        self.params.update(optimizer=config.optimizer, learning_rate=config.learning_rate)

    def detector(self, model: tf.keras.Model) -> AnomalyDetector:
        """An uncalibrated detector around ``model`` with the run's score settings."""
        return AnomalyDetector.from_model(model, **self.params)

    def local(self, view: Any, trim: bool) -> tuple[tf.keras.Model, np.ndarray]:
        """The node-local baseline, trained twice when trimming (the second time on what the first did not flag)."""
        train_rows = np.ones(len(view.x_train), dtype=bool)
        weights = _TRAINERS.initial_weights(self.architecture, self.run.seed)
        model = self._train(weights, view.x_train, frozen=False, epochs=self.config.local_epochs)
        if trim:
            train_rows = unflagged_windows(self.detector(model), view, self.run.paradigm, self.rule)
            model = self._train(weights, view.x_train[train_rows], frozen=False, epochs=self.config.local_epochs)
        return model, train_rows

    def transfer(self, view: Any, mode: str, keep: np.ndarray | None) -> tuple[tf.keras.Model, np.ndarray]:
        """The global model carried over by ``mode``, trained on the ``keep`` rows (None: all)."""
        train_rows = np.ones(len(view.x_train), dtype=bool) if keep is None else keep
        model, _ = _TRAINERS.fine_tune(self.global_model, view.x_train[train_rows], mode=mode,
                                       epochs=self.config.epochs, learning_rate=self.config.learning_rate,
                                       batch_size=self.run.fedavg.batch_size, optimizer=self.config.optimizer,
                                       seed=self.run.seed,
                                       reinit_decoder=self.config.reinit_decoder and mode == vocabulary.FINE_TUNE)
        return model, train_rows

    def _train(self, weights: list[np.ndarray], x: np.ndarray, *, frozen: bool, epochs: int) -> tf.keras.Model:
        model, _ = _TRAINERS.train(self.architecture, weights, x, frozen_encoder=frozen, epochs=epochs,
                                   learning_rate=self.config.learning_rate, batch_size=self.run.fedavg.batch_size,
                                   optimizer=self.config.optimizer, seed=self.run.seed)
        return model


def transfer_deltas(
    per_node: pd.DataFrame,
    baseline: str = LOCAL,
    metrics: Sequence[str] = ("f1", "roc_auc"),
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Per-node gain of each method over ``baseline``.

    Rows repeated for a node (several seeds) are averaged first, so each node
    counts once.

    Args:
        per_node: Long table with ``node``, ``method`` and the metric columns.
        baseline: The method subtracted (default ``local``).
        metrics: Metric columns to difference.
        by: Extra grouping columns kept apart (e.g. ``paradigm``,
            ``strategy``, ``n_nodes``).

    Returns:
        One row per (``by``..., node, method != baseline): ``node``,
        ``method``, ``baseline``, the method's and the baseline's metric
        (``f1``, ``f1_baseline``, ...) and ``delta_<metric>``.

    Raises:
        DataError: If a column is missing or the baseline is absent.
    """
    needed = ["node", "method", *by, *metrics]
    missing = [c for c in needed if c not in per_node.columns]
    if missing:
        raise DataError(f"per-node table lacks column(s) {', '.join(missing)}")
    if baseline not in set(per_node["method"]):
        raise DataError(f"baseline method {baseline!r} is not in the table (methods: "
                        f"{', '.join(sorted(per_node['method'].unique()))})")
    keys = [*by, "node", "method"]
    means = per_node.groupby(keys, sort=False, dropna=False)[list(metrics)].mean().reset_index()
    base = means[means["method"] == baseline].drop(columns="method")
    base = base.rename(columns={m: f"{m}_baseline" for m in metrics})
    others = means[means["method"] != baseline]
    out = others.merge(base, on=[*by, "node"], how="inner")
    out.insert(out.columns.get_loc("method") + 1, "baseline", baseline)
    for metric in metrics:
        out[f"delta_{metric}"] = out[metric] - out[f"{metric}_baseline"]
    return out.reset_index(drop=True)


def data_efficiency(
    global_model: tf.keras.Model,
    dataset: Any,
    nodes: Sequence[str],
    run: RunConfig,
    config: TransferConfig | None = None,
    *,
    days: Sequence[float] = (1, 3, 7, 14),
    include_full: bool = True,
    echo: Callable[[str], None] | None = None,
    federation_z: float | None = None,
) -> pd.DataFrame:
    """F1 of local and transferred models as a node's own training data shrinks.

    For every budget ``d`` in ``days`` each target node keeps only the most
    recent ``d`` days of its training part (scaler and imputer refitted on
    them); the validation and test parts stay the same, so every point of
    the curve is scored on the same windows. ``include_full`` adds the whole
    training part. Budgets longer than a node's training part are skipped
    for that node.

    Args:
        global_model: The federated global autoencoder.
        dataset: The processed dataset (or feature-set view).
        nodes: Target node ids.
        run: The source run's configuration (paradigm, split, score).
        config: Transfer configuration (modes and the local baseline).
        days: Training budgets in days.
        include_full: Add the full training part as one more budget.
        echo: Progress lines.
        federation_z: The federation's normalised threshold (``transferred`` rule).

    Returns:
        One row per (node, budget, method): ``node``, ``budget`` (``"1d"``...
        or ``"full"``), ``days`` (the training data used, as windows x window
        length in days: at most the budget, less when windows are missing or,
        in the supervised paradigm, anomalous windows are left out),
        ``n_windows`` (training windows used), ``method`` and the detection
        metrics.
    """
    budgets: list[float | None] = [float(d) for d in sorted(set(days))]
    if any(d <= 0 for d in budgets):
        raise ConfigError(f"data-efficiency budgets must be > 0 days, got {list(days)}")
    if include_full:
        budgets.append(None)
    frames = []
    full = prepare_targets(dataset, nodes, run)
    spans = {n: _train_span_days(full.node_data[n].index_train) for n in full.nodes}
    steps = {n: _window_days(full.node_data[n].index_train) for n in full.nodes}
    for budget in budgets:
        label = "full" if budget is None else f"{budget:g}d"
        keep = [n for n in full.nodes if budget is None or budget <= spans[n] + 1e-9]
        if not keep:
            continue
        targets = full if budget is None else prepare_targets(dataset, keep, run, train_days=budget)
        result = transfer_to_nodes(global_model, targets, run, config, federation_z=federation_z)
        table = result.per_node
        table.insert(1, "budget", label)
        # The amount of data used, in days of windows (a blocked split's training part spans more calendar days).
        table.insert(2, "days", [windows * steps[n] for n, windows in zip(table["node"], table["train_windows"])])
        table.insert(3, "n_windows", table["train_windows"])
        frames.append(table)
        if echo is not None:
            echo(f"  data efficiency: {label} done ({len(keep)} nodes)")
    if not frames:
        raise DataError("no node has enough training data for any data-efficiency budget")
    return pd.concat(frames, ignore_index=True)


def efficiency_summary(table: pd.DataFrame, metric: str = "f1", reference: str = LOCAL,
                       method: str = "fine-tune") -> dict[str, Any]:
    """Test the claim "the same F1 with k times less local data".

    Compares the median ``metric`` over nodes of ``method`` at each budget
    with the median of ``reference`` trained on the full training part.

    Returns:
        ``{"reference_median", "reference_days", "curve"`` (budget -> median
        per method), ``"smallest_matching_days"`` (the smallest budget at
        which ``method`` reaches the reference, or None), ``"data_ratio"``
        (reference days / that budget, or None) and ``"sentence"``}.
    """
    needed = ["budget", "days", "method", metric]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(f"data-efficiency table lacks column(s) {', '.join(missing)}")
    curve = table.groupby(["budget", "method"])[metric].median().unstack("method")
    order = table.groupby("budget")["days"].median().sort_values()
    curve = curve.reindex(order.index)
    full = table[(table["budget"] == "full") & (table["method"] == reference)]
    untested = {"reference_median": None, "reference_days": None, "curve": _curve_dict(curve, order),
                "smallest_matching_days": None, "data_ratio": None}
    if full.empty or method not in curve.columns:
        return {**untested, "sentence": f"no full-data {reference} model or no {method} rows: the claim cannot be "
                                        "tested"}
    reference_median = float(full[metric].median())
    reference_days = float(full["days"].median())
    if not reference_median > 0:
        return {**untested, "reference_median": _float(reference_median), "reference_days": reference_days,
                "sentence": f"{reference} on the full training data has a median {metric} of "
                            f"{_float(reference_median) or 0:.3f}: there is no level to match, the claim is not "
                            "tested"}
    matching = [b for b in order.index if b != "full" and curve.loc[b, method] >= reference_median]
    smallest = float(order[matching[0]]) if matching else None
    same_budget = ""
    if matching and reference in curve.columns and pd.notna(curve.loc[matching[0], reference]):
        same_budget = f"; {reference} with the same data: {curve.loc[matching[0], reference]:.3f}"
    ratio = reference_days / smallest if smallest else None
    if smallest is None:
        sentence = (f"{method} does not reach the median {metric} of {reference} on the full training data "
                    f"({reference_median:.3f}, {reference_days:.1f} days) at any smaller budget")
    else:
        sentence = (f"{method} with {smallest:.1f} day(s) of the node's data reaches the median {metric} of "
                    f"{reference} trained on {reference_days:.1f} days ({curve.loc[matching[0], method]:.3f} "
                    f">= {reference_median:.3f}{same_budget}): {ratio:.1f}x less local data")
    return {"reference_median": reference_median, "reference_days": reference_days,
            "curve": _curve_dict(curve, order), "smallest_matching_days": smallest, "data_ratio": ratio,
            "sentence": sentence}


def _curve_dict(curve: pd.DataFrame, order: pd.Series) -> dict[str, Any]:
    return {str(b): {"days": float(order[b]), **{m: _float(curve.loc[b, m]) for m in curve.columns}}
            for b in curve.index}


def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _window_days(index: pd.Index) -> float:
    if len(index) < 2:
        return 0.0
    return float(pd.Series(index).diff().median() / pd.Timedelta(days=1))


def _train_span_days(index: pd.Index) -> float:
    if len(index) < 2:
        return 0.0
    step = pd.Series(index).diff().median()
    return float((index.max() - index.min() + step) / pd.Timedelta(days=1))
