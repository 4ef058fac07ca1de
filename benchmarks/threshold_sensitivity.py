"""How each label-free threshold rule holds up when a node's training windows hold faults.

An unlabelled node's threshold is set on its own training windows, and
nobody has removed the faults from them. This study measures how F1 on the
node's test windows changes with the share of anomalous windows among the
calibration windows (1 to 30 %), for every label-free rule of
:mod:`ftl_tff.thresholds` and the plain percentile.

Per node (blocked split, the library's defaults): a detector is trained on
the node's normal training windows, so the model itself is the same at every
contamination level and only the calibration set changes. The calibration
set is every normal training window plus anomalous training windows drawn
(seeded, with replacement when the node has too few) so that they make up
the given share. The scores are the detector's (reconstruction error
smoothed along the node's time line, plus the gap share); each rule's
threshold, as :meth:`~ftl_tff.detection.AnomalyDetector.calibrate` sets it
from them (the telemetry-gap rule included), is scored on the node's test
windows.

Usage::

    python benchmarks/threshold_sensitivity.py PREPARED_DATASET [--epochs 10] [--max-nodes 20]

Prints one table: the median over nodes of test F1 (and of the share of
normal test windows flagged) per rule and contamination level.
"""

from __future__ import annotations

import argparse
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ftl_tff.data import load_dataset  # noqa: E402
from ftl_tff.data.clients.client_data import prepare_federated_data  # noqa: E402
from ftl_tff.detection import AnomalyDetector  # noqa: E402
from ftl_tff.metrics import detection_metrics  # noqa: E402
from ftl_tff.paradigms import DEFAULT_BLOCK  # noqa: E402

#: The rules compared: the library's label-free rules as ``AnomalyDetector.calibrate`` applies them (with the
#: telemetry-gap rule), and the default rule without it for reference.
RULES = ("percentile", "robust_z", "log_robust_z", "log_robust_z k=2.5", "iqr", "pot", "trimmed",
         "log_robust_z, no gap rule")
LEVELS = (0.01, 0.05, 0.10, 0.20, 0.30)


def study(dataset_path: str, epochs: int, max_nodes: int | None, seed: int = 0) -> pd.DataFrame:
    """One row per (node, rule, contamination level): F1 and normal windows flagged on the test part."""
    dataset = load_dataset(dataset_path)
    nodes = dataset.nodes[:max_nodes] if max_nodes else dataset.nodes
    split = {"split": "blocked", "train": 0.7, "validation": 0.1, "block": DEFAULT_BLOCK}
    everything = prepare_federated_data(dataset, nodes, **split)
    rows = []
    for node in nodes:
        data = everything.node_data[node]
        normal, anomalous = data.y_train == 0, data.y_train == 1
        if anomalous.sum() == 0 or not 0 < data.y_test.sum() < len(data.y_test):
            continue
        detector = AnomalyDetector(epochs=epochs, seed=seed).fit(data.x_train[normal], gap=data.gap("train")[normal],
                                                                 index=data.index_train[normal])
        # Scores as the detector gives them (smoothed along the node's own time line), then calibration sets
        # drawn from them: the rules see exactly the scores a node's training part would give.
        train_scores = detector.score_samples(data.x_train, gap=data.gap("train"), index=data.index_train)
        test_scores = detector.score_samples(data.x_test, gap=data.gap("test"), index=data.index_test)
        rng = np.random.default_rng(seed)
        n_normal = int(normal.sum())
        for level in LEVELS:
            k = int(round(level / (1 - level) * n_normal))
            drawn = rng.choice(np.flatnonzero(anomalous), size=k, replace=k > anomalous.sum())
            calibration = np.concatenate([train_scores[normal], train_scores[drawn]])
            for rule in RULES:
                threshold = _threshold(detector, calibration, rule)
                flags = (test_scores >= threshold).astype(np.int8)
                metrics = detection_metrics(data.y_test, test_scores, flags)
                rows.append({"node": node, "rule": rule, "contamination": level, "f1": metrics["f1"],
                             "normal_flagged": float(flags[data.y_test == 0].mean())})
    return pd.DataFrame(rows)


def _threshold(detector: AnomalyDetector, scores: np.ndarray, rule: str) -> float:
    """The threshold ``detector.calibrate`` sets from these scores: the rule, then the telemetry-gap cap."""
    from ftl_tff import thresholds

    name, _, k = rule.partition(" k=")
    gap_rule = not name.endswith(", no gap rule")
    name = name.replace(", no gap rule", "")
    if name == "percentile":
        value = float(np.percentile(scores, detector.percentile))
    else:
        value = float(thresholds.threshold(scores, name, **({"k": float(k)} if k else {})))
    return min(value, detector.gap_weight * detector.gap_alarm) if gap_rule else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-nodes", type=int, default=None)
    args = parser.parse_args()
    table = study(args.dataset, args.epochs, args.max_nodes)
    print(f"{table['node'].nunique()} nodes with anomalous training windows and both classes in test")
    for value in ("f1", "normal_flagged"):
        pivot = table.pivot_table(index="rule", columns="contamination", values=value, aggfunc="median")
        print(f"\nmedian {value} over nodes (columns: share of anomalous calibration windows)")
        print(pivot.reindex(RULES).round(3).to_string())


if __name__ == "__main__":
    main()
