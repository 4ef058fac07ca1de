"""train_federated on real TFF, tiny: 3 nodes x 23-60 rows x 6 features, a (4, 2) encoder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ftl_tff._processes import child_pids_named
from ftl_tff.config import FedAvgConfig, ModelConfig
from ftl_tff.data.clients.client_data import client_data_from_records, write_client_records
from ftl_tff.errors import ConfigError, EmptyNodeError
from ftl_tff.federated import (
    HISTORY_COLUMNS,
    PROGRESS_FILE,
    FederatedRuntime,
    assign_global_weights,
    build_fedavg_process,
    build_keras_model,
    local_workers,
    round_batches,
    sample_clients,
    train_federated,
    validation_loss,
)

FEATURES = 6
MODEL = {"encoder_units": (4, 2)}
# The run most tests compare against: 3 rounds, 2 of the 3 nodes per round, Adam.
REFERENCE = {
    "rounds": 3,
    "clients_per_round": 2,
    "batch_size": 10,
    "client_learning_rate": 0.01,
    "model_kwargs": MODEL,
    "progress": False,
}


def train(clients, validation=None, *, model_kwargs=None, seed=0, progress=False, checkpoint_dir=None,
          resume=False, data_on_workers=False, runtime=None, **fedavg):
    """train_federated with the FedAvg and model options spelled as keywords."""
    return train_federated(clients, validation, FedAvgConfig(**fedavg), ModelConfig(**(model_kwargs or {})),
                           seed=seed, progress=progress, checkpoint_dir=checkpoint_dir, resume=resume,
                           data_on_workers=data_on_workers, runtime=runtime)


@pytest.fixture(autouse=True)
def no_worker_left_by_the_test():
    yield
    assert child_pids_named("worker_binary") == [], "the test left a worker_binary running"


@pytest.fixture(scope="module")
def clients() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    # Row counts that are not multiples of the batch size: partial batches.
    return {node: rng.random((rows, FEATURES), dtype=np.float32) for node, rows in
            (("r1n1", 23), ("r1n2", 37), ("r1n3", 60))}


@pytest.fixture(scope="module")
def validation() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(6)
    return {node: rng.random((rows, FEATURES), dtype=np.float32) for node, rows in
            (("r1n1", 5), ("r1n2", 9), ("r9n9", 4))}


@pytest.fixture(scope="module")
def reference(clients, validation):
    return train(clients, validation, **REFERENCE)


def weights_of(result) -> list[np.ndarray]:
    return result.model.get_weights()


def assert_same_weights(left, right, atol: float = 0.0) -> None:
    for a, b in zip(weights_of(left), weights_of(right)):
        if atol:
            np.testing.assert_allclose(a, b, rtol=0, atol=atol)
        else:
            np.testing.assert_array_equal(a, b)


def without_seconds(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="seconds")


def test_one_round_equals_the_weighted_mean_of_locally_trained_keras_models(clients):
    import tensorflow as tf

    learning_rate, epochs, seed = 0.1, 2, 3
    result = train(
        clients, rounds=1, local_epochs=epochs, batch_size=10, client_optimizer="sgd",
        client_learning_rate=learning_rate, server_optimizer="sgd", server_learning_rate=1.0,
        seed=seed, model_kwargs=MODEL, progress=False,
    )
    process = build_fedavg_process(FEATURES, MODEL, seed=seed)
    with FederatedRuntime():
        initial = assign_global_weights(process, process.initialize(), build_keras_model(FEATURES, MODEL, seed))
    initial_weights = initial.get_weights()
    # The process starts from the weights the same seed gives a Keras model.
    for a, b in zip(initial_weights, build_keras_model(FEATURES, MODEL, seed).get_weights()):
        np.testing.assert_array_equal(a, b)

    model = build_keras_model(FEATURES, MODEL, seed)
    client_models, examples = [], []
    for node, rows in clients.items():
        model.set_weights(initial_weights)
        seen = 0
        for x, target in round_batches(rows, node, seed, round_number=1, batch_size=10, local_epochs=epochs):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - target))
            gradients = tape.gradient(loss, model.trainable_variables)
            for variable, gradient in zip(model.trainable_variables, gradients):
                variable.assign_sub(learning_rate * gradient)
            seen += len(x)
        assert seen == epochs * len(rows)
        client_models.append(model.get_weights())
        examples.append(seen)
    share = np.array(examples, dtype=np.float64) / sum(examples)
    expected = [sum(s * w[i] for s, w in zip(share, client_models)) for i in range(len(initial_weights))]
    for got, want in zip(weights_of(result), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    row = result.history.iloc[0]
    assert row["num_examples"] == epochs * sum(len(x) for x in clients.values())
    assert row["num_batches"] == epochs * (3 + 4 + 6)
    assert np.isnan(row["validation_loss"])
    assert result.best_round == 1 and result.rounds_run == 1  # monitored train_loss without validation


def test_round_batches_reshuffle_every_round_and_epoch(clients):
    rows = clients["r1n1"]

    def order(round_number, epochs=1):
        return np.concatenate([x.numpy() for x, _ in round_batches(rows, "r1n1", 0, round_number, 10, epochs)])

    first, second = order(1), order(2)
    np.testing.assert_array_equal(order(1), first)  # a function of (seed, round, client)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first, axis=0), np.sort(rows, axis=0))
    two_epochs = order(1, epochs=2)
    np.testing.assert_array_equal(two_epochs[: len(rows)], first)
    assert not np.array_equal(two_epochs[len(rows):], first)


def test_history_records_rounds_sampled_clients_and_validation_loss(reference, clients, validation):
    history = reference.history
    expected_columns = ["round", "num_clients", "clients", "num_examples", "num_batches", "train_loss",
                        "validation_loss", "seconds"]
    assert list(history.columns) == expected_columns and list(HISTORY_COLUMNS) == expected_columns
    assert history["round"].tolist() == [1, 2, 3]
    assert history["num_clients"].tolist() == [2, 2, 2]
    expected = [sample_clients(list(clients), 2, 0, r) for r in (1, 2, 3)]
    assert history["clients"].tolist() == expected
    assert history["num_examples"].tolist() == [sum(len(clients[c]) for c in chosen) for chosen in expected]
    assert history["validation_loss"].notna().all() and history["train_loss"].notna().all()
    # Validation loss: every window of every validation node counts once.
    per_node = {node: validation_loss(reference.model, {node: x}) for node, x in validation.items()}
    rows = {node: len(x) for node, x in validation.items()}
    weighted = sum(per_node[n] * rows[n] for n in per_node) / sum(rows.values())
    assert validation_loss(reference.model, validation) == pytest.approx(weighted, rel=1e-12)
    assert history["validation_loss"].iloc[-1] == pytest.approx(weighted, rel=1e-12)
    assert reference.best_round == int(history.loc[history["validation_loss"].idxmin(), "round"])
    assert reference.config["client_ids"] == list(clients) and reference.config["seed"] == 0


def test_sample_clients_is_a_seeded_function_of_the_round():
    ids = [f"n{i}" for i in range(10)]
    draws = [sample_clients(ids, 3, 7, r) for r in range(1, 21)]
    assert draws == [sample_clients(ids, 3, 7, r) for r in range(1, 21)]
    assert all(len(d) == 3 and d == [i for i in ids if i in d] for d in draws)
    assert len({tuple(d) for d in draws}) > 5
    assert draws != [sample_clients(ids, 3, 8, r) for r in range(1, 21)]
    assert sample_clients(ids, None, 7, 1) == ids and sample_clients(ids, 10, 7, 1) == ids


def test_same_seed_gives_identical_weights_and_history_other_seed_differs(reference, clients, validation):
    again = train(clients, validation, **REFERENCE)
    assert_same_weights(again, reference)
    pd.testing.assert_frame_equal(without_seconds(again.history), without_seconds(reference.history))
    other = train(clients, validation, **{**REFERENCE, "seed": 1})
    assert any(not np.array_equal(a, b) for a, b in zip(weights_of(other), weights_of(reference)))


def test_resume_after_two_rounds_equals_the_uninterrupted_run(reference, clients, validation, tmp_path):
    folder = tmp_path / "checkpoints"
    first = train(clients, validation, **{**REFERENCE, "rounds": 2}, checkpoint_dir=folder)
    assert first.rounds_run == 2
    progress = json.loads((folder / PROGRESS_FILE).read_text())
    assert progress["round"] == 2 and len(progress["history"]) == 2
    assert sorted(p.name for p in folder.glob("round_*")) == ["round_1", "round_2"]
    with pytest.raises(ConfigError, match="resume=True"):
        train(clients, validation, **REFERENCE, checkpoint_dir=folder)
    with pytest.raises(ConfigError, match="seed"):
        train(clients, validation, **{**REFERENCE, "seed": 5}, checkpoint_dir=folder, resume=True)

    # A crash after saving round 3's state but before its history: resuming
    # must go back to round 2, the last round with both.
    shutil.copytree(folder / "round_2", folder / "round_3")

    resumed = train(clients, validation, **REFERENCE, checkpoint_dir=folder, resume=True)
    assert resumed.rounds_run == 3
    assert_same_weights(resumed, reference)
    pd.testing.assert_frame_equal(without_seconds(resumed.history), without_seconds(reference.history))
    assert resumed.best_round == reference.best_round


def test_data_built_on_the_workers_gives_the_same_weights(clients, validation, tmp_path):
    # Record files: the worker reads each client's rows from disk by its id. Data built on the workers
    # runs on the per-node engine, so that is the reference here (tests/federated/test_cohort.py compares
    # the engines).
    reference = train(clients, validation, **REFERENCE, engine="per-node")
    write_client_records(tmp_path / "records", clients)
    on_workers = train(
        client_data_from_records(tmp_path / "records"), validation, **REFERENCE, data_on_workers=True
    )
    assert on_workers.config["engine"] == "per-node"
    assert_same_weights(on_workers, reference, atol=1e-6)
    pd.testing.assert_frame_equal(
        without_seconds(on_workers.history), without_seconds(reference.history), check_exact=False, atol=1e-6
    )


def test_two_local_workers_give_the_same_weights_as_the_local_runtime(reference, clients, validation):
    with local_workers(2) as addresses, FederatedRuntime(workers=addresses) as runtime:
        split = train(clients, validation, **REFERENCE)  # runs in the active runtime
        assert runtime.active  # and leaves it to its owner
    assert_same_weights(split, reference, atol=1e-6)
    assert split.config["workers"] == addresses


def test_early_stopping_stops_at_patience_and_restores_the_best_round():
    rng = np.random.default_rng(0)
    # Train on rows near 0, validate on rows near 1: every round makes the
    # global model worse on validation, so round 1 stays the best.
    rows = {f"n{i}": rng.uniform(0.0, 0.1, (30, FEATURES)).astype(np.float32) for i in range(3)}
    held_out = {f"n{i}": rng.uniform(0.9, 1.0, (10, FEATURES)).astype(np.float32) for i in range(3)}
    result = train(
        rows, held_out, rounds=10, early_stopping_patience=2, client_optimizer="sgd", batch_size=10,
        client_learning_rate=0.5, model_kwargs=MODEL, progress=False,
    )
    history = result.history
    assert result.stopped_early and result.rounds_run == 3 and len(history) == 3
    assert history["validation_loss"].is_monotonic_increasing
    assert result.best_round == 1
    # The returned model carries the weights of round 1, not those of round 3.
    assert validation_loss(result.model, held_out) == history["validation_loss"].iloc[0]


def test_input_errors_are_reported_before_training(clients):
    with pytest.raises(EmptyNodeError, match="r0n0"):
        train({**clients, "r0n0": np.zeros((0, FEATURES), np.float32)}, rounds=1, progress=False)
    with pytest.raises(ConfigError, match="clients_per_round"):
        train(clients, rounds=1, clients_per_round=4, progress=False)
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        train(clients, rounds=1, resume=True, progress=False)
    with pytest.raises(ConfigError, match="optimizer"):
        train(clients, rounds=1, client_optimizer="adagrad", progress=False)
