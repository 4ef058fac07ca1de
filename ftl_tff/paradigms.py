"""The three learning paradigms, exactly as ftl-tff implements them.

| paradigm | training windows | threshold | labels used for |
|---|---|---|---|
| ``unsupervised`` | every training window | a percentile of the node's training errors | nothing (evaluation only) |
| ``semi-supervised`` | the normal training windows only | a percentile of the node's normal training errors | choosing the training windows |
| ``supervised`` | the normal training windows only | the F1-best threshold on the node's labelled validation windows | training windows and threshold |

In every paradigm the test windows' labels are used only to evaluate. When a
supervised node's validation part holds a single class, the F1-best threshold
is undefined: the percentile rule is used instead and the fallback is
recorded for that node.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

PARADIGMS: tuple[str, ...] = ("unsupervised", "semi-supervised", "supervised")


@dataclass(frozen=True)
class Paradigm:
    """What a paradigm does with labels.

    Attributes:
        name: One of :data:`PARADIGMS`.
        normal_only_training: Train on label-0 windows only.
        threshold_rule: ``"percentile"`` or ``"best_f1"``.
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
        "unsupervised": Paradigm("unsupervised", normal_only_training=False, threshold_rule="percentile"),
        "semi-supervised": Paradigm("semi-supervised", normal_only_training=True, threshold_rule="percentile"),
        "supervised": Paradigm("supervised", normal_only_training=True, threshold_rule="best_f1"),
    }
    key = name.replace("_", "-")
    if key not in table:
        raise ConfigError(f"unknown paradigm {name!r}: use one of {', '.join(PARADIGMS)}")
    return table[key]
