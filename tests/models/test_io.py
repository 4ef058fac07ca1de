"""Tests of saving and loading autoencoders (Keras weights + JSON, no code run on load)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import ftl_tff
from ftl_tff.errors import ConfigError, CorruptFileError, SchemaError, SourceNotFoundError
from ftl_tff.models import build_autoencoder, load_model, save_model
from ftl_tff.models.io import METADATA_FILE, WEIGHTS_FILE, autoencoder_architecture

INPUT_DIM = 20


def _randomized(model, seed: int = 7):
    """Gives every weight a random value, so a wrong assignment cannot go unseen."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _count_arrays(path: Path) -> int:
    import h5py

    count = 0

    def visit(_name, item):
        nonlocal count
        count += isinstance(item, h5py.Dataset)

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return count


@pytest.fixture
def model():
    return _randomized(build_autoencoder(INPUT_DIM, encoder_units=(8, 4), seed=1))


@pytest.fixture
def rows():
    return np.random.default_rng(0).random((50, INPUT_DIM)).astype(np.float32)


def test_round_trip_restores_weights_outputs_and_metadata(tmp_path, model, rows):
    save_model(tmp_path / "saved", model, {"rounds": 3, "nodes": ["a", "b"], "loss": np.float32(0.5)})
    loaded, metadata = load_model(tmp_path / "saved")
    for before, after in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(model.predict(rows, verbose=0), loaded.predict(rows, verbose=0))
    assert metadata["format_version"] == 1
    assert metadata["library_version"] == ftl_tff.__version__
    assert metadata["architecture"] == {
        "input_dim": INPUT_DIM,
        "encoder_units": [8, 4],
        "decoder_units": [8],
        "activation": "relu",
        "output_activation": "sigmoid",
    }
    assert metadata["rounds"] == 3 and metadata["nodes"] == ["a", "b"] and metadata["loss"] == 0.5
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [METADATA_FILE, WEIGHTS_FILE]


def test_custom_decoder_and_activations_are_rebuilt(tmp_path, rows):
    model = _randomized(
        build_autoencoder(INPUT_DIM, encoder_units=(12, 6, 3), decoder_units=(5,), activation="tanh",
                          output_activation="linear")
    )
    save_model(tmp_path, model)
    loaded, metadata = load_model(tmp_path)
    assert metadata["architecture"]["decoder_units"] == [5]
    assert metadata["architecture"]["activation"] == "tanh"
    assert metadata["architecture"]["output_activation"] == "linear"
    np.testing.assert_array_equal(model.predict(rows, verbose=0), loaded.predict(rows, verbose=0))


def test_partly_frozen_model_round_trips_in_layer_order(tmp_path, model, rows):
    # Freezing one encoder layer reorders the encoder's trainable/non-trainable
    # weight lists; the file must still map each array to its own layer.
    model.get_layer("encoder").get_layer("enc_0").trainable = False
    save_model(tmp_path, model)
    loaded, _ = load_model(tmp_path)
    for name in ("enc_0", "enc_1"):
        for before, after in zip(model.get_layer("encoder").get_layer(name).get_weights(),
                                 loaded.get_layer("encoder").get_layer(name).get_weights()):
            np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(model.predict(rows, verbose=0), loaded.predict(rows, verbose=0))


def test_compiled_trained_model_is_saved_without_optimizer_state(tmp_path, model, rows):
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    model.train_on_batch(rows, rows)
    save_model(tmp_path, model)
    assert _count_arrays(tmp_path / WEIGHTS_FILE) == len(model.weights) == 8
    loaded, _ = load_model(tmp_path)
    np.testing.assert_array_equal(model.predict(rows, verbose=0), loaded.predict(rows, verbose=0))


def test_architecture_is_read_from_the_model(model):
    assert autoencoder_architecture(model)["encoder_units"] == [8, 4]
    plain = tf.keras.Sequential([tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(4)])
    with pytest.raises(ConfigError, match="encoder"):
        autoencoder_architecture(plain)


def doubled_relu(values):
    return tf.nn.relu(values) * 2.0


def test_custom_activation_is_refused_since_loading_runs_no_code(tmp_path):
    model = build_autoencoder(INPUT_DIM, encoder_units=(8, 4), activation=doubled_relu)
    with pytest.raises(ConfigError, match="activation"):
        save_model(tmp_path, model)
    assert not (tmp_path / METADATA_FILE).exists()


@pytest.mark.parametrize("metadata, message", [
    ({"architecture": {}}, "reserved"),
    ({"format_version": 2}, "reserved"),
    ({"value": object()}, "JSON-safe"),
    ({"value": float("nan")}, "JSON-safe"),
])
def test_invalid_metadata_is_refused(tmp_path, model, metadata, message):
    with pytest.raises(ConfigError, match=message):
        save_model(tmp_path, model, metadata)
    assert not (tmp_path / METADATA_FILE).exists()


def test_model_with_nan_weights_is_refused(tmp_path, model):
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    with pytest.raises(ConfigError, match="NaN"):
        save_model(tmp_path, model)


def test_missing_folder_and_files_are_named(tmp_path, model):
    with pytest.raises(SourceNotFoundError, match="nowhere"):
        load_model(tmp_path / "nowhere")
    save_model(tmp_path / "a", model)
    (tmp_path / "a" / WEIGHTS_FILE).unlink()
    with pytest.raises(SourceNotFoundError, match=WEIGHTS_FILE):
        load_model(tmp_path / "a")
    save_model(tmp_path / "b", model)
    (tmp_path / "b" / METADATA_FILE).unlink()
    with pytest.raises(SourceNotFoundError, match=METADATA_FILE):
        load_model(tmp_path / "b")


def test_invalid_json_is_a_corrupt_file_named(tmp_path, model):
    save_model(tmp_path, model)
    (tmp_path / METADATA_FILE).write_text('{"format_version": 1, "architecture": ')
    with pytest.raises(CorruptFileError, match=METADATA_FILE):
        load_model(tmp_path)


def test_unreadable_weights_are_a_corrupt_file_named(tmp_path, model):
    save_model(tmp_path, model)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not hdf5 at all")
    with pytest.raises(CorruptFileError, match=WEIGHTS_FILE):
        load_model(tmp_path)


@pytest.mark.parametrize("other", [
    {"input_dim": INPUT_DIM + 1, "encoder_units": (8, 4)},  # other input width
    {"input_dim": INPUT_DIM, "encoder_units": (8, 3)},  # other latent width
    {"input_dim": INPUT_DIM, "encoder_units": (8,)},  # fewer layers
    # One encoder layer more, same decoder: Keras alone would load the
    # matching layers and silently ignore the extra one.
    {"input_dim": INPUT_DIM, "encoder_units": (8, 4, 4), "decoder_units": (8,)},
])
def test_weights_of_another_architecture_are_refused_naming_the_file(tmp_path, model, other):
    save_model(tmp_path / "target", model)
    save_model(tmp_path / "other", build_autoencoder(**other))
    shutil.copy(tmp_path / "other" / WEIGHTS_FILE, tmp_path / "target" / WEIGHTS_FILE)
    with pytest.raises(SchemaError, match=f"{WEIGHTS_FILE}.*do not fit"):
        load_model(tmp_path / "target")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=2), "format_version"),
    (lambda m: m.pop("architecture"), "architecture"),
    (lambda m: m["architecture"].pop("input_dim"), "missing"),
    (lambda m: m["architecture"].update(encoder_units=[8, -4]), "positive"),
    (lambda m: m["architecture"].update(activation="no_such_activation"), "architecture"),
])
def test_invalid_description_is_a_schema_error_naming_the_file(tmp_path, model, edit, message):
    save_model(tmp_path, model)
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    edit(metadata)
    (tmp_path / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(SchemaError, match=message) as raised:
        load_model(tmp_path)
    assert METADATA_FILE in str(raised.value)


def test_saving_again_replaces_the_files(tmp_path, model, rows):
    save_model(tmp_path, build_autoencoder(INPUT_DIM, encoder_units=(6, 2)), {"run": 1})
    save_model(tmp_path, model, {"run": 2})
    loaded, metadata = load_model(tmp_path)
    assert metadata["run"] == 2 and metadata["architecture"]["encoder_units"] == [8, 4]
    np.testing.assert_array_equal(model.predict(rows, verbose=0), loaded.predict(rows, verbose=0))
