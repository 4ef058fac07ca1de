"""Per-node min-max scaling and imputation, fitted on the node's training part.

Each node (federated client) scales its own telemetry with statistics from its
own training windows only: nothing about the test part leaks into the
scaler, and nothing leaves the node. :class:`NodeScaler` maps every feature
to ``(x - train_min) / (train_max - train_min)``; :class:`NodeImputer` then
fills the missing values that remain, with a policy whose statistics also
come from the training part, and counts every cell it fills or window it
drops.

Missing values are expected: partially observed windows are kept on purpose,
because missing telemetry is itself a strong anomaly signal (and the
per-window coverage features carry it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ftl_tff import vocabulary
from ftl_tff.errors import ConfigError, DataError, SchemaError

__all__ = ["IMPUTE_POLICIES", "Imputed", "NodeImputer", "NodeScaler"]

#: Imputation policies understood by :class:`NodeImputer`.
IMPUTE_POLICIES = vocabulary.IMPUTE_POLICIES

_SCALER_FORMAT = "ftl_tff.NodeScaler/1"
_IMPUTER_FORMAT = "ftl_tff.NodeImputer/1"


class NodeScaler:
    """Min-max scaler fitted on one node's training windows.

    ``transform`` computes ``(x - data_min) / divisor`` per feature, where
    ``divisor = data_max - data_min`` from the training rows.

    Documented edge cases:

    * NaN in the training rows is ignored (``nanmin`` / ``nanmax``); NaN in
      any input stays NaN (see :class:`NodeImputer`).
    * A column constant in training (``data_max == data_min``) gets divisor 1,
      as scikit-learn's ``MinMaxScaler`` does: its training values map to
      exactly 0, and a later departure ``d`` from the constant maps to ``d``
      in raw units, so a coverage count that drops is still seen.
      Listed in :attr:`constant_columns`.
    * A column with no finite value in training gets ``data_min = 0``,
      ``data_max = 1`` (identity mapping). Listed in :attr:`all_nan_columns`.
    * Infinite values are rejected with :class:`~ftl_tff.errors.DataError`.
    * ``clip``: how far outside the training range a scaled value may go.
      ``False``: unbounded (a constant training column, or a metric that
      drifts past a short training part, then dominates every window's error:
      scores of 1e11 were seen on real nodes). ``True``: clipped to [0, 1].
      A number ``m >= 0``: clipped to ``[-m, 1 + m]``, so a value far outside
      what the node did in training still counts as a large error (up to
      ``(1 + m)**2`` per feature against a sigmoid reconstruction) but one
      feature cannot outweigh hundreds. :func:`~ftl_tff.data.clients.client_data.prepare_federated_data`
      uses ``m = 1`` by default.

    Attributes:
        clip: ``False``, or the margin ``m`` of the clipping range
            ``[-m, 1 + m]`` (``True`` is stored as 0.0).
        feature_columns: Names of the fitted features, in order.
        data_min: Per-feature training minimum (after the fallbacks above).
        data_max: Per-feature training maximum (after the fallbacks above).
        constant_columns: Features constant in the training rows.
        all_nan_columns: Features with no finite training value.
        n_fit_rows: Number of training rows the scaler was fitted on.
    """

    def __init__(self, clip: bool | float = False) -> None:
        """Creates an unfitted scaler.

        Args:
            clip: ``False`` (no clipping), ``True`` (clip to [0, 1]) or a
                margin ``m >= 0`` (clip to ``[-m, 1 + m]``).

        Raises:
            ConfigError: If ``clip`` is negative or not a number.
        """
        self.clip = checked_clip(clip)
        self.feature_columns: list[str] | None = None
        self.data_min: np.ndarray | None = None
        self.data_max: np.ndarray | None = None
        self.constant_columns: list[str] = []
        self.all_nan_columns: list[str] = []
        self.n_fit_rows = 0

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the statistics."""
        return self.data_min is not None

    @property
    def divisor(self) -> np.ndarray:
        """Per-feature divisor: the training range, 1 where that range is 0."""
        self._require_fitted()
        value_range = self.data_max - self.data_min
        return np.where(value_range > 0, value_range, 1.0)

    def fit(
        self,
        data: pd.DataFrame | np.ndarray,
        feature_columns: list[str] | None = None,
    ) -> NodeScaler:
        """Learns per-feature minimum and maximum from training rows.

        Args:
            data: The node's training rows: a frame (feature columns are
                selected by name) or a 2-D array.
            feature_columns: Feature names. For a frame, defaults to every
                column except ``label``; for an array, to ``x0, x1, ...``.

        Returns:
            This scaler, fitted.

        Raises:
            SchemaError: If a named column is missing or the array width does
                not match ``feature_columns``.
            DataError: If the data holds infinite values or is not numeric.
        """
        columns = _resolve_columns(data, feature_columns)
        values = _as_matrix(data, columns)
        observed = ~np.isnan(values)
        has_value = observed.any(axis=0)
        with np.errstate(all="ignore"):
            data_min = np.where(has_value, _nan_reduce(np.nanmin, values), 0.0)
            data_max = np.where(has_value, _nan_reduce(np.nanmax, values), 1.0)
        self.feature_columns = columns
        self.data_min = data_min.astype(np.float64)
        self.data_max = data_max.astype(np.float64)
        self.all_nan_columns = [c for c, ok in zip(columns, has_value) if not ok]
        self.constant_columns = [
            c for c, ok, lo, hi in zip(columns, has_value, data_min, data_max) if ok and lo == hi
        ]
        self.n_fit_rows = int(values.shape[0])
        return self

    def transform(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Scales rows with the training statistics.

        Args:
            data: Rows of the same node: a frame holding the fitted feature
                columns, or an array of the fitted width.

        Returns:
            A float64 array of shape ``(rows, features)``; NaN stays NaN.

        Raises:
            ConfigError: If the scaler is not fitted.
            SchemaError: If columns are missing or the width differs.
            DataError: If the data holds infinite values.
        """
        self._require_fitted()
        values = _as_matrix(data, self.feature_columns)
        scaled = (values - self.data_min) / self.divisor
        if self.clip is not False:
            scaled = np.clip(scaled, -self.clip, 1.0 + self.clip)  # NaN passes through np.clip
        return scaled

    def fit_transform(
        self,
        data: pd.DataFrame | np.ndarray,
        feature_columns: list[str] | None = None,
    ) -> np.ndarray:
        """Fits on ``data`` and returns it scaled.

        Args:
            data: The node's training rows (see :meth:`fit`).
            feature_columns: Feature names (see :meth:`fit`).

        Returns:
            The scaled training rows, float64.
        """
        return self.fit(data, feature_columns).transform(data)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Maps scaled values back to raw units.

        Exact for unclipped values, including those of constant columns;
        values that were clipped come back at the clipping bounds.

        Args:
            values: A 2-D array of scaled rows.

        Returns:
            A float64 array in the original units.
        """
        self._require_fitted()
        scaled = _as_matrix(values, self.feature_columns)
        return scaled * self.divisor + self.data_min

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-safe description (plain lists of floats, no NaN).

        Returns:
            A dict that :meth:`from_dict` turns back into an equal scaler.
        """
        self._require_fitted()
        return {
            "format": _SCALER_FORMAT,
            "clip": self.clip,
            "feature_columns": list(self.feature_columns),
            "data_min": [float(v) for v in self.data_min],
            "data_max": [float(v) for v in self.data_max],
            "constant_columns": list(self.constant_columns),
            "all_nan_columns": list(self.all_nan_columns),
            "n_fit_rows": self.n_fit_rows,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NodeScaler:
        """Rebuilds a scaler written by :meth:`to_dict`.

        Args:
            payload: The dict (e.g. loaded from JSON).

        Returns:
            The fitted scaler.

        Raises:
            ConfigError: If the payload is not a NodeScaler description.
        """
        _check_format(payload, _SCALER_FORMAT)
        scaler = cls(clip=payload["clip"])
        scaler.feature_columns = [str(c) for c in payload["feature_columns"]]
        scaler.data_min = np.asarray(payload["data_min"], dtype=np.float64)
        scaler.data_max = np.asarray(payload["data_max"], dtype=np.float64)
        width = len(scaler.feature_columns)
        if scaler.data_min.shape != (width,) or scaler.data_max.shape != (width,):
            raise ConfigError("NodeScaler payload: data_min/data_max do not match feature_columns")
        scaler.constant_columns = list(payload.get("constant_columns", []))
        scaler.all_nan_columns = list(payload.get("all_nan_columns", []))
        scaler.n_fit_rows = int(payload.get("n_fit_rows", 0))
        return scaler

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise ConfigError("NodeScaler is not fitted; call fit() first")


@dataclass(frozen=True, eq=False)
class Imputed:
    """Result of :meth:`NodeImputer.transform`: filled rows plus what was done.

    Attributes:
        values: The filled rows (for ``"drop"``: only the kept rows).
        kept_rows: Boolean mask over the input rows; all True except for
            rows removed by the ``"drop"`` policy.
        cells_imputed: Number of NaN cells that were filled.
        rows_dropped: Number of rows removed (``"drop"`` only).
    """

    values: np.ndarray
    kept_rows: np.ndarray
    cells_imputed: int
    rows_dropped: int


class NodeImputer:
    """Fills the NaN left after scaling, with statistics of the training part.

    Policies:

    * ``"median"``: each NaN becomes the feature's median over the node's
      scaled training rows (0 for a feature with no training value).
    * ``"zero"``: each NaN becomes 0.
    * ``"ffill"``: each NaN takes the last observed value of the same feature
      in an earlier row of the array given to :meth:`transform` (time
      order); NaN with no earlier value fall back to the training median.
      Run it on one split part at a time, so no value is carried across
      parts (that would cross the embargo of a blocked split).
    * ``"drop"``: rows with any NaN are removed and counted.

    Attributes:
        policy: One of :data:`IMPUTE_POLICIES`.
        fill_values: Per-feature value used for remaining NaN (medians for
            ``"median"`` and ``"ffill"``, zeros for ``"zero"``); None before
            fitting.
    """

    def __init__(self, policy: str = "median") -> None:
        """Creates an unfitted imputer.

        Args:
            policy: One of :data:`IMPUTE_POLICIES`.

        Raises:
            ConfigError: If the policy is unknown.
        """
        if policy not in IMPUTE_POLICIES:
            raise ConfigError(
                f"unknown imputation policy {policy!r}; expected one of {IMPUTE_POLICIES}"
            )
        self.policy = policy
        self.fill_values: np.ndarray | None = None

    def fit(self, train_values: np.ndarray) -> NodeImputer:
        """Learns the fill values from the node's scaled training rows.

        Args:
            train_values: 2-D array of scaled training rows (may hold NaN).

        Returns:
            This imputer, fitted.
        """
        values = _as_matrix(train_values, None)
        if self.policy == "zero":
            self.fill_values = np.zeros(values.shape[1])
        else:
            # Medians serve "median" and the leading NaN of "ffill"; "drop"
            # keeps them only so every fitted imputer has fill values.
            has_value = (~np.isnan(values)).any(axis=0)
            with np.errstate(all="ignore"):
                medians = _nan_reduce(np.nanmedian, values)
            self.fill_values = np.where(has_value, medians, 0.0).astype(np.float64)
        return self

    def transform(self, values: np.ndarray) -> Imputed:
        """Fills (or drops) the NaN of ``values``.

        Args:
            values: 2-D array of scaled rows, in time order.

        Returns:
            The :class:`Imputed` rows and counts.

        Raises:
            ConfigError: If the imputer is not fitted.
            SchemaError: If the width differs from the training width.
        """
        if self.fill_values is None:
            raise ConfigError("NodeImputer is not fitted; call fit() first")
        matrix = _as_matrix(values, None)
        if matrix.shape[1] != self.fill_values.shape[0]:
            raise SchemaError(
                f"imputer fitted on {self.fill_values.shape[0]} features, got {matrix.shape[1]}"
            )
        missing = np.isnan(matrix)
        if self.policy == "drop":
            kept = ~missing.any(axis=1)
            return Imputed(matrix[kept], kept, 0, int((~kept).sum()))
        filled = _forward_fill(matrix) if self.policy == "ffill" else matrix.copy()
        still_missing = np.isnan(filled)
        filled[still_missing] = np.broadcast_to(self.fill_values, filled.shape)[still_missing]
        kept = np.ones(matrix.shape[0], dtype=bool)
        return Imputed(filled, kept, int(missing.sum()), 0)

    def fit_transform(self, train_values: np.ndarray) -> Imputed:
        """Fits on the training rows and fills them.

        Args:
            train_values: 2-D array of scaled training rows.

        Returns:
            The :class:`Imputed` training rows and counts.
        """
        return self.fit(train_values).transform(train_values)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-safe description (policy and fill values).

        Returns:
            A dict that :meth:`from_dict` turns back into an equal imputer.
        """
        if self.fill_values is None:
            raise ConfigError("NodeImputer is not fitted; call fit() first")
        return {
            "format": _IMPUTER_FORMAT,
            "policy": self.policy,
            "fill_values": [float(v) for v in self.fill_values],
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NodeImputer:
        """Rebuilds an imputer written by :meth:`to_dict`.

        Args:
            payload: The dict (e.g. loaded from JSON).

        Returns:
            The fitted imputer.

        Raises:
            ConfigError: If the payload is not a NodeImputer description.
        """
        _check_format(payload, _IMPUTER_FORMAT)
        imputer = cls(payload["policy"])
        imputer.fill_values = np.asarray(payload["fill_values"], dtype=np.float64)
        return imputer


def checked_clip(clip: Any) -> bool | float:
    """Validates a scaler ``clip`` setting: ``False``, or a margin ``m >= 0`` (``True`` means 0).

    Raises:
        ConfigError: If ``clip`` is neither a boolean nor a finite number >= 0.
    """
    if clip is False or clip is None:
        return False
    if clip is True:
        return 0.0
    try:
        margin = float(clip)
    except (TypeError, ValueError):
        raise ConfigError(f"clip must be False, True or a margin >= 0, got {clip!r}") from None
    if not np.isfinite(margin) or margin < 0:
        raise ConfigError(f"clip must be False, True or a margin >= 0, got {clip!r}")
    return margin


def _resolve_columns(
    data: pd.DataFrame | np.ndarray, feature_columns: list[str] | None
) -> list[str]:
    if feature_columns is not None:
        return [str(c) for c in feature_columns]
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns if c != "label"]
    width = np.shape(data)[1] if np.ndim(data) == 2 else 0
    return [f"x{i}" for i in range(width)]


def _as_matrix(data: pd.DataFrame | np.ndarray, columns: list[str] | None) -> np.ndarray:
    """Returns the rows as a 2-D float64 array, checking shape and finiteness."""
    if isinstance(data, pd.DataFrame):
        missing = [c for c in (columns or []) if c not in data.columns]
        if missing:
            raise SchemaError(f"missing feature columns: {missing[:10]}")
        frame = data[columns] if columns is not None else data
        try:
            values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise DataError(f"feature columns must be numeric: {error}") from error
    else:
        try:
            values = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise DataError(f"features must be numeric: {error}") from error
        if values.ndim != 2:
            raise SchemaError(f"expected a 2-D array of rows, got shape {values.shape}")
        if columns is not None and values.shape[1] != len(columns):
            raise SchemaError(f"expected {len(columns)} features, got {values.shape[1]}")
    infinite = np.isinf(values).any(axis=0)
    if infinite.any():
        names = columns or [f"x{i}" for i in range(values.shape[1])]
        bad = [name for name, flag in zip(names, infinite) if flag]
        raise DataError(f"infinite values in feature columns: {bad[:10]}")
    return values


def _nan_reduce(reduce: Any, values: np.ndarray) -> np.ndarray:
    """Applies a nan-aware reduction per column; all-NaN columns give NaN."""
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    with warnings.catch_warnings():
        # "All-NaN slice" warnings are expected; those columns are handled.
        warnings.simplefilter("ignore", RuntimeWarning)
        return reduce(values, axis=0)


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Carries the last observed value of each column down the rows."""
    rows = np.arange(values.shape[0])[:, None]
    last_observed = np.where(~np.isnan(values), rows, 0)
    np.maximum.accumulate(last_observed, axis=0, out=last_observed)
    filled = values[last_observed, np.arange(values.shape[1])]
    # Rows before a column's first observation read row 0, which is NaN there
    # unless row 0 was observed, so leading gaps stay NaN for the caller.
    return filled


def _check_format(payload: dict[str, Any], expected: str) -> None:
    if not isinstance(payload, dict) or payload.get("format") != expected:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ConfigError(f"expected a {expected!r} payload, got {found!r}")
