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
paradigm the test labels only score the result. :class:`TargetView` is the
one place that decides what transfer may read; :func:`transfer_to_nodes`
reads nothing else.

Example:
    >>> from ftl_tff.transfer import TransferConfig, prepare_targets, transfer_to_nodes  # doctest: +SKIP
    >>> targets = prepare_targets(dataset, ["38", "104"], "semi-supervised")  # doctest: +SKIP
    >>> result = transfer_to_nodes(global_model, targets, "semi-supervised", TransferConfig())  # doctest: +SKIP
    >>> transfer_deltas(result.per_node)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .metrics import detection_metrics
from .paradigms import DEFAULT_THRESHOLD_RULE, LABEL_FREE_RULES, Paradigm, get_paradigm

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

    from .data.client_data import FederatedData, NodeData
    from .detection import AnomalyDetector

__all__ = [
    "TRANSFER_MODES",
    "ThresholdRule",
    "TargetView",
    "TransferConfig",
    "TransferResult",
    "data_efficiency",
    "efficiency_summary",
    "fine_tune",
    "prepare_targets",
    "target_view",
    "train_local_model",
    "transfer_deltas",
    "transfer_to_nodes",
]

#: Transfer modes understood by :func:`fine_tune` and :class:`TransferConfig`.
TRANSFER_MODES: tuple[str, ...] = ("zero-shot", "fine-tune", "full-fine-tune")
#: The node-local baseline's method name.
LOCAL = "local"


@dataclass
class TransferConfig:
    """How to transfer the global model to the target nodes.

    Attributes:
        modes: Transfer modes to run, from :data:`TRANSFER_MODES`.
        epochs: Fine-tuning epochs (the decoder's, or every layer's).
        learning_rate: Fine-tuning learning rate.
        batch_size: Fine-tuning (and local baseline) batch size.
        optimizer: ``adam``, ``rmsprop`` or ``sgd``.
        reinit_decoder: Start fine-tuning from freshly initialised decoder
            weights instead of the global decoder (``fine-tune`` only).
        local_baseline: Also train the node-local baseline.
        local_epochs: Epochs of the local baseline; None: ``epochs`` (the same
            budget as fine-tuning).
        threshold: Label-free threshold rule of unlabelled targets (and the
            supervised fallback when the validation part holds one class):
            a rule of :data:`~ftl_tff.detection.LABEL_FREE_RULES`.
            ``"transferred"`` uses the federation's threshold on the
            normalised scale (stored with the federated model). None: the
            source run's rule in :func:`~ftl_tff.runs.transfer_run`, else
            :data:`~ftl_tff.paradigms.DEFAULT_THRESHOLD_RULE`.
        percentile: Percentile of the ``percentile`` and ``trimmed`` rules.
        trim: Unlabelled targets only: fine-tune on the windows the global
            model does not flag, and train the local baseline twice, the
            second time without the windows its first pass flagged.
        gap_weight: Weight of telemetry gaps in the window score
            (:class:`~ftl_tff.detection.AnomalyDetector`).
        smooth_windows: Causal moving average of the reconstruction error
            over this many windows (1: none).
        score: Window score, ``mse`` or ``max``.
        seed: Seed of fine-tuning and of the local baseline.
    """

    modes: list[str] = field(default_factory=lambda: ["zero-shot", "fine-tune"])
    epochs: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 32
    optimizer: str = "adam"
    reinit_decoder: bool = False
    local_baseline: bool = True
    local_epochs: int | None = None
    threshold: str | None = None
    percentile: float = 99.0
    trim: bool = True
    gap_weight: float = 1.0
    smooth_windows: int = 4
    score: str = "mse"
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError on inconsistent values."""
        unknown = [m for m in self.modes if m not in TRANSFER_MODES]
        if unknown:
            raise ConfigError(f"unknown transfer mode(s) {', '.join(unknown)}: use {', '.join(TRANSFER_MODES)}")
        if not self.modes and not self.local_baseline:
            raise ConfigError("nothing to do: no transfer mode and no local baseline")
        if self.epochs < 1 or self.batch_size < 1 or (self.local_epochs is not None and self.local_epochs < 1):
            raise ConfigError("epochs, local_epochs and batch_size must be >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 < self.percentile < 100:
            raise ConfigError(f"percentile must be in (0, 100), got {self.percentile}")
        if self.threshold is not None and (self.threshold not in LABEL_FREE_RULES
                                           or self.threshold == "contamination"):
            rules = [r for r in LABEL_FREE_RULES if r != "contamination"]
            raise ConfigError(f"unknown threshold rule {self.threshold!r}: use one of {', '.join(rules)}")
        if not self.gap_weight >= 0:
            raise ConfigError(f"gap_weight must be >= 0, got {self.gap_weight}")
        if not isinstance(self.smooth_windows, int) or self.smooth_windows < 1:
            raise ConfigError(f"smooth_windows must be a positive integer, got {self.smooth_windows!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return asdict(self)


@dataclass(frozen=True)
class TargetView:
    """What transfer may read of one target node.

    Attributes:
        node: Node id.
        x_train: Windows to fine-tune on and to calibrate a label-free
            threshold on.
        x_validation: Validation windows (Keras validation loss).
        y_validation: Validation labels, only when the paradigm may use them
            (supervised); None otherwise.
        paradigm: The paradigm's name.
        gap_train: Telemetry gap shares of ``x_train``'s windows (not labels:
            what did not arrive).
        gap_validation: Gap shares of ``x_validation``'s windows.
        index_train: Start times of ``x_train``'s windows (score smoothing).
        index_validation: Start times of ``x_validation``'s windows.
    """

    node: str
    x_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray | None
    paradigm: str
    gap_train: np.ndarray | None = None
    gap_validation: np.ndarray | None = None
    index_train: pd.Index | None = None
    index_validation: pd.Index | None = None

    @property
    def labels_used(self) -> bool:
        """Whether any of this node's labels reach training or calibration."""
        return self.y_validation is not None


def target_view(node_data: NodeData, paradigm: str | Paradigm) -> TargetView:
    """The part of a target node's data transfer may read, for ``paradigm``.

    Unsupervised and semi-supervised: windows only, no label is touched.
    Supervised: the validation labels too (F1-best threshold).
    """
    paradigm = _paradigm(paradigm)
    labels = node_data.y_validation if paradigm.uses_validation_labels else None
    return TargetView(node=node_data.node, x_train=node_data.x_train, x_validation=node_data.x_validation,
                      y_validation=labels, paradigm=paradigm.name, gap_train=node_data.gap("train"),
                      gap_validation=node_data.gap("validation"), index_train=node_data.index("train"),
                      index_validation=node_data.index("validation"))


def prepare_targets(dataset: Any, nodes: Sequence[str], paradigm: str | Paradigm, **split_kwargs: Any) -> FederatedData:
    """Split, scale and impute the target nodes for ``paradigm``.

    Target nodes are prepared like participants except that, outside the
    supervised paradigm, their training part keeps every window: selecting
    the normal windows would read labels that an unlabelled node does not
    have.

    Args:
        dataset: A processed dataset (or feature-set view of one).
        nodes: The target node ids.
        paradigm: The paradigm of the run.
        **split_kwargs: ``split``, ``train``, ``validation``, ``impute``,
            ``block``, ``train_days`` ... of
            :func:`~ftl_tff.data.client_data.prepare_federated_data`.

    Returns:
        The targets' :class:`~ftl_tff.data.client_data.FederatedData`.
    """
    from .data.client_data import prepare_federated_data

    paradigm = _paradigm(paradigm)
    split_kwargs = {k: v for k, v in split_kwargs.items() if k != "semi_supervised"}
    return prepare_federated_data(dataset, list(nodes), semi_supervised=paradigm.name == "supervised", **split_kwargs)


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
    from .models.io import autoencoder_architecture

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
        import tensorflow as tf

        from .models.autoencoder import build_autoencoder

        key = (_architecture_key(architecture), frozen_encoder, optimizer)
        if key not in self._models:
            optimizers = {"adam": tf.keras.optimizers.Adam, "rmsprop": tf.keras.optimizers.RMSprop,
                          "sgd": tf.keras.optimizers.SGD}
            if optimizer not in optimizers:
                raise ConfigError(f"unknown optimizer {optimizer!r}: use {', '.join(optimizers)}")
            model = build_autoencoder(architecture["input_dim"], **_build_kwargs(architecture), name="trainer")
            if frozen_encoder:
                model.get_layer("encoder").trainable = False
            # 32 batches per call of the compiled step: the same updates, less Python overhead per step.
            model.compile(optimizer=optimizers[optimizer](learning_rate=1e-3), loss="mse", steps_per_execution=32)
            self._models[key] = model
        return self._models[key]

    def initial_weights(self, architecture: dict[str, Any], seed: int | None) -> list[np.ndarray]:
        """The weights :func:`build_autoencoder` starts from for ``seed`` (cached)."""
        from .models.autoencoder import build_autoencoder

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
        import tensorflow as tf

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
        from .models.io import autoencoder_architecture

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
        from .models.autoencoder import build_autoencoder
        from .models.io import autoencoder_architecture

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
    paradigm: str | Paradigm,
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
        paradigm: The run's paradigm (decides which labels may be read).
        config: Modes, epochs, threshold settings (default
            :class:`TransferConfig`).
        keep_detectors: Return the calibrated detectors (to save them).
        echo: Called with one progress line per node.
        federation_z: The federation's threshold on the normalised scale,
            needed by ``config.threshold == "transferred"``.

    Returns:
        A :class:`TransferResult`.

    Raises:
        ConfigError: If the ``transferred`` rule has no ``federation_z``.
    """
    from .detection import AnomalyDetector
    from .models.io import autoencoder_architecture

    config = config or TransferConfig()
    config.validate()
    paradigm = _paradigm(paradigm)
    rule = ThresholdRule.of(config, federation_z)
    params = {"score": config.score, "percentile": config.percentile, "seed": config.seed,
              "batch_size": config.batch_size, "optimizer": config.optimizer,
              "learning_rate": config.learning_rate, "gap_weight": config.gap_weight,
              "smooth_windows": config.smooth_windows}
    architecture = autoencoder_architecture(global_model)
    rows: list[dict[str, Any]] = []
    score_frames: list[pd.DataFrame] = []
    detectors: dict[tuple[str, str], AnomalyDetector] = {}
    for position, node in enumerate(targets.nodes, start=1):
        node_data = targets.node_data[node]
        view = target_view(node_data, paradigm)
        trim = config.trim and not view.labels_used  # labelled targets train on normal windows already
        keep_for_fine_tuning = None
        for method in [*config.modes, *([LOCAL] if config.local_baseline else [])]:
            started = time.perf_counter()
            train_rows = np.ones(len(view.x_train), dtype=bool)
            if method == LOCAL:
                epochs = config.local_epochs or config.epochs
                weights = _TRAINERS.initial_weights(architecture, config.seed)
                model, _ = _TRAINERS.train(architecture, weights, view.x_train, frozen_encoder=False, epochs=epochs,
                                           learning_rate=config.learning_rate, batch_size=config.batch_size,
                                           optimizer=config.optimizer, seed=config.seed)
                if trim:
                    first = AnomalyDetector.from_model(model, **params)
                    train_rows = _unflagged(first, view, paradigm, rule)
                    model, _ = _TRAINERS.train(architecture, weights, view.x_train[train_rows], frozen_encoder=False,
                                               epochs=epochs, learning_rate=config.learning_rate,
                                               batch_size=config.batch_size, optimizer=config.optimizer,
                                               seed=config.seed)
            else:
                if trim and method != "zero-shot":
                    if keep_for_fine_tuning is None:
                        zero_shot = AnomalyDetector.from_model(global_model, **params)
                        keep_for_fine_tuning = _unflagged(zero_shot, view, paradigm, rule)
                    train_rows = keep_for_fine_tuning
                model, _ = _TRAINERS.fine_tune(global_model, view.x_train[train_rows], mode=method,
                                               epochs=config.epochs, learning_rate=config.learning_rate,
                                               batch_size=config.batch_size, optimizer=config.optimizer,
                                               seed=config.seed,
                                               reinit_decoder=config.reinit_decoder and method == "fine-tune")
            detector = AnomalyDetector.from_model(model, **params)
            done = calibrate_target(detector, view, paradigm, config.percentile, rule=rule)
            seconds = time.perf_counter() - started
            gap_test = node_data.gap("test")
            scores = detector.score_samples(node_data.x_test, gap=gap_test, index=node_data.index_test)
            predicted = detector.predict_scores(scores)
            metrics = detection_metrics(node_data.y_test, scores, predicted, index=node_data.index_test)
            trained = 0 if method == "zero-shot" else int(train_rows.sum())
            rows.append({"node": node, "method": method, **done, "labels_used": view.labels_used,
                         "train_windows": int(len(view.x_train)), "trained_windows": trained,
                         "trimmed_windows": 0 if method == "zero-shot" else int((~train_rows).sum()),
                         "test_windows": int(len(scores)), "seconds": round(seconds, 3), **metrics})
            score_frames.append(pd.DataFrame({"node": node, "method": method,
                                              "window_start": node_data.index_test, "score": scores,
                                              "threshold": detector.threshold_, "label": node_data.y_test,
                                              "gap": gap_test}))
            if keep_detectors:
                if detector.model_ is not global_model:  # the trainer is reused by the next node
                    detector.model_ = _TRAINERS.copy(detector.model_)
                detectors[(node, method)] = detector
        if echo is not None:
            echo(f"  transfer {position}/{len(targets.nodes)}: node {node} done")
    per_node = pd.DataFrame(rows)
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame()
    return TransferResult(per_node=per_node, scores=scores, detectors=detectors, config=config.to_dict())


@dataclass(frozen=True)
class ThresholdRule:
    """A label-free threshold rule and its settings, as :meth:`AnomalyDetector.calibrate` takes them.

    Attributes:
        name: A rule of :data:`~ftl_tff.detection.LABEL_FREE_RULES`.
        settings: Its settings (``z`` for ``transferred``).
    """

    name: str = DEFAULT_THRESHOLD_RULE
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Any, federation_z: float | None = None) -> ThresholdRule:
        """The rule a configuration names (``threshold``), with the federation's ``z`` when it is ``transferred``.

        Raises:
            ConfigError: If the rule is ``transferred`` and there is no ``federation_z``.
        """
        name = getattr(config, "threshold", None) or DEFAULT_THRESHOLD_RULE
        if name != "transferred":
            return cls(name)
        if federation_z is None or not np.isfinite(federation_z):
            raise ConfigError("threshold 'transferred' needs the federation's normalised threshold, which this "
                              "model does not carry (train it again with this version, or choose another rule)")
        return cls(name, {"z": float(federation_z)})


def _unflagged(detector: AnomalyDetector, view: TargetView, paradigm: Paradigm, rule: ThresholdRule) -> np.ndarray:
    """The training windows ``detector``, calibrated on them by ``rule``, does not flag."""
    calibrate_target(detector, view, paradigm, detector.percentile, rule=rule)
    keep = detector.predict_scores(detector.score_samples(view.x_train, gap=view.gap_train,
                                                          index=view.index_train)) == 0
    # A node whose every window is flagged keeps them all rather than training on nothing.
    return keep if keep.any() else np.ones_like(keep)


def calibrate_target(detector: AnomalyDetector, view: TargetView, paradigm: str | Paradigm,
                     percentile: float, rule: ThresholdRule | None = None) -> dict[str, Any]:
    """Set a node's threshold from what its :class:`TargetView` allows.

    Used for target nodes and, through the same view, for participating
    nodes: the F1-best threshold on labelled validation windows in the
    supervised paradigm (the label-free ``rule`` when they hold one class),
    else the label-free ``rule`` on the training scores.

    Args:
        detector: The detector to calibrate (its model is not changed).
        view: What may be read of the node.
        paradigm: The paradigm.
        percentile: Percentile of the ``percentile`` and ``trimmed`` rules.
        rule: The label-free rule (default :data:`~ftl_tff.paradigms.DEFAULT_THRESHOLD_RULE`).

    Returns:
        ``{"threshold", "rule", "note", "threshold_z"}`` (``threshold_z``: the
        threshold on the node's normalised scale).
    """
    paradigm = _paradigm(paradigm)
    rule = rule or ThresholdRule()
    if paradigm.uses_validation_labels:
        labels = view.y_validation
        if labels is not None and len(labels) and 0 < int(np.sum(labels)) < len(labels):
            detector.calibrate(view.x_validation, labels, rule="best_f1", gap=view.gap_validation,
                               index=view.index_validation)
            return {"threshold": float(detector.threshold_), "rule": "best_f1", "note": "",
                    "threshold_z": float(detector.normalised_threshold_)}
        note = f"validation part has one class: {rule.name} threshold used instead of best F1"
    else:
        note = ""
    detector.calibrate(view.x_train, rule=rule.name, percentile=percentile, gap=view.gap_train,
                       index=view.index_train, **rule.settings)
    return {"threshold": float(detector.threshold_), "rule": rule.name, "note": note,
            "threshold_z": float(detector.normalised_threshold_)}


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
    paradigm: str | Paradigm,
    config: TransferConfig | None = None,
    *,
    days: Sequence[float] = (1, 3, 7, 14),
    include_full: bool = True,
    echo: Callable[[str], None] | None = None,
    federation_z: float | None = None,
    **split_kwargs: Any,
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
        paradigm: The run's paradigm.
        config: Transfer configuration (modes and the local baseline).
        days: Training budgets in days.
        include_full: Add the full training part as one more budget.
        echo: Progress lines.
        federation_z: The federation's normalised threshold (``transferred`` rule).
        **split_kwargs: Split options (as the run's).

    Returns:
        One row per (node, budget, method): ``node``, ``budget`` (``"1d"``...
        or ``"full"``), ``days`` (the training data used, as windows x window
        length in days: at most the budget, less when windows are missing or,
        in the supervised paradigm, anomalous windows are left out),
        ``n_windows`` (training windows used), ``method`` and the detection
        metrics.
    """
    config = config or TransferConfig()
    budgets: list[float | None] = [float(d) for d in sorted(set(days))]
    if any(d <= 0 for d in budgets):
        raise ConfigError(f"data-efficiency budgets must be > 0 days, got {list(days)}")
    if include_full:
        budgets.append(None)
    frames = []
    full = prepare_targets(dataset, nodes, paradigm, **split_kwargs)
    spans = {n: _train_span_days(full.node_data[n].index_train) for n in full.nodes}
    steps = {n: _window_days(full.node_data[n].index_train) for n in full.nodes}
    for budget in budgets:
        label = "full" if budget is None else f"{budget:g}d"
        keep = [n for n in full.nodes if budget is None or budget <= spans[n] + 1e-9]
        if not keep:
            continue
        targets = full if budget is None else prepare_targets(dataset, keep, paradigm, train_days=budget,
                                                              **split_kwargs)
        result = transfer_to_nodes(global_model, targets, paradigm, config, federation_z=federation_z)
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


def _paradigm(paradigm: str | Paradigm) -> Paradigm:
    return paradigm if isinstance(paradigm, Paradigm) else get_paradigm(paradigm)
