"""Transfer to non-participating nodes: frozen encoder, label safety, deltas, data efficiency."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftl_tff.calibration import target_view
from ftl_tff.config import RunConfig, TransferConfig
from ftl_tff.data import load_dataset, prepare
from ftl_tff.data.clients.scaling import NodeScaler
from ftl_tff.data.synthetic import generate_raw
from ftl_tff.detection import AnomalyDetector
from ftl_tff.errors import ConfigError, DataError
from ftl_tff.paradigms import DEFAULT_THRESHOLD_RULE
from ftl_tff.transfer import (
    data_efficiency,
    efficiency_summary,
    fine_tune,
    prepare_targets,
    transfer_deltas,
    transfer_to_nodes,
)

SPLIT = {"split": "chronological", "train": 0.6, "validation": 0.2}
FAST = {"epochs": 2}


def run(paradigm: str) -> RunConfig:
    """The source run's settings transfer reads: paradigm, split and a batch size of 64."""
    return RunConfig.from_flat({"paradigm": paradigm, "batch_size": 64, **SPLIT})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    generate_raw(root / "raw", n_nodes=4, days=4.0, seed=5, metric_set="compact", ipmi_period_s=120,
                 ganglia_period_s=120, anomaly_rate=2.0)
    prepare(root / "raw", root / "prepared", "raw")
    return load_dataset(root / "prepared")


@pytest.fixture(scope="module")
def global_model(dataset):
    """A small 'global' model trained on the first two nodes (stands in for the federated one)."""
    fed = prepare_targets(dataset, dataset.nodes[:2], run("unsupervised"))
    x = np.concatenate([fed.node_data[n].x_train for n in fed.nodes])
    return AnomalyDetector(encoder_units=(16, 4), epochs=2, seed=0).fit(x).model_


def _parts(model):
    return [w.copy() for w in model.get_layer("encoder").get_weights()], [
        w.copy() for w in model.get_layer("decoder").get_weights()]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_fine_tune_freezes_the_encoder_and_changes_the_decoder(dataset, global_model):
    x = prepare_targets(dataset, dataset.nodes[2:3], run("unsupervised")).node_data[dataset.nodes[2]].x_train
    encoder0, decoder0 = _parts(global_model)
    tuned = fine_tune(global_model, x, mode="fine-tune", epochs=2, seed=0)
    encoder1, decoder1 = _parts(tuned)
    assert _same(encoder0, encoder1), "fine-tune changed the encoder"
    assert not any(np.array_equal(a, b) for a, b in zip(decoder0, decoder1)), "fine-tune left a decoder layer as it was"
    # The global model itself is untouched.
    assert _same(encoder0, _parts(global_model)[0]) and _same(decoder0, _parts(global_model)[1])
    full = fine_tune(global_model, x, mode="full-fine-tune", epochs=2, seed=0)
    assert not _same(encoder0, _parts(full)[0]), "full fine-tune kept the encoder frozen"
    zero = fine_tune(global_model, x, mode="zero-shot")
    assert _same(encoder0 + decoder0, zero.get_weights()) and zero is not global_model


def test_reinit_decoder_starts_from_fresh_decoder_weights(dataset, global_model):
    x = prepare_targets(dataset, dataset.nodes[2:3], run("unsupervised")).node_data[dataset.nodes[2]].x_train
    kept = fine_tune(global_model, x, mode="fine-tune", epochs=1, learning_rate=1e-9, seed=0)
    fresh = fine_tune(global_model, x, mode="fine-tune", epochs=1, learning_rate=1e-9, reinit_decoder=True, seed=0)
    # With a vanishing learning rate the weights stay where they started.
    np.testing.assert_allclose(kept.get_layer("decoder").get_weights()[0],
                               global_model.get_layer("decoder").get_weights()[0], atol=1e-6)
    assert not np.allclose(fresh.get_layer("decoder").get_weights()[0],
                           global_model.get_layer("decoder").get_weights()[0], atol=1e-3)
    assert _same(_parts(fresh)[0], _parts(global_model)[0])
    with pytest.raises(ConfigError, match="reinit_decoder"):
        fine_tune(global_model, x, mode="full-fine-tune", reinit_decoder=True)


class _Poison:
    """Labels that must not be read: any use raises."""

    def __getattr__(self, name):
        raise AssertionError(f"a target node's training/validation labels were read ({name})")

    def __len__(self):
        raise AssertionError("a target node's training/validation labels were read (len)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("a target node's training/validation labels were read (array)")

    def __iter__(self):
        raise AssertionError("a target node's training/validation labels were read (iter)")


@pytest.mark.parametrize("paradigm", ["unsupervised", "semi-supervised"])
def test_transfer_never_reads_target_labels_without_supervision(dataset, global_model, paradigm):
    targets = prepare_targets(dataset, dataset.nodes[2:], run(paradigm))
    # Unlabelled targets keep every training window: none was dropped by label.
    assert (targets.preparation_report["train_anomalous_removed"] == 0).all()
    for node in targets.nodes:
        targets.node_data[node] = replace(targets.node_data[node], y_train=_Poison(), y_validation=_Poison())
    result = transfer_to_nodes(global_model, targets, run(paradigm),
                               TransferConfig(modes=["zero-shot", "fine-tune", "full-fine-tune"], **FAST))
    assert set(result.per_node["method"]) == {"zero-shot", "fine-tune", "full-fine-tune", "local"}
    assert not result.per_node["labels_used"].any()
    assert (result.per_node["rule"] == DEFAULT_THRESHOLD_RULE).all()
    assert len(result.per_node) == 4 * len(targets.nodes)


def test_supervised_transfer_uses_validation_labels(dataset, global_model):
    targets = prepare_targets(dataset, dataset.nodes[2:], run("supervised"))
    unlabelled = prepare_targets(dataset, dataset.nodes[2:], run("unsupervised"))
    node = targets.nodes[0]
    # Supervised targets train on normal windows only (labels allowed).
    assert (targets.node_data[node].y_train == 0).all()
    assert len(targets.node_data[node].x_train) < len(unlabelled.node_data[node].x_train)
    view = target_view(targets.node_data[node], "supervised")
    assert view.labels_used and target_view(targets.node_data[node], "semi-supervised").y_validation is None
    result = transfer_to_nodes(global_model, targets, run("supervised"), TransferConfig(modes=["zero-shot"], **FAST))
    rules = set(result.per_node["rule"])
    assert rules <= {"best_f1", DEFAULT_THRESHOLD_RULE} and result.per_node["labels_used"].all()
    poisoned = replace(targets.node_data[node], y_validation=_Poison())
    targets.node_data = {node: poisoned}
    with pytest.raises(AssertionError, match="labels were read"):
        transfer_to_nodes(global_model, targets, run("supervised"), TransferConfig(modes=["zero-shot"], **FAST))


def test_a_node_result_does_not_depend_on_the_nodes_before_it(dataset, global_model):
    config = TransferConfig(modes=["fine-tune"], **FAST)
    both = prepare_targets(dataset, dataset.nodes[2:], run("unsupervised"))
    alone = prepare_targets(dataset, dataset.nodes[3:], run("unsupervised"))
    after = transfer_to_nodes(global_model, both, run("unsupervised"), config).per_node
    first = transfer_to_nodes(global_model, alone, run("unsupervised"), config).per_node
    node = dataset.nodes[3]
    a = after[after["node"] == node].set_index("method")
    b = first[first["node"] == node].set_index("method")
    np.testing.assert_allclose(a["threshold"], b.loc[a.index, "threshold"], rtol=1e-6)


def test_transfer_scores_cover_every_test_window(dataset, global_model):
    targets = prepare_targets(dataset, dataset.nodes[2:], run("unsupervised"))
    result = transfer_to_nodes(global_model, targets, run("unsupervised"), TransferConfig(modes=["zero-shot"], **FAST),
                               keep_detectors=True)
    for node in targets.nodes:
        rows = result.scores[(result.scores["node"] == node) & (result.scores["method"] == "local")]
        assert len(rows) == len(targets.node_data[node].x_test)
        np.testing.assert_array_equal(rows["label"], targets.node_data[node].y_test)
    # Kept detectors are independent copies: each still scores like it did.
    for (node, method), detector in result.detectors.items():
        rows = result.scores[(result.scores["node"] == node) & (result.scores["method"] == method)]
        data = targets.node_data[node]
        np.testing.assert_allclose(detector.score_samples(data.x_test, gap=data.gap("test")), rows["score"], rtol=1e-5)


def test_transfer_deltas_average_seeds_per_node_first():
    per_node = pd.DataFrame({
        "node": ["a", "a", "a", "a", "b", "b"],
        "seed": [0, 1, 0, 1, 0, 0],
        "method": ["fine-tune", "fine-tune", "local", "local", "fine-tune", "local"],
        "f1": [0.8, 0.6, 0.5, 0.3, 0.9, 0.95],
        "roc_auc": [0.9, 0.9, 0.7, 0.7, np.nan, 0.8],
    })
    deltas = transfer_deltas(per_node).set_index("node")
    assert deltas.loc["a", "delta_f1"] == pytest.approx(0.7 - 0.4)
    assert deltas.loc["b", "delta_f1"] == pytest.approx(-0.05)
    assert np.isnan(deltas.loc["b", "delta_roc_auc"])
    assert (deltas["baseline"] == "local").all() and (deltas["method"] == "fine-tune").all()
    with pytest.raises(DataError, match="baseline method 'centralized'"):
        transfer_deltas(per_node, baseline="centralized")
    with pytest.raises(DataError, match="roc_auc"):
        transfer_deltas(per_node.drop(columns="roc_auc"))


def test_train_days_keeps_the_most_recent_windows_and_refits_the_scaler(dataset):
    node = dataset.nodes[2]
    full = prepare_targets(dataset, [node], run("unsupervised"))
    short = prepare_targets(dataset, [node], run("unsupervised"), train_days=1)
    f, s = full.node_data[node], short.node_data[node]
    assert len(s.x_train) < len(f.x_train)
    assert s.index_train.min() > f.index_train.max() - pd.Timedelta(days=1)
    assert s.index_train.max() == f.index_train.max()
    pd.testing.assert_index_equal(s.index_test, f.index_test)
    assert short.preparation_report.loc[node, "train_rows_truncated"] == len(f.x_train) - len(s.x_train)
    frame = dataset.frame(node).loc[s.index_train, dataset.feature_columns]
    expected = NodeScaler().fit(frame, dataset.feature_columns)
    np.testing.assert_allclose(s.scaler.to_dict()["data_min"], expected.to_dict()["data_min"])
    np.testing.assert_allclose(s.scaler.to_dict()["data_max"], expected.to_dict()["data_max"])
    with pytest.raises(ConfigError, match="train_days"):
        prepare_targets(dataset, [node], run("unsupervised"), train_days=0)


def test_data_efficiency_scores_every_budget_on_the_same_test_windows(dataset, global_model):
    table = data_efficiency(global_model, dataset, dataset.nodes[2:], run("unsupervised"),
                            TransferConfig(modes=["fine-tune"], **FAST), days=(0.5, 1))
    assert set(table["budget"]) == {"0.5d", "1d", "full"}
    assert set(table["method"]) == {"fine-tune", "local"}
    windows = table.groupby("budget")["n_windows"].median()
    assert windows["0.5d"] < windows["1d"] < windows["full"]
    assert table.groupby("node")["test_windows"].nunique().eq(1).all()
    summary = efficiency_summary(table)
    assert set(summary["curve"]) == {"0.5d", "1d", "full"}
    assert isinstance(summary["sentence"], str) and summary["sentence"]


def test_efficiency_summary_finds_the_smallest_matching_budget():
    rows = []
    for node, shift in (("a", 0.0), ("b", 0.02), ("c", -0.02)):
        for budget, days, local, tuned in (("1d", 1, 0.2, 0.5), ("3d", 3, 0.4, 0.8), ("full", 15, 0.75, 0.9)):
            rows += [{"node": node, "budget": budget, "days": days, "method": "local", "f1": local + shift},
                     {"node": node, "budget": budget, "days": days, "method": "fine-tune", "f1": tuned + shift}]
    summary = efficiency_summary(pd.DataFrame(rows))
    assert summary["reference_median"] == pytest.approx(0.75)
    assert summary["smallest_matching_days"] == 3
    assert summary["data_ratio"] == pytest.approx(5.0)
    assert "5.0x less local data" in summary["sentence"]
    assert "local with the same data: 0.400" in summary["sentence"]


def test_transfer_config_is_validated():
    for bad in ({"modes": ["warm-start"]}, {"epochs": 0}, {"threshold": "contamination"}, {"learning_rate": 0},
                {"modes": [], "local_baseline": False}):
        with pytest.raises(ConfigError):
            TransferConfig(**bad).validate()


def test_the_global_model_is_the_zero_shot_model(dataset, global_model, tmp_path: Path):
    targets = prepare_targets(dataset, dataset.nodes[3:], run("unsupervised"))
    result = transfer_to_nodes(global_model, targets, run("unsupervised"),
                               TransferConfig(modes=["zero-shot"], local_baseline=False, **FAST))
    node = dataset.nodes[3]
    data = targets.node_data[node]
    expected = AnomalyDetector.from_model(global_model).score_samples(data.x_test, gap=data.gap("test"))
    np.testing.assert_allclose(result.scores["score"], expected, rtol=1e-6)
    threshold = AnomalyDetector.from_model(global_model).calibrate(
        data.x_train, rule=DEFAULT_THRESHOLD_RULE, gap=data.gap("train")).threshold_
    assert result.per_node.loc[0, "threshold"] == pytest.approx(threshold, rel=1e-6)


def test_efficiency_summary_does_not_claim_a_ratio_against_a_zero_reference():
    rows = [{"node": n, "budget": b, "days": d, "method": m, "f1": 0.0}
            for n in ("a", "b") for b, d in (("1d", 1), ("full", 10)) for m in ("local", "fine-tune")]
    summary = efficiency_summary(pd.DataFrame(rows))
    assert summary["data_ratio"] is None and "not tested" in summary["sentence"]


@pytest.mark.parametrize("paradigm", ["unsupervised", "semi-supervised"])
def test_trimmed_fine_tuning_excludes_the_windows_the_global_model_flags(dataset, global_model, paradigm):
    node = dataset.nodes[2]
    targets = prepare_targets(dataset, [node], run(paradigm))
    data = targets.node_data[node]
    config = TransferConfig(modes=["fine-tune"], **FAST)
    # The windows the zero-shot detector flags, computed here independently of transfer.
    zero_shot = AnomalyDetector.from_model(global_model, **FAST)
    zero_shot.calibrate(data.x_train, rule=DEFAULT_THRESHOLD_RULE, gap=data.gap("train"))
    keep = zero_shot.predict(data.x_train, gap=data.gap("train")) == 0
    assert 0 < (~keep).sum() < len(keep), "the fixture should have some flagged training windows"
    labels = data.y_train.copy()
    data.y_train, data.y_validation = _Poison(), _Poison()  # trimming must not read labels either
    result = transfer_to_nodes(global_model, targets, run(paradigm), config, keep_detectors=True)
    row = result.per_node.set_index("method").loc["fine-tune"]
    assert row["trained_windows"] == keep.sum() and row["trimmed_windows"] == (~keep).sum()
    # Same weights as fine-tuning on exactly the unflagged windows, so nothing else was trained on.
    expected = fine_tune(global_model, data.x_train[keep], mode="fine-tune", seed=0, batch_size=64, **FAST)
    tuned = result.detectors[(node, "fine-tune")].model_
    assert _same(expected.get_weights(), tuned.get_weights())
    untrimmed = transfer_to_nodes(global_model, targets, run(paradigm), replace(config, trim=False),
                                  keep_detectors=True).detectors[(node, "fine-tune")].model_
    assert not _same(untrimmed.get_weights(), tuned.get_weights())
    assert labels.sum() > 0  # the target did have anomalous training windows to trim


def test_trimmed_local_baseline_retrains_without_its_own_flagged_windows(dataset, global_model):
    node = dataset.nodes[3]
    targets = prepare_targets(dataset, [node], run("unsupervised"))
    result = transfer_to_nodes(global_model, targets, run("unsupervised"), TransferConfig(modes=[], **FAST))
    row = result.per_node.set_index("method").loc["local"]
    assert row["trimmed_windows"] > 0 and row["trained_windows"] + row["trimmed_windows"] == row["train_windows"]
    plain = transfer_to_nodes(global_model, targets, run("unsupervised"), TransferConfig(modes=[], trim=False, **FAST))
    assert plain.per_node.set_index("method").loc["local", "trimmed_windows"] == 0


def test_transferred_threshold_needs_the_federation_z(dataset, global_model):
    targets = prepare_targets(dataset, dataset.nodes[2:3], run("unsupervised"))
    config = TransferConfig(modes=["zero-shot"], local_baseline=False, threshold="transferred", **FAST)
    with pytest.raises(ConfigError, match="normalised threshold"):
        transfer_to_nodes(global_model, targets, run("unsupervised"), config)
    result = transfer_to_nodes(global_model, targets, run("unsupervised"), config, federation_z=4.0)
    row = result.per_node.iloc[0]
    assert row["rule"] == "transferred" and row["threshold_z"] == pytest.approx(4.0)
