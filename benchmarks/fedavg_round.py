"""FedAvg round benchmark: seconds per round of ftl-tff's federated training.

Workload (DESIGN.md, "Speed"): the reference autoencoder (400 inputs ->
100-80-60-40-20 -> ... -> 400), client Adam 1e-3, 1 local epoch, batch 32,
~2,000 rows per client, every client every round; 10 and 100 clients,
generated data. Measured in the same run, interleaved, median of rounds:

* ftl-tff's ``train_federated``: the cohort engine (the default), the
  per-node engine, ``data_on_workers`` with in-memory arrays and with
  per-client TFRecord files (these two run per node);
* (a) a bare ``process.next`` on the same datasets (TFF's own default path):
  the library's overhead, target ratio <= 1.15;
* (b) a centralized Keras ``fit`` epoch over the same rows and batch size:
  target ratio <= 1.0;
* peak RSS of the driver plus its worker_binary children.

Usage::

    python benchmarks/fedavg_round.py [--clients 10 100] [--rows 2000] [--features 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def make_clients(n_clients: int, rows: int, features: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Low-rank data plus noise in [0, 1], like scaled telemetry."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(8, features))
    clients = {}
    for i in range(n_clients):
        latent = rng.normal(size=(rows, 8))
        x = 1 / (1 + np.exp(-(latent @ basis) / 4)) + rng.normal(0, 0.02, size=(rows, features))
        clients[f"c{i:03d}"] = np.clip(x, 0, 1).astype(np.float32)
    return clients


def bare_rounds(clients: dict[str, np.ndarray], rounds: int, batch_size: int) -> list[float]:
    """Seconds per round of a bare TFF weighted FedAvg with datasets passed to ``next``."""
    import tensorflow as tf
    import tensorflow_federated as tff

    from ftl_tff.models import build_autoencoder

    features = next(iter(clients.values())).shape[1]

    def model_fn():
        model = build_autoencoder(features, seed=0)
        spec = (tf.TensorSpec([None, features], tf.float32), tf.TensorSpec([None, features], tf.float32))
        return tff.learning.models.from_keras_model(model, loss=tf.keras.losses.MeanSquaredError(), input_spec=spec)

    process = tff.learning.algorithms.build_weighted_fed_avg(
        model_fn, client_optimizer_fn=tff.learning.optimizers.build_adam(1e-3),
        server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0))
    state = process.initialize()
    datasets = [tf.data.Dataset.from_tensor_slices(x).map(lambda v: (v, v)).batch(batch_size)
                for x in clients.values()]
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        state = process.next(state, datasets).state
        seconds.append(time.perf_counter() - started)
    return seconds


def library_rounds(clients, rounds: int, batch_size: int, data_on_workers: bool, engine: str = "cohort") -> list[float]:
    """Seconds per round of ``ftl_tff.federated.train_federated``, from its history.

    ``clients`` is a dict of arrays, or a ClientData (e.g. TFRecord files).
    """
    from ftl_tff.config import FedAvgConfig
    from ftl_tff.federated.training import train_federated

    fedavg = FedAvgConfig(rounds=rounds, local_epochs=1, batch_size=batch_size, client_optimizer="adam",
                          client_learning_rate=1e-3, engine=engine)
    result = train_federated(clients, None, fedavg, seed=0, progress=False, data_on_workers=data_on_workers)
    return result.history["seconds"].tolist()


def centralized_epochs(clients: dict[str, np.ndarray], epochs: int, batch_size: int) -> list[float]:
    """Seconds per epoch of a centralized Keras fit over the pooled rows."""
    import tensorflow as tf

    from ftl_tff.models import build_autoencoder

    x = np.concatenate(list(clients.values()))
    model = build_autoencoder(x.shape[1], seed=0)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.fit(x, x, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        seconds.append(time.perf_counter() - started)
    return seconds


def peak_rss_mb() -> tuple[float, float]:
    """Peak RSS of this process and of its (reaped) children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--features", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds per measurement (first one is warm-up).")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from ftl_tff.federated.runtime import FederatedRuntime

    for n in args.clients:
        clients = make_clients(n, args.rows, args.features)
        with FederatedRuntime():
            bare = bare_rounds(clients, args.rounds, args.batch_size)
        per_node = library_rounds(clients, args.rounds, args.batch_size, data_on_workers=False, engine="per-node")
        library = library_rounds(clients, args.rounds, args.batch_size, data_on_workers=False)
        on_workers = library_rounds(clients, args.rounds, args.batch_size, data_on_workers=True)
        with tempfile.TemporaryDirectory() as records_dir:
            from ftl_tff.data.clients.client_data import client_data_from_records, write_client_records

            write_client_records(records_dir, clients)
            from_records = library_rounds(client_data_from_records(records_dir), args.rounds, args.batch_size,
                                          data_on_workers=True)
        central = centralized_epochs(clients, args.rounds, args.batch_size)

        def med(values):
            return statistics.median(values[1:] if len(values) > 1 else values)

        print(f"\n{n} clients x {args.rows} rows x {args.features} features, batch {args.batch_size}, "
              f"median of rounds 2..{args.rounds}")
        print(f"  bare TFF process.next          : {med(bare):7.2f} s/round")
        print(f"  ftl-tff, per-node engine       : {med(per_node):7.2f} s/round  "
              f"ratio to bare {med(per_node) / med(bare):.2f} (target <= 1.15)")
        print(f"  ftl-tff, cohort engine         : {med(library):7.2f} s/round  "
              f"ratio to per-node {med(library) / med(per_node):.2f}, to bare {med(library) / med(bare):.2f}")
        print(f"  ftl-tff, data on workers       : {med(on_workers):7.2f} s/round  "
              f"ratio to bare {med(on_workers) / med(bare):.2f}  (in-memory rows: embedded in the computation)")
        print(f"  ftl-tff, TFRecords on workers  : {med(from_records):7.2f} s/round  "
              f"ratio to bare {med(from_records) / med(bare):.2f}  (only client ids cross the wire)")
        best = min(med(library), med(per_node), med(on_workers), med(from_records))
        print(f"  centralized Keras epoch        : {med(central):7.2f} s/epoch  "
              f"ratio best ftl-tff / centralized {best / med(central):.2f} (target <= 1.0)")
        own, children = peak_rss_mb()
        print(f"  peak RSS so far: driver {own:.0f} MB, largest worker_binary {children:.0f} MB")


if __name__ == "__main__":
    main()
