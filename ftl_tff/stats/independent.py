"""Two different groups of nodes: :func:`independent_comparison` (Mann-Whitney U)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .backend import _captured, _effsize, _mwu, _ttest
from .bootstrap import _bootstrap_independent
from .columns import INDEPENDENT_COLUMNS
from .common import _NAN, _check_common, _check_finite, _constant, _mean, _median, _to_float
from .summaries import _independent_summary, effect_label

__all__ = ["independent_comparison"]


def independent_comparison(
    a: pd.Series | Sequence[float] | np.ndarray,
    b: pd.Series | Sequence[float] | np.ndarray,
    *,
    label_a: str = "a",
    label_b: str = "b",
    metric: str = "f1",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    min_size: int = 5,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compares two independent groups of nodes (Mann-Whitney U).

    Use it when A and B were measured on different nodes (e.g. participating
    vs non-participating nodes); for the same nodes use
    :func:`~ftl_tff.stats.paired_comparison`, which is more powerful.
    Indexes are ignored; NaN values are dropped per group and counted in
    ``n_dropped``.

    The tests, through pingouin (warnings are caught and summarised in
    ``note``):

    * ``statistic`` and ``p_value``: ``pingouin.mwu`` (two-sided), i.e.
      ``scipy.stats.mannwhitneyu`` with its defaults (continuity correction;
      exact p-value for small samples without ties). U is the statistic of A.
    * ``t`` and ``p_value_t``: Welch's t-test
      (``pingouin.ttest(correction=True)``, unequal variances).
    * ``rank_biserial``: the rank-biserial correlation of ``pingouin.mwu``'s
      U, ``(U_a - U_b) / (n_a n_b)`` (pingouin 0.6's ``RBC``), positive when
      A tends to be higher.
    * ``cles``: ``pingouin.mwu``'s CLES, P(random A > random B) + P(tie) / 2.
    * ``cohen_d``, ``hedges_g``: ``pingouin.compute_effsize(paired=False)``
      (pooled standard deviation).
    * ``ci_low``, ``ci_high``: percentile bootstrap interval of
      ``mean_a - mean_b``, resampling each group independently.

    Guard rails (NaN p-values and a ``note``, never an exception): a group
    with fewer than ``min_size`` values (no statistics, no effect size: the
    rank-biserial r of 2 vs 2 values is +-1 whenever they do not overlap;
    ``effect`` is ``"n/a"``); all values identical
    in both groups (no test; ``rank_biserial`` 0, ``cles`` 0.5); both groups
    constant (no t-test, no Cohen's d; Mann-Whitney still runs).

    Args:
        a: Values of group A (one per node).
        b: Values of group B.
        label_a: Name of group A in the output and summary.
        label_b: Name of group B.
        metric: Name of the metric compared.
        n_boot: Number of bootstrap resamples (a positive integer).
        confidence: Confidence level of the bootstrap interval, in (0, 1).
        seed: Seed of the bootstrap; None draws a fresh one.
        min_size: Fewest values per group to run any test or give any
            effect size (at least 2).
        alpha: Significance level.

    Returns:
        One row with the columns :data:`INDEPENDENT_COLUMNS`, in that order;
        ``median_diff`` is ``median_a - median_b``; the other columns are as
        in :func:`~ftl_tff.stats.paired_comparison`.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: A value is not numeric or infinite.

    Example:
        >>> row = independent_comparison([0.9, 0.8, 0.85, 0.9, 0.95], [0.5, 0.6, 0.55, 0.7, 0.65],
        ...                              label_a="participating", label_b="others")
        >>> row.loc[0, "summary"].split(" (")[0]
        'participating beats others on f1'
    """
    _check_common(n_boot=n_boot, confidence=confidence, alpha=alpha, minimum=min_size, minimum_name="min_size")
    x_all = _to_float(a, f"a ({label_a!r})")
    y_all = _to_float(b, f"b ({label_b!r})")
    _check_finite(x_all, f"a ({label_a!r})")
    _check_finite(y_all, f"b ({label_b!r})")
    x, y = x_all[~np.isnan(x_all)], y_all[~np.isnan(y_all)]
    n_dropped = int(x_all.size - x.size + y_all.size - y.size)
    row: dict[str, Any] = dict.fromkeys(INDEPENDENT_COLUMNS, _NAN)
    row.update(
        comparison=f"{label_a} vs {label_b}",
        metric=metric,
        label_a=label_a,
        label_b=label_b,
        test="mannwhitney",
        n_a=int(x.size),
        n_b=int(y.size),
        n_dropped=n_dropped,
        mean_a=_mean(x),
        mean_b=_mean(y),
        median_a=_median(x),
        median_b=_median(y),
    )
    row["mean_diff"] = row["mean_a"] - row["mean_b"]
    row["median_diff"] = row["median_a"] - row["median_b"]
    notes: list[str] = []
    if n_dropped:
        notes.append(f"{n_dropped} NaN value(s) dropped")
    small = [
        f"group {label!r} too small (n={v.size} < {min_size})"
        for label, v in ((label_a, x), (label_b, y))
        if v.size < min_size
    ]
    if small:
        notes.insert(0, "; ".join(small) + ": no test")
    else:
        row["ci_low"], row["ci_high"] = _bootstrap_independent(x, y, n_boot, confidence, seed)
        row.update(_independent_tests(x, y, notes))
    row["effect"] = effect_label(row["rank_biserial"])
    row["significant"] = bool(np.isfinite(row["p_value"]) and row["p_value"] < alpha)
    row["note"] = "; ".join(notes)
    row["summary"] = _independent_summary(row, confidence=confidence)
    return pd.DataFrame([row], columns=list(INDEPENDENT_COLUMNS))


def _independent_tests(x: np.ndarray, y: np.ndarray, notes: list[str]) -> dict[str, float]:
    """Mann-Whitney U, Welch's t and effect sizes of two groups; appends to ``notes``."""
    out: dict[str, float] = {}
    with _captured(notes):
        if _constant(np.concatenate([x, y])):
            notes.insert(0, f"all values are identical ({x[0]:g}) in both groups: no test")
            return dict(
                statistic=_NAN,
                p_value=_NAN,
                t=_NAN,
                p_value_t=_NAN,
                rank_biserial=0.0,
                cles=0.5,
                cohen_d=_NAN,
                hedges_g=_NAN,
            )
        out.update(_mwu(x, y))
        if _constant(x) and _constant(y):
            notes.append("both groups are constant: no t-test, no Cohen's d")
            out.update(t=_NAN, p_value_t=_NAN, cohen_d=_NAN, hedges_g=_NAN)
        else:
            out.update(_ttest(x, y, paired=False))
            out["cohen_d"] = _effsize(x, y, paired=False, eftype="cohen")
            out["hedges_g"] = _effsize(x, y, paired=False, eftype="hedges")
    return out
