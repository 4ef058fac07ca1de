"""Checks and small numeric helpers shared by the comparisons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .summaries import _few

_NAN = float("nan")


def _check_common(*, alpha: float, minimum: int, minimum_name: str, n_boot: int = 1, confidence: float = 0.95) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    if isinstance(minimum, bool) or not isinstance(minimum, (int, np.integer)) or minimum < 2:
        raise ConfigError(f"{minimum_name} must be an integer of at least 2, got {minimum!r}")


def _to_float(values: Any, what: str) -> np.ndarray:
    if not isinstance(values, pd.Series):
        if np.ndim(values) != 1:
            raise DataError(f"{what} must be one-dimensional")
        values = pd.Series(values, dtype=object)
    try:
        return values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} holds non-numeric values ({exc})") from None


def _check_finite(values: np.ndarray, what: str, index: pd.Index | None = None) -> None:
    bad = np.isinf(values)
    if bad.any():
        where = (
            _few(map(str, index[bad])) if index is not None else f"position(s) {_few(map(str, np.flatnonzero(bad)))}"
        )
        raise DataError(f"{what} holds non-finite values (inf) at {where}")


def _drop_rank_effect(
    row: dict[str, Any], column: str, n_untied: int, minimum: int, units: str, notes: list[str]
) -> None:
    """Blanks a rank-based effect size computed from fewer than ``minimum`` untied pairs or subjects.

    The Wilcoxon ranks leave tied pairs out, so the rank-biserial r (and
    Kendall's W of subjects that rank the conditions) rests on the untied
    ones only: 2 differing pairs among 20 give r = 1. Zero untied pairs (all
    tied) is left alone: there the effect is exactly zero, not estimated.
    """
    if 0 < n_untied < minimum and np.isfinite(row[column]):
        row[column] = _NAN
        notes.append(f"too few untied {units} for an effect size ({n_untied} untied < {minimum})")


def _constant(x: np.ndarray) -> bool:
    """All values equal, up to floating-point noise (e.g. ``(b + 0.25) - b``)."""
    return bool(np.ptp(x) <= 1e-9 * np.max(np.abs(x)))


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else _NAN


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else _NAN
