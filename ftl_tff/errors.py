"""Typed errors raised by ftl-tff.

Every error a user can cause with bad input derives from :class:`FtlError`,
names the file, node or column at fault, and is reported by the CLI as one
line with a non-zero exit code (no traceback).
"""

from __future__ import annotations


class FtlError(Exception):
    """Base class of every error ftl-tff raises on purpose."""


class DataError(FtlError, ValueError):
    """The input data cannot be used as it is."""


class SourceNotFoundError(DataError, FileNotFoundError):
    """A source path does not exist, is empty, or holds no matching files."""


class SchemaError(DataError):
    """A file or table lacks a required column or has one of the wrong type."""


class CorruptFileError(DataError):
    """A file cannot be parsed (truncated or corrupt Parquet, unreadable CSV)."""


class EmptyNodeError(DataError):
    """A node has no usable windows."""


class SelectionError(DataError):
    """A requested plugin, metric, node or time range does not exist in the source."""


class ConfigError(FtlError, ValueError):
    """An option or configuration value is invalid."""


class RecordError(CorruptFileError):
    """A JSON record ftl-tff wrote (configuration, calibration, manifest, metadata, marker) is missing or unreadable."""
