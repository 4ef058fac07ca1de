"""Tests of the AnomalyDetector: determinism, thresholds, scores, persistence, validation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from ftl_tff.data.clients.scaling import NodeImputer, NodeScaler
from ftl_tff.detection import AnomalyDetector, NotFittedError
from ftl_tff.errors import ConfigError, DataError, SchemaError
from ftl_tff.models import build_autoencoder, save_model
from ftl_tff.models.io import METADATA_FILE

N_FEATURES = 24
FEATURES = [f"metric_{i}" for i in range(N_FEATURES)]
# The windows of these tests are independent samples, not a time line: no smoothing (tested on its own below).
SMALL = {"encoder_units": (8, 4), "epochs": 5, "batch_size": 32, "learning_rate": 1e-2, "smooth_windows": 1}


def _normal_windows(rows: int, seed: int) -> np.ndarray:
    """Normal telemetry: a 3-D latent manifold mixed into 24 features, plus noise, in [0, 1]."""
    mixing = np.random.default_rng(99).random((3, N_FEATURES))
    rng = np.random.default_rng(seed)
    values = rng.random((rows, 3)) @ mixing / 3.0 + rng.normal(0.0, 0.02, (rows, N_FEATURES))
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _with_anomalies(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Normal windows, a fifth of them shifted by +0.4 on six random features."""
    values = _normal_windows(rows, seed)
    rng = np.random.default_rng(seed + 1)
    labels = (rng.random(rows) < 0.2).astype(np.int8)
    for row in np.flatnonzero(labels):
        values[row, rng.choice(N_FEATURES, 6, replace=False)] += 0.4
    return values, labels


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return _normal_windows(400, seed=1)


@pytest.fixture(scope="module")
def labelled() -> tuple[np.ndarray, np.ndarray]:
    return _with_anomalies(300, seed=2)


@pytest.fixture(scope="module")
def fitted(train) -> AnomalyDetector:
    return AnomalyDetector(**{**SMALL, "epochs": 10}).fit(train)


def test_importing_detection_and_metrics_does_not_import_tensorflow():
    code = "import sys, ftl_tff.detection, ftl_tff.metrics, ftl_tff.models; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_constructor_only_stores_parameters_unchanged():
    units = [8, 4]
    detector = AnomalyDetector(encoder_units=units, score="max")
    assert detector.encoder_units is units and detector.score == "max"
    assert not hasattr(detector, "model_") and not hasattr(detector, "threshold_")
    assert AnomalyDetector(**detector.get_params()).get_params() == detector.get_params()
    assert "score='max'" in repr(detector)
    assert detector._validate_params()["encoder_units"] == (8, 4)  # converted where used, not stored
    assert detector.encoder_units is units


@pytest.mark.parametrize("params, message", [
    ({"score": "median"}, "score"),
    ({"threshold_rule": "otsu"}, "threshold rule"),
    ({"percentile": 101}, "percentile"),
    ({"threshold_rule": "contamination"}, "needs contamination"),
    ({"contamination": 0.1}, "only with threshold_rule='contamination'"),
    ({"threshold_rule": "contamination", "contamination": 1.5}, r"\(0, 1\)"),
    ({"encoder_units": ()}, "encoder_units"),
    ({"encoder_units": (8, 0)}, "encoder_units"),
    ({"epochs": 0}, "epochs"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"seed": -3}, "seed"),
])
def test_invalid_parameters_raise_config_error_at_fit_not_construction(train, params, message):
    detector = AnomalyDetector(**{**SMALL, **params})  # the constructor only stores them
    with pytest.raises(ConfigError, match=message):
        detector.fit(train)


def test_set_params_stores_rejects_unknown_names_and_fit_validates(train):
    detector = AnomalyDetector().set_params(percentile=95.0)
    assert detector.percentile == 95.0
    with pytest.raises(ConfigError, match="unknown"):
        detector.set_params(colour="red")
    detector.set_params(percentile=-1)  # stored as given, like the constructor's parameters
    assert detector.percentile == -1
    with pytest.raises(ConfigError, match="percentile"):
        detector.fit(train)


def test_same_seed_gives_identical_weights_and_scores_other_seed_differs(train):
    params = {**SMALL, "epochs": 2}
    first = AnomalyDetector(**params, seed=5).fit(train)
    second = AnomalyDetector(**params, seed=5).fit(train)
    other = AnomalyDetector(**params, seed=6).fit(train)
    for a, b in zip(first.model_.get_weights(), second.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.decision_scores_, second.decision_scores_)
    assert first.history_ == second.history_ and len(first.history_["loss"]) == 2
    assert not np.array_equal(first.model_.get_weights()[0], other.model_.get_weights()[0])
    assert not np.array_equal(first.decision_scores_, other.decision_scores_)


def test_fit_sets_fitted_attributes_and_default_percentile_threshold(fitted, train):
    assert fitted.n_features_in_ == N_FEATURES
    assert fitted.decision_scores_.shape == (len(train),)
    np.testing.assert_array_equal(fitted.decision_scores_, fitted.score_samples(train))
    assert fitted.threshold_rule_ == "percentile"
    assert fitted.threshold_ == np.percentile(fitted.decision_scores_, 99.0)
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]  # it learned something


def test_detects_injected_anomalies_with_high_roc_auc(fitted, labelled):
    values, labels = labelled
    assert roc_auc_score(labels, fitted.score_samples(values)) > 0.9


def test_decision_function_equals_score_samples(fitted, labelled):
    values, _ = labelled
    np.testing.assert_array_equal(fitted.decision_function(values), fitted.score_samples(values))


def test_max_score_is_the_largest_per_feature_error_and_differs_from_mse(fitted, labelled):
    values, _ = labelled
    errors = fitted.reconstruction_errors(values)
    assert errors.shape == values.shape and (errors >= 0).all()
    as_max = AnomalyDetector.from_model(fitted.model_, score="max", smooth_windows=1)
    np.testing.assert_array_equal(as_max.score_samples(values), errors.max(axis=1))
    np.testing.assert_array_equal(fitted.score_samples(values), errors.mean(axis=1))
    assert not np.allclose(as_max.score_samples(values), fitted.score_samples(values))


def test_percentile_rule_flags_the_expected_share(fitted, train):
    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(train, percentile=90.0)
    assert detector.threshold_ == np.percentile(fitted.decision_scores_, 90.0)
    assert detector.predict(train).mean() == pytest.approx(0.10)
    calibration = detector.calibration_
    assert {k: calibration[k] for k in ("rule", "n_windows", "percentile")} == {
        "rule": "percentile", "n_windows": 400, "percentile": 90.0}
    assert calibration["flagged_share"] == pytest.approx(0.10) and calibration["gap_alarm_cap"] is False
    scores = fitted.decision_scores_
    median = np.median(scores)
    assert calibration["scale"] == pytest.approx({"median": median,
                                                  "scale": 1.4826 * np.median(np.abs(scores - median))})


def test_contamination_rule_flags_the_expected_share(fitted, train):
    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1, threshold_rule="contamination", contamination=0.05)
    detector.calibrate(train)
    assert detector.threshold_rule_ == "contamination"
    assert detector.predict(train).mean() == pytest.approx(0.05)
    detector.calibrate(train, contamination=0.2)
    assert detector.predict(train).mean() == pytest.approx(0.20)


def test_best_f1_rule_matches_a_brute_force_maximum(fitted, labelled):
    values, labels = labelled
    scores = fitted.score_samples(values)
    brute_force = max(f1_score(labels, (scores >= t).astype(int)) for t in np.unique(scores))
    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(values, labels, rule="best_f1")
    assert detector.threshold_rule_ == "best_f1"
    assert detector.calibration_["f1"] == pytest.approx(brute_force)
    assert f1_score(labels, detector.predict(values)) == pytest.approx(brute_force)
    assert detector.threshold_ in scores


def test_best_f1_rule_needs_two_class_labels(fitted, train, labelled):
    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1)
    with pytest.raises(ConfigError, match="needs labels"):
        detector.calibrate(train, rule="best_f1")
    with pytest.raises(ConfigError, match="both normal and anomalous"):
        detector.calibrate(train, np.zeros(len(train), dtype=np.int8), rule="best_f1")
    # fit checks before training, so the mistake costs no training time.
    with pytest.raises(ConfigError, match="needs labels"):
        AnomalyDetector(**SMALL, threshold_rule="best_f1").fit(train)


def test_predict_flags_scores_at_or_above_the_threshold(fitted, labelled):
    values, _ = labelled
    scores = fitted.score_samples(values)
    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1)
    detector.threshold_ = float(np.sort(scores)[150])
    flags = detector.predict(values)
    assert flags.dtype == np.int8
    np.testing.assert_array_equal(flags, (scores >= detector.threshold_).astype(np.int8))
    assert flags[np.argsort(scores, kind="stable")[150]] == 1  # equal to the threshold: flagged
    assert flags.sum() == len(scores) - 150


def test_predict_without_threshold_or_model_raises_not_fitted(fitted, train):
    with pytest.raises(NotFittedError, match="calibrate"):
        AnomalyDetector.from_model(fitted.model_, smooth_windows=1).predict(train)
    with pytest.raises(NotFittedError, match="fit"):
        AnomalyDetector().score_samples(train)


def test_feature_contributions_rank_an_injected_deviation_first(fitted, train):
    windows = _normal_windows(10, seed=7)
    windows[:, 5] += 3.0
    table = fitted.feature_contributions(windows, FEATURES, top_k=3, index=[f"w{i}" for i in range(10)])
    assert list(table.columns) == ["window", "rank", "feature", "squared_error", "share"]
    assert len(table) == 30
    first = table[table["rank"] == 1]
    assert (first["feature"] == "metric_5").all()
    assert first["window"].tolist() == [f"w{i}" for i in range(10)]
    assert (first["share"] > 0.9).all()
    everything = fitted.feature_contributions(windows, FEATURES, top_k=100)
    np.testing.assert_allclose(everything.groupby("window")["share"].sum(), 1.0)
    errors = fitted.reconstruction_errors(windows)
    np.testing.assert_array_equal(first["squared_error"], errors.max(axis=1))
    with pytest.raises(SchemaError, match="feature_names"):
        fitted.feature_contributions(windows, FEATURES[:-1])


def test_validation_data_sets_val_loss_and_is_the_calibration_set(train):
    validation = _normal_windows(100, seed=3)
    detector = AnomalyDetector(**{**SMALL, "epochs": 1}).fit(
        train, X_validation=validation, sample_weight=np.ones(len(train))
    )
    assert len(detector.history_["val_loss"]) == 1
    assert detector.threshold_ == np.percentile(detector.score_samples(validation), 99.0)
    assert detector.calibration_["n_windows"] == 100
    assert detector.training_["n_validation_windows"] == 100 and detector.training_["sample_weight"]


def test_save_and_load_reproduce_scores_threshold_and_metadata(fitted, labelled, tmp_path):
    values, _ = labelled
    raw = pd.DataFrame(np.random.default_rng(0).random((50, N_FEATURES)) * 100, columns=FEATURES)
    scaler = NodeScaler().fit(raw)
    imputer = NodeImputer("median").fit(scaler.transform(raw))
    fitted.save(tmp_path / "node", scaler=scaler, imputer=imputer, extra={"node": "r256n01"})

    loaded = AnomalyDetector.load(tmp_path / "node")
    np.testing.assert_array_equal(loaded.score_samples(values), fitted.score_samples(values))
    np.testing.assert_array_equal(loaded.predict(values), fitted.predict(values))
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.threshold_rule_ == "percentile" and loaded.calibration_ == fitted.calibration_
    assert loaded.get_params() == fitted.get_params()
    assert loaded.feature_columns_ == FEATURES  # taken from the scaler
    assert loaded.scaler_.to_dict() == scaler.to_dict()
    assert loaded.imputer_.to_dict() == imputer.to_dict()
    assert loaded.training_["epochs"] == 10 and loaded.history_ == fitted.history_
    stored = json.loads((tmp_path / "node" / METADATA_FILE).read_text())
    assert stored["score"] == "mse" and stored["extra"] == {"node": "r256n01"}
    assert stored["architecture"]["input_dim"] == N_FEATURES

    # Saving the loaded detector again keeps its schema and scaler.
    loaded.save(tmp_path / "again")
    again = AnomalyDetector.load(tmp_path / "again")
    assert again.feature_columns_ == FEATURES and again.scaler_.to_dict() == scaler.to_dict()


def test_uncalibrated_wrapped_model_saves_without_threshold(fitted, train, tmp_path):
    AnomalyDetector.from_model(fitted.model_, smooth_windows=1, score="max").save(tmp_path)
    loaded = AnomalyDetector.load(tmp_path)
    assert loaded.score == "max" and not hasattr(loaded, "threshold_")
    with pytest.raises(NotFittedError):
        loaded.predict(train)


def test_save_checks_the_feature_schema(fitted, tmp_path):
    with pytest.raises(SchemaError, match="23 names"):
        fitted.save(tmp_path, feature_columns=FEATURES[:-1])
    other = NodeScaler().fit(np.zeros((3, N_FEATURES)), [f"x{i}" for i in range(N_FEATURES)])
    with pytest.raises(SchemaError, match="scaler"):
        fitted.save(tmp_path, feature_columns=FEATURES, scaler=other)


def test_load_refuses_a_plain_model_folder_and_contradicting_params(tmp_path):
    save_model(tmp_path / "plain", build_autoencoder(N_FEATURES, (8, 4)))
    with pytest.raises(SchemaError, match="not a saved AnomalyDetector"):
        AnomalyDetector.load(tmp_path / "plain")
    AnomalyDetector.from_model(build_autoencoder(N_FEATURES, (8, 4))).save(tmp_path / "edited")
    path = tmp_path / "edited" / METADATA_FILE
    stored = json.loads(path.read_text())
    stored["params"]["encoder_units"] = [8, 2]
    path.write_text(json.dumps(stored))
    with pytest.raises(SchemaError, match="contradict"):
        AnomalyDetector.load(tmp_path / "edited")


def test_from_model_reads_the_architecture_and_refuses_contradictions():
    model = build_autoencoder(N_FEATURES, (8, 4), decoder_units=(6,), output_activation="linear")
    detector = AnomalyDetector.from_model(model, percentile=95.0)
    assert detector.model_ is model and detector.n_features_in_ == N_FEATURES
    assert detector.encoder_units == (8, 4) and detector.decoder_units == (6,)
    assert detector.output_activation == "linear" and detector.percentile == 95.0
    assert AnomalyDetector.from_model(build_autoencoder(N_FEATURES, (8, 4)), decoder_units=None).decoder_units == (8,)
    with pytest.raises(ConfigError, match="encoder_units"):
        AnomalyDetector.from_model(model, encoder_units=(16, 4))


@pytest.mark.parametrize("make, error, message", [
    (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), DataError, "impute first"),
    (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x), DataError, "infinite"),
    (lambda x: x[:, :-1], SchemaError, "expected 24, got 23"),
    (lambda x: x[0], DataError, "2-D"),
    (lambda x: x[:0], DataError, "no rows"),
    (lambda x: x.astype(str), DataError, "numeric"),
])
def test_invalid_windows_raise_typed_errors(fitted, train, make, error, message):
    with pytest.raises(error, match=message):
        fitted.score_samples(make(train[:10].copy()))


def test_fit_refuses_nan_before_training(train):
    broken = train.copy()
    broken[3, 4] = np.nan
    with pytest.raises(DataError, match="impute first"):
        AnomalyDetector(**SMALL).fit(broken)


def test_gap_share_adds_to_the_score_and_caps_label_free_thresholds(fitted, train):
    gap = np.zeros(len(train))
    gap[:20] = np.linspace(0.05, 1.0, 20)
    base = fitted.score_samples(train)
    np.testing.assert_allclose(fitted.score_samples(train, gap=gap), base + gap)
    heavy = AnomalyDetector.from_model(fitted.model_, smooth_windows=1, gap_weight=2.0)
    np.testing.assert_allclose(heavy.score_samples(train, gap=gap), base + 2.0 * gap)
    # A threshold fitted to scores where half the windows are silent would call silence normal; the gap rule caps it.
    silent = np.r_[np.ones(len(train) // 2), np.zeros(len(train) - len(train) // 2)]
    capped = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(train, rule="percentile", gap=silent)
    assert capped.threshold_ == pytest.approx(0.5) and capped.calibration_["gap_alarm_cap"]
    assert capped.predict(train, gap=silent)[silent == 1].all()
    free = AnomalyDetector.from_model(fitted.model_, smooth_windows=1, gap_alarm=None).calibrate(train, rule="percentile", gap=silent)
    assert free.threshold_ > 1.0
    with pytest.raises(SchemaError, match="one share per window"):
        fitted.score_samples(train, gap=gap[:-1])
    with pytest.raises(DataError, match="within"):
        fitted.score_samples(train, gap=gap + 1.5)
    with pytest.raises(ConfigError, match="gap_alarm"):
        AnomalyDetector(**SMALL, gap_alarm=2.0).fit(train)
    with pytest.raises(ConfigError, match="gap_alarm"):
        AnomalyDetector.from_model(fitted.model_, gap_alarm=2.0)  # from_model checks at once


@pytest.mark.parametrize("rule", ["log_robust_z", "robust_z", "iqr", "pot", "trimmed"])
def test_label_free_rules_match_the_thresholds_module(fitted, train, rule):
    from ftl_tff import thresholds

    detector = AnomalyDetector.from_model(fitted.model_, smooth_windows=1, gap_alarm=None).calibrate(train, rule=rule)
    assert detector.threshold_ == pytest.approx(thresholds.threshold(fitted.decision_scores_, rule))
    np.testing.assert_array_equal(detector.predict(train), detector.predict_scores(fitted.decision_scores_))


def test_transferred_threshold_round_trips_the_normalised_scale(fitted, train):
    source = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(train, rule="log_robust_z")
    z = source.normalised_threshold_
    target = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(train, rule="transferred", z=z)
    assert target.threshold_ == pytest.approx(source.threshold_)
    with pytest.raises(ConfigError, match="exactly z="):
        AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(train, rule="transferred")


def test_reconstruction_is_smoothed_causally_within_runs_and_the_gap_is_not(fitted, train):
    from ftl_tff.detection import causal_mean

    index = pd.date_range("2022-09-01", periods=len(train) + 1, freq="15min", tz="UTC").delete(100)  # a hole at 100
    errors = fitted.reconstruction_errors(train).mean(axis=1)
    smoothed = AnomalyDetector.from_model(fitted.model_, smooth_windows=4)
    gap = np.zeros(len(train))
    gap[150] = 1.0
    scores = smoothed.score_samples(train, gap=gap, index=index)
    assert scores[5] == pytest.approx(errors[2:6].mean())       # the window and the 3 before it
    assert scores[0] == pytest.approx(errors[0])                # the start of the series
    assert scores[100] == pytest.approx(errors[100])            # a missing window starts a new run
    assert scores[101] == pytest.approx(errors[100:102].mean())
    assert scores[150] == pytest.approx(errors[147:151].mean() + 1.0)  # the gap counts at once, in full
    np.testing.assert_allclose(causal_mean(errors, 4, index), scores - gap)
    # Later windows never change an earlier score (what a live monitor needs).
    np.testing.assert_allclose(smoothed.score_samples(train[:120], index=index[:120]), (scores - gap)[:120])
