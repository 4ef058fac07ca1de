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


_PARTIAL_SCHEMA = pa.schema(
    [("node", pa.string()), ("window", pa.int64()), ("n", pa.int64()), ("mean", pa.float64()),
     ("m2", pa.float64()), ("min", pa.float64()), ("max", pa.float64())]
)


_NODE_BITS = 20  # dictionary index bits in the packed (window, node) key


def partial_stats(table: pa.Table, window_length_ns: int) -> pa.Table:
    """Reduce readings to partial statistics per (node, window).

    The grouping key packs the window number and the node's dictionary index
    into one int64, and the second moment is accumulated around a per-piece
    shift (the piece's first reading), so that one hash aggregation with
    cheap kernels (count, sum, min/max) does all the work.

    Args:
        table: Columns ``node`` (string or dictionary of strings),
            ``timestamp`` (``timestamp[ns, UTC]`` or int64 ns) and ``value``
            (float64). Null values are ignored.
        window_length_ns: Window length in nanoseconds.

    Returns:
        A table with columns ``node, window, n, mean, m2, min, max`` (one row
        per key, in no particular order) where ``window`` is the window start
        in nanoseconds since the epoch.
    """
    table = table.filter(pc.is_valid(table["value"]))
    if table.num_rows == 0:
        return _PARTIAL_SCHEMA.empty_table()
    node = table["node"].combine_chunks()
    if not pa.types.is_dictionary(node.type):
        node = pc.dictionary_encode(pc.cast(node, pa.string()))
    dictionary = pc.cast(node.dictionary, pa.string())
    if len(dictionary) >= 1 << _NODE_BITS:
        raise ValueError(f"too many distinct nodes in one piece: {len(dictionary)}")
    length = pa.scalar(window_length_ns, pa.int64())
    window_number = pc.divide(pc.cast(table["timestamp"], pa.int64()), length)
    key = pc.bit_wise_or(pc.shift_left(window_number, _NODE_BITS), pc.cast(node.indices, pa.int64()))
    value = table["value"]
    shift = float(value[0].as_py())
    shifted = pc.subtract(value, shift)
    grouped = pa.table({"key": key, "v": shifted, "v2": pc.multiply(shifted, shifted)}).group_by("key").aggregate(
        [("v", "count"), ("v", "sum"), ("v2", "sum"), ("v", "min_max")]
    )
    keys = grouped["key"].to_numpy()
    n = grouped["v_count"].to_numpy().astype(np.int64)
    total = grouped["v_sum"].to_numpy()
    extremes = grouped["v_min_max"].combine_chunks()
    m2 = np.maximum(grouped["v2_sum"].to_numpy() - total * total / n, 0.0)
    return pa.table(
        [dictionary.take(pa.array(keys & ((1 << _NODE_BITS) - 1))), (keys >> _NODE_BITS) * window_length_ns, n,
         shift + total / n, m2, extremes.field("min").to_numpy() + shift, extremes.field("max").to_numpy() + shift],
        schema=_PARTIAL_SCHEMA,
    )


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


def finalize(partials: pa.Table | pd.DataFrame) -> dict[str, WindowStats]:
    """Turn combined partial statistics into per-node :class:`WindowStats`."""
    table = combine_partials([partials])
    out: dict[str, WindowStats] = {}
    if table.num_rows == 0:
        return out
    node = table["node"].combine_chunks()
    window = table["window"].to_numpy()
    n = table["n"].to_numpy()
    mean = table["mean"].to_numpy()
    std = np.sqrt(np.maximum(table["m2"].to_numpy(), 0.0) / n)
    low = table["min"].to_numpy()
    high = table["max"].to_numpy()
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
         np.concatenate([p.count for p in parts]), np.concatenate([p.avg for p in parts]),
         np.concatenate([p.std**2 * p.count for p in parts]), np.concatenate([p.min for p in parts]),
         np.concatenate([p.max for p in parts])],
        schema=_PARTIAL_SCHEMA,
    )
    return finalize(table)[""]
