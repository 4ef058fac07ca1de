"""Save and load autoencoders as Keras weights plus a JSON description.

A saved model is a folder of two files:

* ``model.weights.h5``: the weights, written by Keras ``save_weights``
  (the layer-keyed ``.weights.h5`` format of Keras 2.14; no optimizer state);
* ``model.json``: ``{"format_version": 1, "library_version": ...,
  "architecture": {...}, ...metadata}``, where ``architecture`` holds the
  keyword arguments of :func:`~ftl_tff.models.autoencoder.build_autoencoder`
  (``input_dim``, ``encoder_units``, ``decoder_units``, ``activation``,
  ``output_activation``).

Loading rebuilds the model with ``build_autoencoder(**architecture)`` and
assigns the stored arrays to it. Nothing in the folder is executed: there is
no pickle and no ``model_from_json``, so a folder received from someone else
can at worst hold wrong numbers, never code. The price is that only models
:func:`build_autoencoder` can build are saved here (every model of this
library is one).

Example:
    >>> save_model("runs/global", model, {"rounds": 100})  # doctest: +SKIP
    >>> model, metadata = load_model("runs/global")  # doctest: +SKIP
    >>> metadata["rounds"]  # doctest: +SKIP
    100
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import __version__
from ..errors import ConfigError, CorruptFileError, SchemaError, SourceNotFoundError
from ..records import read_record
from .autoencoder import build_autoencoder

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "FORMAT_VERSION",
    "METADATA_FILE",
    "WEIGHTS_FILE",
    "autoencoder_architecture",
    "load_model",
    "save_model",
]

#: Version of the folder layout written by :func:`save_model`.
FORMAT_VERSION = 1
#: Name of the weights file inside a saved-model folder.
WEIGHTS_FILE = "model.weights.h5"
#: Name of the JSON description inside a saved-model folder.
METADATA_FILE = "model.json"

_RESERVED_KEYS = ("format_version", "library_version", "architecture")
_ARCHITECTURE_KEYS = ("input_dim", "encoder_units", "decoder_units", "activation", "output_activation")


def autoencoder_architecture(model: tf.keras.Model) -> dict[str, Any]:
    """Reads the :func:`build_autoencoder` arguments back from a built model.

    Args:
        model: A model made by :func:`~ftl_tff.models.autoencoder.build_autoencoder`
            (trained, fine-tuned or frozen: only the structure is read).

    Returns:
        ``{"input_dim", "encoder_units", "decoder_units", "activation",
        "output_activation"}`` with plain ints, lists of ints and activation
        names, JSON-safe.

    Raises:
        ConfigError: If the model is not such an autoencoder (no ``encoder`` /
            ``decoder`` sub-models of dense layers, mixed hidden activations,
            or a custom activation without a Keras name).
    """
    try:
        encoder = model.get_layer("encoder")
        decoder = model.get_layer("decoder")
    except ValueError as error:
        raise ConfigError(
            f"model {model.name!r} is not an autoencoder of build_autoencoder(): it has no 'encoder' and "
            "'decoder' sub-models"
        ) from error
    encoder_dense = _dense_layers(encoder)
    decoder_dense = _dense_layers(decoder)
    if not encoder_dense or not decoder_dense:
        raise ConfigError(f"model {model.name!r}: the encoder and the decoder need at least one dense layer each")
    hidden = encoder_dense + decoder_dense[:-1]
    hidden_activations = {_activation_name(layer) for layer in hidden}
    if len(hidden_activations) != 1:
        raise ConfigError(
            f"model {model.name!r}: hidden layers mix activations {sorted(hidden_activations)}; "
            "build_autoencoder() uses one"
        )
    return {
        "input_dim": int(model.input_shape[-1]),
        "encoder_units": [int(layer.units) for layer in encoder_dense],
        "decoder_units": [int(layer.units) for layer in decoder_dense[:-1]],
        "activation": hidden_activations.pop(),
        "output_activation": _activation_name(decoder_dense[-1]),
    }


def save_model(directory: str | os.PathLike[str], model: tf.keras.Model, metadata: dict[str, Any] | None = None) -> Path:
    """Writes ``model.weights.h5`` and ``model.json`` into ``directory``.

    The weights are first copied, layer by layer, into a fresh model built
    from the architecture: the file then holds exactly what
    :func:`load_model` expects (no optimizer state, and the same variable
    order whatever layers were frozen for transfer learning). The JSON is
    written last, through a temporary file, so its presence means the
    folder is complete.

    Args:
        directory: Folder to write (created if missing); existing files of
            the same names are replaced.
        model: An autoencoder built by
            :func:`~ftl_tff.models.autoencoder.build_autoencoder`.
        metadata: JSON-safe extra keys stored beside the architecture
            (numpy scalars and arrays are converted; NaN and infinity are
            not allowed). Must not use the keys ``format_version``,
            ``library_version`` or ``architecture``.

    Returns:
        The folder written.

    Raises:
        ConfigError: If the model cannot be rebuilt by ``build_autoencoder``,
            or the metadata uses a reserved key or is not JSON-safe.
    """
    metadata = dict(metadata or {})
    reserved = [key for key in _RESERVED_KEYS if key in metadata]
    if reserved:
        raise ConfigError(f"metadata must not set the reserved keys {reserved}")
    architecture = autoencoder_architecture(model)
    payload = {"format_version": FORMAT_VERSION, "library_version": __version__, "architecture": architecture}
    payload.update(metadata)
    try:
        text = json.dumps(payload, indent=2, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"metadata is not JSON-safe: {error}") from error

    if not _all_finite(model.get_weights()):
        raise ConfigError(f"model {model.name!r} has NaN or infinite weights (did training diverge?)")
    clean = build_autoencoder(**architecture, name=model.name)
    for part in ("encoder", "decoder"):
        source = model.get_layer(part)
        target = clean.get_layer(part)
        for layer in target.layers:
            if layer.weights:
                layer.set_weights(source.get_layer(layer.name).get_weights())

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clean.save_weights(str(directory / WEIGHTS_FILE))
    temporary = directory / f".{METADATA_FILE}.tmp"
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(directory / METADATA_FILE)
    return directory


def load_model(directory: str | os.PathLike[str]) -> tuple[tf.keras.Model, dict[str, Any]]:
    """Rebuilds a model saved by :func:`save_model` and loads its weights.

    Args:
        directory: A folder written by :func:`save_model`.

    Returns:
        ``(model, metadata)``: the model (not compiled) and the whole JSON
        description, ``format_version``, ``library_version`` and
        ``architecture`` included.

    Raises:
        SourceNotFoundError: If the folder, ``model.json`` or
            ``model.weights.h5`` is missing.
        CorruptFileError: If ``model.json`` is not valid JSON or the weights
            file is not readable HDF5.
        SchemaError: If ``model.json`` lacks the architecture or has another
            format version, or the weights do not fit the architecture
            (the message names the file).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SourceNotFoundError(f"saved model folder {directory} does not exist")
    metadata_path = directory / METADATA_FILE
    weights_path = directory / WEIGHTS_FILE
    for path in (metadata_path, weights_path):
        if not path.is_file():
            raise SourceNotFoundError(f"saved model file {path} is missing")
    metadata = _read_metadata(metadata_path)
    architecture = _checked_architecture(metadata, metadata_path)
    try:
        model = build_autoencoder(**architecture)
    except (ConfigError, ValueError) as error:  # Keras raises ValueError for an unknown activation
        raise SchemaError(f"{metadata_path}: invalid architecture: {error}") from error
    _load_weights(model, weights_path)
    return model, metadata


def _dense_layers(submodel: tf.keras.Model) -> list[Any]:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    layers = [layer for layer in submodel.layers if not isinstance(layer, tf.keras.layers.InputLayer)]
    others = [layer.name for layer in layers if not isinstance(layer, tf.keras.layers.Dense)]
    if others:
        raise ConfigError(
            f"sub-model {submodel.name!r} holds layers build_autoencoder() does not make: {others}"
        )
    return layers


def _activation_name(layer: Any) -> str:
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    name = tf.keras.activations.serialize(layer.activation)
    # A custom function serializes to a dict or to a name Keras does not
    # know; rebuilding it would need its code, which loading never runs.
    try:
        built_in = isinstance(name, str) and tf.keras.activations.get(name) is layer.activation
    except ValueError:
        built_in = False
    if not built_in:
        raise ConfigError(f"layer {layer.name!r} has an activation without a built-in Keras name: {name!r}")
    return name


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _read_metadata(path: Path) -> dict[str, Any]:
    return read_record(path, "model metadata")


def _checked_architecture(metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise SchemaError(f"{path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    architecture = metadata.get("architecture")
    if not isinstance(architecture, dict):
        raise SchemaError(f"{path}: no 'architecture' object")
    missing = [key for key in _ARCHITECTURE_KEYS if key not in architecture]
    unknown = [key for key in architecture if key not in _ARCHITECTURE_KEYS]
    if missing or unknown:
        raise SchemaError(f"{path}: architecture keys missing {missing}, unknown {unknown}")
    if not _is_width(architecture["input_dim"]) or not all(
        isinstance(units, list) and all(_is_width(u) for u in units)
        for units in (architecture["encoder_units"], architecture["decoder_units"])
    ):
        raise SchemaError(f"{path}: input_dim and layer widths must be positive integers, got {architecture}")
    if not isinstance(architecture["activation"], str) or not isinstance(architecture["output_activation"], str):
        raise SchemaError(f"{path}: activations must be Keras activation names")
    return dict(architecture)


def _is_width(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _load_weights(model: tf.keras.Model, path: Path) -> None:

    try:
        with h5py.File(path, "r") as handle:
            stored = _count_datasets(handle, h5py)
    except OSError as error:
        raise CorruptFileError(f"{path} is not a readable HDF5 weights file: {error}") from error
    # Keras checks each layer it loads but ignores arrays the model has no
    # layer for: a file with one encoder layer too many would load silently.
    expected = len(model.weights)
    if stored != expected:
        raise SchemaError(
            f"{path}: the weights do not fit the architecture (the file holds {stored} arrays, "
            f"the model has {expected})"
        )
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError) as error:
        raise SchemaError(f"{path}: the weights do not fit the architecture: {error}") from error
    if not _all_finite(model.get_weights()):
        raise CorruptFileError(f"{path} holds NaN or infinite weights")


def _all_finite(arrays: list[np.ndarray]) -> bool:
    return all(bool(np.isfinite(array).all()) for array in arrays)


def _count_datasets(handle: Any, h5py: Any) -> int:
    count = 0

    def visit(_name: str, item: Any) -> None:
        nonlocal count
        if isinstance(item, h5py.Dataset):
            count += 1

    handle.visititems(visit)
    return count
