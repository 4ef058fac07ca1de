"""The scikit-learn / PyOD estimator contract of AnomalyDetector: stored parameters, clone, fit-time validation, labels_."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from ftl_tff.detection import AnomalyDetector
from ftl_tff.errors import ConfigError
from ftl_tff.models import build_autoencoder
from ftl_tff.models.io import METADATA_FILE

N_FEATURES = 12
SMALL = {"encoder_units": (6, 3), "epochs": 2, "batch_size": 32, "learning_rate": 1e-2, "smooth_windows": 1}


def _windows(rows: int, seed: int) -> np.ndarray:
    mixing = np.random.default_rng(99).random((2, N_FEATURES))
    rng = np.random.default_rng(seed)
    values = rng.random((rows, 2)) @ mixing / 2.0 + rng.normal(0.0, 0.02, (rows, N_FEATURES))
    return np.clip(values, 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return _windows(200, seed=1)


def test_clone_keeps_every_parameter():
    units = [8, 4]
    detector = AnomalyDetector(encoder_units=units, score="max", gap_weight=2, percentile=95, seed=3)
    copy = clone(detector)
    assert copy is not detector and type(copy) is AnomalyDetector
    assert copy.get_params() == detector.get_params()
    assert copy.encoder_units == [8, 4] and copy.gap_weight == 2 and copy.percentile == 95
    # clone() refuses a constructor that changes its arguments; it passed, and the original is untouched.
    assert detector.encoder_units is units


def test_clone_of_a_fitted_detector_is_unfitted(train):
    fitted = AnomalyDetector(**SMALL).fit(train)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_") and not hasattr(copy, "threshold_") and not hasattr(copy, "labels_")


def test_constructor_accepts_an_invalid_value_and_fit_names_the_parameter(train):
    detector = AnomalyDetector(**{**SMALL, "gap_weight": -1.0})
    assert detector.gap_weight == -1.0
    with pytest.raises(ConfigError, match="gap_weight") as caught:
        detector.fit(train)
    assert "--" not in str(caught.value)  # the parameter, never a CLI flag


@pytest.mark.parametrize("params, message", [
    ({"smooth_windows": 0}, "smooth_windows"),
    ({"score": "median"}, "score"),
    ({"gap_alarm": 2.0}, "gap_alarm"),
])
def test_calibrate_and_score_samples_validate_parameters_changed_after_construction(train, params, message):
    detector = AnomalyDetector.from_model(build_autoencoder(N_FEATURES, (6, 3), seed=0), smooth_windows=1)
    detector.set_params(**params)
    with pytest.raises(ConfigError, match=message):
        detector.calibrate(train)
    with pytest.raises(ConfigError, match=message):
        detector.score_samples(train)


def test_from_model_validates_at_once():
    with pytest.raises(ConfigError, match="smooth_windows"):
        AnomalyDetector.from_model(build_autoencoder(N_FEATURES, (6, 3), seed=0), smooth_windows=0)


def test_labels_are_the_predictions_of_the_calibration_windows(train):
    fitted = AnomalyDetector(**{**SMALL, "percentile": 90.0}).fit(train)
    assert fitted.labels_.dtype == np.int8 and fitted.labels_.shape == (len(train),)
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(train))
    np.testing.assert_array_equal(fitted.labels_, fitted.predict_scores(fitted.decision_scores_))
    assert 0 < fitted.labels_.sum() < len(train)
    validation = _windows(60, seed=2)
    calibrated = AnomalyDetector.from_model(fitted.model_, smooth_windows=1).calibrate(validation, percentile=80.0)
    assert calibrated.labels_.shape == (60,)
    np.testing.assert_array_equal(calibrated.labels_, calibrated.predict(validation))


def test_validated_values_are_used_and_saved_not_the_raw_ones(train, tmp_path):
    detector = AnomalyDetector(**{**SMALL, "encoder_units": [6, 3], "gap_weight": 1}).fit(train)
    assert detector.encoder_units == [6, 3] and detector.gap_weight == 1  # fit left the parameters alone
    detector.save(tmp_path)
    stored = json.loads((tmp_path / METADATA_FILE).read_text())
    assert stored["params"]["encoder_units"] == [6, 3] and stored["params"]["gap_weight"] == 1.0
    loaded = AnomalyDetector.load(tmp_path)
    assert loaded.encoder_units == (6, 3) and isinstance(loaded.gap_weight, float)
    np.testing.assert_array_equal(loaded.score_samples(train), detector.score_samples(train))
