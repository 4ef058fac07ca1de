"""Per-node calibration: what a paradigm lets a node's threshold read, and the evaluation that follows.

Participants and transfer targets are calibrated the same way. A
:class:`TargetView` is the one place that decides what may be read of a
node (:func:`target_view`): in the unsupervised and semi-supervised
paradigms its windows only, in the supervised one its validation labels too.
:func:`calibrate_target` sets the threshold from that view (the F1-best one
on labelled validation windows, else the label-free rule on the training
scores), and :func:`calibrate_and_evaluate` then scores the node's test
windows with :meth:`~ftl_tff.detection.AnomalyDetector.predict_scores`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data.clients.client_data import NodeData
from .detection import AnomalyDetector
from .errors import ConfigError
from .metrics import detection_metrics
from .paradigms import DEFAULT_THRESHOLD_RULE, Paradigm, get_paradigm

__all__ = ["TargetView", "ThresholdRule", "calibrate_and_evaluate", "calibrate_target", "target_view",
           "unflagged_windows"]


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
    def of(cls, name: str | None, federation_z: float | None = None) -> ThresholdRule:
        """The rule ``name`` (None: the default), with the federation's ``z`` when it is ``transferred``.

        Raises:
            ConfigError: If the rule is ``transferred`` and there is no ``federation_z``.
        """
        name = name or DEFAULT_THRESHOLD_RULE
        if name != "transferred":
            return cls(name)
        if federation_z is None or not np.isfinite(federation_z):
            raise ConfigError("threshold 'transferred' needs the federation's normalised threshold, which this "
                              "model does not carry (train it again with this version, or choose another rule)")
        return cls(name, {"z": float(federation_z)})


def unflagged_windows(detector: AnomalyDetector, view: TargetView, paradigm: Paradigm,
                      rule: ThresholdRule) -> np.ndarray:
    """The training windows ``detector``, calibrated on them by ``rule``, does not flag (all when it flags every one)."""
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


def calibrate_and_evaluate(detector: AnomalyDetector, node_data: NodeData, paradigm: str | Paradigm,
                           rule: ThresholdRule, percentile: float) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """Calibrate ``detector`` on ``node_data`` (:func:`calibrate_target`) and score its test windows.

    Returns:
        ``(calibration, metrics, scores)``: what :func:`calibrate_target`
        returns, :func:`~ftl_tff.metrics.detection_metrics` of the test
        windows (flags from :meth:`~ftl_tff.detection.AnomalyDetector.predict_scores`)
        and their scores.
    """
    done = calibrate_target(detector, target_view(node_data, paradigm), paradigm, percentile, rule=rule)
    scores = detector.score_samples(node_data.x_test, gap=node_data.gap("test"), index=node_data.index_test)
    metrics = detection_metrics(node_data.y_test, scores, detector.predict_scores(scores), index=node_data.index_test)
    return done, metrics, scores


def _paradigm(paradigm: str | Paradigm) -> Paradigm:
    return paradigm if isinstance(paradigm, Paradigm) else get_paradigm(paradigm)
