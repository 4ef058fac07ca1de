"""End to end: train (federated + baselines), evaluate, score, on generated M100 data.

Real TFF on small data; the paradigms use labels only as defined; the
detection quality on injected anomalies is pinned with a floor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main

from ftl_tff._processes import child_pids_named
from ftl_tff.data import load_dataset, prepare
from ftl_tff.data.synthetic import generate_raw
from ftl_tff.runs import score_run

# Small but real: 4 nodes x 4 days of compact telemetry at 60 s.
NODES, DAYS = 4, 4.0
FAST = ["--rounds", "3", "--batch-size", "32", "--seed", "1"]
FLOOR_ROC_AUC = 0.70  # measured 0.77 (4 nodes: 0.59, 0.94, 0.99, 0.58)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    generate_raw(root / "raw", n_nodes=NODES, days=DAYS, seed=3, metric_set="compact", ipmi_period_s=60,
                 ganglia_period_s=60, anomaly_rate=1.0)
    prepare(root / "raw", root / "prepared", "raw")
    return root / "prepared"


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "semi"
    result = CliRunner().invoke(main, ["train", str(prepared), "--paradigm", "semi-supervised", "--nodes", "3",
                                       "--out", str(run), *FAST])
    assert result.exit_code == 0, result.output
    return run


def test_train_writes_a_complete_run_folder(trained):
    for name in ("model/model.json", "model/model.weights.h5", "calibration.json", "config.json",
                 "metrics_per_round.csv", "metrics_per_node.csv", "summary.json"):
        assert (trained / name).exists(), name
    rounds = pd.read_csv(trained / "metrics_per_round.csv")
    assert len(rounds) == 3 and rounds["train_loss"].notna().all()
    per_node = pd.read_csv(trained / "metrics_per_node.csv")
    assert set(per_node["method"]) == {"federated", "local", "centralized"}
    assert sorted(per_node.loc[per_node["method"] == "federated", "node"].astype(str)) == sorted(
        json.loads((trained / "config.json").read_text())["nodes"])
    assert not child_pids_named("worker_binary")


def test_training_again_into_a_used_run_folder_needs_resume(trained, prepared, tmp_path):
    import shutil

    run = tmp_path / "again"
    shutil.copytree(trained, run)  # leave the shared fixture untouched
    runner = CliRunner()
    args = ["train", str(prepared), "--paradigm", "semi-supervised", "--nodes", "3", "--out", str(run), *FAST]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "resume" in result.output and "Traceback" not in result.output
    before = pd.read_csv(run / "metrics_per_round.csv")
    result = runner.invoke(main, [*args, "--resume", "--baselines", "none"])
    assert result.exit_code == 0, result.output
    # All 3 rounds were already done: resuming runs none and keeps the curve.
    pd.testing.assert_frame_equal(pd.read_csv(run / "metrics_per_round.csv")[["round", "train_loss"]],
                                  before[["round", "train_loss"]])
    assert not child_pids_named("worker_binary")


def test_evaluate_reproduces_the_training_time_metrics(trained, prepared):
    result = CliRunner().invoke(main, ["evaluate", str(trained), str(prepared), "--json"])
    assert result.exit_code == 0, result.output
    evaluated = pd.DataFrame(json.loads(result.output)).set_index("node")
    per_node = pd.read_csv(trained / "metrics_per_node.csv", dtype={"node": str})
    federated = per_node[per_node["method"] == "federated"].set_index("node")
    for node in evaluated.index:
        assert evaluated.loc[node, "f1"] == pytest.approx(federated.loc[node, "f1"], nan_ok=True)
        assert evaluated.loc[node, "roc_auc"] == pytest.approx(federated.loc[node, "roc_auc"], nan_ok=True)


def test_score_lists_windows_flags_and_contributing_metrics(trained, prepared, tmp_path):
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["score", str(trained / "model"), str(prepared), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert {"node", "window_start", "score", "threshold", "anomalous", "label", "top1_feature"} <= set(table.columns)
    assert (table["anomalous"] == (table["score"] >= table["threshold"])).all()
    features = json.loads((prepared / "manifest.json").read_text())["feature_columns"]
    assert set(table["top1_feature"]).issubset(features)


def test_unsupervised_training_never_reads_labels(prepared, tmp_path):
    # Flip every label of the prepared data: an unsupervised run must train the
    # same model and set the same thresholds (labels only enter evaluation).
    flipped = tmp_path / "flipped"
    import shutil

    shutil.copytree(prepared, flipped)
    for path in (flipped / "nodes").glob("*.parquet"):
        frame = pd.read_parquet(path)
        frame["label"] = (1 - frame["label"]).astype(np.int8)
        frame.to_parquet(path, index=False)
    runs = {}
    for name, data in (("orig", prepared), ("flip", flipped)):
        runs[name] = tmp_path / name
        result = CliRunner().invoke(main, ["train", str(data), "--paradigm", "unsupervised", "--nodes", "2",
                                           "--baselines", "none", "--out", str(runs[name]), *FAST])
        assert result.exit_code == 0, result.output
    a = json.loads((runs["orig"] / "calibration.json").read_text())
    b = json.loads((runs["flip"] / "calibration.json").read_text())
    assert {n: v["threshold"] for n, v in a.items()} == {n: v["threshold"] for n, v in b.items()}


def test_semi_supervised_trains_on_normal_windows_only(trained):
    from ftl_tff.config import RunConfig
    from ftl_tff.data.clients.client_data import prepare_federated_data
    from ftl_tff.paradigms import DEFAULT_THRESHOLD_RULE

    saved = json.loads((trained / "config.json").read_text())
    config = RunConfig.from_dict(saved)
    summary = json.loads((trained / "summary.json").read_text())
    report = pd.DataFrame(summary["split_report"]).set_index("node")
    assert report["train_anomalous"].sum() > 0  # there were anomalous training windows to remove
    # Every client's rows in every round were its normal training windows, and only those.
    normal = (report["train_windows"] - report["train_anomalous"]).loc[list(config.nodes)]
    rounds = pd.read_csv(trained / "metrics_per_round.csv")
    assert (rounds["num_examples"] == int(normal.sum()) * config.fedavg.local_epochs).all()
    assert int(normal.sum()) < int(report["train_windows"].loc[list(config.nodes)].sum())
    fed = prepare_federated_data(load_dataset(saved["dataset"]), list(config.nodes), **config.split_kwargs())
    for node in config.nodes:
        assert (fed.node_data[node].y_train == 0).all() and len(fed.node_data[node].x_train) == normal[node]
    calibration = json.loads((trained / "calibration.json").read_text())
    assert all(v["rule"] == DEFAULT_THRESHOLD_RULE for v in calibration.values())


def test_saved_model_carries_no_single_node_threshold_but_the_federations(trained):
    # Calibrating the shared global model node by node used to leave the last node's threshold in model.json.
    from ftl_tff.detection import AnomalyDetector

    calibration = json.loads((trained / "calibration.json").read_text())
    assert len({round(v["threshold"], 12) for v in calibration.values()}) == len(calibration) > 1
    saved = json.loads((trained / "model" / "model.json").read_text())
    assert saved["threshold"] is None and saved["calibration"] is None
    extra = saved["extra"]
    assert extra["federation_threshold_z"] == pytest.approx(np.median([v["threshold_z"] for v in calibration.values()]))
    assert not hasattr(AnomalyDetector.load(trained / "model"), "threshold_")
    # Each node's own threshold is what scoring uses.
    table = score_run(trained, load_dataset(json.loads((trained / "config.json").read_text())["dataset"]))
    for node, rows in table.groupby("node"):
        assert rows["threshold"].unique().tolist() == [calibration[node]["threshold"]]


def test_bad_inputs_are_one_line_errors(prepared, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(tmp_path / "none"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "processed dataset not found" in result.output
    result = runner.invoke(main, ["train", str(prepared), "--nodes", "99", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "--nodes: must be between 1 and" in result.output
    result = runner.invoke(main, ["evaluate", str(tmp_path), str(prepared)])
    assert result.exit_code == 1 and "not a run folder" in result.output
    assert not child_pids_named("worker_binary")


def test_semi_supervised_federated_detects_injected_anomalies(prepared, tmp_path):
    # Quality floor on generated data (blocked 6 h split so that every node has
    # anomalies in its test part). Measured when pinned: see CHANGELOG/issue
    # notes; the floor sits well below the measured mean to absorb CPU noise
    # in float reductions, not to hide a regression to chance (0.5).
    run = tmp_path / "quality"
    result = CliRunner().invoke(main, ["train", str(prepared), "--paradigm", "semi-supervised", "--split", "blocked",
                                       "--block", "6h", "--baselines", "none", "--rounds", "6", "--seed", "0",
                                       "--out", str(run)])
    assert result.exit_code == 0, result.output
    per_node = pd.read_csv(run / "metrics_per_node.csv")
    defined = per_node["roc_auc"].dropna()
    assert len(defined) >= 3
    assert defined.mean() >= FLOOR_ROC_AUC, per_node[["node", "roc_auc", "pr_auc", "f1"]].to_string()


def test_supervised_threshold_uses_validation_labels_and_falls_back_when_one_class():
    from types import SimpleNamespace

    from ftl_tff.calibration import ThresholdRule, calibrate_target, target_view
    from ftl_tff.detection import AnomalyDetector
    from ftl_tff.models import build_autoencoder
    from ftl_tff.paradigms import get_paradigm

    rng = np.random.default_rng(0)
    detector = AnomalyDetector.from_model(build_autoencoder(6, encoder_units=(4, 2), seed=0))
    x_train = rng.random((50, 6)).astype(np.float32)
    x_val = np.concatenate([rng.random((30, 6)), rng.random((10, 6)) + 3]).astype(np.float32)
    y_val = np.array([0] * 30 + [1] * 10, dtype=np.int8)
    def no_gaps(part):
        return None

    node = SimpleNamespace(node="n", x_train=x_train, x_validation=x_val, y_validation=y_val, gap=no_gaps,
                           index=no_gaps)
    supervised = get_paradigm("supervised")

    def _calibrate(detector, node, paradigm, percentile):
        return calibrate_target(detector, target_view(node, paradigm), paradigm, percentile,
                                rule=ThresholdRule("percentile"))

    p99, p95 = 99.0, 95.0
    done = _calibrate(detector, node, supervised, p99)
    assert done["rule"] == "best_f1" and not done["note"]
    scores = detector.score_samples(x_val)
    # The F1-best threshold separates the shifted windows from the rest.
    assert scores[y_val == 1].min() >= done["threshold"] > scores[y_val == 0].max()
    one_class = SimpleNamespace(node="n", x_train=x_train, x_validation=x_val[:30], y_validation=y_val[:30],
                                gap=no_gaps, index=no_gaps)
    done = _calibrate(detector, one_class, supervised, p99)
    assert done["rule"] == "percentile" and "one class" in done["note"]
    assert done["threshold"] == pytest.approx(np.percentile(detector.score_samples(x_train), 99.0))
    # Semi-supervised never looks at validation labels.
    done = _calibrate(detector, node, get_paradigm("semi-supervised"), p95)
    assert done["rule"] == "percentile"
    assert done["threshold"] == pytest.approx(np.percentile(detector.score_samples(x_train), 95.0))
