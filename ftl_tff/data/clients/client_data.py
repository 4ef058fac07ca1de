"""Per-node arrays and TFF ``ClientData`` for federated training.

:func:`prepare_federated_data` turns a processed dataset (one windowed frame
per node) into per-node arrays: it splits every node in time, fits a
:class:`~ftl_tff.data.clients.scaling.NodeScaler` and a
:class:`~ftl_tff.data.clients.scaling.NodeImputer` on that node's training part only,
and applies them to every part, counting what it fills, drops or filters.

:func:`make_client_data` and :func:`client_data_from_records` expose arrays
as a ``tff.simulation.datasets.ClientData`` whose clients are nodes and whose
elements are ``(x, x)`` float32 pairs (autoencoder input and target). Both
build the client dataset with a *traceable* function of the client id, so
``client_data.dataset_computation`` works and
``tff.simulation.compose_dataset_computation_with_learning_process`` can build
each client's data on the worker that trains it, from the id alone.

Batching, shuffling and repeating are left to the training code, which must
vary the shuffle seed per round (a fixed seed replays the same order every
round under TFF)::

    def client_dataset_fn(dataset, round_number):
        return dataset.shuffle(1024, seed=round_number).batch(10)

    client_data = client_data.preprocess(lambda ds: ds.batch(10))

TensorFlow and TFF are imported inside the functions that need them, so
``import ftl_tff.data`` stays fast.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ftl_tff import vocabulary
from ftl_tff.data.clients.gaps import NodeGap
from ftl_tff.data.clients.scaling import IMPUTE_POLICIES, NodeImputer, NodeScaler, checked_clip
from ftl_tff.data.clients.splits import (
    LABEL_COLUMN,
    PARTS,
    NodeSplit,
    blocked_split,
    chronological_split,
    normal_only,
    split_report,
)
from ftl_tff.errors import (
    ConfigError,
    DataError,
    EmptyNodeError,
    SchemaError,
    SelectionError,
    SourceNotFoundError,
)
from ftl_tff.records import read_record

if TYPE_CHECKING:
    import tensorflow as tf
    import tensorflow_federated as tff

__all__ = [
    "RECORDS_INDEX_NAME",
    "SPLIT_METHODS",
    "DatasetLike",
    "FederatedData",
    "NodeData",
    "client_data_from_records",
    "make_client_data",
    "prepare_federated_data",
    "write_client_records",
]

#: Split methods understood by :func:`prepare_federated_data`.
SPLIT_METHODS = vocabulary.SPLITS

#: File name of the JSON index written next to the per-node TFRecord files.
RECORDS_INDEX_NAME = "client_records.json"

_RECORDS_FORMAT = "ftl_tff.client_records/1"
_RECORD_SUFFIX = ".tfrecord"
# A node id becomes a file name on every worker: keep it portable and unable
# to climb out of the records folder.
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
_BLOCKED_OPTIONS = frozenset({"block", "gap"})


@runtime_checkable
class DatasetLike(Protocol):
    """What :func:`prepare_federated_data` needs from a processed dataset.

    Attributes:
        nodes: Node ids.
        feature_columns: Feature column names, the same for every node.
    """

    nodes: Sequence[str]
    feature_columns: Sequence[str]

    def frame(self, node: str) -> pd.DataFrame:
        """Returns one node's windows (index ``window_start``, features, ``label``)."""
        ...


@dataclass(eq=False)
class NodeData:
    """One node's prepared arrays, ready for training and evaluation.

    Attributes:
        node: Node id.
        x_train: Scaled, imputed training rows, float32 ``(rows, features)``;
            normal windows only when prepared with ``semi_supervised=True``.
        x_validation: Validation rows (possibly zero rows).
        x_test: Test rows.
        y_train: Labels of ``x_train`` (int8, 0 normal / 1 anomalous).
        y_validation: Labels of ``x_validation``.
        y_test: Labels of ``x_test``.
        index_train: ``window_start`` of each training row.
        index_validation: ``window_start`` of each validation row.
        index_test: ``window_start`` of each test row.
        scaler: The scaler fitted on this node's training rows.
        imputer: The imputer fitted on this node's scaled training rows.
        gap_train: Share of each training window's telemetry that did not
            arrive (float32 in [0, 1], see :mod:`ftl_tff.data.clients.gaps`): what
            the imputer filled, which the detector's score adds back.
        gap_validation: The same for the validation rows.
        gap_test: The same for the test rows.
        gaps: The gap measure fitted on this node's training rows (None:
            the gaps are all zero).
    """

    node: str
    x_train: np.ndarray
    x_validation: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_validation: np.ndarray
    y_test: np.ndarray
    index_train: pd.Index
    index_validation: pd.Index
    index_test: pd.Index
    scaler: NodeScaler
    imputer: NodeImputer
    gap_train: np.ndarray | None = None
    gap_validation: np.ndarray | None = None
    gap_test: np.ndarray | None = None
    gaps: NodeGap | None = None

    def x(self, part: str) -> np.ndarray:
        """Returns the feature rows of ``part`` (``train``/``validation``/``test``)."""
        return getattr(self, f"x_{_check_part(part)}")

    def y(self, part: str) -> np.ndarray:
        """Returns the labels of ``part`` (``train``/``validation``/``test``)."""
        return getattr(self, f"y_{_check_part(part)}")

    def index(self, part: str) -> pd.Index:
        """Returns the ``window_start`` times of ``part``."""
        return getattr(self, f"index_{_check_part(part)}")

    def gap(self, part: str) -> np.ndarray:
        """Returns the gap shares of ``part``'s rows (zeros when none were measured)."""
        values = getattr(self, f"gap_{_check_part(part)}")
        return np.zeros(len(self.x(part)), np.float32) if values is None else values


@dataclass(eq=False)
class FederatedData:
    """Prepared per-node arrays of a whole federation, with their provenance.

    Attributes:
        feature_columns: Feature names, the column order of every array.
        node_data: Node id -> :class:`NodeData`, in the order prepared.
        split_report: Per node, windows and anomalous windows per part before
            any filtering, with warnings (see
            :func:`~ftl_tff.data.clients.splits.split_report`).
        preparation_report: Per node: ``{part}_rows`` (final rows),
            ``{part}_cells_imputed``, ``{part}_rows_dropped`` (``"drop"``
            policy), ``{part}_gap_windows`` (windows with a telemetry gap),
            ``train_anomalous_removed`` (semi-supervised),
            ``constant_train_columns`` and ``all_nan_train_columns``.
        settings: The options used, for the results folder.
    """

    feature_columns: list[str]
    node_data: dict[str, NodeData]
    split_report: pd.DataFrame
    preparation_report: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        """Node ids, in the order prepared."""
        return list(self.node_data)

    @property
    def n_features(self) -> int:
        """Width of every feature array."""
        return len(self.feature_columns)

    @property
    def scalers(self) -> dict[str, NodeScaler]:
        """Node id -> that node's fitted scaler."""
        return {node: data.scaler for node, data in self.node_data.items()}

    def arrays(
        self, part: str = "train", nodes: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Returns node id -> feature rows of ``part``.

        Args:
            part: ``"train"``, ``"validation"`` or ``"test"``.
            nodes: A subset of node ids (default: all).

        Returns:
            The arrays, ready for :func:`make_client_data`.
        """
        return {node: self._node(node).x(part) for node in (self.nodes if nodes is None else nodes)}

    def labels(
        self, part: str = "test", nodes: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Returns node id -> labels of ``part``.

        Args:
            part: ``"train"``, ``"validation"`` or ``"test"``.
            nodes: A subset of node ids (default: all).

        Returns:
            The int8 label arrays.
        """
        return {node: self._node(node).y(part) for node in (self.nodes if nodes is None else nodes)}

    def client_data(
        self, part: str = "train", nodes: Sequence[str] | None = None
    ) -> tff.simulation.datasets.ClientData:
        """Returns a ``ClientData`` over the rows of ``part`` (imports TFF).

        Args:
            part: ``"train"``, ``"validation"`` or ``"test"``.
            nodes: A subset of node ids (default: all).

        Returns:
            See :func:`make_client_data`.
        """
        return make_client_data(self.arrays(part, nodes))

    def _node(self, node: str) -> NodeData:
        if node not in self.node_data:
            raise SelectionError(f"node {node!r} is not in the prepared data")
        return self.node_data[node]


def prepare_federated_data(
    dataset: DatasetLike,
    nodes: Sequence[str] | None = None,
    split: str = "chronological",
    train: float = 0.8,
    validation: float = 0.0,
    impute: str = "median",
    semi_supervised: bool = False,
    clip: bool | float = 1.0,
    train_days: float | None = None,
    **split_kwargs: Any,
) -> FederatedData:
    """Splits, scales and imputes every node with its own training statistics.

    For each node: split its windows in time; keep only the normal training
    windows if ``semi_supervised``; fit the scaler and the imputer on those
    training rows only; transform and impute every part. Nothing computed on
    one node touches another.

    Args:
        dataset: Processed dataset (``.nodes``, ``.feature_columns``,
            ``.frame(node)``).
        nodes: Node ids to prepare (default: all of ``dataset.nodes``).
        split: ``"chronological"`` or ``"blocked"``.
        train: Share of the windows for training. With ``"blocked"`` the test
            share is ``1 - train - validation``.
        validation: Share of the windows for validation.
        impute: Imputation policy, one of
            :data:`~ftl_tff.data.clients.scaling.IMPUTE_POLICIES`.
        semi_supervised: Train on normal windows only; the removed anomalous
            training windows are counted in ``preparation_report``. The
            scaler and imputer are then fitted on the normal windows too.
        clip: Bound on scaled values: a margin ``m`` clips them to
            ``[-m, 1 + m]`` (default 1: at most one training range outside
            what the node did in training), ``True`` to [0, 1], ``False``
            leaves them unbounded (see :class:`~ftl_tff.data.clients.scaling.NodeScaler`).
        train_days: Keep only the most recent ``train_days`` days of each
            node's training part (the validation and test parts are
            unchanged); the scaler and imputer are fitted on what is kept, as
            a node with that little history would. The windows left out are
            counted in ``preparation_report`` (``train_rows_truncated``).
            None keeps the whole training part.
        **split_kwargs: For ``"blocked"``: ``block`` and ``gap`` (see
            :func:`~ftl_tff.data.clients.splits.blocked_split`).

    Returns:
        The :class:`FederatedData`.

    Raises:
        ConfigError: For an unknown split, policy, option or share.
        SelectionError: If a requested node is not in the dataset.
        SchemaError: If a node's frame lacks a feature or the label column.
        EmptyNodeError: If a node has too few windows for the split, no
            normal training window (semi-supervised), or no training row
            left after ``"drop"``; the message names the node.
        DataError: If labels are not 0/1 or values are infinite.
    """
    split_fn = _split_function(split, train, validation, split_kwargs)
    clip = checked_clip(clip)
    if train_days is not None and not train_days > 0:
        raise ConfigError(f"train_days must be > 0 days, got {train_days!r}")
    if impute not in IMPUTE_POLICIES:
        raise ConfigError(
            f"unknown imputation policy {impute!r}; expected one of {IMPUTE_POLICIES}"
        )
    feature_columns = [str(c) for c in dataset.feature_columns]
    if not feature_columns:
        raise SchemaError("the dataset has no feature columns")
    selected = _select_nodes(dataset, nodes)

    node_data: dict[str, NodeData] = {}
    splits: dict[str, NodeSplit] = {}
    report_rows = []
    for node in selected:
        frame = _checked_frame(dataset, node, feature_columns)
        splits[node] = split_fn(frame, node)
        prepared, row = _prepare_node(
            node, splits[node], feature_columns, impute, semi_supervised, clip, train_days
        )
        node_data[node] = prepared
        report_rows.append(row)

    settings = {
        "split": split,
        "train": train,
        "validation": validation,
        "impute": impute,
        "semi_supervised": semi_supervised,
        "clip": clip,
        "train_days": train_days,
        # JSON-safe: a Timedelta block is recorded as its text.
        **{
            k: v if isinstance(v, (bool, int, float, str)) else str(v)
            for k, v in split_kwargs.items()
        },
    }
    return FederatedData(
        feature_columns=feature_columns,
        node_data=node_data,
        split_report=split_report(splits),
        preparation_report=pd.DataFrame(report_rows).set_index("node"),
        settings=settings,
    )


def make_client_data(arrays: Mapping[str, np.ndarray]) -> tff.simulation.datasets.ClientData:
    """Wraps in-memory per-node arrays as a TFF ``ClientData``.

    Each client's dataset is ``from_tensor_slices(x).map(lambda v: (v, v))``
    with ``x`` cast to float32. The dataset function is traceable: given a
    ``tf.string`` client id inside a graph, it finds the client's offsets in
    one constant holding every row and slices it, so ``dataset_computation``
    works. That constant is embedded in the traced graph (a TensorFlow graph
    is limited to 2 GB); for larger data, or to keep data on remote workers,
    use :func:`write_client_records` and :func:`client_data_from_records`.
    Called eagerly with a Python id (``create_tf_dataset_for_client``), it
    reads the client's own array and copies nothing else.

    Args:
        arrays: Node id -> 2-D array ``(rows, features)``; every array must
            have the same width. A node may have zero rows.

    Returns:
        A ``tff.simulation.datasets.ClientData`` with ``client_ids`` in the
        order of ``arrays`` and elements ``(x, x)`` of
        ``TensorSpec([features], tf.float32)``.

    Raises:
        ConfigError: If ``arrays`` is empty or an id is not a non-empty str.
        SchemaError: If an array is not 2-D or the widths differ.
        DataError: If an array holds NaN or infinite values (impute first).
    """
    client_ids, matrices = _check_client_arrays(arrays)
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    rows = _StackedRows(client_ids, matrices)

    def serializable_dataset_fn(client_id: str | tf.Tensor) -> tf.data.Dataset:
        eager_id = _eager_client_id(client_id)
        if eager_id is not None:
            client_rows = rows.of_client(eager_id)
        else:
            client_rows = rows.slice_for_traced_id(tf, client_id)
        return tf.data.Dataset.from_tensor_slices(client_rows).map(_as_input_target_pair)

    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(
        client_ids, serializable_dataset_fn
    )


def write_client_records(directory: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Writes one TFRecord file per node plus a JSON index.

    Format: ``{directory}/{node}.tfrecord`` holds one record per row, the
    row's float32 values as raw little-endian bytes;
    ``{directory}/client_records.json`` holds the format tag, ``n_features``,
    ``client_ids`` (in order) and ``rows`` per node. The index is written
    last, so its presence means the files are complete.

    Args:
        directory: Folder to write (created if missing). Existing files of the
            same names are overwritten.
        arrays: Node id -> 2-D array ``(rows, features)``, one width.

    Returns:
        The path of the JSON index.

    Raises:
        ConfigError: If an id is not a safe file name
            (``[A-Za-z0-9_][A-Za-z0-9._-]*``, at most 200 characters).
        SchemaError: If an array is not 2-D or the widths differ.
        DataError: If an array holds NaN or infinite values (impute first).
    """
    client_ids, matrices = _check_client_arrays(arrays)
    for client_id in client_ids:
        _check_safe_id(client_id)
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for client_id, matrix in zip(client_ids, matrices):
        little_endian = matrix.astype("<f4", copy=False)
        with tf.io.TFRecordWriter(str(folder / f"{client_id}{_RECORD_SUFFIX}")) as writer:
            for row in little_endian:
                writer.write(row.tobytes())
    index = {
        "format": _RECORDS_FORMAT,
        "encoding": "one record per row: float32 little-endian raw bytes",
        "n_features": int(matrices[0].shape[1]),
        "client_ids": client_ids,
        "rows": {cid: int(m.shape[0]) for cid, m in zip(client_ids, matrices)},
    }
    index_path = folder / RECORDS_INDEX_NAME
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    return index_path


def client_data_from_records(directory: str | Path) -> tff.simulation.datasets.ClientData:
    """Opens records written by :func:`write_client_records` as ``ClientData``.

    The traceable dataset function reads
    ``TFRecordDataset(directory + '/' + client_id + '.tfrecord')`` using the
    absolute path of ``directory`` as seen here, so a remote worker holding
    the same files at the same path builds a client's data from its id alone
    (with ``dataset_computation`` and
    ``tff.simulation.compose_dataset_computation_with_learning_process``).

    Args:
        directory: Folder holding ``client_records.json`` and the files.

    Returns:
        A ``ClientData`` with elements ``(x, x)`` of
        ``TensorSpec([n_features], tf.float32)``.

    Raises:
        SourceNotFoundError: If the index or a node's file is missing.
        SchemaError: If the index is not a client-records index.
        ConfigError: If an id in the index is not a safe file name.
    """
    folder = Path(directory).resolve()
    index = _read_records_index(folder)
    client_ids = index["client_ids"]
    n_features = int(index["n_features"])
    missing = [cid for cid in client_ids if not (folder / f"{cid}{_RECORD_SUFFIX}").is_file()]
    if missing:
        raise SourceNotFoundError(f"{folder}: record files missing for nodes {missing[:10]}")
    import tensorflow as tf  # lazy: TensorFlow takes seconds to import; only training and scoring need it
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    prefix = str(folder) + "/"
    known_ids = frozenset(client_ids)

    def decode_row(record: tf.Tensor) -> tf.Tensor:
        values = tf.io.decode_raw(record, tf.float32, little_endian=True)
        return tf.reshape(values, [n_features])

    def serializable_dataset_fn(client_id: str | tf.Tensor) -> tf.data.Dataset:
        eager_id = _eager_client_id(client_id)
        if eager_id is not None and eager_id not in known_ids:
            raise SelectionError(f"client {eager_id!r} is not in {folder}")
        path = tf.strings.join([prefix, client_id, _RECORD_SUFFIX])
        rows = tf.data.TFRecordDataset(path).map(decode_row)
        return rows.map(_as_input_target_pair)

    return tff.simulation.datasets.ClientData.from_clients_and_tf_fn(
        client_ids, serializable_dataset_fn
    )


def _split_function(split: str, train: float, validation: float, split_kwargs: dict[str, Any]):
    """Returns ``fn(frame, node) -> NodeSplit`` for the chosen method."""
    if split == "chronological":
        if split_kwargs:
            raise ConfigError(f"chronological split takes no options, got {sorted(split_kwargs)}")
        return lambda frame, node: chronological_split(frame, train, validation, node=node)
    if split == "blocked":
        unknown = set(split_kwargs) - _BLOCKED_OPTIONS
        if unknown:
            raise ConfigError(
                f"blocked split options are {sorted(_BLOCKED_OPTIONS)}, got {sorted(unknown)} "
                "(set the shares with train= and validation=)"
            )
        if not 0 < train <= 1 or not 0 <= validation < 1 or train + validation > 1 + 1e-9:
            raise ConfigError(f"invalid shares: train={train}, validation={validation}")
        # Rounding keeps 1 - 0.8 at 0.2 rather than 0.19999999999999996.
        test_fraction = max(0.0, round(1.0 - train - validation, 12))
        return lambda frame, node: blocked_split(
            frame,
            test_fraction=test_fraction,
            validation_fraction=validation,
            node=node,
            **split_kwargs,
        )
    raise ConfigError(f"unknown split {split!r}; expected one of {SPLIT_METHODS}")


def _select_nodes(dataset: DatasetLike, nodes: Sequence[str] | None) -> list[str]:
    available = [str(n) for n in dataset.nodes]
    if nodes is None:
        selected = available
    else:
        if isinstance(nodes, str):
            raise ConfigError(f"nodes must be a list of node ids, got the string {nodes!r}")
        selected = [str(n) for n in nodes]
        unknown = [n for n in selected if n not in set(available)]
        if unknown:
            raise SelectionError(f"nodes not in the dataset: {unknown[:10]}")
        if len(set(selected)) != len(selected):
            raise ConfigError(f"duplicate node ids in {selected}")
    if not selected:
        raise ConfigError("no nodes to prepare")
    return selected


def _checked_frame(dataset: DatasetLike, node: str, feature_columns: list[str]) -> pd.DataFrame:
    frame = dataset.frame(node)
    missing = [c for c in (*feature_columns, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise SchemaError(f"node {node!r}: frame lacks columns {missing[:10]}")
    labels = frame[LABEL_COLUMN]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise DataError(f"node {node!r}: labels must be 0 or 1")
    return frame


def _prepare_node(
    node: str,
    node_split: NodeSplit,
    feature_columns: list[str],
    impute: str,
    semi_supervised: bool,
    clip: bool | float,
    train_days: float | None = None,
) -> tuple[NodeData, dict[str, Any]]:
    """Fits scaler and imputer on the node's training rows and applies them."""
    parts = {name: node_split.part(name) for name in PARTS}
    row: dict[str, Any] = {"node": node, "train_anomalous_removed": 0, "train_rows_truncated": 0}
    if train_days is not None and len(parts["train"]):
        start = parts["train"].index.max() - pd.Timedelta(days=train_days)
        recent = parts["train"][parts["train"].index > start]
        row["train_rows_truncated"] = len(parts["train"]) - len(recent)
        parts["train"] = recent
    if semi_supervised:
        normal = normal_only(parts["train"])
        row["train_anomalous_removed"] = len(parts["train"]) - len(normal)
        parts["train"] = normal
        if len(normal) == 0:
            raise EmptyNodeError(f"node {node!r} has no normal window in its training part")

    try:
        scaler = NodeScaler(clip=clip).fit(parts["train"], feature_columns)
        imputer = NodeImputer(impute).fit(scaler.transform(parts["train"]))
        gaps = NodeGap().fit(parts["train"], feature_columns)
    except DataError as error:
        raise type(error)(f"node {node!r}: {error}") from error
    row["constant_train_columns"] = len(scaler.constant_columns)
    row["all_nan_train_columns"] = len(scaler.all_nan_columns)

    arrays: dict[str, Any] = {}
    for name, frame in parts.items():
        try:
            imputed = imputer.transform(scaler.transform(frame))
        except DataError as error:
            raise type(error)(f"node {node!r}, {name} part: {error}") from error
        arrays[f"x_{name}"] = imputed.values.astype(np.float32)
        arrays[f"y_{name}"] = frame[LABEL_COLUMN].to_numpy()[imputed.kept_rows].astype(np.int8)
        arrays[f"index_{name}"] = frame.index[imputed.kept_rows]
        arrays[f"gap_{name}"] = gaps.transform(frame)[imputed.kept_rows]
        row[f"{name}_rows"] = int(imputed.kept_rows.sum())
        row[f"{name}_cells_imputed"] = imputed.cells_imputed
        row[f"{name}_rows_dropped"] = imputed.rows_dropped
        row[f"{name}_gap_windows"] = int((arrays[f"gap_{name}"] > 0).sum())
    if row["train_rows"] == 0:
        raise EmptyNodeError(
            f"node {node!r}: no training window left after impute={impute!r} "
            f"({row['train_rows_dropped']} dropped)"
        )
    return NodeData(node=node, scaler=scaler, imputer=imputer, gaps=gaps, **arrays), row


def _check_part(part: str) -> str:
    if part not in PARTS:
        raise ConfigError(f"unknown part {part!r}; expected one of {PARTS}")
    return part


def _check_client_arrays(arrays: Mapping[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    if not arrays:
        raise ConfigError("no client arrays given")
    client_ids = list(arrays)
    bad_ids = [cid for cid in client_ids if not isinstance(cid, str) or not cid]
    if bad_ids:
        raise ConfigError(f"client ids must be non-empty strings, got {bad_ids[:10]}")
    matrices = [np.asarray(arrays[cid], dtype=np.float32) for cid in client_ids]
    for cid, matrix in zip(client_ids, matrices):
        if matrix.ndim != 2:
            raise SchemaError(f"client {cid!r}: expected a 2-D array, got shape {matrix.shape}")
    widths = {matrix.shape[1] for matrix in matrices}
    if len(widths) != 1:
        raise SchemaError(f"client arrays have different widths: {sorted(widths)}")
    # A NaN would reach training silently and poison the federated average.
    for cid, matrix in zip(client_ids, matrices):
        if not np.isfinite(matrix).all():
            raise DataError(f"client {cid!r}: NaN or infinite values; impute them first")
    return client_ids, matrices


def _check_safe_id(client_id: str) -> None:
    if not _SAFE_ID.fullmatch(client_id):
        raise ConfigError(
            f"client id {client_id!r} is not a safe file name "
            "(letters, digits, '_', '.', '-'; not starting with '.' or '-'; at most 200)"
        )


def _read_records_index(folder: Path) -> dict[str, Any]:
    index_path = folder / RECORDS_INDEX_NAME
    if not index_path.is_file():
        raise SourceNotFoundError(f"{index_path} not found (write it with write_client_records)")
    index = read_record(index_path, "client records index")
    if index.get("format") != _RECORDS_FORMAT:
        raise SchemaError(f"{index_path}: not a {_RECORDS_FORMAT!r} index")
    client_ids = index.get("client_ids")
    if not isinstance(client_ids, list) or not client_ids:
        raise SchemaError(f"{index_path}: no client_ids")
    for client_id in client_ids:
        _check_safe_id(str(client_id))
    return index


def _eager_client_id(client_id: Any) -> str | None:
    """Returns the id as a Python str when it is concrete, None when symbolic."""
    if isinstance(client_id, (str, bytes)):
        return client_id.decode() if isinstance(client_id, bytes) else client_id
    if hasattr(client_id, "numpy"):
        try:
            value = client_id.numpy()
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            return None  # a graph tensor: its value is not known yet
        return value.decode() if isinstance(value, bytes) else str(value)
    return None


class _StackedRows:
    """Per-client float32 rows, plus all rows stacked once for traced lookups."""

    def __init__(self, client_ids: list[str], matrices: list[np.ndarray]) -> None:
        self.client_ids = client_ids
        self.per_client = dict(zip(client_ids, matrices))
        sizes = np.array([m.shape[0] for m in matrices], dtype=np.int64)
        self.ends = np.cumsum(sizes)
        self.starts = self.ends - sizes
        self._stacked: np.ndarray | None = None

    def of_client(self, client_id: str) -> np.ndarray:
        """The rows of a concrete client id."""
        if client_id not in self.per_client:
            raise SelectionError(f"client {client_id!r} is not in this ClientData")
        return self.per_client[client_id]

    def slice_for_traced_id(self, tf: Any, client_id: Any) -> Any:
        """Graph ops selecting the rows of a symbolic ``tf.string`` id."""
        # Stacked only when first traced: eager use never pays for the copy.
        if self._stacked is None:
            self._stacked = np.concatenate(list(self.per_client.values()), axis=0)
        matches = tf.where(tf.equal(tf.constant(self.client_ids), client_id))
        found = tf.debugging.assert_equal(
            tf.shape(matches)[0], 1, message="client id is not in this ClientData"
        )
        with tf.control_dependencies([found]):
            position = tf.identity(matches[0, 0])
        start = tf.gather(tf.constant(self.starts), position)
        end = tf.gather(tf.constant(self.ends), position)
        return tf.constant(self._stacked)[start:end]


def _as_input_target_pair(row: Any) -> tuple[Any, Any]:
    # One tensor used twice: the autoencoder's input is its target.
    return row, row
