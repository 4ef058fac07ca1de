"""Window statistics: readings -> per-(node, window) avg, std, min, max.

Readings arrive in pieces (one Parquet file, or one record batch of it, at a
time). Each piece is reduced to *partial* statistics per (node, window):
count, mean, M2 (sum of squared deviations from the mean), min and max. The
partials of several pieces combine exactly with Chan et al.'s parallel
variance formula, so the result does not depend on how the readings were
split across files and memory stays bounded by one piece.

Conventions (documented for users in the processed-dataset reference):

* A window is ``[start, start + window)`` with ``start`` aligned to the Unix
  epoch (15-minute windows start at :00, :15, :30 and :45 UTC).
* ``std`` is the population standard deviation (``ddof=0``): a window with a
  single reading has ``std = 0``, not NaN.
* ``count`` is the number of non-null readings that fell in the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError

#: The statistics computed per metric and window, in column order.
STATS: tuple[str, ...] = ("avg", "std", "min", "max")

_PARTIAL_COLUMNS = ("node", "window", "n", "mean", "m2", "min", "max")


def window_ns(window: str | pd.Timedelta) -> int:
    """Return the length of a window in nanoseconds.

    Args:
        window: A pandas offset such as ``"15min"`` or a ``Timedelta``.

    Raises:
        ConfigError: If the window is not a positive whole number of seconds.
    """
    try:
        delta = pd.Timedelta(window)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid window {window!r}: use a duration such as '15min'") from exc
    ns = int(delta.value)
    if ns <= 0 or ns % 1_000_000_000:
        raise ConfigError(f"invalid window {window!r}: it must be a positive whole number of seconds")
    return ns


def partial_stats(table: pa.Table, window_length_ns: int) -> pd.DataFrame:
    """Reduce readings to partial statistics per (node, window).

    Args:
        table: Columns ``node`` (string), ``timestamp`` (``timestamp[ns, UTC]``)
            and ``value`` (float64). Null values are ignored.
        window_length_ns: Window length in nanoseconds.

    Returns:
        A DataFrame with columns ``node, window, n, mean, m2, min, max`` where
        ``window`` is the window start in nanoseconds since the epoch.
    """
    table = table.filter(pc.is_valid(table["value"]))
    if table.num_rows == 0:
        return _empty_partials()
    ts = pc.cast(table["timestamp"], pa.int64())
    # Floor division towards the epoch; telemetry predates no epoch.
    window = pc.multiply(pc.divide(ts, pa.scalar(window_length_ns, pa.int64())),
                         pa.scalar(window_length_ns, pa.int64()))
    keyed = pa.table({"node": table["node"], "window": window, "value": table["value"]})
    grouped = keyed.group_by(["node", "window"], use_threads=True).aggregate(
        [
            ("value", "count"),
            ("value", "mean"),
            ("value", "variance", pc.VarianceOptions(ddof=0)),
            ("value", "min"),
            ("value", "max"),
        ]
    )
    n = grouped["value_count"].to_numpy().astype(np.int64)
    return pd.DataFrame(
        {
            "node": grouped["node"].to_numpy(zero_copy_only=False).astype(object),
            "window": grouped["window"].to_numpy(),
            "n": n,
            "mean": grouped["value_mean"].to_numpy(),
            "m2": grouped["value_variance"].to_numpy() * n,
            "min": grouped["value_min"].to_numpy().astype(np.float64),
            "max": grouped["value_max"].to_numpy().astype(np.float64),
        }
    )


def _empty_partials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "node": pd.Series(dtype=object),
            "window": pd.Series(dtype=np.int64),
            "n": pd.Series(dtype=np.int64),
            "mean": pd.Series(dtype=np.float64),
            "m2": pd.Series(dtype=np.float64),
            "min": pd.Series(dtype=np.float64),
            "max": pd.Series(dtype=np.float64),
        }
    )


def combine_partials(partials: list[pd.DataFrame], keys: tuple[str, ...] = ("node", "window")) -> pd.DataFrame:
    """Merge partial statistics that may share keys (Chan's parallel formula).

    Args:
        partials: Frames as returned by :func:`partial_stats`.
        keys: The grouping columns.

    Returns:
        One partial-statistics frame with unique keys, sorted by ``keys``.
    """
    partials = [p for p in partials if len(p)]
    if not partials:
        return _empty_partials()
    frame = pd.concat(partials, ignore_index=True) if len(partials) > 1 else partials[0]
    if not frame.duplicated(list(keys)).any():
        return frame.sort_values(list(keys), ignore_index=True)
    frame = frame.assign(weighted=frame["mean"] * frame["n"])
    grouped = frame.groupby(list(keys), sort=True)
    n = grouped["n"].sum()
    mean = grouped["weighted"].sum() / n
    # M2 = sum(M2_i) + sum(n_i * (mean_i - mean)^2)
    deviation = frame["n"] * (frame["mean"] - mean.reindex(pd.MultiIndex.from_frame(frame[list(keys)])).to_numpy()) ** 2
    m2 = grouped["m2"].sum() + deviation.groupby([frame[k] for k in keys]).sum()
    out = pd.DataFrame({"n": n, "mean": mean, "m2": m2, "min": grouped["min"].min(), "max": grouped["max"].max()})
    return out.reset_index()


@dataclass(frozen=True)
class WindowStats:
    """Final statistics of one metric on one node, one row per window.

    Attributes:
        window: Window starts, nanoseconds since the epoch, sorted, unique.
        count: Readings per window.
        avg: Mean per window.
        std: Population standard deviation per window.
        min: Minimum per window.
        max: Maximum per window.
    """

    window: np.ndarray
    count: np.ndarray
    avg: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray

    def column(self, stat: str) -> np.ndarray:
        """Return the array of one statistic (``count`` or one of :data:`STATS`)."""
        return getattr(self, stat)


def finalize(partials: pd.DataFrame) -> dict[str, WindowStats]:
    """Turn combined partial statistics into per-node :class:`WindowStats`."""
    out: dict[str, WindowStats] = {}
    if partials.empty:
        return out
    partials = partials.sort_values(["node", "window"], ignore_index=True)
    for node, rows in partials.groupby("node", sort=False):
        n = rows["n"].to_numpy()
        out[str(node)] = WindowStats(
            window=rows["window"].to_numpy(np.int64),
            count=n.astype(np.int64),
            avg=rows["mean"].to_numpy(np.float64),
            std=np.sqrt(np.maximum(rows["m2"].to_numpy(np.float64), 0.0) / n),
            min=rows["min"].to_numpy(np.float64),
            max=rows["max"].to_numpy(np.float64),
        )
    return out


def pool_metrics(parts: list[WindowStats]) -> WindowStats:
    """Pool several metrics of one node into one (e.g. the cores of a socket).

    The pooled statistics are those of all readings of all parts together:
    exact when counts are sample counts, and an equal-weight pooling when
    each part has one value per window (wide tables).
    """
    frames = [
        pd.DataFrame(
            {"node": "", "window": p.window, "n": p.count, "mean": p.avg,
             "m2": p.std**2 * p.count, "min": p.min, "max": p.max}
        )
        for p in parts
    ]
    return finalize(combine_partials(frames))[""]
