"""Federated training with TensorFlow Federated: FedAvg process, training loop, runtime.

* :func:`train_federated` -> :class:`FederatedTrainingResult`: the training
  loop (sampling, validation, early stopping, checkpoints, resume).
* :func:`~ftl_tff.federated.cohort.build_cohort_process`: the default
  engine, one TFF client per cohort of nodes trained in one graph
  (:mod:`ftl_tff.federated.cohort`);
* :func:`build_fedavg_process`: the per-node weighted FedAvg learning process, with
  :func:`assign_global_weights` / :func:`set_global_weights` between its
  state and a Keras model.
* :class:`FederatedRuntime` and :func:`local_workers`: the execution context
  and the lifetime of TFF's ``worker_binary`` processes, local or remote.

Importing this package does not import TensorFlow or TFF (about 25 s); they
are imported when first used.
"""

from .process import (
    OPTIMIZERS,
    WEIGHTINGS,
    assign_global_weights,
    build_fedavg_process,
    build_keras_model,
    build_optimizer,
    model_input_spec,
    set_global_weights,
)
from .runtime import (
    WORKER_BINARY_NAME,
    FederatedRuntime,
    WorkerError,
    active_runtime,
    local_workers,
    managed_worker_pids,
    worker_binary_path,
)
from .training import (
    HISTORY_COLUMNS,
    PROGRESS_FILE,
    FederatedTrainingResult,
    round_batches,
    sample_clients,
    train_federated,
    validation_loss,
)

__all__ = [
    "HISTORY_COLUMNS",
    "OPTIMIZERS",
    "PROGRESS_FILE",
    "WEIGHTINGS",
    "WORKER_BINARY_NAME",
    "FederatedRuntime",
    "FederatedTrainingResult",
    "WorkerError",
    "active_runtime",
    "assign_global_weights",
    "build_fedavg_process",
    "build_keras_model",
    "build_optimizer",
    "local_workers",
    "managed_worker_pids",
    "model_input_spec",
    "round_batches",
    "sample_clients",
    "set_global_weights",
    "train_federated",
    "validation_loss",
    "worker_binary_path",
]
