"""The weighted FedAvg learning process for the dense autoencoder.

:func:`build_fedavg_process` wraps ``tff.learning.algorithms.
build_weighted_fed_avg`` around :func:`~ftl_tff.models.build_autoencoder`:
each client trains the global model on its own batches with the client
optimizer; the server averages the client updates (weighted by examples or
uniformly) and applies them with the server optimizer. With server SGD at
learning rate 1.0 a round's new global model is exactly the weighted mean of
the client models.

Optimizers are TFF's own (``tff.learning.optimizers``): TFF 0.87 rejects
Keras optimizers. The state returned by ``process.initialize()`` and
``process.next()`` holds the global model; :func:`assign_global_weights`
copies it into a Keras model and :func:`set_global_weights` goes the other
way (warm starts, transfer).

TensorFlow and TFF are imported inside the functions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ftl_tff import vocabulary
from ftl_tff.errors import ConfigError
from ftl_tff.models.autoencoder import build_autoencoder

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf
    import tensorflow_federated as tff

__all__ = [
    "OPTIMIZERS",
    "WEIGHTINGS",
    "assign_global_weights",
    "build_fedavg_process",
    "build_keras_model",
    "build_optimizer",
    "model_input_spec",
    "set_global_weights",
]

#: Optimizer names understood by :func:`build_optimizer`: ``sgd`` is plain
#: SGD, ``sgdm`` SGD with momentum 0.9.
OPTIMIZERS = vocabulary.OPTIMIZERS

#: Client weightings: ``examples`` weights a client by the examples it
#: trained on (epochs included), ``uniform`` gives every client weight 1.
WEIGHTINGS = vocabulary.WEIGHTINGS

_RESERVED_MODEL_KWARGS = frozenset({"input_dim", "seed"})

#: Node ids hash into this many buckets to seed each node's per-round shuffle (both engines).
CLIENT_KEY_BUCKETS = 2**62


def build_optimizer(name: str | Any, learning_rate: float) -> tff.learning.optimizers.Optimizer:
    """Returns a TFF optimizer by name.

    Args:
        name: One of :data:`OPTIMIZERS`, or a ready
            ``tff.learning.optimizers.Optimizer`` (returned as is; then
            ``learning_rate`` is ignored).
        learning_rate: Learning rate (> 0).

    Returns:
        The optimizer.

    Raises:
        ConfigError: For an unknown name, a Keras optimizer, or a
            non-positive learning rate.
    """
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    if not isinstance(name, str):
        if isinstance(name, tff.learning.optimizers.Optimizer):
            return name
        raise ConfigError(
            f"optimizer must be a name in {OPTIMIZERS} or a tff.learning.optimizers.Optimizer, got {name!r} "
            "(TFF 0.87 does not accept Keras optimizers)"
        )
    if not learning_rate > 0:
        raise ConfigError(f"learning rate must be > 0, got {learning_rate}")
    key = name.lower()
    if key == "adam":
        return tff.learning.optimizers.build_adam(learning_rate)
    if key == "rmsprop":
        return tff.learning.optimizers.build_rmsprop(learning_rate)
    if key == "sgd":
        return tff.learning.optimizers.build_sgdm(learning_rate)
    if key == "sgdm":
        return tff.learning.optimizers.build_sgdm(learning_rate, momentum=0.9)
    raise ConfigError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")


def model_input_spec(input_dim: int) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    """The batched ``(x, x)`` float32 element spec a client dataset must have.

    Args:
        input_dim: Number of features.

    Returns:
        ``(TensorSpec([None, input_dim], float32),) * 2``.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    spec = tf.TensorSpec([None, int(input_dim)], tf.float32)
    return spec, spec


def build_keras_model(input_dim: int, model_kwargs: Mapping[str, Any] | None = None, seed: int = 0) -> tf.keras.Model:
    """Builds the autoencoder the federation trains (a new model on every call).

    Args:
        input_dim: Number of features.
        model_kwargs: Extra arguments of
            :func:`~ftl_tff.models.build_autoencoder` (``encoder_units``,
            ``decoder_units``, ``activation``, ``output_activation``, ``name``).
        seed: Seed of the weight initialisers: every client and the server
            start from the same weights.

    Returns:
        An uncompiled Keras model.

    Raises:
        ConfigError: If ``model_kwargs`` sets ``input_dim`` or ``seed``.
    """
    kwargs = _checked_model_kwargs(model_kwargs)
    return build_autoencoder(int(input_dim), seed=seed, **kwargs)


def build_fedavg_process(
    input_dim: int,
    model_kwargs: Mapping[str, Any] | None = None,
    client_optimizer: str | Any = "adam",
    client_learning_rate: float = 1e-3,
    server_optimizer: str | Any = "sgd",
    server_learning_rate: float = 1.0,
    weighting: str = "examples",
    seed: int = 0,
) -> tff.learning.templates.LearningProcess:
    """Builds weighted FedAvg over the dense autoencoder with a mean squared error loss.

    The defaults are Adam on the clients and plain SGD with learning rate 1.0
    on the server (the server then moves the global model to the weighted
    mean of the client models). The reference code of Farooq et al. uses
    ``client_optimizer="rmsprop"``.

    Building traces the model several times (seconds), so processes built
    from optimizer names and JSON-able ``model_kwargs`` are cached: the same
    arguments return the same process object (processes are immutable).

    Args:
        input_dim: Number of features.
        model_kwargs: Architecture options, see :func:`build_keras_model`.
        client_optimizer: Name in :data:`OPTIMIZERS` or a TFF optimizer.
        client_learning_rate: Client learning rate.
        server_optimizer: Name in :data:`OPTIMIZERS` or a TFF optimizer.
        server_learning_rate: Server learning rate.
        weighting: ``"examples"`` or ``"uniform"`` (see :data:`WEIGHTINGS`).
        seed: Seed of the initial global weights.

    Returns:
        A ``tff.learning.templates.LearningProcess``: ``initialize()`` ->
        state; ``next(state, client_datasets)`` -> ``result.state``,
        ``result.metrics`` (``metrics["client_work"]["train"]`` has
        ``loss``, ``num_examples``, ``num_batches``). Client datasets must
        yield batches ``(x, x)`` matching :func:`model_input_spec`.

    Raises:
        ConfigError: For an unknown optimizer or weighting, bad learning
            rates or model options.
    """
    if input_dim < 1:
        raise ConfigError(f"input_dim must be >= 1, got {input_dim}")
    kwargs = _checked_model_kwargs(model_kwargs)
    arguments = (int(input_dim), client_optimizer, client_learning_rate, server_optimizer, server_learning_rate,
                 weighting, int(seed))
    if isinstance(client_optimizer, str) and isinstance(server_optimizer, str):
        try:
            kwargs_key = json.dumps(kwargs, sort_keys=True)
        except TypeError:  # e.g. a callable activation: build without the cache
            pass
        else:
            return _cached_fedavg_process(kwargs_key, *arguments)
    return _build_fedavg_process(kwargs, *arguments)


@functools.lru_cache(maxsize=8)
def _cached_fedavg_process(kwargs_key: str, *arguments: Any) -> Any:
    return _build_fedavg_process(json.loads(kwargs_key), *arguments)


def _build_fedavg_process(
    kwargs: dict[str, Any],
    input_dim: int,
    client_optimizer: str | Any,
    client_learning_rate: float,
    server_optimizer: str | Any,
    server_learning_rate: float,
    weighting: str,
    seed: int,
) -> Any:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    client_weighting = _client_weighting(weighting)
    client_opt = build_optimizer(client_optimizer, client_learning_rate)
    server_opt = build_optimizer(server_optimizer, server_learning_rate)
    input_spec = model_input_spec(input_dim)
    build_keras_model(input_dim, kwargs, seed)  # fail here, not inside TFF's tracing

    def model_fn() -> tff.learning.models.VariableModel:
        # TFF calls this several times while tracing: each call needs its own
        # Keras model (sharing one across calls fails in TFF 0.87).
        return tff.learning.models.from_keras_model(
            build_keras_model(input_dim, kwargs, seed),
            loss=tf.keras.losses.MeanSquaredError(),
            input_spec=input_spec,
        )

    return tff.learning.algorithms.build_weighted_fed_avg(
        model_fn,
        client_optimizer_fn=client_opt,
        server_optimizer_fn=server_opt,
        client_weighting=client_weighting,
    )


def assign_global_weights(process: Any, state: Any, model: tf.keras.Model) -> tf.keras.Model:
    """Copies the global model of ``state`` into a Keras model.

    Args:
        process: The learning process that produced ``state``.
        state: A state of ``process``.
        model: A model of the same architecture (e.g. from
            :func:`build_keras_model`).

    Returns:
        ``model``, with the global weights.
    """
    process.get_model_weights(state).assign_weights_to(model)
    return model


def set_global_weights(process: Any, state: Any, model: tf.keras.Model) -> Any:
    """Returns ``state`` with its global model replaced by the weights of ``model``.

    The optimizer states are kept. Use it to start federated training from a
    pre-trained model.

    Args:
        process: The learning process of ``state``.
        state: A state of ``process``.
        model: A Keras model of the process's architecture.

    Returns:
        The new state.
    """
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    return process.set_model_weights(state, tff.learning.models.ModelWeights.from_model(model))


def _client_weighting(weighting: str) -> Any:
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    if weighting == "examples":
        return tff.learning.ClientWeighting.NUM_EXAMPLES
    if weighting == "uniform":
        return tff.learning.ClientWeighting.UNIFORM
    raise ConfigError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")


def _checked_model_kwargs(model_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    kwargs = dict(model_kwargs or {})
    reserved = sorted(_RESERVED_MODEL_KWARGS & set(kwargs))
    if reserved:
        raise ConfigError(f"model_kwargs must not set {reserved}: pass them as arguments")
    return kwargs
