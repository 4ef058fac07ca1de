"""The cohort engine computes the per-node engine's FedAvg (real TFF, tiny models)."""

from __future__ import annotations

import numpy as np
import pytest

from ftl_tff._processes import child_pids_named
from ftl_tff.config import FedAvgConfig, ModelConfig
from ftl_tff.errors import ConfigError
from ftl_tff.federated import FederatedRuntime, local_workers, train_federated
from ftl_tff.federated.cohort import build_cohort_process, cohort_inputs, default_cohort_size
from ftl_tff.federated.training import _round_seed

FEATURES = 6
MODEL = ModelConfig(encoder_units=(4, 2))
TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def no_worker_left_by_the_test():
    yield
    assert child_pids_named("worker_binary") == [], "the test left a worker_binary running"


def _clients(sizes: dict[str, int], seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {node: rng.random((rows, FEATURES), dtype=np.float32) for node, rows in sizes.items()}


UNEQUAL = {"r1n1": 23, "r1n2": 37, "r1n3": 60, "r2n1": 9}
EQUAL = {"a": 40, "b": 40, "c": 40}


def _train(clients, engine, checkpoint_dir=None, resume=False, runtime=None, **fedavg):
    options = {"rounds": 3, "batch_size": 10, "client_learning_rate": 0.01, **fedavg, "engine": engine}
    return train_federated(clients, None, FedAvgConfig(**options), MODEL, seed=2, progress=False,
                           checkpoint_dir=checkpoint_dir, resume=resume, runtime=runtime)


def _max_difference(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a.model.get_weights(), b.model.get_weights()))


@pytest.mark.parametrize(("sizes", "options"), [
    (UNEQUAL, {"local_epochs": 2, "clients_per_round": 3}),
    (EQUAL, {"local_epochs": 1}),
    (UNEQUAL, {"local_epochs": 2, "client_optimizer": "sgdm", "weighting": "uniform", "cohort_size": 2}),
    (UNEQUAL, {"local_epochs": 1, "client_optimizer": "rmsprop", "cohort_size": 1}),
])
def test_the_cohort_engine_matches_the_per_node_engine(sizes, options):
    clients = _clients(sizes)
    reference = _train(clients, "per-node", **options)
    cohort = _train(clients, "cohort", **options)
    assert reference.config["engine"] == "per-node" and cohort.config["engine"] == "cohort"
    assert _max_difference(reference, cohort) <= TOLERANCE
    # The same clients were sampled and the same examples and batches trained on in every round.
    for column in ("clients", "num_examples", "num_batches"):
        assert reference.history[column].tolist() == cohort.history[column].tolist()
    np.testing.assert_allclose(reference.history["train_loss"], cohort.history["train_loss"], rtol=1e-5)


def test_a_cohort_round_on_two_remote_workers_matches_the_per_node_round():
    clients = _clients(UNEQUAL)
    reference = _train(clients, "per-node", local_epochs=2)
    with local_workers(2) as addresses, FederatedRuntime(workers=addresses) as runtime:
        split = _train(clients, "cohort", runtime=runtime, local_epochs=2, cohort_size=2)
    assert split.config["workers"] == addresses
    assert _max_difference(reference, split) <= TOLERANCE


def test_resuming_the_cohort_engine_is_bit_identical(tmp_path):
    clients = _clients(UNEQUAL)
    whole = _train(clients, "cohort", local_epochs=2, clients_per_round=3)
    folder = tmp_path / "checkpoints"
    _train(clients, "cohort", checkpoint_dir=folder, local_epochs=2, clients_per_round=3, rounds=2)
    resumed = _train(clients, "cohort", checkpoint_dir=folder, resume=True, local_epochs=2, clients_per_round=3)
    assert resumed.rounds_run == 3
    assert all(np.array_equal(a, b) for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()))
    with pytest.raises(ConfigError, match="engine"):
        _train(clients, "per-node", checkpoint_dir=folder, resume=True, local_epochs=2, clients_per_round=3)


def test_cohort_inputs_hold_every_row_once_per_epoch_and_mask_the_padding():
    clients = _clients(UNEQUAL)
    inputs = cohort_inputs(clients, list(clients), _round_seed(0, 1), batch_size=10, epochs=2, cohort_size=3)
    assert len(inputs) == 2  # 4 nodes in cohorts of 3: 3 + 1
    x, mask = next(iter(inputs[0]))
    x, mask = x.numpy(), mask.numpy()
    assert x.shape[:3] == mask.shape and x.shape[0] == 3
    for k, node in enumerate(list(clients)[:3]):
        rows = x[k][mask[k] > 0]
        assert len(rows) == 2 * len(clients[node])
        np.testing.assert_array_equal(np.sort(rows, axis=0), np.sort(np.concatenate([clients[node]] * 2), axis=0))
        assert not x[k][mask[k] == 0].any()


def test_default_cohort_size_spreads_a_round_over_the_cores():
    assert default_cohort_size(100, cores=2) == 50 and default_cohort_size(10, cores=16) == 1
    assert default_cohort_size(7, cores=3) == 3
    # Within what TFF will serialize: 100 nodes of 3.2 MB each on 2 cores make cohorts of 20, not 50.
    assert default_cohort_size(100, cores=2, node_bytes=2000 * 400 * 4) == 20


def test_the_cohort_engine_takes_optimizer_names_only():
    with pytest.raises(ConfigError, match="client_optimizer"):
        build_cohort_process(FEATURES, {"encoder_units": (4, 2)}, client_optimizer="adagrad")
