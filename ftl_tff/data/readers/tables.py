"""Helpers shared by the table readers (wide and pre-aggregated formats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import CorruptFileError, SchemaError
from .source import SourceWindows

TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def table_suffix(path: Path) -> str | None:
    """The table suffix of ``path`` (``.csv.gz`` counts as one), or None."""
    name = path.name.lower()
    for suffix in TABLE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet table, turning parse failures into CorruptFileError."""
    try:
        if table_suffix(path) == ".parquet":
            return pq.read_table(path).to_pandas()
        return pd.read_csv(path, low_memory=False)
    except (pa.ArrowException, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: cannot read table ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise CorruptFileError(f"{path}: empty file") from exc


def parse_timestamps(column: pd.Series, path: Path, source: SourceWindows) -> pd.Series:
    """Parse a ``timestamp`` column to tz-aware UTC.

    Text and datetime columns: tz-aware values are converted to UTC; tz-naive
    ones are taken as UTC (a repair, counted). Numeric columns are epoch
    seconds, milliseconds, microseconds or nanoseconds, chosen by magnitude.

    Raises:
        SchemaError: If the column cannot be parsed; the message names the file.
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        magnitude = float(np.nanmax(np.abs(column.to_numpy(dtype=np.float64)))) if len(column) else 0.0
        unit = "ns" if magnitude > 1e17 else "us" if magnitude > 1e14 else "ms" if magnitude > 1e11 else "s"
        source.count("tables_with_numeric_timestamps")
        return pd.to_datetime(column, unit=unit, utc=True)
    try:
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            parsed = column
        else:
            parsed = pd.to_datetime(column, format="mixed") if column.dtype == object else pd.to_datetime(column)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{path}: column 'timestamp' is not parseable as dates ({exc})") from exc
    if parsed.isna().any():
        raise SchemaError(f"{path}: column 'timestamp' has {int(parsed.isna().sum())} empty or unparseable value(s)")
    if getattr(parsed.dt, "tz", None) is None:
        source.count("tables_with_naive_timestamps_assumed_utc")
        source.notes.append(f"{path.name}: timestamps have no time zone; taken as UTC")
        return parsed.dt.tz_localize("UTC")
    return parsed.dt.tz_convert("UTC")


def clean_timestamps(frame: pd.DataFrame, path: Path, source: SourceWindows) -> pd.DataFrame:
    """Require ``timestamp``, parse it, sort, and drop duplicate timestamps (counted)."""
    if "timestamp" not in frame.columns:
        raise SchemaError(f"{path}: no 'timestamp' column (columns: {', '.join(map(str, frame.columns[:12]))})")
    frame = frame.assign(timestamp=parse_timestamps(frame["timestamp"], path, source))
    if not frame["timestamp"].is_monotonic_increasing:
        source.count("tables_sorted_by_timestamp")
        source.notes.append(f"{path.name}: rows were not sorted by timestamp; sorted")
        frame = frame.sort_values("timestamp", kind="stable")
    duplicated = frame["timestamp"].duplicated(keep="first")
    if duplicated.any():
        source.count("duplicate_timestamp_rows_dropped", int(duplicated.sum()))
        source.notes.append(f"{path.name}: dropped {int(duplicated.sum())} row(s) with a repeated timestamp (kept the first)")
        frame = frame[~duplicated]
    return frame.reset_index(drop=True)


def numeric_columns(frame: pd.DataFrame, columns: list[str], path: Path, source: SourceWindows) -> pd.DataFrame:
    """Coerce ``columns`` to float64; skip all-text columns and count coerced cells.

    A column whose non-empty cells are all non-numeric (e.g. ``os_name``) is
    left out with a note; in a numeric column, the few cells that are not
    numbers become NaN and are counted.
    """
    out = {}
    skipped = []
    for column in columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(np.float64)
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        present = values.notna()
        bad = int((present & numeric.isna()).sum())
        if present.any() and bad == int(present.sum()):
            skipped.append(column)
            continue
        if bad:
            source.count("non_numeric_cells_set_to_nan", bad)
            source.notes.append(f"{path.name}: column {column!r} had {bad} non-numeric cell(s), set to NaN")
        numeric = numeric.astype(np.float64)
        infinite = np.isinf(numeric.to_numpy())
        if infinite.any():
            source.count("infinite_cells_set_to_nan", int(infinite.sum()))
            numeric = numeric.mask(infinite)
        out[column] = numeric
    if skipped:
        source.count("text_columns_skipped", len(skipped))
        source.notes.append(f"{path.name}: skipped non-numeric column(s) {', '.join(skipped)}")
    return pd.DataFrame(out, index=frame.index)
