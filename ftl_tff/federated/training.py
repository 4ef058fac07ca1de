"""The federated training loop: FedAvg rounds, validation, early stopping, checkpoints.

:func:`train_federated` trains one autoencoder across the participating nodes
with weighted FedAvg (:func:`~ftl_tff.federated.process.build_fedavg_process`)
and returns a :class:`FederatedTrainingResult`: the global Keras model and a
per-round history.

Reproducibility: everything random in a round derives from ``(seed, round)``:
the clients sampled (:func:`sample_clients`) and each client's shuffle,
drawn with a stateless TensorFlow shuffle from ``(seed, round, client id,
epoch)``. The order therefore changes every round (a dataset with a fixed
``shuffle(seed=k)`` would replay the same order every round under TFF), is
the same wherever the data is built (driver or worker), and a run resumed
from a checkpoint continues exactly as an uninterrupted one. The same seed
gives bit-identical weights.

Client data reaches the workers in one of two ways. By default the driver
builds every participating client's dataset each round and TFF serialises
its rows into the round's call. With ``data_on_workers=True`` the learning
process is composed with a dataset computation
(``tff.simulation.compose_dataset_computation_with_learning_process``): the
driver sends only ``(client id, round seed)`` pairs and each worker builds,
shuffles and batches the client's data itself. Both give the same weights.
The data stays on the workers only when the ``ClientData`` reads files the
workers hold (:func:`~ftl_tff.data.clients.client_data.client_data_from_records`);
in-memory arrays are embedded in the computation, which travels every round.

Training runs inside a :class:`~ftl_tff.federated.runtime.FederatedRuntime`
(one is created for the call when none is given), so no ``worker_binary``
outlives it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ftl_tff import __version__
from ftl_tff.config import FedAvgConfig, ModelConfig
from ftl_tff.data._progress import progress_bar
from ftl_tff.data.clients.client_data import make_client_data
from ftl_tff.errors import ConfigError, DataError, EmptyNodeError, SchemaError
from ftl_tff.federated.cohort import build_cohort_process, cohort_inputs, default_cohort_size
from ftl_tff.federated.process import (
    CLIENT_KEY_BUCKETS,
    assign_global_weights,
    build_fedavg_process,
    build_keras_model,
)
from ftl_tff.federated.runtime import FederatedRuntime, active_runtime
from ftl_tff.records import read_record

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf
    import tensorflow_federated as tff

__all__ = [
    "HISTORY_COLUMNS",
    "PROGRESS_FILE",
    "FederatedTrainingResult",
    "sample_clients",
    "round_batches",
    "train_federated",
    "validation_loss",
]

#: Columns of :attr:`FederatedTrainingResult.history`, one row per round.
HISTORY_COLUMNS = (
    "round",
    "num_clients",
    "clients",
    "num_examples",
    "num_batches",
    "train_loss",
    "validation_loss",
    "seconds",
)

#: File in ``checkpoint_dir`` holding the history and early-stopping state of
#: the last checkpoint (the model and optimizer states are TFF's, next to it).
PROGRESS_FILE = "training_progress.json"

_PROGRESS_FORMAT = "ftl_tff.federated_progress/1"
_STATE_PREFIX = "round_"
_SAMPLING_STREAM = 1
_SHUFFLE_STREAM = 2
_VALIDATION_CHUNK_ROWS = 8192
_ROWS_CHUNK = 4096
# Options that change the weights a round produces: a resumed run must match.
_TRAJECTORY_KEYS = (
    "client_ids",
    "input_dim",
    "local_epochs",
    "batch_size",
    "client_optimizer",
    "client_learning_rate",
    "server_optimizer",
    "server_learning_rate",
    "weighting",
    "clients_per_round",
    "seed",
    "model_kwargs",
    "validation_nodes",
    "monitor",
    "engine",
)


@dataclass(eq=False)
class FederatedTrainingResult:
    """What :func:`train_federated` returns.

    Attributes:
        model: Keras autoencoder with the final global weights, or, when
            early stopping was enabled, the global weights of ``best_round``.
        history: One row per round (columns :data:`HISTORY_COLUMNS`):
            ``round`` (1-based), ``num_clients`` and ``clients`` (the node ids
            that trained), ``num_examples`` and ``num_batches`` processed
            (epochs included), ``train_loss`` (clients' mean training loss
            during the round, weighted by examples), ``validation_loss``
            (mean squared reconstruction error of the new global model over
            all validation windows, i.e. the example-weighted mean over
            nodes; NaN without validation data) and ``seconds`` (wall time
            of the round's federated step, validation excluded; the first
            round also compiles the computation).
        best_round: Round with the lowest monitored loss (``validation_loss``
            if validation data was given, else ``train_loss``); None if no
            round ran.
        rounds_run: Rounds in the history (those of a resumed run included).
        config: The options of the run, JSON-safe.
        stopped_early: True if early stopping ended the run before ``rounds``.
    """

    model: tf.keras.Model
    history: pd.DataFrame
    best_round: int | None
    rounds_run: int
    config: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False


def sample_clients(
    client_ids: Sequence[str], clients_per_round: int | None, seed: int, round_number: int
) -> list[str]:
    """The clients that train in ``round_number``: all, or a seeded sample.

    The sample depends only on ``(seed, round_number)`` and the ids, so it can
    be recomputed (on resume, or to audit a run).

    Args:
        client_ids: Participating node ids, in a fixed order.
        clients_per_round: Sample size; None (or at least ``len(client_ids)``)
            for every client.
        seed: The run's seed (>= 0).
        round_number: 1-based round.

    Returns:
        The chosen ids, in the order of ``client_ids``.
    """
    ids = list(client_ids)
    if clients_per_round is None or clients_per_round >= len(ids):
        return ids
    rng = np.random.default_rng(np.random.SeedSequence([seed, round_number, _SAMPLING_STREAM]))
    chosen = np.sort(rng.choice(len(ids), size=clients_per_round, replace=False))
    return [ids[i] for i in chosen]


def round_batches(
    rows: np.ndarray,
    client_id: str,
    seed: int,
    round_number: int,
    batch_size: int = 10,
    local_epochs: int = 1,
) -> tf.data.Dataset:
    """The batches one client trains on in ``round_number``, as :func:`train_federated` builds them.

    Each epoch is a fresh permutation of the rows, batched with a partial last
    batch (as in Keras ``fit``); the permutation depends only on ``(seed,
    round_number, client_id, epoch)``. Use it to reproduce or audit a client's
    training outside TFF.

    Args:
        rows: The client's rows ``(n, features)``.
        client_id: The client's id (part of its shuffle seed).
        seed: The run's seed.
        round_number: 1-based round.
        batch_size: Batch size.
        local_epochs: Epochs.

    Returns:
        A dataset of ``(x, x)`` float32 batches.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    return _client_batches(
        tf.constant(np.asarray(rows, dtype=np.float32)), client_id, _round_seed(seed, round_number),
        batch_size, local_epochs,
    )


def validation_loss(model: tf.keras.Model, arrays: Mapping[str, np.ndarray]) -> float:
    """Mean squared reconstruction error over every row of every node.

    Equal to the mean of the nodes' validation losses weighted by their rows.

    Args:
        model: The autoencoder.
        arrays: Node id -> rows ``(n, features)``.

    Returns:
        The loss; NaN if there are no rows.
    """
    total = 0.0
    rows = 0
    for x in arrays.values():
        x = np.asarray(x, dtype=np.float32)
        for start in range(0, len(x), _VALIDATION_CHUNK_ROWS):
            chunk = x[start : start + _VALIDATION_CHUNK_ROWS]
            reconstruction = np.asarray(model(chunk, training=False))
            total += float(np.sum(np.mean(np.square(reconstruction - chunk, dtype=np.float64), axis=1)))
        rows += len(x)
    return total / rows if rows else math.nan


def train_federated(
    clients: Mapping[str, np.ndarray] | tff.simulation.datasets.ClientData,
    validation: Mapping[str, np.ndarray] | None = None,
    fedavg: FedAvgConfig | None = None,
    model: ModelConfig | None = None,
    *,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    checkpoint_keep: int = 3,
    resume: bool = False,
    progress: bool = True,
    runtime: FederatedRuntime | None = None,
    data_on_workers: bool = False,
) -> FederatedTrainingResult:
    """Trains the autoencoder with weighted FedAvg across the participating nodes.

    Each round: choose the clients (all, or ``clients_per_round`` sampled
    from ``(seed, round)``); every chosen client trains the global model for
    ``local_epochs`` over its rows, reshuffled every round, in batches of
    ``batch_size``; the server averages the updates and applies them with the
    server optimizer; the new global model is scored on ``validation``.

    Args:
        clients: Node id -> float32 training rows ``(n, features)`` of each
            participating node (no NaN: impute first), or a TFF ``ClientData``
            of ``(x, x)`` elements (e.g.
            :func:`~ftl_tff.data.clients.client_data.client_data_from_records`).
        validation: Node id -> held-out rows scored after every round (any
            nodes, participating or not); None to skip validation.
        fedavg: Rounds, local epochs, batch size, optimizers, weighting,
            client sampling and early stopping
            (:class:`~ftl_tff.config.FedAvgConfig`; default its defaults).
            ``rounds`` counts a resumed run's past rounds; ``server_optimizer``
            ``"sgd"`` at learning rate 1.0 makes the new global model the
            weighted mean of the client models; ``early_stopping_patience``
            stops after that many rounds without a lower monitored loss
            (``validation_loss`` when ``validation`` is given, else
            ``train_loss``) and returns the model of the best round. The
            optimizers may also be ready ``tff.learning.optimizers.Optimizer``
            objects.
        model: The autoencoder's architecture (:class:`~ftl_tff.config.ModelConfig`).
        seed: Seed (>= 0) of the initial weights, sampling and shuffling. It
            also seeds Python, NumPy and TensorFlow globally
            (``tf.keras.utils.set_random_seed``).
        checkpoint_dir: Folder for checkpoints (TFF program states plus
            :data:`PROGRESS_FILE`). It must be empty or absent unless
            ``resume`` is set.
        checkpoint_every: Save every this many rounds (default 1 when
            ``checkpoint_dir`` is set); the last round is always saved.
        checkpoint_keep: Program states kept on disk (>= 2).
        resume: Continue from the last checkpoint in ``checkpoint_dir`` (start
            from scratch if there is none). The run's options must match the
            checkpointed ones (``rounds`` and ``early_stopping_patience`` may
            change). The result equals an uninterrupted run bit for bit.
        progress: Show a progress bar with the losses (on a terminal only).
        runtime: Runtime to run in. By default the innermost active
            :class:`~ftl_tff.federated.runtime.FederatedRuntime` (inside a
            ``with FederatedRuntime(...)`` block), else a local one created
            and closed for this call. One given but not active is entered and
            closed here too.
        data_on_workers: Build each client's data on the worker that trains
            it, from ``(client id, round seed)``. Only with a record-backed
            ``ClientData``
            (:func:`~ftl_tff.data.clients.client_data.client_data_from_records`)
            whose files exist at the same path on every worker does the data
            stay off the wire. For in-memory ``clients`` every row is embedded
            in the traced computation, which is sent each round: no saving,
            and a slower first round.

    Returns:
        The :class:`FederatedTrainingResult`.

    Raises:
        ConfigError: For invalid options, a non-empty ``checkpoint_dir``
            without ``resume``, or a checkpoint made with other options.
        SchemaError: If arrays are not 2-D or their widths differ.
        DataError: If arrays hold NaN or infinite values.
        EmptyNodeError: If a participating node has no training rows.
        WorkerError: If a TFF worker cannot be started or reached.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training needs it

    fedavg = (fedavg or FedAvgConfig())
    fedavg.validate()
    model = model or ModelConfig()
    model.validate()
    rounds, local_epochs, batch_size = fedavg.rounds, fedavg.local_epochs, fedavg.batch_size
    clients_per_round, early_stopping_patience = fedavg.clients_per_round, fedavg.early_stopping_patience
    model_kwargs = model.kwargs()
    _check_options(seed, checkpoint_dir, checkpoint_every, checkpoint_keep, resume)
    data = _TrainingClients(clients)
    if clients_per_round is not None and clients_per_round > len(data.client_ids):
        raise ConfigError(f"clients_per_round={clients_per_round} exceeds the {len(data.client_ids)} clients")
    validation_arrays = _checked_validation(validation, data.input_dim)
    if runtime is None:
        runtime = active_runtime()  # inside ``with FederatedRuntime(...)``: run there
    monitor = "validation_loss" if validation_arrays is not None else "train_loss"
    engine = _engine(fedavg, data, data_on_workers)
    config = _run_config(
        data, validation_arrays, monitor, rounds=rounds, local_epochs=local_epochs, batch_size=batch_size,
        client_optimizer=fedavg.client_optimizer, client_learning_rate=fedavg.client_learning_rate,
        server_optimizer=fedavg.server_optimizer, server_learning_rate=fedavg.server_learning_rate,
        weighting=fedavg.weighting, clients_per_round=clients_per_round, seed=seed, model_kwargs=model_kwargs,
        early_stopping_patience=early_stopping_patience, data_on_workers=data_on_workers, engine=engine,
        cohort_size=fedavg.cohort_size,
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        checkpoint_every=checkpoint_every, runtime=runtime,
    )

    if checkpoint_dir is not None:  # before the slow part: fail fast on a wrong folder
        _check_checkpoint_folder(Path(checkpoint_dir), config, resume)

    tf.keras.utils.set_random_seed(seed)
    build = build_cohort_process if engine == "cohort" else build_fedavg_process
    process = build(
        data.input_dim, model_kwargs, fedavg.client_optimizer, fedavg.client_learning_rate,
        fedavg.server_optimizer, fedavg.server_learning_rate, fedavg.weighting, seed,
    )
    keras_model = build_keras_model(data.input_dim, model_kwargs, seed)
    rounds_runner = _Rounds(process, data, keras_model, validation_arrays, batch_size, local_epochs, data_on_workers,
                            cohort=engine == "cohort", cohort_size=fedavg.cohort_size)
    loop = _Loop(monitor, early_stopping_patience)

    with ExitStack() as stack:
        if runtime is None:
            stack.enter_context(FederatedRuntime())
        elif not runtime.active:
            stack.enter_context(runtime)
        checkpoints = None if checkpoint_dir is None else _Checkpoints(checkpoint_dir, checkpoint_keep)
        _run_rounds(process, rounds_runner, loop, keras_model, checkpoints, config, fedavg, seed,
                    every=checkpoint_every or 1, resume=resume, progress=progress)

    if loop.patience is not None and loop.best_weights is not None:
        keras_model.set_weights(loop.best_weights)
    return FederatedTrainingResult(
        model=keras_model,
        history=loop.history_frame(),
        best_round=loop.best_round,
        rounds_run=loop.rounds_done,
        config=config,
        stopped_early=loop.should_stop() and loop.rounds_done < rounds,
    )


def _run_rounds(process: Any, rounds_runner: _Rounds, loop: _Loop, keras_model: Any, checkpoints: Any,
                config: dict[str, Any], fedavg: FedAvgConfig, seed: int, *, every: int, resume: bool,
                progress: bool) -> None:
    """The rounds of :func:`train_federated`, inside its runtime; the final weights land in ``keras_model``."""
    state = process.initialize()
    if checkpoints is not None:
        state = checkpoints.start(state, loop, config, resume)
    rounds = fedavg.rounds
    bar = progress_bar(
        range(loop.rounds_done + 1, rounds + 1), desc="federated rounds",
        disable=not progress or loop.should_stop(), total=max(0, rounds - loop.rounds_done),
    )
    for round_number in bar:
        if loop.should_stop():
            break
        participants = sample_clients(rounds_runner.data.client_ids, fedavg.clients_per_round, seed, round_number)
        state, row = rounds_runner.run(state, round_number, participants, _round_seed(seed, round_number))
        loop.record(row, keras_model)
        if checkpoints is not None and (round_number % every == 0 or round_number == rounds or loop.should_stop()):
            checkpoints.save(state, loop, config)
        bar.set_postfix(_postfix(row), refresh=False)
    bar.close()  # also after an early stop's break
    # Still inside the runtime: reading the state runs a TFF computation.
    assign_global_weights(process, state, keras_model)


class _TrainingClients:
    """The participating clients: ids, width, and rows or a ``ClientData``."""

    def __init__(self, clients: Any) -> None:
        self._rows: dict[str, Any] = {}
        if isinstance(clients, Mapping):
            self.client_data = make_client_data(clients)  # validates ids, shapes, finiteness
            self.client_ids = list(self.client_data.client_ids)
            self.arrays: dict[str, np.ndarray] | None = {
                cid: np.asarray(clients[cid], dtype=np.float32) for cid in self.client_ids
            }
            empty = [cid for cid, rows in self.arrays.items() if len(rows) == 0]
            if empty:
                raise EmptyNodeError(f"participating nodes without training rows: {empty[:10]}")
            self.input_dim = int(self.arrays[self.client_ids[0]].shape[1])
        elif hasattr(clients, "serializable_dataset_fn") and hasattr(clients, "client_ids"):
            self.client_data = clients
            self.client_ids = [str(cid) for cid in clients.client_ids]
            self.arrays = None
            self.input_dim = _client_data_width(clients)
        else:
            raise ConfigError(f"clients must be a mapping of node id -> array or a TFF ClientData, got {type(clients)}")
        if not self.client_ids:
            raise ConfigError("no clients to train")

    def rows(self, client_id: str) -> Any:
        """The client's rows as a float32 tensor, made once and reused every round."""
        import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

        if client_id not in self._rows:
            if self.arrays is not None:
                self._rows[client_id] = tf.constant(self.arrays[client_id])
            else:
                dataset = self.client_data.create_tf_dataset_for_client(client_id)
                self._rows[client_id] = _dataset_rows(dataset, self.input_dim)
        return self._rows[client_id]


class _Rounds:
    """Runs one FedAvg round and scores the new global model."""

    def __init__(
        self,
        process: Any,
        data: _TrainingClients,
        model: tf.keras.Model,
        validation: dict[str, np.ndarray] | None,
        batch_size: int,
        local_epochs: int,
        data_on_workers: bool,
        cohort: bool = False,
        cohort_size: int | None = None,
    ) -> None:
        self.process = process
        self.cohort = cohort
        self.cohort_size = cohort_size
        self.training_process = (
            _with_dataset_computation(process, data, batch_size, local_epochs) if data_on_workers else process
        )
        self.data = data
        self.model = model
        self.validation = validation
        self.batch_size = batch_size
        self.local_epochs = local_epochs
        self.data_on_workers = data_on_workers

    def run(self, state: Any, round_number: int, participants: list[str], seed_of_round: int) -> tuple[Any, dict]:
        """Returns the new state and the round's history row; ``model`` gets the new global weights."""
        started = time.perf_counter()
        if self.data_on_workers:
            round_input: list[Any] = [(client_id, seed_of_round) for client_id in participants]
        elif self.cohort:
            node_bytes = max(self.data.arrays[c].nbytes for c in participants) * self.local_epochs
            size = self.cohort_size or default_cohort_size(len(participants), node_bytes=node_bytes)
            round_input = cohort_inputs(self.data.arrays, participants, seed_of_round, self.batch_size,
                                        self.local_epochs, size)
        else:
            round_input = [
                _client_batches(self.data.rows(cid), cid, seed_of_round, self.batch_size, self.local_epochs)
                for cid in participants
            ]
        output = self.training_process.next(state, round_input)
        seconds = time.perf_counter() - started
        assign_global_weights(self.process, output.state, self.model)
        train = output.metrics["client_work"]["train"]
        row = {
            "round": round_number,
            "num_clients": len(participants),
            "clients": participants,
            "num_examples": int(train["num_examples"]),
            "num_batches": int(train["num_batches"]),
            "train_loss": float(train["loss"]),
            "validation_loss": math.nan if self.validation is None else validation_loss(self.model, self.validation),
            "seconds": seconds,
        }
        return output.state, row


class _Loop:
    """History and early-stopping bookkeeping; restorable from a checkpoint."""

    def __init__(self, monitor: str, patience: int | None) -> None:
        self.monitor = monitor
        self.patience = patience
        self.history: list[dict[str, Any]] = []
        self.best_round: int | None = None
        self.best_loss = math.inf
        self.best_weights: list[np.ndarray] | None = None

    @property
    def rounds_done(self) -> int:
        return int(self.history[-1]["round"]) if self.history else 0

    def record(self, row: dict[str, Any], model: tf.keras.Model) -> None:
        self.history.append(row)
        loss = row[self.monitor]
        if loss < self.best_loss:  # NaN never improves
            self.best_loss = float(loss)
            self.best_round = int(row["round"])
            # Kept even without early stopping, so a resumed run may add it.
            self.best_weights = [np.array(w, copy=True) for w in model.get_weights()]

    def should_stop(self) -> bool:
        if self.patience is None or not self.history:
            return False
        return self.rounds_done - (self.best_round or 0) >= self.patience

    def history_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.history, columns=list(HISTORY_COLUMNS))
        return frame.astype(
            {"round": "int64", "num_clients": "int64", "num_examples": "int64", "num_batches": "int64",
             "train_loss": "float64", "validation_loss": "float64", "seconds": "float64"}
        )


class _Checkpoints:
    """TFF program states plus a JSON of the loop's progress, kept in step.

    Each save writes the program state of round ``r`` first, then the best
    weights (if they changed) and the JSON, atomically. A crash between the
    two leaves a newer program state than the JSON; resuming then loads the
    state the JSON names and deletes newer ones, so the history always
    matches the state.
    """

    def __init__(self, directory: str | Path, keep: int) -> None:
        import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.manager = tff.program.FileProgramStateManager(
            str(self.directory), prefix=_STATE_PREFIX, keep_total=keep, keep_first=False
        )
        self._saved_best_round: int | None = None

    def versions(self) -> list[int]:
        return list(_run_coroutine(self.manager.get_versions()) or [])

    def start(self, initial_state: Any, loop: _Loop, config: dict[str, Any], resume: bool) -> Any:
        """Returns the state to start from, restoring ``loop`` when resuming."""
        progress = _check_checkpoint_folder(self.directory, config, resume)
        if progress is None:
            return initial_state
        versions = self.versions()
        saved_round = int(progress["round"])
        if saved_round not in versions:
            raise ConfigError(f"{self.directory}: the program state of round {saved_round} is missing")
        for version in versions:
            if version > saved_round:  # saved just before a crash, without its history
                shutil.rmtree(self.directory / f"{_STATE_PREFIX}{version}")
        state = _run_coroutine(self.manager.load(saved_round, initial_state))
        loop.history = progress["history"]
        loop.best_round = progress["best_round"]
        loop.best_loss = math.inf if progress["best_loss"] is None else float(progress["best_loss"])
        best_file = progress.get("best_weights_file")
        if best_file:
            with np.load(self.directory / best_file) as stored:
                loop.best_weights = [stored[f"w{i}"] for i in range(len(stored.files))]
            self._saved_best_round = loop.best_round
        return state

    def save(self, state: Any, loop: _Loop, config: dict[str, Any]) -> None:
        """Saves the state of the last recorded round, then the progress JSON."""
        round_number = loop.rounds_done
        _run_coroutine(self.manager.save(state, round_number))
        best_file = None
        if loop.best_weights is not None:
            best_file = f"best_weights_round_{loop.best_round}.npz"
            if self._saved_best_round != loop.best_round:
                _atomic_write(
                    self.directory / best_file,
                    lambda handle: np.savez(handle, **{f"w{i}": w for i, w in enumerate(loop.best_weights)}),
                )
        progress = {
            "format": _PROGRESS_FORMAT,
            "round": round_number,
            "config": config,
            "history": loop.history,
            "best_round": loop.best_round,
            "best_loss": None if math.isinf(loop.best_loss) else loop.best_loss,
            "best_weights_file": best_file,
        }
        text = json.dumps(progress, indent=1)
        _atomic_write(self.directory / PROGRESS_FILE, lambda handle: handle.write(text.encode()))
        if best_file is not None and self._saved_best_round != loop.best_round:
            for old in self.directory.glob("best_weights_round_*.npz"):
                if old.name != best_file:
                    old.unlink()
            self._saved_best_round = loop.best_round


def _check_checkpoint_folder(directory: Path, config: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """Checks ``directory`` suits the run; returns its progress record when resuming from it."""
    progress_path = directory / PROGRESS_FILE
    has_states = directory.is_dir() and any(directory.glob(f"{_STATE_PREFIX}*"))
    if not resume:
        if has_states or progress_path.exists():
            raise ConfigError(f"{directory} holds checkpoints of a previous run; pass resume=True or use an empty folder")
        return None
    if not progress_path.exists():
        if has_states:
            raise ConfigError(f"{directory}: program states without {PROGRESS_FILE}; cannot resume")
        return None
    progress = read_record(progress_path, "training progress record")
    if progress.get("format") != _PROGRESS_FORMAT:
        raise ConfigError(f"{progress_path} is not a {_PROGRESS_FORMAT!r} file")
    _check_same_trajectory(progress["config"], config, progress_path)
    return progress


def _with_dataset_computation(process: Any, data: _TrainingClients, batch_size: int, local_epochs: int) -> Any:
    """``process`` taking ``(client id, round seed)`` pairs; datasets are built on the workers."""
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    client_data = data.client_data
    input_dim = data.input_dim

    @tff.tensorflow.computation(tf.string, tf.int64)
    def client_round_data(client_id: Any, round_seed: Any) -> tf.data.Dataset:
        rows = _dataset_rows(client_data.serializable_dataset_fn(client_id), input_dim)
        return _client_batches(rows, client_id, round_seed, batch_size, local_epochs)

    return tff.simulation.compose_dataset_computation_with_learning_process(client_round_data, process)


def _client_batches(rows: Any, client_id: Any, round_seed: Any, batch_size: int, epochs: int) -> tf.data.Dataset:
    """One client's batches ``(x, x)`` for a round: each epoch a fresh permutation.

    Runs eagerly on the driver and traced on a worker alike. The permutation
    comes from a stateless shuffle seeded by ``(round seed, client key +
    epoch)``, so it does not depend on TensorFlow's global or graph seeds
    (which differ between the two places) and every epoch ends with its own
    partial batch, as in Keras ``fit``.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    client_key = tf.strings.to_hash_bucket_fast(client_id, CLIENT_KEY_BUCKETS)
    count = tf.shape(rows, out_type=tf.int64)[0]
    seed_of_round = tf.cast(round_seed, tf.int64)

    def epoch_batches(epoch: Any) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([seed_of_round, client_key + epoch])
        )
        return tf.data.Dataset.from_tensor_slices(tf.gather(rows, order)).batch(batch_size)

    # One tensor used as input and target: the rows are serialised once.
    return tf.data.Dataset.range(epochs).flat_map(epoch_batches).map(lambda x: (x, x))


def _dataset_rows(dataset: tf.data.Dataset, input_dim: int) -> Any:
    """All rows of a ``(x, x)`` dataset as one ``(n, input_dim)`` tensor (works traced).

    One pass in chunks (``batch`` sizes its buffers by the batch size, so one
    batch of "everything" is not an option when the count is unknown, as
    with record files); an empty client yields ``(0, input_dim)``.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    chunks = dataset.map(lambda *element: element[0]).batch(_ROWS_CHUNK)
    return chunks.reduce(
        tf.zeros([0, input_dim], tf.float32), lambda rows, chunk: tf.concat([rows, chunk], axis=0)
    )


def _client_data_width(client_data: Any) -> int:
    spec = client_data.element_type_structure
    first = spec[0] if isinstance(spec, (tuple, list)) else spec
    shape = getattr(first, "shape", None)
    if shape is None or len(shape) != 1 or shape[0] is None:
        raise SchemaError(f"ClientData elements must be (x, x) with x of shape [features], got {spec}")
    return int(shape[0])


def _round_seed(seed: int, round_number: int) -> int:
    """A 63-bit seed for the shuffles of ``round_number``."""
    state = np.random.SeedSequence([seed, round_number, _SHUFFLE_STREAM]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def _engine(fedavg: FedAvgConfig, data: _TrainingClients, data_on_workers: bool) -> str:
    """The engine that runs: the configured one, or per-node where the cohort engine cannot (named in the docs)."""
    names = all(isinstance(o, str) for o in (fedavg.client_optimizer, fedavg.server_optimizer))
    if fedavg.engine == "cohort" and names and not data_on_workers and data.arrays is not None:
        return "cohort"
    return "per-node"


def _check_options(seed: int, checkpoint_dir: Any, checkpoint_every: int | None, checkpoint_keep: int,
                   resume: bool) -> None:
    if checkpoint_every is not None and (not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise ConfigError(f"checkpoint_every must be None or an integer >= 1, got {checkpoint_every!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    if checkpoint_keep < 2:
        raise ConfigError(f"checkpoint_keep must be >= 2, got {checkpoint_keep}")
    if (resume or checkpoint_every is not None) and checkpoint_dir is None:
        raise ConfigError("resume and checkpoint_every need a checkpoint_dir")


def _checked_validation(validation: Mapping[str, np.ndarray] | None, input_dim: int) -> dict[str, np.ndarray] | None:
    if validation is None:
        return None
    arrays = {}
    for node, array in validation.items():
        x = np.asarray(array, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != input_dim:
            raise SchemaError(f"validation rows of {node!r}: expected shape (n, {input_dim}), got {x.shape}")
        if not np.isfinite(x).all():
            raise DataError(f"validation rows of {node!r}: NaN or infinite values; impute them first")
        arrays[str(node)] = x
    if sum(len(x) for x in arrays.values()) == 0:
        raise ConfigError("validation has no rows; pass validation=None to train without it")
    return arrays


def _run_config(
    data: _TrainingClients, validation: dict[str, np.ndarray] | None, monitor: str, *, runtime: Any, **options: Any
) -> dict[str, Any]:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    config: dict[str, Any] = {
        "client_ids": list(data.client_ids),
        "input_dim": data.input_dim,
        "validation_nodes": None if validation is None else list(validation),
        "monitor": monitor,
        "workers": None if runtime is None or runtime.workers is None else list(runtime.workers),
        "versions": {"ftl_tff": __version__, "tensorflow": tf.__version__,
                     "tensorflow_federated": tff.__version__},
    }
    for name, value in options.items():
        if name.endswith("_optimizer") and not isinstance(value, str):
            value = type(value).__name__
        config[name] = value
    # JSON round trip: tuples become lists, so a reloaded config compares equal.
    return json.loads(json.dumps(config))


def _check_same_trajectory(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    differing = [key for key in _TRAJECTORY_KEYS if saved.get(key) != current.get(key)]
    if differing:
        details = "; ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differing)
        raise ConfigError(f"cannot resume from {path}: options differ ({details})")


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    postfix = {"loss": f"{row['train_loss']:.4g}"}
    if not math.isnan(row["validation_loss"]):
        postfix["val"] = f"{row['validation_loss']:.4g}"
    return postfix


def _atomic_write(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _run_coroutine(coroutine: Any) -> Any:
    """Runs a coroutine to completion, also when called from a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
