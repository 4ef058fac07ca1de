"""Percentile bootstrap confidence intervals of a mean difference."""

from __future__ import annotations

import numpy as np


def _bootstrap_paired(d: np.ndarray, n_boot: int, confidence: float, seed: int | None) -> tuple[float, float]:
    """Interval of the mean of the paired differences ``d``, resampling pairs."""
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    return _percentiles(means, confidence)


def _bootstrap_independent(
    x: np.ndarray, y: np.ndarray, n_boot: int, confidence: float, seed: int | None
) -> tuple[float, float]:
    """Interval of ``mean(x) - mean(y)``, resampling each group on its own."""
    rng = np.random.default_rng(seed)
    mean_x = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    mean_y = y[rng.integers(0, y.size, size=(n_boot, y.size))].mean(axis=1)
    return _percentiles(mean_x - mean_y, confidence)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)
