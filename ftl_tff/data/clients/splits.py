"""Per-node train / validation / test splits of windowed telemetry.

Every function here works on ONE node's frame: a pandas DataFrame indexed by
the sorted, unique ``window_start`` times of its 15-minute windows, with
feature columns and an integer ``label`` column (0 normal, 1 anomalous).
Nothing is shuffled: windows of a time series are autocorrelated, and a
random split would let the model see the neighbours of every test window.

Two split methods are offered:

* :func:`chronological_split` -- the papers' protocol: the first share of the
  windows trains, the rest tests.
* :func:`blocked_split` -- contiguous time blocks interleaved between the
  parts, with an optional embargo (``gap``) at each boundary. Real failures
  cluster in time, so a single 80/20 cut leaves some nodes with no anomaly in
  the test part and others with nothing but anomalies; interleaved blocks
  spread every part over the whole period.

:func:`split_report` tabulates, per node, how many windows and anomalous
windows each part received, and warns where a metric would be undefined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd

from ftl_tff.errors import ConfigError, DataError, EmptyNodeError, SchemaError

__all__ = [
    "LABEL_COLUMN",
    "PARTS",
    "NodeSplit",
    "blocked_split",
    "chronological_split",
    "normal_only",
    "split_report",
]

#: Name of the integer label column (0 normal, 1 anomalous).
LABEL_COLUMN = "label"

#: The parts of a split, in the order they are reported.
PARTS = ("train", "validation", "test")

# Float shares such as 0.7 * 10 land just below the integer (6.999...); this
# tolerance keeps row counts at the value a reader computes by hand.
_SHARE_EPSILON = 1e-9


@dataclass(frozen=True, eq=False)
class NodeSplit:
    """One node's windows divided into train, validation and test parts.

    Attributes:
        train: Windows used to fit the model, the scaler and the imputer.
        validation: Windows held out for early stopping or threshold
            calibration; an empty frame when no validation share was asked.
        test: Windows used only for evaluation.
        gap: Windows dropped as an embargo between blocks of different parts
            (``blocked_split`` with ``gap > 0``); empty otherwise. Kept so the
            drop is counted, never silent.
        node: Node id the split belongs to, when the caller gave it.
        method: ``"chronological"`` or ``"blocked"``.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    gap: pd.DataFrame
    node: str | None = None
    method: str = "chronological"

    def part(self, name: str) -> pd.DataFrame:
        """Returns the part called ``name`` (one of :data:`PARTS` or ``"gap"``).

        Args:
            name: ``"train"``, ``"validation"``, ``"test"`` or ``"gap"``.

        Returns:
            The frame of that part.

        Raises:
            ConfigError: If ``name`` is not a part name.
        """
        if name not in (*PARTS, "gap"):
            raise ConfigError(f"unknown split part {name!r}; expected one of {(*PARTS, 'gap')}")
        return getattr(self, name)

    def counts(self) -> dict[str, int]:
        """Counts windows and anomalous windows in every part.

        Returns:
            A dict with keys ``{part}_windows`` and ``{part}_anomalous`` for
            each part of :data:`PARTS` and for ``gap`` (the embargoed windows).
        """
        counts: dict[str, int] = {}
        for name in (*PARTS, "gap"):
            frame = self.part(name)
            counts[f"{name}_windows"] = len(frame)
            counts[f"{name}_anomalous"] = _anomalous_count(frame)
        return counts


def chronological_split(
    frame: pd.DataFrame,
    train: float = 0.8,
    validation: float = 0.0,
    *,
    node: str | None = None,
) -> NodeSplit:
    """Splits one node's windows by position in time.

    The first ``train`` share of the windows (by row position over the sorted
    index) forms the train part, the next ``validation`` share the validation
    part, and the rest the test part. Row counts are rounded down:
    ``n_train = floor(n * train)``, ``n_validation = floor(n * (train +
    validation)) - n_train``.

    Args:
        frame: One node's windows, indexed by sorted unique ``window_start``,
            with a ``label`` column.
        train: Share of the windows in the train part, in (0, 1].
        validation: Share of the windows in the validation part, in [0, 1).
        node: Node id, used in error messages and stored on the result.

    Returns:
        The :class:`NodeSplit` (its ``gap`` part is always empty).

    Raises:
        ConfigError: If the shares are out of range or sum above 1.
        DataError: If the index is not sorted and unique.
        SchemaError: If the ``label`` column is missing.
        EmptyNodeError: If the node has too few windows for every requested
            part to get at least one window.
    """
    _check_shares(train=train, validation=validation, test=None)
    _check_frame(frame, node)
    n_rows = len(frame)
    train_end = int(np.floor(n_rows * train + _SHARE_EPSILON))
    validation_end = int(np.floor(n_rows * (train + validation) + _SHARE_EPSILON))
    validation_end = min(validation_end, n_rows)
    split = NodeSplit(
        train=frame.iloc[:train_end],
        validation=frame.iloc[train_end:validation_end],
        test=frame.iloc[validation_end:],
        gap=frame.iloc[:0],
        node=node,
        method="chronological",
    )
    requested = {
        "train": True,
        "validation": validation > 0,
        "test": train + validation < 1 - _SHARE_EPSILON,
    }
    _check_parts_filled(split, requested, node)
    return split


def blocked_split(
    frame: pd.DataFrame,
    block: str | pd.Timedelta | int = "1D",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    gap: int = 0,
    *,
    node: str | None = None,
) -> NodeSplit:
    """Splits one node's windows into contiguous time blocks spread over parts.

    Why: real failures cluster in time. A single chronological 80/20 cut
    leaves some nodes with no anomaly in the test part (nothing to detect,
    recall undefined) and others whose test part is mostly anomalous, and the
    position in time alone then predicts the label. Interleaving blocks makes
    every part sample the whole period.

    Blocks: with an offset (``"1D"``, ``"6h"``, ``pd.Timedelta``) a block is
    the set of windows whose ``window_start`` falls in the same interval
    ``[k * block, (k + 1) * block)`` counted from the Unix epoch (so ``"1D"``
    blocks are UTC calendar days); with an integer a block is that many
    consecutive windows (by row position). Only non-empty blocks take part
    in the assignment: a stretch without data does not consume a turn.

    Assignment pattern (deterministic, no randomness): the blocks are visited
    in time order and each goes to the part that is furthest behind its
    target share of the rows seen so far (smooth weighted round-robin,
    weighted by rows; ties go to train, then validation, then test). With
    equal-size blocks and ``test_fraction=0.2`` this is every fifth block,
    starting with the third (0-based blocks 2, 7, 12, ...); with unequal
    blocks the row shares still track their targets.

    Embargo: at every boundary between consecutive blocks that go to
    different parts, the first ``gap`` windows of the later block are
    dropped, so at least ``gap`` windows separate any train window from any
    test window in row order. The dropped windows land in ``NodeSplit.gap``
    and are counted by :meth:`NodeSplit.counts` and :func:`split_report`.
    A block shorter than ``gap`` after a boundary is dropped entirely.

    Args:
        frame: One node's windows, indexed by sorted unique ``window_start``
            (a DatetimeIndex when ``block`` is an offset), with a ``label``
            column.
        block: Block length: a pandas offset string or Timedelta of fixed
            length, or a positive number of windows.
        test_fraction: Target share of the rows in the test part, in [0, 1).
        validation_fraction: Target share of the rows in the validation part,
            in [0, 1).
        gap: Windows dropped at the start of every block that follows a block
            of a different part (an embargo against autocorrelation leakage).
        node: Node id, used in error messages and stored on the result.

    Returns:
        The :class:`NodeSplit`, with the embargoed windows in ``gap``.

    Raises:
        ConfigError: If a share, ``block`` or ``gap`` is invalid.
        DataError: If the index is not sorted and unique, or not a
            DatetimeIndex while ``block`` is an offset.
        SchemaError: If the ``label`` column is missing.
        EmptyNodeError: If a requested part (train always; validation and
            test when their share is positive) receives no window.
    """
    _check_shares(train=None, validation=validation_fraction, test=test_fraction)
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ConfigError(f"gap must be a non-negative number of windows, got {gap!r}")
    _check_frame(frame, node)
    block_ids = _block_ids(frame, block, node)
    block_starts, block_sizes = _block_runs(block_ids)
    shares = np.array(
        [1.0 - test_fraction - validation_fraction, validation_fraction, test_fraction]
    )
    block_parts = _assign_blocks(block_sizes, shares)

    row_part = np.repeat(block_parts, block_sizes)
    row_in_gap = np.zeros(len(frame), dtype=bool)
    for index in range(1, len(block_parts)):
        if gap and block_parts[index] != block_parts[index - 1]:
            start = block_starts[index]
            row_in_gap[start : start + min(gap, block_sizes[index])] = True

    split = NodeSplit(
        train=frame[(row_part == 0) & ~row_in_gap],
        validation=frame[(row_part == 1) & ~row_in_gap],
        test=frame[(row_part == 2) & ~row_in_gap],
        gap=frame[row_in_gap],
        node=node,
        method="blocked",
    )
    requested = {"train": True, "validation": validation_fraction > 0, "test": test_fraction > 0}
    _check_parts_filled(split, requested, node)
    return split


def split_report(splits: dict[str, NodeSplit]) -> pd.DataFrame:
    """Tabulates, per node, the windows and anomalous windows of every part.

    Args:
        splits: Node id -> that node's :class:`NodeSplit`.

    Returns:
        A DataFrame indexed by ``node`` with integer columns
        ``{part}_windows`` and ``{part}_anomalous`` for train, validation,
        test and gap (the embargoed windows), and a text column ``warning``:
        empty when every non-empty part has both classes, otherwise e.g.
        ``"test: no anomalous windows; train: only anomalous windows"``.
        Metrics such as F1 or ROC-AUC are undefined on a one-class test part;
        report such nodes apart rather than averaging them in.
    """
    rows = []
    for node, split in splits.items():
        counts = split.counts()
        rows.append({"node": node, **counts, "warning": _split_warning(counts)})
    columns = ["node", *[f"{p}_{c}" for p in (*PARTS, "gap") for c in ("windows", "anomalous")]]
    report = pd.DataFrame(rows, columns=[*columns, "warning"])
    return report.set_index("node")


@overload
def normal_only(data: pd.DataFrame, labels: None = None) -> pd.DataFrame: ...


@overload
def normal_only(data: np.ndarray, labels: np.ndarray) -> np.ndarray: ...


def normal_only(
    data: pd.DataFrame | np.ndarray,
    labels: np.ndarray | pd.Series | None = None,
) -> pd.DataFrame | np.ndarray:
    """Keeps the normal windows (label 0), for semi-supervised training.

    Args:
        data: A node frame with a ``label`` column, or an array of rows.
        labels: Labels aligned with the rows of ``data``; required for an
            array, optional for a frame (default: its ``label`` column).

    Returns:
        The rows of ``data`` whose label is 0, in the same type as ``data``.

    Raises:
        SchemaError: If a frame has no ``label`` column and no labels given.
        DataError: If ``labels`` does not have one entry per row.
    """
    if labels is None:
        if not isinstance(data, pd.DataFrame):
            raise SchemaError("normal_only needs labels for an array input")
        if LABEL_COLUMN not in data.columns:
            raise SchemaError(f"frame has no {LABEL_COLUMN!r} column")
        labels = data[LABEL_COLUMN]
    label_values = np.asarray(labels)
    if label_values.shape != (len(data),):
        raise DataError(f"labels have shape {label_values.shape}, expected ({len(data)},)")
    keep = label_values == 0
    if isinstance(data, pd.DataFrame):
        return data[keep]
    return np.asarray(data)[keep]


def _anomalous_count(frame: pd.DataFrame) -> int:
    if len(frame) == 0:
        return 0
    return int((frame[LABEL_COLUMN].to_numpy() != 0).sum())


def _split_warning(counts: dict[str, int]) -> str:
    warnings = []
    for name in PARTS:
        windows, anomalous = counts[f"{name}_windows"], counts[f"{name}_anomalous"]
        if windows == 0:
            continue
        if anomalous == 0:
            warnings.append(f"{name}: no anomalous windows")
        elif anomalous == windows:
            warnings.append(f"{name}: only anomalous windows")
    return "; ".join(warnings)


def _node_text(node: str | None) -> str:
    return f"node {node!r}" if node is not None else "node"


def _check_shares(train: float | None, validation: float, test: float | None) -> None:
    if train is not None and not 0 < train <= 1:
        raise ConfigError(f"train share must be in (0, 1], got {train!r}")
    if not 0 <= validation < 1:
        raise ConfigError(f"validation share must be in [0, 1), got {validation!r}")
    if test is not None and not 0 <= test < 1:
        raise ConfigError(f"test share must be in [0, 1), got {test!r}")
    total = (train or 0.0) + validation + (test or 0.0)
    limit_ok = total <= 1 + _SHARE_EPSILON if train is not None else total < 1 - _SHARE_EPSILON
    if not limit_ok:
        raise ConfigError(
            f"split shares leave nothing for training: train={train}, "
            f"validation={validation}, test={test}"
        )


def _check_frame(frame: pd.DataFrame, node: str | None) -> None:
    if LABEL_COLUMN not in frame.columns:
        raise SchemaError(f"{_node_text(node)}: frame has no {LABEL_COLUMN!r} column")
    if len(frame) == 0:
        raise EmptyNodeError(f"{_node_text(node)} has no windows to split")
    if not frame.index.is_monotonic_increasing or not frame.index.is_unique:
        raise DataError(f"{_node_text(node)}: window index must be sorted and unique")


def _check_parts_filled(split: NodeSplit, requested: dict[str, bool], node: str | None) -> None:
    empty = [name for name in PARTS if requested[name] and len(split.part(name)) == 0]
    if empty:
        counts = {name: len(split.part(name)) for name in (*PARTS, "gap")}
        raise EmptyNodeError(
            f"{_node_text(node)} has too few windows for the {split.method} split: "
            f"{', '.join(empty)} part(s) empty (windows per part: {counts})"
        )


def _block_ids(
    frame: pd.DataFrame, block: str | pd.Timedelta | int, node: str | None
) -> np.ndarray:
    """Returns a non-decreasing block number per row."""
    if isinstance(block, (int, np.integer)) and not isinstance(block, bool):
        if block <= 0:
            raise ConfigError(f"block must be a positive number of windows, got {block!r}")
        return np.arange(len(frame)) // int(block)
    try:
        length = pd.Timedelta(block)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"block must be a fixed-length offset (e.g. '1D', '6h') or a number of windows, "
            f"got {block!r}"
        ) from error
    if pd.isna(length) or length <= pd.Timedelta(0):
        raise ConfigError(f"block must be a positive duration, got {block!r}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(
            f"{_node_text(node)}: a time block needs a DatetimeIndex, "
            f"got {type(frame.index).__name__}"
        )
    # Whole blocks since the Unix epoch: exact integer arithmetic, the same
    # in any time zone and for any index resolution.
    epoch = pd.Timestamp("1970-01-01", tz=frame.index.tz)
    return np.asarray((frame.index - epoch) // length, dtype=np.int64)


def _block_runs(block_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns start row and size of each run of equal block ids."""
    starts = np.flatnonzero(np.r_[True, block_ids[1:] != block_ids[:-1]])
    sizes = np.diff(np.r_[starts, len(block_ids)])
    return starts, sizes


def _assign_blocks(block_sizes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Assigns each block to the part furthest behind its target row share."""
    assigned_rows = np.zeros(len(shares))
    parts = np.empty(len(block_sizes), dtype=np.int8)
    rows_seen = 0
    for index, size in enumerate(block_sizes):
        rows_seen += int(size)
        deficit = shares * rows_seen - assigned_rows
        deficit[shares == 0] = -np.inf
        part = int(np.argmax(deficit))  # first maximum: train, validation, test
        parts[index] = part
        assigned_rows[part] += size
    return parts
