"""The three learning paradigms, exactly as ftl-tff implements them.

| paradigm | training windows | threshold | labels used for |
|---|---|---|---|
| ``unsupervised`` | every training window | a label-free rule on the node's training scores | nothing (evaluation only) |
| ``semi-supervised`` | the normal training windows only | a label-free rule on the node's training scores | choosing the training windows |
| ``supervised`` | the normal training windows only | the F1-best threshold on the node's labelled validation windows | training windows and threshold |

In every paradigm the test windows' labels are used only to evaluate. When a
supervised node's validation part holds a single class, the F1-best threshold
is undefined: the label-free rule is used instead and the fallback is
recorded for that node.

The label-free rule is :data:`DEFAULT_THRESHOLD_RULE` unless a run names
another (:mod:`ftl_tff.thresholds`, ``docs/concepts/thresholds.md`` for the
measurements behind the choice). Target nodes of a transfer are unlabelled
in the unsupervised and semi-supervised paradigms: their training windows
hold faults, which is why the default rule is one that contamination does
not drag up.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import vocabulary
from .errors import ConfigError

PARADIGMS = vocabulary.PARADIGMS
#: Threshold rules that read no label (:mod:`ftl_tff.thresholds`; ``transferred`` needs a federation's threshold).
LABEL_FREE_RULES: tuple[str, ...] = ("percentile", "contamination", "log_robust_z", "robust_z", "iqr", "pot", "trimmed",
                                     "transferred")
#: The label-free threshold rule of the unsupervised and semi-supervised paradigms (and the supervised fallback).
DEFAULT_THRESHOLD_RULE = "log_robust_z"
#: Block length of the default blocked split: a quarter day, so that every
#: part samples day and night and most failure episodes reach more than one part.
DEFAULT_BLOCK = "6h"


@dataclass(frozen=True)
class Paradigm:
    """What a paradigm does with labels.

    Attributes:
        name: One of :data:`PARADIGMS`.
        normal_only_training: Train on label-0 windows only.
        threshold_rule: ``"label-free"`` (a rule of :mod:`ftl_tff.thresholds`,
            :data:`DEFAULT_THRESHOLD_RULE` by default) or ``"best_f1"``.
    """

    name: str
    normal_only_training: bool
    threshold_rule: str

    @property
    def uses_validation_labels(self) -> bool:
        """Whether labels of the validation part choose the threshold."""
        return self.threshold_rule == "best_f1"


def get_paradigm(name: str) -> Paradigm:
    """Return the :class:`Paradigm` called ``name``.

    Raises:
        ConfigError: For an unknown name.
    """
    table = {
        "unsupervised": Paradigm("unsupervised", normal_only_training=False, threshold_rule="label-free"),
        "semi-supervised": Paradigm("semi-supervised", normal_only_training=True, threshold_rule="label-free"),
        "supervised": Paradigm("supervised", normal_only_training=True, threshold_rule="best_f1"),
    }
    key = name.replace("_", "-")
    if key not in table:
        raise ConfigError(f"unknown paradigm {name!r}: use one of {', '.join(PARADIGMS)}")
    return table[key]
