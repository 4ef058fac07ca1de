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

from ...errors import ConfigError

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


_PARTIAL_SCHEMA = pa.schema(
    [("node", pa.string()), ("window", pa.int64()), ("n", pa.int64()), ("mean", pa.float64()),
     ("m2", pa.float64()), ("min", pa.float64()), ("max", pa.float64())]
)


_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def window_numbers(timestamps: pa.Array | pa.ChunkedArray, window_length_ns: int) -> np.ndarray:
    """Window number (start // window length) of each timestamp, as int64.

    Works in the column's own unit (s, ms, us or ns) without converting it.
    """
    per = _NS_PER_UNIT[timestamps.type.unit]
    ticks = pc.cast(timestamps, pa.int64()).to_numpy(zero_copy_only=False)
    if window_length_ns % per == 0:
        return ticks // (window_length_ns // per)
    return (ticks * per) // window_length_ns


def partial_stats(table: pa.Table, window_length_ns: int) -> pa.Table:
    """Reduce readings to partial statistics per (node, window).

    Args:
        table: Columns ``node`` (string or dictionary of strings),
            ``timestamp`` (a timestamp type) and ``value`` (numeric). Null and
            NaN values are ignored.
        window_length_ns: Window length in nanoseconds.

    Returns:
        A table with columns ``node, window, n, mean, m2, min, max`` (one row
        per key, in no particular order) where ``window`` is the window start
        in nanoseconds since the epoch.
    """
    node = table["node"].combine_chunks()
    if not pa.types.is_dictionary(node.type):
        node = pc.dictionary_encode(pc.cast(node, pa.string()))
    value = pc.cast(table["value"], pa.float64()).to_numpy(zero_copy_only=False)
    keep = np.isfinite(value)
    return partial_stats_arrays(
        node.indices.to_numpy(zero_copy_only=False)[keep], pc.cast(node.dictionary, pa.string()),
        window_numbers(table["timestamp"], window_length_ns)[keep], value[keep], window_length_ns,
    )


def partial_stats_arrays(
    node_index: np.ndarray, dictionary: pa.Array, window_number: np.ndarray, value: np.ndarray, window_length_ns: int
) -> pa.Table:
    """:func:`partial_stats` on arrays: the hot path of the raw reader.

    The grouping key is dense, (window number - first window) x nodes + the
    node's dictionary index, so counts, sums and extremes are plain
    ``bincount``/``ufunc.at`` passes; moments are accumulated around the
    piece's first reading so that large offsets (``boottime``) lose no
    precision.

    Args:
        node_index: Index of each reading's node in ``dictionary``.
        dictionary: Node ids (strings).
        window_number: Window number of each reading (see :func:`window_numbers`).
        value: Finite float64 readings.
        window_length_ns: Window length in nanoseconds.
    """
    if len(value) == 0:
        return _PARTIAL_SCHEMA.empty_table()
    first = int(window_number.min())
    n_nodes = len(dictionary)
    size = (int(window_number.max()) - first + 1) * n_nodes
    key = (window_number - first) * n_nodes + node_index
    unique = None
    if size > 8 * len(value) + (1 << 20):
        # Sparse keys (a long, thinly sampled time span): number them densely first.
        unique, key = np.unique(key, return_inverse=True)
        size = len(unique)
    shift = float(value[0])
    shifted = value - shift
    n, total, squares, low, high = _grouped_moments(key, shifted, size)
    present = np.flatnonzero(n)
    n = n[present]
    total = total[present]
    dense = present if unique is None else unique[present]
    return pa.table(
        [dictionary.take(pa.array(dense % n_nodes)), (dense // n_nodes + first) * window_length_ns, n,
         shift + total / n, np.maximum(squares[present] - total * total / n, 0.0), low[present] + shift,
         high[present] + shift],
        schema=_PARTIAL_SCHEMA,
    )


def _grouped_moments(key: np.ndarray, shifted: np.ndarray, size: int):
    """Count, sum, sum of squares, min and max of ``shifted`` per dense key.

    Telemetry files usually keep a node's readings together in time order, so
    equal keys come in long runs: reduce each run with ``ufunc.reduceat``
    (cheap, sequential) and then merge the few runs per key. Interleaved
    files (runs of one reading) go straight to ``bincount``/``ufunc.at``.
    """
    starts = np.flatnonzero(key[1:] != key[:-1]) + 1
    if len(starts) < len(key) // 4:
        starts = np.concatenate([[0], starts])
        run_key = key[starts]
        run_n = np.diff(np.append(starts, len(key)))
        run_sum = np.add.reduceat(shifted, starts)
        run_squares = np.add.reduceat(shifted * shifted, starts)
        run_low = np.minimum.reduceat(shifted, starts)
        run_high = np.maximum.reduceat(shifted, starts)
        key, shifted = run_key, None
        weights = (run_n, run_sum, run_squares)
        extremes = (run_low, run_high)
    else:
        weights = (None, shifted, shifted * shifted)
        extremes = (shifted, shifted)
    n = np.bincount(key, weights=weights[0], minlength=size).astype(np.int64)
    total = np.bincount(key, weights=weights[1], minlength=size)
    squares = np.bincount(key, weights=weights[2], minlength=size)
    low = np.full(size, np.inf)
    np.minimum.at(low, key, extremes[0])
    high = np.full(size, -np.inf)
    np.maximum.at(high, key, extremes[1])
    return n, total, squares, low, high


def _as_partial_table(partial: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(partial, pd.DataFrame):
        partial = pa.Table.from_pandas(partial, preserve_index=False)
    return partial.select(list(_PARTIAL_COLUMNS)).cast(_PARTIAL_SCHEMA)


def combine_partials(partials: list[pa.Table | pd.DataFrame]) -> pa.Table:
    """Merge partial statistics that may share keys (Chan's parallel formula).

    Args:
        partials: Tables (or DataFrames) as returned by :func:`partial_stats`.

    Returns:
        One partial-statistics table with unique ``(node, window)`` keys,
        sorted by node then window.
    """
    tables = [t for t in (_as_partial_table(p) for p in partials) if t.num_rows]
    if not tables:
        return _PARTIAL_SCHEMA.empty_table()
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    table = table.sort_by([("node", "ascending"), ("window", "ascending")])
    if table.num_rows < 2:
        return table
    node = table["node"].combine_chunks()
    window = table["window"].to_numpy()
    same_node = pc.equal(node.slice(1), node.slice(0, len(node) - 1)).to_numpy(zero_copy_only=False)
    duplicate = same_node & (window[1:] == window[:-1])
    if not duplicate.any():
        return table
    starts = np.flatnonzero(np.concatenate([[True], ~duplicate]))
    group = np.cumsum(np.concatenate([[True], ~duplicate])) - 1
    n = table["n"].to_numpy()
    mean = table["mean"].to_numpy()
    total = np.add.reduceat(n, starts)
    group_mean = np.add.reduceat(n * mean, starts) / total
    # M2 = sum(M2_i) + sum(n_i * (mean_i - mean)^2): no large-offset cancellation.
    m2 = np.add.reduceat(table["m2"].to_numpy() + n * (mean - group_mean[group]) ** 2, starts)
    return pa.table(
        [node.take(pa.array(starts)), window[starts], total, group_mean, m2,
         np.minimum.reduceat(table["min"].to_numpy(), starts), np.maximum.reduceat(table["max"].to_numpy(), starts)],
        schema=_PARTIAL_SCHEMA,
    )


@dataclass(frozen=True)
class WindowStats:
    """Final statistics of one metric on one node, one row per window.

    Attributes:
        window: Window starts, nanoseconds since the epoch, sorted, unique.
        count: Readings per window (int32).
        avg: Mean per window (float32, as are the other statistics).
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


def finalize(partials: pa.Table | pd.DataFrame | list[pa.Table | pd.DataFrame]) -> dict[str, WindowStats]:
    """Merge partial statistics (one piece or a list) into per-node :class:`WindowStats`."""
    table = combine_partials(partials if isinstance(partials, list) else [partials])
    out: dict[str, WindowStats] = {}
    if table.num_rows == 0:
        return out
    node = table["node"].combine_chunks()
    window = table["window"].to_numpy()
    # Statistics are computed in float64 and kept in float32 (the precision
    # of the processed dataset): the statistics of every metric of every
    # node stay in memory until the per-node tables are written.
    n_float = table["n"].to_numpy()
    n = n_float.astype(np.int32)
    mean = table["mean"].to_numpy().astype(np.float32)
    std = np.sqrt(np.maximum(table["m2"].to_numpy(), 0.0) / n_float).astype(np.float32)
    low = table["min"].to_numpy().astype(np.float32)
    high = table["max"].to_numpy().astype(np.float32)
    change = np.flatnonzero(~pc.equal(node.slice(1), node.slice(0, len(node) - 1)).to_numpy(zero_copy_only=False)) + 1
    bounds = np.concatenate([[0], change, [len(node)]])
    for begin, stop in zip(bounds[:-1], bounds[1:]):
        out[str(node[int(begin)])] = WindowStats(
            window=window[begin:stop], count=n[begin:stop], avg=mean[begin:stop], std=std[begin:stop],
            min=low[begin:stop], max=high[begin:stop],
        )
    return out


def pool_metrics(parts: list[WindowStats]) -> WindowStats:
    """Pool several metrics of one node into one (e.g. the cores of a socket).

    The pooled statistics are those of all readings of all parts together:
    exact when counts are sample counts, and an equal-weight pooling when
    each part has one value per window (wide tables).
    """
    window = np.concatenate([p.window for p in parts])
    table = pa.table(
        [pa.array(np.full(len(window), "", dtype=object), pa.string()), window,
         np.concatenate([p.count for p in parts]).astype(np.int64),
         np.concatenate([p.avg for p in parts]).astype(np.float64),
         np.concatenate([p.std.astype(np.float64) ** 2 * p.count for p in parts]),
         np.concatenate([p.min for p in parts]).astype(np.float64),
         np.concatenate([p.max for p in parts]).astype(np.float64)],
        schema=_PARTIAL_SCHEMA,
    )
    return finalize(table)[""]
