"""The dense autoencoder that learns what a node's normal telemetry looks like.

Defaults follow the reference design of Farooq et al.: input -> 100 -> 80 ->
60 -> 40 -> 20 (latent) -> 40 -> 60 -> 80 -> 100 -> input, ReLU, a sigmoid
output on min-max scaled inputs, mean squared error. The encoder and the
decoder are Keras sub-models named ``"encoder"`` and ``"decoder"``, so
transfer learning can freeze the encoder as one unit::

    model.get_layer("encoder").trainable = False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..vocabulary import OPTIMIZERS

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

#: Encoder widths of the reference design; the decoder mirrors them.
DEFAULT_ENCODER_UNITS: tuple[int, ...] = (100, 80, 60, 40, 20)


def build_autoencoder(
    input_dim: int,
    encoder_units: Sequence[int] = DEFAULT_ENCODER_UNITS,
    decoder_units: Sequence[int] | None = None,
    activation: str = "relu",
    output_activation: str = "sigmoid",
    seed: int | None = None,
    name: str = "autoencoder",
) -> tf.keras.Model:
    """Build a dense autoencoder (not compiled).

    Args:
        input_dim: Number of input features.
        encoder_units: Widths of the encoder layers; the last is the latent size.
        decoder_units: Widths of the decoder's hidden layers; by default the
            encoder's widths reversed, without the latent layer
            (``(40, 60, 80, 100)`` for the defaults).
        activation: Activation of the hidden layers.
        output_activation: Activation of the reconstruction (``sigmoid`` for
            inputs scaled to [0, 1]; ``linear`` for unbounded inputs).
        seed: Seed of the weight initialisers (same seed, same initial weights).
        name: Name of the model.

    Returns:
        A functional Keras model ``input -> decoder(encoder(input))`` with
        sub-models named ``"encoder"`` and ``"decoder"``.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training needs it

    if input_dim < 1:
        raise ConfigError(f"input_dim must be >= 1, got {input_dim}")
    encoder_units = tuple(int(u) for u in encoder_units)
    if not encoder_units or min(encoder_units) < 1:
        raise ConfigError(f"encoder_units must be positive widths, got {encoder_units}")
    if decoder_units is None:
        decoder_units = tuple(reversed(encoder_units[:-1]))
    decoder_units = tuple(int(u) for u in decoder_units)

    counter = iter(range(10_000))

    def initializer():
        return tf.keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + next(counter))

    inputs = tf.keras.Input(shape=(input_dim,), name="features")
    x = inputs
    for i, units in enumerate(encoder_units):
        x = tf.keras.layers.Dense(units, activation=activation, kernel_initializer=initializer(), name=f"enc_{i}")(x)
    encoder = tf.keras.Model(inputs, x, name="encoder")

    latent = tf.keras.Input(shape=(encoder_units[-1],), name="latent")
    y = latent
    for i, units in enumerate(decoder_units):
        y = tf.keras.layers.Dense(units, activation=activation, kernel_initializer=initializer(), name=f"dec_{i}")(y)
    y = tf.keras.layers.Dense(input_dim, activation=output_activation, kernel_initializer=initializer(),
                              name="reconstruction")(y)
    decoder = tf.keras.Model(latent, y, name="decoder")

    outputs = decoder(encoder(inputs))
    return tf.keras.Model(inputs, outputs, name=name)


def build_keras_optimizer(name: str, learning_rate: float) -> tf.keras.optimizers.Optimizer:
    """A Keras optimizer by name, for the centralized, local and fine-tuning trainers.

    Args:
        name: One of :data:`~ftl_tff.vocabulary.OPTIMIZERS` (``sgd`` plain SGD,
            ``sgdm`` SGD with momentum 0.9, as on the federated clients).
        learning_rate: Learning rate.

    Raises:
        ConfigError: For an unknown name.
    """
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training needs it

    builders = {"adam": tf.keras.optimizers.Adam, "rmsprop": tf.keras.optimizers.RMSprop,
                "sgd": tf.keras.optimizers.SGD,
                "sgdm": lambda learning_rate: tf.keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)}
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer: unknown {name!r} (use one of {', '.join(OPTIMIZERS)})")
    return builders[name](learning_rate=learning_rate)
