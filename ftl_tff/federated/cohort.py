"""The cohort engine: one TFF client trains a cohort of nodes in one compiled graph.

A small dense autoencoder at batch 32 is bound by the cost of dispatching
each training step, not by arithmetic. The per-node engine
(:func:`~ftl_tff.federated.process.build_fedavg_process`, TFF's
``build_weighted_fed_avg``) runs one TFF client per node. Here one TFF client
carries a *cohort* of K nodes and trains them together:

* every node keeps its own copy of the global weights, its own optimizer
  state (fresh each round, as TFF's client optimizers are) and its own batches
  (the same per-round seeded shuffle, batches and partial last batches as the
  per-node engine, :func:`~ftl_tff.federated.training.round_batches`);
* a step multiplies ``[K, batch, features]`` by ``[K, features, units]``
  (``einsum``), one ``tf.while_loop`` runs the steps, and nodes of unequal
  sizes are masked (a node whose batches are used up no longer moves);
* the client returns the example-weighted mean of its nodes' updates with
  their total weight, so TFF's weighted mean over cohorts is exactly FedAvg
  over nodes.

The process is composed from ``tff.learning.templates``: TFF's broadcast
distributor, a custom ``ClientWorkProcess``, ``tff.aggregators.MeanFactory``
and TFF's apply-optimizer finalizer. Its state has the same structure as the
per-node process's, so checkpoints, resume, sampling and remote workers work
the same way.

Limits: the optimizers are the names of
:data:`~ftl_tff.vocabulary.OPTIMIZERS`, reimplemented here with TFF's
arithmetic (``tests/federated/test_cohort.py`` compares the two engines). A
ready TFF optimizer object, or client data built on the workers
(``data_on_workers``), use the per-node engine. Each round's rows still
travel with the call, as in the per-node engine.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ftl_tff.errors import ConfigError
from ftl_tff.federated.process import (
    CLIENT_KEY_BUCKETS,
    _checked_model_kwargs,
    _client_weighting,
    build_keras_model,
    build_optimizer,
)

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow_federated as tff

__all__ = ["build_cohort_process", "cohort_inputs", "default_cohort_size"]

_ADAM = (0.9, 0.999, 1e-7)  # beta_1, beta_2, epsilon of tff.learning.optimizers.build_adam
_RMSPROP = (0.9, 1e-7)  # decay, epsilon of build_rmsprop
_MOMENTUM = 0.9  # the "sgdm" of ftl_tff.federated.process.build_optimizer


#: Largest round input of one cohort, in bytes. TFF refuses to serialize a dataset above 100 MiB.
MAX_COHORT_BYTES = 64 * 2**20
_TFF_DATASET_LIMIT = 100 * 2**20


def default_cohort_size(n_clients: int, cores: int | None = None, node_bytes: int = 0) -> int:
    """Nodes per TFF client: a round's nodes spread over the cores present, within :data:`MAX_COHORT_BYTES`.

    Args:
        n_clients: Nodes in a round.
        cores: CPU cores (default: ``os.cpu_count()``).
        node_bytes: Size of the largest node's round input (rows x epochs x features x 4).
    """
    cores = max(1, cores or os.cpu_count() or 1)
    size = max(1, math.ceil(n_clients / cores))
    if node_bytes > 0:
        size = min(size, max(1, MAX_COHORT_BYTES // node_bytes))
    return size


def cohort_inputs(rows: Mapping[str, Any], participants: Sequence[str], round_seed: int, batch_size: int,
                  epochs: int, cohort_size: int) -> list[Any]:
    """The round's TFF client inputs: the participants in order, ``cohort_size`` nodes per client.

    Each input is a dataset of one ``(x, mask)`` element (TFF client work
    takes sequences): ``x`` is ``[nodes, steps, batch, features]`` float32,
    zeros where padded, ``mask`` ``[nodes, steps, batch]``, 1 for a real row.

    Each node's batches are those of
    :func:`~ftl_tff.federated.training.round_batches`: per epoch a stateless
    shuffle seeded by ``(round seed, node key + epoch)``, batched with a
    partial last batch.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    inputs = []
    for start in range(0, len(participants), cohort_size):
        members = list(participants[start:start + cohort_size])
        batches = []
        for node in members:
            data = np.asarray(rows[node], dtype=np.float32)
            orders = _epoch_orders(len(data), node, round_seed, epochs)
            batches.append([data[order[i:i + batch_size]] for order in orders
                            for i in range(0, len(order), batch_size)])
        steps = max(len(b) for b in batches)
        features = int(np.asarray(rows[members[0]]).shape[1])
        size = len(members) * steps * batch_size * (features + 1) * 4
        if size > _TFF_DATASET_LIMIT:
            fit = max(1, int(len(members) * _TFF_DATASET_LIMIT // size))
            raise ConfigError(f"cohort_size: a cohort of {len(members)} nodes is {size / 2**20:.0f} MiB per round and "
                              f"TFF serializes at most {_TFF_DATASET_LIMIT / 2**20:.0f} MiB; use cohort_size <= {fit}")
        x = np.zeros((len(members), steps, batch_size, features), np.float32)
        mask = np.zeros((len(members), steps, batch_size), np.float32)
        for k, node_batches in enumerate(batches):
            for s, batch in enumerate(node_batches):
                x[k, s, : len(batch)] = batch
                mask[k, s, : len(batch)] = 1.0
        inputs.append(tf.data.Dataset.from_tensors((x, mask)))
    return inputs


def _epoch_orders(count: int, node: str, round_seed: int, epochs: int) -> list[np.ndarray]:
    """Each epoch's row order of ``node`` in a round: the stateless shuffle the per-node engine uses."""
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    key = tf.strings.to_hash_bucket_fast(node, CLIENT_KEY_BUCKETS)
    seed = tf.cast(round_seed, tf.int64)
    return [tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                     seed=tf.stack([seed, key + epoch])).numpy()
            for epoch in range(epochs)]


def build_cohort_process(
    input_dim: int,
    model_kwargs: Mapping[str, Any] | None = None,
    client_optimizer: str = "adam",
    client_learning_rate: float = 1e-3,
    server_optimizer: str = "sgd",
    server_learning_rate: float = 1.0,
    weighting: str = "examples",
    seed: int = 0,
) -> tff.learning.templates.LearningProcess:
    """Weighted FedAvg whose TFF clients each train a cohort of nodes (the module docstring says how).

    Arguments as :func:`~ftl_tff.federated.process.build_fedavg_process`;
    the client optimizer must be a name. Processes are cached by their
    arguments, as there.

    Returns:
        A ``tff.learning.templates.LearningProcess`` whose ``next(state,
        cohorts)`` takes one :func:`cohort_inputs` entry per TFF client.

    Raises:
        ConfigError: For an optimizer that is not a name, an unknown weighting
            or model options that :func:`~ftl_tff.models.build_autoencoder` refuses.
    """
    if not isinstance(client_optimizer, str) or client_optimizer not in ("adam", "rmsprop", "sgd", "sgdm"):
        raise ConfigError(f"client_optimizer: the cohort engine takes an optimizer name, got {client_optimizer!r}")
    if not client_learning_rate > 0:
        raise ConfigError(f"client_learning_rate: must be > 0, got {client_learning_rate}")
    kwargs = _checked_model_kwargs(model_kwargs)
    return _cached_cohort_process(json.dumps(kwargs, sort_keys=True), int(input_dim), client_optimizer,
                                  float(client_learning_rate), server_optimizer, float(server_learning_rate),
                                  weighting, int(seed))


@functools.lru_cache(maxsize=8)
def _cached_cohort_process(kwargs_key: str, input_dim: int, client_optimizer: str, client_learning_rate: float,
                           server_optimizer: Any, server_learning_rate: float, weighting: str, seed: int) -> Any:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    kwargs = json.loads(kwargs_key)
    keras_model = build_keras_model(input_dim, kwargs, seed)
    activations = _layer_activations(keras_model, kwargs)
    initial = [np.asarray(w) for w in keras_model.get_weights()]
    uniform = _client_weighting(weighting) == tff.learning.ClientWeighting.UNIFORM

    @tff.tensorflow.computation()
    def initial_model_weights_fn():
        return tff.learning.models.ModelWeights(
            trainable=tuple(tf.constant(w) for w in initial), non_trainable=())

    weights_type = initial_model_weights_fn.type_signature.result
    # TFF client work takes sequences: a cohort's round input is a dataset of one element.
    data_type = tff.SequenceType(tff.StructType([tff.TensorType(np.float32, [None, None, None, input_dim]),
                                                 tff.TensorType(np.float32, [None, None, None])]))
    client_work = _cohort_client_work(weights_type, data_type, activations, client_optimizer, client_learning_rate,
                                      uniform)
    aggregator = tff.aggregators.MeanFactory().create(weights_type.trainable, tff.TensorType(np.float32))
    finalizer = tff.learning.templates.build_apply_optimizer_finalizer(
        build_optimizer(server_optimizer, server_learning_rate), weights_type)
    return tff.learning.templates.compose_learning_process(
        initial_model_weights_fn, tff.learning.templates.build_broadcast_process(weights_type), client_work,
        aggregator, finalizer)


def _layer_activations(model: Any, kwargs: Mapping[str, Any]) -> list[str]:
    """The activation of each dense layer, in the order of the model's (kernel, bias) pairs."""
    weights = model.get_weights()
    if len(weights) % 2 or any(w.ndim != 2 for w in weights[::2]) or any(b.ndim != 1 for b in weights[1::2]):
        raise ConfigError("the cohort engine trains dense (kernel, bias) layers only")
    layers = len(weights) // 2
    return [kwargs.get("activation", "relu")] * (layers - 1) + [kwargs.get("output_activation", "sigmoid")]


def _cohort_client_work(weights_type: Any, data_type: Any, activations: list[str], optimizer: str,
                        learning_rate: float, uniform: bool) -> Any:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    @tff.tensorflow.computation(weights_type, data_type)
    def cohort_update(initial_weights, dataset):
        x, mask = dataset.get_single_element()
        update, weight, loss_sum, examples, batches = _train_cohort(
            tuple(initial_weights.trainable), x, mask, activations, optimizer, learning_rate, uniform)
        result = tff.learning.templates.ClientResult(update=update, update_weight=weight)
        return result, (loss_sum, examples, batches)

    @tff.tensorflow.computation((np.float32, np.float32, np.float32))
    def finalize(totals):
        loss_sum, examples, batches = totals
        return collections.OrderedDict(loss=tf.math.divide_no_nan(loss_sum, examples),
                                       num_examples=tf.cast(examples, tf.int64),
                                       num_batches=tf.cast(batches, tf.int64))

    @tff.federated_computation
    def init_fn():
        return tff.federated_value((), tff.SERVER)

    @tff.federated_computation(tff.FederatedType((), tff.SERVER), tff.FederatedType(weights_type, tff.CLIENTS),
                               tff.FederatedType(data_type, tff.CLIENTS))
    def next_fn(state, weights, client_data):
        client_result, totals = tff.federated_map(cohort_update, (weights, client_data))
        train = tff.federated_map(finalize, tff.federated_sum(totals))
        measurements = tff.federated_zip(collections.OrderedDict(train=train))
        return tff.templates.MeasuredProcessOutput(state, client_result, measurements)

    return tff.learning.templates.ClientWorkProcess(init_fn, next_fn)


def _train_cohort(initial: tuple[Any, ...], x: Any, mask: Any, activations: list[str], optimizer: str,
                  learning_rate: float, uniform: bool) -> tuple[Any, ...]:
    """Every node of the cohort trains its own copy of ``initial`` on its own batches (traced by TFF)."""
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    nodes = tf.shape(x)[0]
    steps = tf.shape(x)[1]
    act = [tf.keras.activations.get(name) for name in activations]
    weights = tuple(tf.repeat(w[None], nodes, axis=0) for w in initial)
    slots = _optimizer_slots(optimizer, weights)
    count = tf.zeros([nodes], tf.float32)  # optimizer steps each node has taken

    def forward(params: tuple[Any, ...], batch: Any) -> Any:
        h = batch
        for layer, activation in enumerate(act):
            h = activation(tf.einsum("kbi,kio->kbo", h, params[2 * layer]) + params[2 * layer + 1][:, None, :])
        return h

    def body(step, params, state, taken, loss_sum, batches):
        batch, rows_mask = x[:, step], mask[:, step]
        rows = tf.reduce_sum(rows_mask, axis=1)
        active = rows > 0
        with tf.GradientTape() as tape:
            tape.watch(params)
            row_loss = tf.reduce_mean(tf.square(batch - forward(params, batch)), axis=2)
            node_loss = tf.math.divide_no_nan(tf.reduce_sum(row_loss * rows_mask, axis=1), rows)
            total = tf.reduce_sum(node_loss)
        grads = tape.gradient(total, params)
        taken = taken + tf.cast(active, tf.float32)
        params, state = _optimizer_step(optimizer, learning_rate, params, grads, state, taken, active)
        return (step + 1, params, state, taken, loss_sum + tf.reduce_sum(node_loss * rows),
                batches + tf.reduce_sum(tf.cast(active, tf.float32)))

    _, weights, _, _, loss_sum, batches = tf.while_loop(
        lambda step, *_: step < steps, body,
        (tf.constant(0), weights, slots, count, tf.constant(0.0), tf.constant(0.0)))
    deltas = [w0[None] - w for w0, w in zip(initial, weights)]
    finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(tf.reshape(d, [nodes, -1])), axis=1)
                                     for d in deltas]), axis=0)
    examples = tf.reduce_sum(mask, axis=[1, 2])
    node_weight = tf.where(finite, tf.ones_like(examples) if uniform else examples, 0.0)
    node_weight = tf.where(examples > 0, node_weight, 0.0)
    total = tf.reduce_sum(node_weight)
    update = tuple(
        tf.math.divide_no_nan(tf.tensordot(node_weight, tf.where(_expand(finite, d), d, 0.0), axes=1), total)
        for d in deltas)
    return update, total, loss_sum, tf.reduce_sum(examples), batches


def _expand(flags: Any, like: Any) -> Any:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    return tf.reshape(flags, tf.concat([tf.shape(flags), tf.ones([tf.rank(like) - 1], tf.int32)], axis=0))


def _optimizer_slots(optimizer: str, weights: tuple[Any, ...]) -> tuple[Any, ...]:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    zeros = tuple(tf.zeros_like(w) for w in weights)
    if optimizer == "adam":
        return zeros, tuple(tf.zeros_like(w) for w in weights)
    if optimizer in ("rmsprop", "sgdm"):
        return (zeros,)
    return ()


def _optimizer_step(optimizer: str, lr: float, params: tuple[Any, ...], grads: tuple[Any, ...], state: tuple,
                    taken: Any, active: Any) -> tuple[tuple[Any, ...], tuple]:
    """One step of TFF's optimizer arithmetic for every node at once; nodes without a batch stay as they are."""
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    def keep(new: Any, old: Any) -> Any:
        return tf.where(_expand(active, old), new, old)

    if optimizer == "adam":
        beta_1, beta_2, epsilon = _ADAM
        rate = lr * tf.math.sqrt(1.0 - tf.math.pow(beta_2, taken)) / (1.0 - tf.math.pow(beta_1, taken))
        out_w, out_a, out_p = [], [], []
        for w, g, a, p in zip(params, grads, state[0], state[1]):
            a_new = a + (g - a) * (1.0 - beta_1)
            p_new = p + (tf.math.square(g) - p) * (1.0 - beta_2)
            w_new = w - _expand(rate, w) * a_new / (tf.math.sqrt(p_new) + epsilon)
            out_w.append(keep(w_new, w))
            out_a.append(keep(a_new, a))
            out_p.append(keep(p_new, p))
        return tuple(out_w), (tuple(out_a), tuple(out_p))
    if optimizer == "rmsprop":
        decay, epsilon = _RMSPROP
        out_w, out_p = [], []
        for w, g, p in zip(params, grads, state[0]):
            p_new = p + (tf.math.square(g) - p) * (1.0 - decay)
            out_w.append(keep(w - lr * g / (tf.math.sqrt(p_new) + epsilon), w))
            out_p.append(keep(p_new, p))
        return tuple(out_w), (tuple(out_p),)
    if optimizer == "sgdm":
        out_w, out_a = [], []
        for w, g, a in zip(params, grads, state[0]):
            a_new = _MOMENTUM * a + g
            out_w.append(keep(w - lr * a_new, w))
            out_a.append(keep(a_new, a))
        return tuple(out_w), (tuple(out_a),)
    return tuple(keep(w - lr * g, w) for w, g in zip(params, grads)), ()
