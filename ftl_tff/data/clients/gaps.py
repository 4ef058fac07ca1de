"""Telemetry gaps: how much of a window's telemetry did not arrive.

A node that stops reporting, fully or partly, is the most common failure on
Marconi100 and the strongest single signal in its data: on real nodes the
share of missing metrics in a window alone ranks CRITICAL windows at ROC-AUC
0.8-0.9. Imputation must not hide it. The imputer still fills the missing
values (the autoencoder needs numbers), but every window also gets a *gap
share* in [0, 1] that the detector's score adds on its own scale (see
:class:`~ftl_tff.detection.AnomalyDetector`, ``gap_weight``), instead of
leaving five coverage columns to be averaged among hundreds of features.

The gap share of a window is the larger of two measures, both relative to
what the node did in its own training part:

* **missing features**: the share of the node's feature columns that are NaN
  in the window, counting only columns that were observed at least once in
  the node's training part (a column the node never reports is *absent*,
  not missing) and leaving out the coverage columns ``cov_*``;
* **coverage deficit**: ``1 - cov_share / reference``, clipped to [0, 1],
  where ``cov_share`` is the share of the node's metrics that reported in the
  window (written by ``data prepare``; it also sees metrics outside the
  shared feature schema) and ``reference`` its median over the node's
  training windows. The median is the node's usual coverage and is robust to
  up to half of the training windows being gaps.

A fitted :class:`NodeGap` is saved with the node's scaler and imputer, so a
saved detector scores new windows the same way.

Example:
    >>> import numpy as np, pandas as pd
    >>> train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, np.nan, 1.0], "cov_share": [1.0, 1.0, 0.5]})
    >>> gap = NodeGap().fit(train, ["a", "b", "cov_share"])
    >>> gap.transform(pd.DataFrame({"a": [np.nan, 1.0], "b": [np.nan, 2.0], "cov_share": [0.0, 0.75]}))
    array([1.  , 0.25], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ftl_tff.errors import ConfigError, SchemaError

__all__ = ["COVERAGE_COLUMN", "NodeGap"]

#: The coverage column whose deficit counts as a gap (share of the node's metrics reporting).
COVERAGE_COLUMN = "cov_share"
_GAP_FORMAT = "ftl_tff.NodeGap/1"


class NodeGap:
    """Per-window gap share of one node, fitted on the node's training windows.

    Attributes:
        feature_columns: The feature columns, in order.
        observed_columns: Non-coverage columns observed at least once in
            training: the columns whose NaN count as missing.
        coverage_reference: Median ``cov_share`` of the training windows, or
            None when the features hold no ``cov_share`` (or it is 0).
    """

    def __init__(self) -> None:
        """Creates an unfitted gap measure."""
        self.feature_columns: list[str] | None = None
        self.observed_columns: list[str] = []
        self.coverage_reference: float | None = None

    def fit(self, train: pd.DataFrame, feature_columns: Sequence[str]) -> NodeGap:
        """Learns which columns the node reports and its usual coverage.

        Args:
            train: The node's training windows (raw, before scaling).
            feature_columns: The feature columns.

        Returns:
            This measure, fitted.

        Raises:
            SchemaError: If a feature column is missing from ``train``.
        """
        columns = [str(c) for c in feature_columns]
        _check_columns(train, columns)
        values = [c for c in columns if not c.startswith("cov_")]
        seen = train[values].notna().any(axis=0) if len(train) else pd.Series(False, index=values)
        self.feature_columns = columns
        self.observed_columns = [c for c in values if bool(seen[c])]
        self.coverage_reference = None
        if COVERAGE_COLUMN in columns and len(train):
            reference = float(np.nanmedian(train[COVERAGE_COLUMN].to_numpy(dtype=np.float64)))
            if np.isfinite(reference) and reference > 0:
                self.coverage_reference = reference
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The gap share of each window of ``frame``.

        Args:
            frame: Windows of the same node (raw, before scaling and imputation).

        Returns:
            float32 ``(rows,)`` in [0, 1]: 0 when everything the node usually
            sends arrived, 1 when nothing did.

        Raises:
            ConfigError: If the measure is not fitted.
            SchemaError: If a feature column is missing from ``frame``.
        """
        if self.feature_columns is None:
            raise ConfigError("NodeGap is not fitted; call fit() first")
        _check_columns(frame, self.feature_columns)
        gap = np.zeros(len(frame), dtype=np.float64)
        if self.observed_columns:
            gap = frame[self.observed_columns].isna().to_numpy().mean(axis=1)
        if self.coverage_reference is not None:
            coverage = frame[COVERAGE_COLUMN].to_numpy(dtype=np.float64)
            deficit = np.clip(1.0 - np.nan_to_num(coverage, nan=0.0) / self.coverage_reference, 0.0, 1.0)
            gap = np.maximum(gap, deficit)
        return gap.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description that :meth:`from_dict` turns back into an equal measure."""
        if self.feature_columns is None:
            raise ConfigError("NodeGap is not fitted; call fit() first")
        return {"format": _GAP_FORMAT, "feature_columns": list(self.feature_columns),
                "observed_columns": list(self.observed_columns), "coverage_reference": self.coverage_reference}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> NodeGap:
        """Rebuilds a measure written by :meth:`to_dict`.

        Raises:
            ConfigError: If the payload is not a NodeGap description.
        """
        if not isinstance(payload, dict) or payload.get("format") != _GAP_FORMAT:
            raise ConfigError(f"not a NodeGap description (expected format {_GAP_FORMAT!r})")
        gap = cls()
        gap.feature_columns = [str(c) for c in payload["feature_columns"]]
        gap.observed_columns = [str(c) for c in payload["observed_columns"]]
        reference = payload.get("coverage_reference")
        gap.coverage_reference = None if reference is None else float(reference)
        return gap


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"frame lacks feature columns {missing[:10]}")
