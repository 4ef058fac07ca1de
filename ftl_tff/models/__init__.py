"""Models: the dense autoencoder (and its save/load)."""

from .autoencoder import DEFAULT_ENCODER_UNITS, build_autoencoder

__all__ = ["DEFAULT_ENCODER_UNITS", "build_autoencoder"]
