"""Models: the dense autoencoder (and its save/load)."""

from .autoencoder import DEFAULT_ENCODER_UNITS, build_autoencoder, build_keras_optimizer
from .io import autoencoder_architecture, load_model, save_model

__all__ = ["DEFAULT_ENCODER_UNITS", "autoencoder_architecture", "build_autoencoder", "build_keras_optimizer", "load_model", "save_model"]
