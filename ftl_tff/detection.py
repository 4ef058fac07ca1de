"""Anomaly scores, thresholds and the :class:`AnomalyDetector` estimator.

The detector follows the scikit-learn / PyOD estimator contract: the
constructor only stores its parameters, unchanged (so ``get_params``,
``set_params`` and :func:`sklearn.base.clone` round-trip); they are validated
when used (:meth:`~AnomalyDetector.fit`, :meth:`~AnomalyDetector.calibrate`,
:meth:`~AnomalyDetector.score_samples`, ...). :meth:`AnomalyDetector.fit`
trains a dense autoencoder and sets the fitted attributes (trailing
underscore). Scores follow PyOD's convention, not scikit-learn's:
:meth:`~AnomalyDetector.score_samples` and
:meth:`~AnomalyDetector.decision_function` are higher for more anomalous
windows (scikit-learn's outlier detectors return ``score_samples`` that are
*lower* for more abnormal samples), and :meth:`~AnomalyDetector.predict` turns
them into 0/1 with ``score >= threshold_``. It adds what PyOD never settled
for deep models: a :meth:`~AnomalyDetector.save` /
:meth:`~AnomalyDetector.load` pair (Keras weights plus a JSON of everything
else, loaded without running any code) and per-feature attributions an
operator can act on.

Scores:

* ``"mse"``: the window's mean squared reconstruction error over features;
* ``"max"``: the largest per-feature squared error (Borghesi et al. 2019),
  which a fault visible in one metric only is not diluted in.

Telemetry that did not arrive is part of the score, not imputed away: each
scoring method takes the windows' *gap shares* (``gap=``, the share of a
window's telemetry that was missing, :mod:`ftl_tff.data.clients.gaps`) and adds
``gap_weight * gap`` to the reconstruction score. With min-max scaled inputs
and a sigmoid reconstruction a squared error is at most about 1 per feature,
so the default ``gap_weight=1`` counts a window with nothing reported as the
worst window a model could reconstruct, and a window missing 5% of its
metrics as 0.05 above its reconstruction error, far above the ~0.001-0.01
of normal windows. Imputation still fills the values the network needs; the
score knows what was filled. ``gap_weight=0`` scores reconstruction only.

The reconstruction part is smoothed in time before the gap is added: with
``smooth_windows=k`` (default 4, an hour of 15-minute windows) a window's
reconstruction error is the mean of its own and those of the ``k - 1``
windows before it (causal, so a live monitor computes the same), within runs
of consecutive windows (``index=`` gives the windows' start times; a time
step longer than the usual one starts a new run). Faults last; single noisy
windows do not. The gap share is added unsmoothed, so a node that goes
silent scores high from its first silent window. ``smooth_windows=1``
turns smoothing off.

One telemetry-gap rule sits on top of every label-free threshold: a window
in which the node sent less than ``gap_alarm`` (default half) of what it
usually sends is always flagged, i.e. the threshold is never above
``gap_weight * gap_alarm``. A failing node may spend a quarter of its
training windows silent; no rule fitted to those scores should then decide
that silence is normal. ``gap_alarm=None`` turns the rule off.

Thresholds are a separate step (:meth:`AnomalyDetector.calibrate`) because
they must be set per node, on that node's own data: a threshold learned on
other nodes flags most windows of a node scaled on little data. The caller
calibrates each node; a federated global model is wrapped once per node
with :meth:`AnomalyDetector.from_model` and calibrated there.

Example:
    >>> from ftl_tff.detection import AnomalyDetector
    >>> node = data.node_data["r256n01"]  # doctest: +SKIP
    >>> detector = AnomalyDetector(percentile=99.0).fit(node.x_train)  # doctest: +SKIP
    >>> flags = detector.predict(node.x_test)  # doctest: +SKIP
    >>> detector.save("models/r256n01", data.feature_columns, node.scaler)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import thresholds, vocabulary
from .data.clients.gaps import NodeGap
from .data.clients.scaling import NodeImputer, NodeScaler
from .errors import ConfigError, DataError, SchemaError
from .models.autoencoder import DEFAULT_ENCODER_UNITS, build_autoencoder, build_keras_optimizer
from .models.io import METADATA_FILE, autoencoder_architecture, load_model, save_model
from .paradigms import LABEL_FREE_RULES

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["LABEL_FREE_RULES", "OPTIMIZERS", "SCORE_KINDS", "THRESHOLD_RULES", "AnomalyDetector", "NotFittedError",
           "causal_mean"]

#: Window scores understood by :class:`AnomalyDetector` (``score=``).
SCORE_KINDS = vocabulary.SCORE_KINDS
#: Threshold rules understood by :meth:`AnomalyDetector.calibrate`.
THRESHOLD_RULES = (*LABEL_FREE_RULES, "best_f1")
#: Optimizers :meth:`AnomalyDetector.fit` can build by name (the federated clients' too).
OPTIMIZERS = vocabulary.OPTIMIZERS

_DETECTOR_KIND = "ftl_tff.AnomalyDetector"
# Scores must not depend on the training batch size, so prediction uses one
# fixed batch size (a saved and reloaded detector scores bit for bit alike).
_PREDICT_BATCH = 4096
# Training batches run per call of the compiled train step (numerically the same as one).
_STEPS_PER_EXECUTION = 32


class NotFittedError(ConfigError):
    """The detector has no model yet, or no threshold yet."""


class AnomalyDetector:
    """Reconstruction-error anomaly detector on a dense autoencoder.

    Training is deterministic for a given ``seed``:
    ``tf.keras.utils.set_random_seed(seed)`` is called at the start of
    :meth:`fit` (it also seeds Python's and NumPy's global generators, as
    Keras does), the weights are initialised from ``seed`` and the training
    rows are shuffled every epoch in a seeded order.

    The constructor and :meth:`set_params` only store the parameters,
    unchanged; they are validated (and converted, e.g. lists of units to
    tuples) when used: by :meth:`fit`, :meth:`calibrate`,
    :meth:`score_samples` (and so :meth:`decision_function` and
    :meth:`predict`), :meth:`from_model` and :meth:`save`.

    Scores follow PyOD's convention: higher = more anomalous. This is the
    opposite of scikit-learn's ``score_samples`` of outlier detectors (e.g.
    ``IsolationForest``), which is lower for more abnormal samples.

    Fitted attributes are set by :meth:`fit`; :meth:`from_model` and
    :meth:`load` set those they know, :meth:`calibrate` the threshold ones.

    Attributes:
        model_: The Keras autoencoder.
        n_features_in_: Number of input features.
        history_: Keras training history (``loss``, ``val_loss`` per epoch).
        training_: Training configuration and sizes, stored by :meth:`save`.
        decision_scores_: Scores of the training windows.
        threshold_: Score at or above which a window is anomalous.
        labels_: int8 0/1 flags (``score >= threshold_``) of the windows the
            threshold was set on: the ``X`` of the last :meth:`calibrate`,
            i.e. after :meth:`fit` its validation windows when given, else its
            training windows (then ``labels_`` matches ``decision_scores_``).
            Not set by :meth:`load`.
        threshold_rule_: Rule that set ``threshold_``.
        calibration_: The rule's settings and the calibration set's size.
        feature_columns_: Feature names (set by :meth:`load`).
        scaler_: The node's scaler, or None (set by :meth:`load`).
        imputer_: The node's imputer, or None (set by :meth:`load`).
        gaps_: The node's gap measure, or None (set by :meth:`load`).
        metadata_: The whole saved JSON description (set by :meth:`load`).

    Args:
        encoder_units: Widths of the encoder layers; the last is the latent
            size (default: the reference ``(100, 80, 60, 40, 20)``).
        decoder_units: Widths of the decoder's hidden layers (default: the
            encoder's mirrored).
        activation: Keras activation of the hidden layers.
        output_activation: Keras activation of the reconstruction
            (``"sigmoid"`` for min-max scaled inputs).
        epochs: Training epochs.
        batch_size: Training batch size.
        optimizer: One of :data:`OPTIMIZERS`.
        learning_rate: Optimizer learning rate.
        score: One of :data:`SCORE_KINDS`.
        gap_weight: Weight of a window's telemetry gap share in its score
            (``score + gap_weight * gap``; 0 ignores gaps).
        smooth_windows: Causal moving average of the reconstruction error
            over this many windows (1: none; see the module docstring).
        gap_alarm: Gap share from which a window is always anomalous under
            a label-free rule (the threshold is capped at
            ``gap_weight * gap_alarm``); None: no cap.
        threshold_rule: Default rule of :meth:`calibrate`, one of
            :data:`THRESHOLD_RULES`.
        percentile: Percentile of the calibration scores used by the
            ``"percentile"`` rule (99 flags about 1% of those windows).
        contamination: Expected share of anomalous windows, in (0, 1),
            used by (and only allowed with) the ``"contamination"`` rule.
        seed: Seed of initialisation and shuffling; None for no seeding.
        verbose: Keras verbosity during :meth:`fit` (0 silent).

    Raises:
        ConfigError: From the methods that use the parameters (not from the
            constructor), if a parameter is invalid.
    """

    def __init__(
        self,
        encoder_units: Sequence[int] = DEFAULT_ENCODER_UNITS,
        decoder_units: Sequence[int] | None = None,
        activation: str = "relu",
        output_activation: str = "sigmoid",
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        score: str = "mse",
        gap_weight: float = 1.0,
        gap_alarm: float | None = 0.5,
        smooth_windows: int = 4,
        threshold_rule: str = "percentile",
        percentile: float = 99.0,
        contamination: float | None = None,
        seed: int | None = 0,
        verbose: int = 0,
    ) -> None:
        # Stored unchanged (scikit-learn's contract); _validate_params() checks them when they are used.
        self.encoder_units = encoder_units
        self.decoder_units = decoder_units
        self.activation = activation
        self.output_activation = output_activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.score = score
        self.gap_weight = gap_weight
        self.gap_alarm = gap_alarm
        self.smooth_windows = smooth_windows
        self.threshold_rule = threshold_rule
        self.percentile = percentile
        self.contamination = contamination
        self.seed = seed
        self.verbose = verbose

    # -- parameters -----------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Returns the constructor parameters (scikit-learn convention).

        Args:
            deep: Ignored (no nested estimators); kept for scikit-learn.

        Returns:
            Parameter name -> value.
        """
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params: Any) -> AnomalyDetector:
        """Sets constructor parameters, stored unchanged like the constructor's.

        The values are validated together when next used (:meth:`fit`,
        :meth:`calibrate`, :meth:`score_samples`, ...), as scikit-learn
        expects. Fitted attributes are kept; call :meth:`fit` or
        :meth:`calibrate` again for the new values to take effect.

        Args:
            **params: Parameter name -> new value.

        Returns:
            This detector.

        Raises:
            ConfigError: If a name is unknown.
        """
        unknown = sorted(set(params) - set(_PARAM_NAMES))
        if unknown:
            raise ConfigError(f"unknown AnomalyDetector parameters {unknown}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _validate_params(self) -> dict[str, Any]:
        """The parameters, validated together and converted (units to tuples of int, shares to float).

        The attributes themselves are left as given; callers use the returned values.

        Raises:
            ConfigError: If a parameter is invalid (the message names it).
        """
        return _validated_params(self.get_params())

    def __repr__(self) -> str:
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same_value(value, _DEFAULT_PARAMS[name])]
        return f"AnomalyDetector({', '.join(changed)})"

    # -- training -------------------------------------------------------

    def fit(
        self,
        X: np.ndarray | pd.DataFrame,
        y: np.ndarray | None = None,
        X_validation: np.ndarray | pd.DataFrame | None = None,
        y_validation: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
        gap: np.ndarray | None = None,
        gap_validation: np.ndarray | None = None,
        index: Sequence[Any] | pd.Index | None = None,
        index_validation: Sequence[Any] | pd.Index | None = None,
    ) -> AnomalyDetector:
        """Trains a new autoencoder on ``X`` and calibrates the threshold.

        Each call starts from a freshly built model (to fine-tune a trained
        one, use the transfer step). For semi-supervised training pass
        normal windows only (``prepare_federated_data(semi_supervised=True)``).
        The threshold is calibrated with :attr:`threshold_rule` on
        ``(X_validation, y_validation)`` when validation rows are given
        (held-out errors are less optimistic than the errors of the rows the
        model was fitted to), else on ``(X, y)``.

        Args:
            X: Training windows, 2-D ``(rows, features)``, finite, scaled.
            y: Labels of ``X`` (0/1); used only by the ``"best_f1"`` rule
                when there is no validation set.
            X_validation: Validation windows: Keras reports ``val_loss`` on
                them and the threshold is calibrated on them. Zero rows
                count as none.
            y_validation: Labels of ``X_validation`` (``"best_f1"`` rule).
            sample_weight: Per-row non-negative training weights.
            gap: Gap shares of the rows of ``X`` (see the module docstring;
                None: no gaps).
            gap_validation: Gap shares of the rows of ``X_validation``.
            index: Window start times of the rows of ``X`` (for smoothing;
                None: the rows are consecutive windows).
            index_validation: Window start times of ``X_validation``'s rows.

        Returns:
            This detector, fitted and calibrated.

        Raises:
            DataError: If ``X`` is not 2-D, empty, not numeric, or holds NaN
                (impute first) or infinite values; or labels are not 0/1.
            SchemaError: If ``X_validation`` has another feature count.
            ConfigError: If the ``"best_f1"`` rule lacks two-class labels, an
                activation name is unknown to Keras, or ``y_validation`` is
                given without ``X_validation``.
        """
        import tensorflow as tf  # lazy: TensorFlow is slow to import

        params = self._validate_params()
        x = _as_features(X, "X")
        labels = None if y is None else _as_labels(y, "y", len(x))
        weights = None if sample_weight is None else _as_sample_weight(sample_weight, len(x))
        x_validation = None
        if X_validation is not None and np.shape(X_validation)[0] > 0:
            x_validation = _as_features(X_validation, "X_validation", x.shape[1])
        elif y_validation is not None and len(y_validation) > 0:
            raise ConfigError("y_validation was given without X_validation rows")
        if x_validation is not None:
            calibration_x, calibration_gap, calibration_index = x_validation, gap_validation, index_validation
            calibration_y = None if y_validation is None else _as_labels(y_validation, "y_validation",
                                                                       len(x_validation))
        else:
            calibration_x, calibration_y, calibration_gap, calibration_index = x, labels, gap, index
        if params["threshold_rule"] == "best_f1":
            _check_two_classes(calibration_y)  # fail before training, not after
        for name in ("activation", "output_activation"):
            try:
                tf.keras.activations.get(params[name])
            except ValueError as error:
                raise ConfigError(f"{name}={params[name]!r} is not a Keras activation") from error

        if params["seed"] is not None:
            tf.keras.utils.set_random_seed(params["seed"])
        model = build_autoencoder(
            x.shape[1],
            encoder_units=params["encoder_units"],
            decoder_units=params["decoder_units"],
            activation=params["activation"],
            output_activation=params["output_activation"],
            seed=params["seed"],
        )
        # Several batches per call of the compiled step: the same updates, less Python overhead.
        model.compile(optimizer=_make_optimizer(params), loss="mse", steps_per_execution=_STEPS_PER_EXECUTION)
        history = model.fit(
            x,
            x,
            sample_weight=weights,
            validation_data=None if x_validation is None else (x_validation, x_validation),
            epochs=params["epochs"],
            batch_size=params["batch_size"],
            shuffle=True,
            verbose=params["verbose"],
        )
        self.model_ = model
        self.n_features_in_ = int(x.shape[1])
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        self.training_ = {
            "epochs": params["epochs"],
            "batch_size": params["batch_size"],
            "optimizer": params["optimizer"],
            "learning_rate": params["learning_rate"],
            "loss": "mse",
            "seed": params["seed"],
            "shuffle": "every epoch",
            "n_windows": int(len(x)),
            "n_validation_windows": 0 if x_validation is None else int(len(x_validation)),
            "sample_weight": weights is not None,
            "history": self.history_,
        }
        self.decision_scores_ = self.score_samples(x, gap=gap, index=index)
        return self.calibrate(calibration_x, calibration_y, gap=calibration_gap, index=calibration_index)

    @classmethod
    def from_model(cls, model: tf.keras.Model, **params: Any) -> AnomalyDetector:
        """Wraps an already trained autoencoder (e.g. the federated global model).

        The architecture parameters (``encoder_units``, ``decoder_units``,
        ``activation``, ``output_activation``) are read from the model; the
        others come from ``params``. The detector holds the model itself,
        not a copy, so several nodes' detectors can share one global model;
        call :meth:`calibrate` on each node's own data before
        :meth:`predict`. A later :meth:`fit` replaces the model with a new
        one.

        Args:
            model: An autoencoder built by
                :func:`~ftl_tff.models.autoencoder.build_autoencoder`.
            **params: Other constructor parameters (``score``,
                ``threshold_rule``, ``percentile``, ...).

        Returns:
            A detector with ``model_`` and ``n_features_in_`` set, not
            calibrated.

        Raises:
            ConfigError: If the model is not such an autoencoder, a given
                architecture parameter contradicts it, or a parameter is
                invalid (checked at once, unlike the constructor).
        """
        architecture = autoencoder_architecture(model)
        structure = _validated_structure(architecture)
        # Every parameter is validated here, so a bad one fails at once, not at first use.
        given = _validated_params({**_DEFAULT_PARAMS, **structure, **params})
        actual = _resolved_structure(structure)
        conflicts = [
            f"{name}={params[name]!r} (model: {value!r})"
            for name, value in actual.items()
            if name in params and _resolved_structure(given)[name] != value
        ]
        if conflicts:
            raise ConfigError(f"parameters contradict the model's architecture: {', '.join(conflicts)}")
        detector = cls(**{**params, **structure})
        detector.model_ = model
        detector.n_features_in_ = int(architecture["input_dim"])
        return detector

    # -- thresholds -----------------------------------------------------

    def calibrate(
        self,
        X: np.ndarray | pd.DataFrame,
        y: np.ndarray | None = None,
        rule: str | None = None,
        percentile: float | None = None,
        contamination: float | None = None,
        *,
        gap: np.ndarray | None = None,
        index: Sequence[Any] | pd.Index | None = None,
        **settings: Any,
    ) -> AnomalyDetector:
        """Sets ``threshold_`` from the scores of ``X``.

        Call it per node, on that node's own windows (its normal training
        windows, or a validation part): scores of one node say little about
        another's.

        Rules:

        * ``"percentile"``: ``np.percentile(scores, percentile)`` (linear
          interpolation), so about ``1 - percentile / 100`` of the windows of
          ``X`` score at or above it;
        * ``"contamination"``: the ``1 - contamination`` quantile, so about a
          ``contamination`` share of ``X`` is flagged;
        * ``"log_robust_z"``, ``"robust_z"``, ``"iqr"``, ``"pot"``,
          ``"trimmed"``: the label-free rules of :mod:`ftl_tff.thresholds`
          (median + k MAD of the log scores or of the scores, Tukey's fence,
          peaks over threshold, iterative trimming), which stay usable when
          ``X`` holds anomalous windows; their settings (``k``, ``q``,
          ``level``, ``trim_percentile``, ``iterations``) go in
          ``**settings``;
        * ``"transferred"``: a threshold given on the per-node normalised
          scale (``z=``, e.g. the federation's median threshold on that
          scale, :func:`ftl_tff.thresholds.normalised_scores`) mapped to this
          node's scores: ``median + z * scale`` of the scores of ``X``;
        * ``"best_f1"``: among the distinct scores of ``X``, the one that as
          threshold gives the highest F1 against ``y`` (ties: the highest
          threshold, flagging fewest windows). Needs labels with both
          classes; supervised, so evaluate on other windows.

        Every rule but ``best_f1`` is then capped by the telemetry-gap rule
        (:attr:`gap_alarm`, see the module docstring).

        Args:
            X: Calibration windows, 2-D with ``n_features_in_`` features.
            y: Labels of ``X`` (``"best_f1"`` only; ignored otherwise).
            rule: One of :data:`THRESHOLD_RULES` (default:
                :attr:`threshold_rule`).
            percentile: Overrides :attr:`percentile` for this call
                (``"percentile"`` and ``"trimmed"``).
            contamination: Overrides :attr:`contamination` for this call.
            gap: Gap shares of the rows of ``X`` (None: no gaps).
            index: Window start times of the rows of ``X`` (smoothing).
            **settings: Settings of the label-free rules (see above).

        Returns:
            This detector, with ``threshold_``, ``threshold_rule_``,
            ``calibration_`` and ``labels_`` (the flags of ``X``) set
            (``calibration_["scale"]`` holds the calibration scores' median
            and robust scale, the per-node normalisation of a transferred
            threshold).

        Raises:
            NotFittedError: If there is no model.
            ConfigError: If a parameter is invalid, the rule or its setting
                is invalid or missing, or ``"best_f1"`` lacks labels of both
                classes.
            DataError: If ``X`` is not valid input (see :meth:`fit`).
            SchemaError: If ``X`` has another feature count.
        """
        params = self._validate_params()
        rule = params["threshold_rule"] if rule is None else rule
        if rule not in THRESHOLD_RULES:
            raise ConfigError(f"unknown threshold rule {rule!r}; expected one of {THRESHOLD_RULES}")
        scores = self.score_samples(X, gap=gap, index=index)
        if scores.size == 0:
            raise DataError("no calibration windows: a threshold needs at least one score")
        calibration: dict[str, Any] = {"rule": rule, "n_windows": int(len(scores))}
        if rule in ("percentile", "trimmed"):
            settings["percentile"] = _checked_percentile(params["percentile"] if percentile is None else percentile)
        if rule == "percentile":
            _no_settings(rule, settings, allowed=("percentile",))
            threshold = float(np.percentile(scores, settings["percentile"]))
        elif rule == "contamination":
            _no_settings(rule, settings)
            contamination = params["contamination"] if contamination is None else contamination
            if contamination is None:
                raise ConfigError("the 'contamination' rule needs contamination= (a share in (0, 1))")
            contamination = _checked_contamination(contamination)
            threshold = float(np.quantile(scores, 1.0 - contamination))
            settings["contamination"] = contamination
        elif rule == "transferred":
            if set(settings) != {"z"}:
                raise ConfigError("the 'transferred' rule needs exactly z= (a threshold on the normalised scale)")
            threshold = float(thresholds.transferred(scores, settings["z"]))
        elif rule == "best_f1":
            _no_settings(rule, settings)
            labels = None if y is None else _as_labels(y, "y", len(scores))
            _check_two_classes(labels)
            threshold, best_f1 = _best_f1_threshold(scores, labels)
            calibration.update(n_anomalous=int(labels.sum()), f1=best_f1)
        else:
            threshold = float(thresholds.threshold(scores, rule, **settings))
        if rule != "best_f1" and params["gap_weight"] > 0 and params["gap_alarm"] is not None:
            cap = params["gap_weight"] * params["gap_alarm"]
            calibration["gap_alarm_cap"] = bool(threshold > cap)
            threshold = min(threshold, cap)
        median, scale = thresholds.node_scale(scores)
        calibration.update(settings)
        calibration["scale"] = {"median": float(median), "scale": float(scale)}
        calibration["flagged_share"] = float(np.mean(scores >= threshold))
        self.threshold_ = threshold
        self.threshold_rule_ = rule
        self.calibration_ = calibration
        self.labels_ = self.predict_scores(scores)
        return self

    @property
    def normalised_threshold_(self) -> float:
        """``threshold_`` on the per-node normalised scale of its calibration scores.

        ``(threshold_ - median) / scale`` of the calibration windows' scores:
        comparable across nodes, so a federation's thresholds can be pooled
        and handed to a new node with ``calibrate(X, rule="transferred", z=...)``.

        Raises:
            NotFittedError: If the detector is not calibrated.
        """
        calibration = getattr(self, "calibration_", None) or {}
        if getattr(self, "threshold_", None) is None or "scale" not in calibration:
            raise NotFittedError("the detector has no threshold; call calibrate(X) on the node's own data first")
        return (self.threshold_ - calibration["scale"]["median"]) / calibration["scale"]["scale"]

    # -- scoring --------------------------------------------------------

    def reconstruction_errors(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Per-window, per-feature squared reconstruction errors.

        Args:
            X: Windows, 2-D with ``n_features_in_`` features.

        Returns:
            A float64 array ``(rows, features)`` of ``(x - reconstruction)**2``:
            which features a window's score comes from.

        Raises:
            NotFittedError: If there is no model.
            DataError: If ``X`` is not valid input (see :meth:`fit`).
            SchemaError: If ``X`` has another feature count.
        """
        self._require_model()
        x = _as_features(X, "X", self.n_features_in_)
        reconstruction = self.model_.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
        return np.square(x.astype(np.float64) - np.asarray(reconstruction, dtype=np.float64))

    def score_samples(self, X: np.ndarray | pd.DataFrame, gap: np.ndarray | None = None,
                      index: Sequence[Any] | pd.Index | None = None) -> np.ndarray:
        """Anomaly score of each window (higher = more anomalous).

        PyOD's convention, not scikit-learn's: scikit-learn's outlier
        detectors return ``score_samples`` that are *lower* for more
        abnormal samples; here (as in PyOD) a higher score is more anomalous.

        Args:
            X: Windows, 2-D with ``n_features_in_`` features.
            gap: Gap share of each window in [0, 1]
                (:attr:`NodeData.gap <ftl_tff.data.clients.client_data.NodeData.gap>`);
                None: no telemetry was missing.
            index: Start times of the windows, in time order, so that
                smoothing (``smooth_windows``) stays within runs of
                consecutive windows; None: the rows are consecutive windows.

        Returns:
            float64 scores ``(rows,)``: the mean (``score="mse"``) or the
            largest (``score="max"``) per-feature squared reconstruction
            error, averaged over the last ``smooth_windows`` windows, plus
            ``gap_weight * gap``.

        Raises:
            NotFittedError: If there is no model.
            ConfigError: If a parameter is invalid.
            DataError: If ``X`` is not valid input (see :meth:`fit`).
            SchemaError: If ``X`` has another feature count, or ``gap`` another
                length.
        """
        params = self._validate_params()
        errors = self.reconstruction_errors(X)
        scores = errors.max(axis=1) if params["score"] == "max" else errors.mean(axis=1)
        if params["smooth_windows"] > 1:
            scores = causal_mean(scores, params["smooth_windows"], index)
        if gap is not None and params["gap_weight"]:
            scores = scores + params["gap_weight"] * _as_gap(gap, len(scores))
        return scores

    def decision_function(self, X: np.ndarray | pd.DataFrame, gap: np.ndarray | None = None,
                          index: Sequence[Any] | pd.Index | None = None) -> np.ndarray:
        """Same as :meth:`score_samples`: PyOD's convention, higher = more anomalous.

        As in PyOD, these are the raw outlier scores, not shifted by the
        threshold: unlike scikit-learn's outlier detectors, whose
        ``decision_function`` is negative for outliers, a window is anomalous
        where this is at or above ``threshold_`` (see :meth:`predict`).

        Args:
            X: Windows, 2-D with ``n_features_in_`` features.
            gap: Gap shares of the windows (see :meth:`score_samples`).
            index: Start times of the windows (see :meth:`score_samples`).

        Returns:
            float64 scores ``(rows,)``.
        """
        return self.score_samples(X, gap=gap, index=index)

    def predict(self, X: np.ndarray | pd.DataFrame, gap: np.ndarray | None = None,
                index: Sequence[Any] | pd.Index | None = None) -> np.ndarray:
        """Flags windows whose score is at or above ``threshold_``.

        The comparison is ``score >= threshold_`` (inclusive), so a window
        scoring exactly the threshold, for instance the one ``"best_f1"``
        chose, is flagged.

        Args:
            X: Windows, 2-D with ``n_features_in_`` features.
            gap: Gap shares of the windows (see :meth:`score_samples`).
            index: Start times of the windows (see :meth:`score_samples`).

        Returns:
            int8 array ``(rows,)``: 1 anomalous, 0 normal.

        Raises:
            NotFittedError: If there is no model or no threshold (call
                :meth:`calibrate`).
        """
        self._require_model()
        if getattr(self, "threshold_", None) is None:
            raise NotFittedError(
                "the detector has no threshold; call calibrate(X) on the node's own data first"
            )
        return self.predict_scores(self.score_samples(X, gap=gap, index=index))

    def predict_scores(self, scores: np.ndarray) -> np.ndarray:
        """Flags already computed scores: ``scores >= threshold_`` as int8 0/1.

        Args:
            scores: Scores of :meth:`score_samples`.

        Returns:
            int8 array of the same length: 1 anomalous, 0 normal.

        Raises:
            NotFittedError: If there is no threshold.
        """
        if getattr(self, "threshold_", None) is None:
            raise NotFittedError(
                "the detector has no threshold; call calibrate(X) on the node's own data first"
            )
        return (np.asarray(scores, dtype=np.float64) >= self.threshold_).astype(np.int8)

    def feature_contributions(
        self,
        X: np.ndarray | pd.DataFrame,
        feature_names: Sequence[str],
        top_k: int = 5,
        index: Sequence[Any] | pd.Index | None = None,
    ) -> pd.DataFrame:
        """The features that make each window's reconstruction error.

        For the operator who must act: per window, the ``top_k`` features
        with the largest squared reconstruction error and their share of the
        window's total (summed) squared error. With ``score="max"`` the
        window's score is the first row's ``squared_error``.

        Args:
            X: Windows, 2-D with ``n_features_in_`` features.
            feature_names: Names of the features, in column order.
            top_k: Features kept per window (at most the feature count).
            index: Labels of the windows (e.g. ``node.index_test``); default
                row positions.

        Returns:
            A long frame, ``top_k`` rows per window in rank order, columns
            ``window``, ``rank`` (1 = largest), ``feature``,
            ``squared_error``, ``share`` (NaN for a window reconstructed
            exactly).

        Raises:
            SchemaError: If ``feature_names`` or ``index`` do not match ``X``.
            ConfigError: If ``top_k < 1``.
        """
        if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or top_k < 1:
            raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
        errors = self.reconstruction_errors(X)
        rows, width = errors.shape
        names = np.asarray([str(name) for name in feature_names], dtype=object)
        if names.size != width:
            raise SchemaError(f"feature_names has {names.size} names, X has {width} features")
        windows = np.arange(rows) if index is None else np.asarray(index)
        if len(windows) != rows:
            raise SchemaError(f"index has {len(windows)} labels, X has {rows} rows")
        k = min(int(top_k), width)
        order = np.argsort(-errors, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(errors, order, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = top / errors.sum(axis=1, keepdims=True)
        return pd.DataFrame(
            {
                "window": np.repeat(windows, k),
                "rank": np.tile(np.arange(1, k + 1), rows),
                "feature": names[order].ravel(),
                "squared_error": top.ravel(),
                "share": share.ravel(),
            }
        )

    # -- persistence ----------------------------------------------------

    def save(
        self,
        directory: str | os.PathLike[str],
        feature_columns: Sequence[str] | None = None,
        scaler: NodeScaler | dict[str, Any] | None = None,
        imputer: NodeImputer | dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        gaps: NodeGap | dict[str, Any] | None = None,
    ) -> Path:
        """Writes the model and everything needed to use it on new windows.

        Format: :func:`~ftl_tff.models.io.save_model`'s folder, whose
        ``model.json`` also holds ``kind``, ``params``, ``n_features_in``,
        ``score``, ``threshold``, ``threshold_rule``, ``calibration``,
        ``feature_columns``, ``scaler``, ``imputer``, ``gaps``, ``training``
        and ``extra``. The training scores (``decision_scores_``) are not stored.

        Args:
            directory: Folder to write (created if missing).
            feature_columns: Feature names in column order (default: those
                of a loaded detector, else the scaler's).
            scaler: The node's :class:`~ftl_tff.data.clients.scaling.NodeScaler` (or
                its ``to_dict()``), so raw windows can be scaled alike.
            imputer: The node's :class:`~ftl_tff.data.clients.scaling.NodeImputer`
                (or its ``to_dict()``).
            extra: More JSON-safe information (e.g. the federated run).
            gaps: The node's :class:`~ftl_tff.data.clients.gaps.NodeGap` (or its
                ``to_dict()``), so raw windows get their gap shares alike.

        Returns:
            The folder written.

        Raises:
            NotFittedError: If there is no model.
            SchemaError: If the feature names, scaler or imputer do not match
                ``n_features_in_`` (or each other).
            ConfigError: If a parameter is invalid or ``extra`` is not JSON-safe.
        """
        self._require_model()
        params = self._validate_params()
        scaler_dict = _as_payload(scaler if scaler is not None else getattr(self, "scaler_", None))
        imputer_dict = _as_payload(imputer if imputer is not None else getattr(self, "imputer_", None))
        gaps_dict = _as_payload(gaps if gaps is not None else getattr(self, "gaps_", None))
        if feature_columns is None:
            feature_columns = getattr(self, "feature_columns_", None)
        if feature_columns is None and scaler_dict is not None:
            feature_columns = scaler_dict.get("feature_columns")
        columns = None if feature_columns is None else [str(c) for c in feature_columns]
        self._check_schema(columns, scaler_dict, imputer_dict)
        threshold = getattr(self, "threshold_", None)
        metadata = {
            "kind": _DETECTOR_KIND,
            "params": _json_params(params),
            "n_features_in": self.n_features_in_,
            "score": params["score"],
            "threshold": threshold,
            "threshold_rule": getattr(self, "threshold_rule_", None) if threshold is not None else None,
            "calibration": getattr(self, "calibration_", None) if threshold is not None else None,
            "feature_columns": columns,
            "scaler": scaler_dict,
            "imputer": imputer_dict,
            "gaps": gaps_dict,
            "training": _json_safe_floats(getattr(self, "training_", None)),
            "extra": extra,
        }
        return save_model(directory, self.model_, metadata)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AnomalyDetector:
        """Reads a detector written by :meth:`save`.

        The model is rebuilt from its stored architecture and its weights
        assigned (no code from the folder runs); scores, threshold and
        predictions are those of the saved detector, bit for bit.

        Args:
            directory: The folder.

        Returns:
            The detector, with ``model_``, ``n_features_in_``, ``threshold_``
            (and ``threshold_rule_``, ``calibration_``) when it was
            calibrated, ``feature_columns_``, ``scaler_``, ``imputer_`` and
            ``gaps_`` (None when not saved), ``training_``, ``history_`` and
            ``metadata_`` (the whole JSON description).

        Raises:
            SourceNotFoundError: If the folder or a file is missing.
            CorruptFileError: If a file cannot be parsed.
            SchemaError: If the folder is not a saved detector, or its parts
                contradict each other (the message names the file).
        """
        model, metadata = load_model(directory)
        path = Path(directory) / METADATA_FILE
        if metadata.get("kind") != _DETECTOR_KIND:
            raise SchemaError(f"{path} is not a saved AnomalyDetector (kind {metadata.get('kind')!r})")
        architecture = metadata["architecture"]
        try:
            params = dict(metadata["params"])
            # Built from the validated values, so the JSON's lists become the tuples they were saved from.
            detector = cls(**cls(**params)._validate_params())
            scaler = None if metadata.get("scaler") is None else NodeScaler.from_dict(metadata["scaler"])
            imputer = None if metadata.get("imputer") is None else NodeImputer.from_dict(metadata["imputer"])
            gaps = None if metadata.get("gaps") is None else NodeGap.from_dict(metadata["gaps"])
        except (ConfigError, KeyError, TypeError, ValueError) as error:
            raise SchemaError(f"{path}: invalid detector description: {error}") from error
        if _resolved_structure(detector.get_params()) != _resolved_structure(_validated_structure(architecture)):
            raise SchemaError(f"{path}: params contradict the stored architecture")
        if metadata.get("n_features_in") != architecture["input_dim"]:
            raise SchemaError(f"{path}: n_features_in {metadata.get('n_features_in')!r} != input_dim "
                              f"{architecture['input_dim']}")
        detector.model_ = model
        detector.n_features_in_ = int(architecture["input_dim"])
        threshold = metadata.get("threshold")
        if threshold is not None:
            if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
                raise SchemaError(f"{path}: threshold must be a finite number, got {threshold!r}")
            detector.threshold_ = float(threshold)
            detector.threshold_rule_ = metadata.get("threshold_rule")
            detector.calibration_ = metadata.get("calibration")
        detector.feature_columns_ = metadata.get("feature_columns")
        detector.scaler_ = scaler
        detector.imputer_ = imputer
        detector.gaps_ = gaps
        detector.training_ = metadata.get("training")
        detector.history_ = (detector.training_ or {}).get("history")
        detector.metadata_ = metadata
        try:
            detector._check_schema(detector.feature_columns_, metadata.get("scaler"), metadata.get("imputer"))
        except SchemaError as error:
            raise SchemaError(f"{path}: {error}") from error
        return detector

    # -- helpers --------------------------------------------------------

    def _require_model(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFittedError("the detector has no model; call fit() or AnomalyDetector.from_model() first")

    def _check_schema(
        self,
        columns: list[str] | None,
        scaler: dict[str, Any] | None,
        imputer: dict[str, Any] | None,
    ) -> None:
        expected = self.n_features_in_
        if columns is not None and len(columns) != expected:
            raise SchemaError(f"feature_columns has {len(columns)} names, the model expects {expected} features")
        if scaler is not None:
            scaler_columns = [str(c) for c in scaler.get("feature_columns", [])]
            if len(scaler_columns) != expected:
                raise SchemaError(f"the scaler has {len(scaler_columns)} features, the model expects {expected}")
            if columns is not None and scaler_columns != columns:
                raise SchemaError("the scaler's feature_columns differ from feature_columns")
        if imputer is not None and len(imputer.get("fill_values", [])) != expected:
            raise SchemaError(
                f"the imputer has {len(imputer.get('fill_values', []))} fill values, the model expects {expected}"
            )


_PARAM_NAMES = (
    "encoder_units",
    "decoder_units",
    "activation",
    "output_activation",
    "epochs",
    "batch_size",
    "optimizer",
    "learning_rate",
    "score",
    "gap_weight",
    "gap_alarm",
    "smooth_windows",
    "threshold_rule",
    "percentile",
    "contamination",
    "seed",
    "verbose",
)


def _validated_params(params: dict[str, Any]) -> dict[str, Any]:
    checked = dict(params)
    checked["encoder_units"] = _units(params["encoder_units"], "encoder_units", allow_empty=False)
    if params["decoder_units"] is not None:
        checked["decoder_units"] = _units(params["decoder_units"], "decoder_units", allow_empty=True)
    for name in ("activation", "output_activation"):
        if not isinstance(params[name], str) or not params[name]:
            raise ConfigError(f"{name} must be a Keras activation name, got {params[name]!r}")
    for name in ("epochs", "batch_size"):
        if not _is_int(params[name]) or params[name] < 1:
            raise ConfigError(f"{name} must be a positive integer, got {params[name]!r}")
    if params["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {params['optimizer']!r}; expected one of {OPTIMIZERS}")
    rate = params["learning_rate"]
    if not _is_real(rate) or not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"learning_rate must be a positive number, got {rate!r}")
    if params["score"] not in SCORE_KINDS:
        raise ConfigError(f"unknown score {params['score']!r}; expected one of {SCORE_KINDS}")
    weight = params.get("gap_weight", 1.0)
    if not _is_real(weight) or not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"gap_weight must be a number >= 0, got {weight!r}")
    checked["gap_weight"] = float(weight)
    alarm = params.get("gap_alarm", 0.5)
    if alarm is not None and (not _is_real(alarm) or not 0 < alarm <= 1):
        raise ConfigError(f"gap_alarm must be a share in (0, 1] or None, got {alarm!r}")
    checked["gap_alarm"] = None if alarm is None else float(alarm)
    smooth = params.get("smooth_windows", 4)
    if not _is_int(smooth) or smooth < 1:
        raise ConfigError(f"smooth_windows must be a positive integer, got {smooth!r}")
    checked["smooth_windows"] = int(smooth)
    rule = params["threshold_rule"]
    if rule not in THRESHOLD_RULES:
        raise ConfigError(f"unknown threshold rule {rule!r}; expected one of {THRESHOLD_RULES}")
    _checked_percentile(params["percentile"])
    if params["contamination"] is not None:
        _checked_contamination(params["contamination"])
        if rule != "contamination":
            # A PyOD user's contamination=0.1 would otherwise be silently ignored.
            raise ConfigError(f"contamination is used only with threshold_rule='contamination', not {rule!r}")
    elif rule == "contamination":
        raise ConfigError("threshold_rule='contamination' needs contamination= (a share in (0, 1))")
    seed = params["seed"]
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    if not _is_int(params["verbose"], allow_bool=True) or params["verbose"] < 0:
        raise ConfigError(f"verbose must be 0, 1 or 2, got {params['verbose']!r}")
    return checked


_DEFAULT_PARAMS: dict[str, Any] = {}  # filled below, once the class exists


def _make_optimizer(params: dict[str, Any]) -> tf.keras.optimizers.Optimizer:
    return build_keras_optimizer(params["optimizer"], params["learning_rate"])


def _same_value(value: Any, default: Any) -> bool:
    # Parameters are stored unchanged, so a value may be anything (e.g. an array) until validated.
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _units(value: Any, name: str, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{name} must be a sequence of positive integers, got {value!r}")
    if not all(_is_int(u) and u >= 1 for u in value) or (not value and not allow_empty):
        raise ConfigError(f"{name} must be a{'' if allow_empty else ' non-empty'} sequence of positive integers, "
                          f"got {value!r}")
    # A tuple of plain ints is returned as it is (no copy).
    return value if isinstance(value, tuple) and all(type(u) is int for u in value) else tuple(int(u) for u in value)


def _is_int(value: Any, allow_bool: bool = False) -> bool:
    return isinstance(value, numbers.Integral) and (allow_bool or not isinstance(value, bool))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _checked_percentile(value: Any) -> float:
    if not _is_real(value) or not 0.0 <= float(value) <= 100.0:
        raise ConfigError(f"percentile must be a number in [0, 100], got {value!r}")
    return float(value)


def _checked_contamination(value: Any) -> float:
    if not _is_real(value) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"contamination must be a share in (0, 1), got {value!r}")
    return float(value)


def _validated_structure(architecture: dict[str, Any]) -> dict[str, Any]:
    return {
        "encoder_units": tuple(int(u) for u in architecture["encoder_units"]),
        "decoder_units": tuple(int(u) for u in architecture["decoder_units"]),
        "activation": architecture["activation"],
        "output_activation": architecture["output_activation"],
    }


def _resolved_structure(params: dict[str, Any]) -> dict[str, Any]:
    # decoder_units=None means "mirror the encoder": compare what is built.
    encoder = tuple(int(u) for u in params["encoder_units"])
    decoder = params["decoder_units"]
    decoder = tuple(reversed(encoder[:-1])) if decoder is None else tuple(int(u) for u in decoder)
    return {
        "encoder_units": encoder,
        "decoder_units": decoder,
        "activation": params["activation"],
        "output_activation": params["output_activation"],
    }


def _as_features(values: Any, name: str, n_features: int | None = None) -> np.ndarray:
    array = values.to_numpy() if isinstance(values, pd.DataFrame) else np.asarray(values)
    if array.dtype.kind not in "fiu":
        raise DataError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim != 2:
        raise DataError(f"{name} must be 2-D (windows, features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise DataError(f"{name} has no rows")
    if n_features is not None and array.shape[1] != n_features:
        raise SchemaError(
            f"{name} has {array.shape[1]} features, the detector was fitted on {n_features} "
            f"(expected {n_features}, got {array.shape[1]})"
        )
    if array.shape[1] == 0:
        raise DataError(f"{name} has no feature columns")
    missing = np.isnan(array) if array.dtype.kind == "f" else None
    if missing is not None and missing.any():
        raise DataError(
            f"{name} holds {int(missing.sum())} NaN values in {int(missing.any(axis=1).sum())} rows; "
            "impute first (see ftl_tff.data.clients.scaling.NodeImputer)"
        )
    features = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(features).all():
        raise DataError(f"{name} holds infinite values (or values beyond the float32 range)")
    return features


def causal_mean(values: np.ndarray, windows: int, index: Sequence[Any] | pd.Index | None = None) -> np.ndarray:
    """Mean of each value and the ``windows - 1`` before it, within runs of consecutive windows.

    Args:
        values: Per-window values in time order.
        windows: Length of the moving average (the first windows of a run
            average what the run has so far).
        index: Window start times; a step longer than the median step starts
            a new run. None: one run.

    Returns:
        float64 array of the same length.

    Raises:
        SchemaError: If ``index`` has another length.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0 or windows <= 1:
        return values
    starts = np.zeros(n, dtype=np.int64)
    if index is not None and n > 1:
        times = pd.DatetimeIndex(index) if not isinstance(index, pd.DatetimeIndex) else index
        if len(times) != n:
            raise SchemaError(f"index has {len(times)} window starts, the scores {n}")
        steps = np.diff(times.asi8)
        new_run = np.r_[True, steps != np.median(steps)]
        starts = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    total = np.r_[0.0, np.cumsum(values)]
    first = np.maximum(np.arange(n) - windows + 1, starts)
    return (total[np.arange(n) + 1] - total[first]) / (np.arange(n) + 1 - first)


def _as_gap(values: Any, length: int) -> np.ndarray:
    try:
        gap = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"gap must be numeric shares in [0, 1]: {error}") from error
    if gap.shape != (length,):
        raise SchemaError(f"gap has shape {gap.shape}, expected ({length},): one share per window")
    if not np.isfinite(gap).all() or gap.min(initial=0.0) < 0 or gap.max(initial=0.0) > 1:
        raise DataError("gap shares must be finite and within [0, 1]")
    return gap


def _no_settings(rule: str, settings: dict[str, Any], allowed: Sequence[str] = ()) -> None:
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ConfigError(f"threshold rule {rule!r} takes no setting {', '.join(unknown)}")


def _as_labels(values: Any, name: str, length: int) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or labels.size != length:
        raise DataError(f"{name} must be 1-D with {length} labels, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        raise DataError(f"{name} must hold only 0 (normal) and 1 (anomalous)")
    return labels.astype(np.int8)


def _as_sample_weight(values: Any, length: int) -> np.ndarray:
    try:
        weights = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError(f"sample_weight must be numbers: {error}") from error
    if weights.shape != (length,):
        raise DataError(f"sample_weight must have shape ({length},), got {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise DataError("sample_weight must be finite and non-negative")
    return weights


def _check_two_classes(labels: np.ndarray | None) -> None:
    if labels is None:
        raise ConfigError("the 'best_f1' threshold rule needs labels of the calibration windows (y=)")
    anomalous = int(labels.sum())
    if anomalous == 0 or anomalous == labels.size:
        raise ConfigError(
            "the 'best_f1' threshold rule needs both normal and anomalous calibration windows, "
            f"got {anomalous} anomalous of {labels.size}"
        )


def _best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    # Sorting once gives every candidate's counts: flagging all windows with
    # score >= s[i] flags i + 1 windows, of which cumsum(labels)[i] are true.
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    true_positives = np.cumsum(labels[order].astype(np.int64))
    flagged = np.arange(1, ranked.size + 1)
    # A candidate is a distinct score: the last position of each run of ties.
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    f1 = 2.0 * true_positives[last_of_tie] / (flagged[last_of_tie] + int(labels.sum()))
    best = int(np.argmax(f1))  # first maximum = highest threshold
    return float(ranked[last_of_tie][best]), float(f1[best])


def _as_payload(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return dict(value)
    raise ConfigError(f"expected a NodeScaler/NodeImputer or its to_dict(), got {type(value).__name__}")


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in params.items()}


def _json_safe_floats(value: Any) -> Any:
    # A diverged training leaves NaN losses; JSON has no NaN, so they become null.
    if isinstance(value, dict):
        return {key: _json_safe_floats(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe_floats(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_DEFAULT_PARAMS.update(AnomalyDetector().get_params())
