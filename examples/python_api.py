"""Use ftl-tff from Python on the real four-node M100 sample (September 2022).

    python examples/python_api.py [--out DIR] [--epochs N]

Prepares the sample carried in examples/data/m100-2209-rebuilt, trains a
detector on one node's normal windows, sets its threshold, scores the test
windows against the Nagios labels, explains the top alarms, and saves and
reloads the detector. Every step is a public library call.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="ftl-tff from Python on the real M100 sample.")
    parser.add_argument("--out", type=Path, default=Path("ftl-python-api"), help="Working folder.")
    parser.add_argument("--node", default="10", help="Node to model (10, 38, 104 or 355).")
    parser.add_argument("--epochs", type=int, default=30, help="Training epochs.")
    args = parser.parse_args(argv)

    from ftl_tff.data import load_dataset, prepare
    from ftl_tff.data.clients.client_data import prepare_federated_data
    from ftl_tff.detection import AnomalyDetector
    from ftl_tff.metrics import detection_metrics

    # 1. Wide per-node tables -> a processed dataset (15-minute windows, Nagios labels).
    prepared = args.out / "prepared"
    if not (prepared / "manifest.json").exists():
        prepare(HERE / "data" / "m100-2209-rebuilt", prepared, "wide")
    dataset = load_dataset(prepared)
    print(dataset)

    # 2. Per-node blocked split (6-hour blocks), scaling fitted on the node's own training part,
    #    normal windows only for training (semi-supervised).
    data = prepare_federated_data(dataset, [args.node], split="blocked", block="6h", train=0.7, validation=0.1,
                                  semi_supervised=True)
    node = data.node_data[args.node]
    print(f"node {args.node}: {len(node.x_train)} normal training windows, {len(node.x_test)} test windows "
          f"({int(node.y_test.sum())} anomalous)")

    # 3. Train, then set the threshold with the label-free default rule on the training scores.
    #    The score is the reconstruction error (smoothed over the last hour) plus the window's
    #    share of missing telemetry (gap), which imputation would otherwise hide.
    detector = AnomalyDetector(epochs=args.epochs, threshold_rule="log_robust_z", seed=0)
    detector.fit(node.x_train, gap=node.gap("train"), index=node.index_train)
    scores = detector.score_samples(node.x_test, gap=node.gap("test"), index=node.index_test)
    flags = detector.predict_scores(scores)
    metrics = detection_metrics(node.y_test, scores, flags, index=node.index_test)
    print({k: metrics[k] for k in ("precision", "recall", "f1", "event_f1", "roc_auc")})

    # 4. Which metrics drive the highest-scoring windows?
    top = detector.feature_contributions(node.x_test[scores.argsort()[-3:]], data.feature_columns, top_k=3)
    print(top.to_string(index=False))

    # 5. Save with the node's scaler, load it back: the same scores.
    folder = detector.save(args.out / "detector", data.feature_columns, node.scaler, node.imputer, gaps=node.gaps)
    again = AnomalyDetector.load(folder)
    assert (again.score_samples(node.x_test, gap=node.gap("test"), index=node.index_test) == scores).all()
    print(f"saved and reloaded {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
