"""The names ftl-tff's options, tables and figures use, defined once.

Every other module, the CLI's choices, the experiment file's checks, the
reports and the figures read their lists from here, so a new paradigm,
method or optimizer is added in one place. This module imports nothing of
the package: it is the bottom layer.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BASELINES",
    "CENTRALIZED",
    "CRITERIA",
    "ENGINES",
    "FEATURE_SETS",
    "FEDERATED",
    "FINE_TUNE",
    "FULL_FINE_TUNE",
    "IMPUTE_POLICIES",
    "LOCAL",
    "METHOD_ORDER",
    "OPTIMIZERS",
    "PARADIGMS",
    "RUN_METHODS",
    "SCORE_KINDS",
    "SPLITS",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "TRANSFER_MODES",
    "WEIGHTINGS",
    "ZERO_SHOT",
    "node_order",
    "sort_nodes",
]

#: Learning paradigms, from the one that reads no label to the one that reads most.
PARADIGMS: tuple[str, ...] = ("unsupervised", "semi-supervised", "supervised")

FEDERATED = "federated"
LOCAL = "local"
CENTRALIZED = "centralized"
ZERO_SHOT = "zero-shot"
FINE_TUNE = "fine-tune"
FULL_FINE_TUNE = "full-fine-tune"

#: Methods a training run evaluates on its participating nodes.
RUN_METHODS: tuple[str, ...] = (FEDERATED, LOCAL, CENTRALIZED)
#: Baselines trained next to the federated model.
BASELINES: tuple[str, ...] = (LOCAL, CENTRALIZED)
#: How the global model is carried to a node that did not train it.
TRANSFER_MODES: tuple[str, ...] = (ZERO_SHOT, FINE_TUNE, FULL_FINE_TUNE)
#: The order methods appear in in tables and figures.
METHOD_ORDER: tuple[str, ...] = (FEDERATED, CENTRALIZED, LOCAL, ZERO_SHOT, FINE_TUNE, FULL_FINE_TUNE)

#: Node selection strategies (canonical names).
STRATEGIES: tuple[str, ...] = ("top", "random")
#: Spellings of the strategies accepted in files and on the command line.
STRATEGY_NAMES: dict[str, str] = {"top": "top", "topn": "top", "top-n": "top", "random": "random",
                                  "randomn": "random", "random-n": "random"}
#: Top-N ranking criteria (:mod:`ftl_tff.selection`).
CRITERIA: tuple[str, ...] = ("training_windows", "normal_windows", "anomaly_rate", "completeness")

#: Feature sets (:mod:`ftl_tff.data.building.features`): every feature, IPMI + Ganglia, every feature of the dataset.
FEATURE_SETS: tuple[str, ...] = ("all", "D1", "D2")
#: Per-node splits of windows into train/validation/test.
SPLITS: tuple[str, ...] = ("blocked", "chronological")
#: Imputation policies for missing values.
IMPUTE_POLICIES: tuple[str, ...] = ("median", "zero", "ffill", "drop")
#: Window scores: mean squared reconstruction error, largest per-feature error.
SCORE_KINDS: tuple[str, ...] = ("mse", "max")
#: Optimizers, client side and baselines alike: ``sgd`` plain SGD, ``sgdm`` SGD with momentum 0.9.
OPTIMIZERS: tuple[str, ...] = ("adam", "rmsprop", "sgd", "sgdm")
#: FedAvg client weights: by examples trained on, or equal.
WEIGHTINGS: tuple[str, ...] = ("examples", "uniform")
#: Federated engines: ``per-node`` one TFF client per node (TFF's ``build_weighted_fed_avg``, the reference and
#: default), ``cohort`` a cohort of nodes per TFF client trained in one graph.
ENGINES: tuple[str, ...] = ("per-node", "cohort")


def node_order(node: str) -> tuple[int, int, str]:
    """Sort key of node ids: integers numerically (``"2"`` before ``"10"``), then other ids as text."""
    node = str(node)
    return (0, int(node), node) if node.isdigit() else (1, 0, node)


def sort_nodes(nodes: Iterable[object]) -> list[str]:
    """Distinct node ids as strings, in :func:`node_order`."""
    return sorted({str(n) for n in nodes}, key=node_order)
