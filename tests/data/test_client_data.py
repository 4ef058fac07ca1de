"""Tests of per-node preparation and of the TFF ClientData built from it.

The TFF tests share one module-scoped fixture: importing TFF costs ~25 s, and
running a computation starts TFF's ``worker_binary`` child process, which the
fixture stops at teardown (see ``tff_runtime``).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from ftl_tff._processes import child_pids_named, stop_children_named
from ftl_tff.data.clients.client_data import (
    RECORDS_INDEX_NAME,
    FederatedData,
    client_data_from_records,
    make_client_data,
    prepare_federated_data,
    write_client_records,
)
from ftl_tff.errors import (
    ConfigError,
    DataError,
    EmptyNodeError,
    SchemaError,
    SelectionError,
    SourceNotFoundError,
)

FEATURES = ["power", "temp", "coverage"]


@dataclass
class FakeDataset:
    """The duck type prepare_federated_data reads: nodes, feature_columns, frame()."""

    frames: dict[str, pd.DataFrame]
    feature_columns: list[str]

    @property
    def nodes(self) -> list[str]:
        return list(self.frames)

    def frame(self, node: str) -> pd.DataFrame:
        return self.frames[node].copy()


def node_frame(n_windows: int, seed: int, anomalous_every: int = 0) -> pd.DataFrame:
    """Random telemetry with some NaN cells; every ``anomalous_every``-th window anomalous."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(
        "2022-09-01", periods=n_windows, freq="15min", tz="UTC", name="window_start"
    )
    frame = pd.DataFrame(
        {
            "power": rng.normal(300, 20, n_windows),
            "temp": rng.normal(40, 3, n_windows),
            "coverage": rng.integers(0, 5, n_windows).astype(float),
        },
        index=index,
    )
    frame.iloc[rng.choice(n_windows, n_windows // 10, replace=False), 1] = np.nan
    frame["label"] = 0
    if anomalous_every:
        frame.iloc[::anomalous_every, frame.columns.get_loc("label")] = 1
    return frame


@pytest.fixture
def dataset() -> FakeDataset:
    return FakeDataset(
        {"r1n1": node_frame(200, 1, 7), "r1n2": node_frame(150, 2, 5), "r1n3": node_frame(100, 3)},
        FEATURES,
    )


def test_prepare_chronological_shapes_dtypes_and_reports(dataset):
    data = prepare_federated_data(dataset, train=0.7, validation=0.1)
    assert isinstance(data, FederatedData)
    assert data.nodes == ["r1n1", "r1n2", "r1n3"] and data.n_features == 3
    node = data.node_data["r1n1"]
    assert (node.x_train.shape, node.x_validation.shape, node.x_test.shape) == (
        (140, 3),
        (20, 3),
        (40, 3),
    )
    assert node.x_train.dtype == np.float32 and node.y_test.dtype == np.int8
    assert not np.isnan(node.x_train).any() and not np.isnan(node.x_test).any()
    frame = dataset.frame("r1n1")
    assert node.index_train.equals(frame.index[:140]) and node.index_test.equals(frame.index[160:])
    np.testing.assert_array_equal(node.y_test, frame["label"].to_numpy()[160:])
    assert list(data.split_report.index) == data.nodes
    assert data.split_report.loc["r1n3", "warning"] == (
        "train: no anomalous windows; validation: no anomalous windows; test: no anomalous windows"
    )
    report = data.preparation_report
    assert report.loc["r1n1", "train_rows"] == 140
    assert report.loc["r1n1", "train_cells_imputed"] == int(
        frame.iloc[:140][FEATURES].isna().sum().sum()
    )
    assert report.loc["r1n1", "test_cells_imputed"] == int(
        frame.iloc[160:][FEATURES].isna().sum().sum()
    )
    assert data.arrays("test")["r1n2"] is data.node_data["r1n2"].x_test
    assert set(data.scalers) == set(data.nodes)
    assert data.settings["split"] == "chronological"


def test_scaler_sees_only_the_training_part(dataset):
    before = prepare_federated_data(dataset, train=0.8)
    changed = FakeDataset(dict(dataset.frames), FEATURES)
    frame = changed.frames["r1n1"].copy()
    frame.iloc[160:, 0] = 1e6
    changed.frames["r1n1"] = frame
    after = prepare_federated_data(changed, train=0.8)
    assert after.scalers["r1n1"].to_dict() == before.scalers["r1n1"].to_dict()
    np.testing.assert_array_equal(after.node_data["r1n1"].x_train, before.node_data["r1n1"].x_train)
    assert after.node_data["r1n1"].x_test[:, 0].min() > 1.0  # outside the training range


def test_semi_supervised_trains_on_normal_windows_and_counts(dataset):
    data = prepare_federated_data(dataset, train=0.8, semi_supervised=True)
    frame = dataset.frame("r1n1")
    train_labels = frame["label"].to_numpy()[:160]
    node = data.node_data["r1n1"]
    assert (node.y_train == 0).all()
    assert len(node.x_train) == int((train_labels == 0).sum())
    assert data.preparation_report.loc["r1n1", "train_anomalous_removed"] == int(train_labels.sum())
    assert node.y_test.sum() == frame["label"].to_numpy()[160:].sum()  # test keeps anomalies
    assert data.split_report.loc["r1n1", "train_anomalous"] == int(train_labels.sum())


def test_drop_policy_counts_dropped_windows(dataset):
    data = prepare_federated_data(dataset, impute="drop")
    frame = dataset.frame("r1n2")
    incomplete = frame[FEATURES].isna().any(axis=1).to_numpy()
    report = data.preparation_report.loc["r1n2"]
    assert report["train_rows_dropped"] == int(incomplete[:120].sum())
    assert report["test_rows_dropped"] == int(incomplete[120:].sum())
    assert report["train_cells_imputed"] == 0
    node = data.node_data["r1n2"]
    assert (
        len(node.x_test)
        == len(node.y_test)
        == len(node.index_test)
        == int((~incomplete[120:]).sum())
    )


def test_prepare_blocked_passes_block_and_gap(dataset):
    data = prepare_federated_data(dataset, split="blocked", train=0.8, block=10, gap=2)
    assert data.split_report["gap_windows"].gt(0).all()
    test_rows = data.split_report["test_windows"] / (
        data.split_report[["train_windows", "test_windows", "gap_windows"]].sum(axis=1)
    )
    assert test_rows.between(0.1, 0.3).all()
    with pytest.raises(ConfigError, match="train= and validation="):
        prepare_federated_data(dataset, split="blocked", test_fraction=0.3)


def test_errors_name_the_node(dataset):
    tiny = FakeDataset({**dataset.frames, "r9n9": node_frame(1, 9)}, FEATURES)
    with pytest.raises(EmptyNodeError, match="r9n9"):
        prepare_federated_data(tiny)
    all_bad = node_frame(50, 4)
    all_bad["label"] = 1
    with pytest.raises(EmptyNodeError, match="r4n4.*normal"):
        prepare_federated_data(FakeDataset({"r4n4": all_bad}, FEATURES), semi_supervised=True)
    with pytest.raises(SchemaError, match="r5n5.*temp"):
        prepare_federated_data(
            FakeDataset({"r5n5": node_frame(50, 5).drop(columns="temp")}, FEATURES)
        )
    bad_labels = node_frame(50, 6).assign(label=2)
    with pytest.raises(DataError, match="r6n6"):
        prepare_federated_data(FakeDataset({"r6n6": bad_labels}, FEATURES))
    infinite = node_frame(50, 7)
    infinite.iloc[3, 0] = np.inf
    with pytest.raises(DataError, match="r7n7.*power"):
        prepare_federated_data(FakeDataset({"r7n7": infinite}, FEATURES))
    with pytest.raises(SelectionError, match="nope"):
        prepare_federated_data(dataset, nodes=["r1n1", "nope"])


@pytest.mark.parametrize(
    "options",
    [
        {"split": "random"},
        {"impute": "mean"},
        {"train": 0.0},
        {"block": "1D"},
        {"nodes": []},
        {"split": "blocked", "train": 0.9, "validation": 0.2},
    ],
)
def test_prepare_rejects_bad_options(dataset, options):
    with pytest.raises(ConfigError):
        prepare_federated_data(dataset, **options)


def test_record_ids_must_be_safe_file_names(tmp_path):
    for bad in ("../up", "a/b", ".hidden", "", "-x", "a b"):
        with pytest.raises(ConfigError):
            write_client_records(tmp_path, {bad: np.zeros((1, 2))})
    with pytest.raises(SourceNotFoundError):
        client_data_from_records(tmp_path / "missing")
    with pytest.raises(SchemaError):
        make_client_data({"a": np.zeros((2, 2)), "b": np.zeros((2, 3))})
    with pytest.raises(DataError, match="'b'"):
        write_client_records(tmp_path, {"a": np.zeros((2, 2)), "b": np.full((1, 2), np.nan)})


def test_modules_import_without_tensorflow():
    code = (
        "import sys, ftl_tff.data.clients.splits, ftl_tff.data.clients.scaling, ftl_tff.data.clients.client_data;"
        "sys.exit('tensorflow' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------
# Real TFF. One import per process, one worker_binary, stopped at teardown.


@pytest.fixture(scope="module")
def tff_runtime():
    """Imports TFF; at teardown stops the worker_binary its default context started.

    TFF's local C++ context starts ``worker_binary`` on first use and kills it
    only in the ``__del__`` of an object the default context holds. Installing
    a fresh default context releases that object, whose ``__del__`` then
    interrupts and waits for the worker; any child still named
    ``worker_binary`` after that is interrupted and reaped here.
    """
    import tensorflow_federated as tff

    yield tff
    tff.backends.native.set_sync_local_cpp_execution_context()
    gc.collect()
    leftover = stop_children_named("worker_binary")
    assert not child_pids_named("worker_binary")
    assert not leftover, f"worker_binary survived the context reset: {leftover}"


def _rows(dataset) -> np.ndarray:
    """All ``x`` of a dataset of ``(x, x)`` pairs, checking the pairs are equal."""
    inputs, targets = [], []
    for x, y in dataset:
        inputs.append(np.asarray(x))
        targets.append(np.asarray(y))
    if not inputs:
        return np.zeros((0, 0), np.float32)
    np.testing.assert_array_equal(np.stack(inputs), np.stack(targets))
    return np.stack(inputs)


@pytest.fixture(scope="module")
def client_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "r1n1": rng.random((13, 4)),
        "r1n2": rng.random((0, 4)),
        "r1n3": rng.random((7, 4)).astype(np.float32),
    }


def test_make_client_data_shapes_dtypes_and_computation(tff_runtime, client_arrays):
    import tensorflow as tf

    client_data = make_client_data(client_arrays)
    assert client_data.client_ids == ["r1n1", "r1n2", "r1n3"]
    spec = tf.TensorSpec([4], tf.float32)
    assert client_data.element_type_structure == (spec, spec)
    for client_id, array in client_arrays.items():
        rows = _rows(client_data.create_tf_dataset_for_client(client_id))
        assert len(rows) == len(array)
        if len(array):
            assert rows.dtype == np.float32
            np.testing.assert_array_equal(rows, array.astype(np.float32))
    # Traced path (client id as a graph tensor), here inside tf.data.
    assert len(_rows(client_data.create_tf_dataset_from_all_clients())) == 20
    computation = client_data.dataset_computation
    np.testing.assert_array_equal(
        _rows(computation("r1n1")), client_arrays["r1n1"].astype(np.float32)
    )
    assert len(_rows(computation("r1n2"))) == 0
    # The computation ran in TFF's worker, which the fixture must stop.
    assert child_pids_named("worker_binary")


def test_client_records_round_trip_exactly(tff_runtime, client_arrays, tmp_path):
    index_path = write_client_records(tmp_path / "records", client_arrays)
    index = json.loads(index_path.read_text())
    assert index_path.name == RECORDS_INDEX_NAME
    assert index["n_features"] == 4 and index["client_ids"] == list(client_arrays)
    assert index["rows"] == {"r1n1": 13, "r1n2": 0, "r1n3": 7}
    assert {p.name for p in (tmp_path / "records").glob("*.tfrecord")} == {
        "r1n1.tfrecord",
        "r1n2.tfrecord",
        "r1n3.tfrecord",
    }
    client_data = client_data_from_records(tmp_path / "records")
    assert client_data.client_ids == list(client_arrays)
    for client_id, array in client_arrays.items():
        rows = _rows(client_data.create_tf_dataset_for_client(client_id))
        assert len(rows) == len(array)
        if len(array):
            np.testing.assert_array_equal(rows, array.astype(np.float32))
    np.testing.assert_array_equal(
        _rows(client_data.dataset_computation("r1n3")), client_arrays["r1n3"]
    )


def test_federated_data_client_data(tff_runtime, dataset):
    data = prepare_federated_data(dataset, train=0.8)
    client_data = data.client_data("test", nodes=["r1n2", "r1n3"])
    assert client_data.client_ids == ["r1n2", "r1n3"]
    np.testing.assert_array_equal(
        _rows(client_data.create_tf_dataset_for_client("r1n3")), data.node_data["r1n3"].x_test
    )
