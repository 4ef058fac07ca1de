"""Tests of the per-node scaler and imputer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data.clients.scaling import IMPUTE_POLICIES, NodeImputer, NodeScaler
from ftl_tff.data.clients.splits import chronological_split
from ftl_tff.errors import ConfigError, DataError, SchemaError

NAN = np.nan


@pytest.fixture
def node() -> pd.DataFrame:
    """Twenty windows: a ramp, a constant, a column with gaps, an all-NaN-early column."""
    index = pd.date_range("2022-09-01", periods=20, freq="15min", tz="UTC", name="window_start")
    ramp = np.arange(20, dtype=float) * 10.0
    gappy = np.where(np.arange(20) % 4 == 1, NAN, np.arange(20) / 2.0)
    late = np.where(np.arange(20) < 16, NAN, 5.0)
    return pd.DataFrame(
        {"ramp": ramp, "const": 3.0, "gappy": gappy, "late": late, "label": 0}, index=index
    )


FEATURES = ["ramp", "const", "gappy", "late"]


def test_scaler_fits_the_training_part_only(node):
    split = chronological_split(node, 0.8)
    scaler = NodeScaler().fit(split.train, FEATURES)
    before = scaler.to_dict()
    changed = node.copy()
    changed.loc[split.test.index, "ramp"] = 1e6
    assert NodeScaler().fit(chronological_split(changed, 0.8).train, FEATURES).to_dict() == before
    np.testing.assert_array_equal(scaler.data_min, [0.0, 3.0, 0.0, 0.0])
    np.testing.assert_array_equal(scaler.data_max, [150.0, 3.0, 7.5, 1.0])
    assert scaler.n_fit_rows == 16


def test_out_of_range_values_stay_outside_unless_clipped(node):
    train = node.iloc[:16]
    test = node.iloc[16:]
    scaled = NodeScaler().fit(train, FEATURES).transform(test)
    assert (scaled[:, 0] > 1).all()
    np.testing.assert_allclose(scaled[:, 0], np.arange(160, 200, 10) / 150.0)
    clipped = NodeScaler(clip=True).fit(train, FEATURES).transform(test)
    assert (clipped[:, 0] == 1.0).all()
    assert np.nanmin(clipped) >= 0 and np.nanmax(clipped) <= 1


def test_training_rows_scale_into_unit_interval_and_nan_is_ignored(node):
    scaled = NodeScaler().fit_transform(node.iloc[:16], FEATURES)
    assert np.nanmin(scaled) == 0.0 and np.nanmax(scaled) == 1.0
    np.testing.assert_array_equal(np.isnan(scaled), node[FEATURES].iloc[:16].isna().to_numpy())


def test_constant_column_maps_to_zero_and_keeps_departures(node):
    scaler = NodeScaler().fit(node.iloc[:16], FEATURES)
    assert scaler.constant_columns == ["const"]
    assert (scaler.transform(node.iloc[:16])[:, 1] == 0.0).all()
    departed = node.iloc[16:].assign(const=1.0)
    assert (scaler.transform(departed)[:, 1] == -2.0).all()


def test_all_nan_column_is_identity_and_listed(node):
    scaler = NodeScaler().fit(node.iloc[:16], FEATURES)
    assert scaler.all_nan_columns == ["late"]
    assert (scaler.data_min[3], scaler.data_max[3]) == (0.0, 1.0)
    assert (scaler.transform(node.iloc[16:])[:, 3] == 5.0).all()


def test_to_dict_from_dict_round_trip_is_exact(node):
    rng = np.random.default_rng(7)
    values = rng.normal(size=(50, 4)) * rng.uniform(1e-6, 1e6, size=4)
    scaler = NodeScaler(clip=False).fit(values)
    payload = json.loads(json.dumps(scaler.to_dict(), allow_nan=False))
    restored = NodeScaler.from_dict(payload)
    np.testing.assert_array_equal(restored.data_min, scaler.data_min)
    np.testing.assert_array_equal(restored.data_max, scaler.data_max)
    assert restored.to_dict() == scaler.to_dict()
    probe = rng.normal(size=(10, 4)) * 1e3
    np.testing.assert_array_equal(restored.transform(probe), scaler.transform(probe))

    with_edges = NodeScaler(clip=True).fit(node.iloc[:16], FEATURES)
    again = NodeScaler.from_dict(json.loads(json.dumps(with_edges.to_dict(), allow_nan=False)))
    assert again.to_dict() == with_edges.to_dict()
    assert again.clip == 0.0 and again.constant_columns == ["const"]


def test_inverse_transform_recovers_raw_values(node):
    scaler = NodeScaler().fit(node.iloc[:16], FEATURES)
    raw = node[FEATURES].to_numpy()
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(node)), raw, rtol=1e-12)


def test_scaler_input_checks(node):
    scaler = NodeScaler().fit(node, FEATURES)
    with pytest.raises(SchemaError, match="gappy"):
        scaler.transform(node.drop(columns="gappy"))
    with pytest.raises(SchemaError):
        scaler.transform(np.zeros((3, 2)))
    with pytest.raises(DataError, match="ramp"):
        NodeScaler().fit(node.assign(ramp=np.inf), FEATURES)
    with pytest.raises(ConfigError):
        NodeScaler().transform(node)
    with pytest.raises(ConfigError):
        NodeScaler.from_dict({"format": "something else"})
    assert NodeScaler().fit(node).feature_columns == FEATURES  # label excluded by default


TRAIN = np.array([[0.0, NAN, 0.2], [1.0, NAN, NAN], [0.5, NAN, 0.4]])
PART = np.array([[NAN, 1.0, NAN], [0.3, NAN, 0.9], [NAN, NAN, NAN], [0.7, 0.1, 0.8]])


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("median", [[0.5, 1.0, 0.3], [0.3, 0.0, 0.9], [0.5, 0.0, 0.3], [0.7, 0.1, 0.8]]),
        ("zero", [[0.0, 1.0, 0.0], [0.3, 0.0, 0.9], [0.0, 0.0, 0.0], [0.7, 0.1, 0.8]]),
        ("ffill", [[0.5, 1.0, 0.3], [0.3, 1.0, 0.9], [0.3, 1.0, 0.9], [0.7, 0.1, 0.8]]),
    ],
)
def test_imputation_fills_with_train_statistics_and_counts(policy, expected):
    imputer = NodeImputer(policy).fit(TRAIN)
    result = imputer.transform(PART)
    np.testing.assert_allclose(result.values, expected)
    assert result.cells_imputed == int(np.isnan(PART).sum()) == 6
    assert result.rows_dropped == 0 and result.kept_rows.all()
    assert not np.isnan(result.values).any()


def test_median_of_all_nan_training_column_is_zero():
    imputer = NodeImputer("median").fit(TRAIN)
    np.testing.assert_allclose(imputer.fill_values, [0.5, 0.0, 0.3])


def test_drop_removes_and_counts_incomplete_rows():
    result = NodeImputer("drop").fit(TRAIN).transform(PART)
    np.testing.assert_array_equal(result.values, PART[[3]])
    np.testing.assert_array_equal(result.kept_rows, [False, False, False, True])
    assert (result.rows_dropped, result.cells_imputed) == (3, 0)


def test_imputer_round_trip_and_checks():
    for policy in IMPUTE_POLICIES:
        imputer = NodeImputer(policy).fit(TRAIN)
        restored = NodeImputer.from_dict(json.loads(json.dumps(imputer.to_dict(), allow_nan=False)))
        assert restored.policy == policy
        np.testing.assert_array_equal(
            restored.transform(PART).values, imputer.transform(PART).values
        )
    with pytest.raises(ConfigError, match="mean"):
        NodeImputer("mean")
    with pytest.raises(ConfigError):
        NodeImputer().transform(PART)
    with pytest.raises(SchemaError):
        NodeImputer().fit(TRAIN).transform(np.zeros((2, 5)))
