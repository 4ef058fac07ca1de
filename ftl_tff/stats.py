"""Significance tests and effect sizes for per-node results of different methods.

Results of ftl-tff are per-node metrics (F1, ROC-AUC, ...) of several methods
(local training, federated, fine-tuned, ...). This module compares them and
returns one-row DataFrames (or a :class:`MultiComparison`) that hold the test,
the effect sizes, a bootstrap confidence interval, a ``note`` on anything
degenerate and a plain-language ``summary``. Degenerate inputs (too few pairs,
no difference at all, constant groups) never raise and never give a made-up
p-value: the p-values are NaN and ``note`` says why. Bad arguments raise
:class:`~ftl_tff.errors.ConfigError`, unusable data (inf, duplicates, no
common nodes) :class:`~ftl_tff.errors.DataError`.

Which test for which question:

* :func:`paired_comparison`: two methods evaluated on the **same** nodes
  (the usual case: every method is scored on every node). Wilcoxon
  signed-rank test on the per-node differences (no normality assumed: F1 and
  AUC are bounded and often skewed), with the paired t-test alongside for
  reference.
* :func:`independent_comparison`: two **different** sets of nodes (e.g.
  participating vs non-participating nodes of one method). Mann-Whitney U,
  with Welch's t-test (unequal variances) alongside.
* :func:`multi_comparison`: three or more methods on the same nodes. Friedman
  test (the omnibus question: does any method differ?) and, for every pair of
  methods, a Wilcoxon test with Holm's correction for the number of pairs.
  Read the pairwise rows only when the omnibus test is significant.

How to read the effect sizes (a p-value says whether a difference is
detectable, an effect size says whether it matters):

* ``rank_biserial`` (r, from -1 to 1; positive when the first method is
  higher): |r| < 0.1 negligible, < 0.3 small, < 0.5 medium, else large. For
  paired data it is the matched-pairs rank-biserial correlation (Kerby 2014):
  the share of the rank sum in favour of A minus the share in favour of B;
  r = 1 means A is higher on every node that differs. The ``effect`` column is
  the magnitude word of |r|.
* ``cohen_d`` / ``hedges_g`` (standardised mean difference; Hedges' g is
  Cohen's d corrected for small samples): |d| < 0.2 negligible, < 0.5 small,
  < 0.8 medium, else large. For paired data pingouin reports d_av (the mean
  difference over the average of the two standard deviations), not d_z.
* ``cles`` (common-language effect size, 0 to 1): the probability that a
  random value of A beats a random value of B (ties count half); 0.5 means no
  tendency either way.
* ``kendall_w`` (Friedman, 0 to 1): agreement of the nodes on the ranking of
  the methods; 0 is no agreement, 1 is the same ranking on every node.

No effect size from too few values: with fewer than ``min_pairs`` pairs (or
``min_size`` values per group, ``min_subjects`` subjects) every effect size is
NaN. The rank-based ones (``rank_biserial``, ``kendall_w``) also need that
many *untied* pairs or subjects, because the Wilcoxon ranks (and the
rank-biserial r) leave tied pairs out: 2 differing pairs among 6 would give
r = 1, a "large effect" from two nodes. Then the value is NaN, ``effect`` is
``"n/a"``, ``note`` says why and the summary says "too few pairs for an
effect size" (the test itself still runs). The one exception is a comparison
without any difference at all (every pair tied): its rank-biserial r is 0,
an exact "no effect", not an estimate.

Example:
    >>> a = pd.Series([0.9, 0.8, 0.85, 0.7, 0.95, 0.9], index=list("uvwxyz"))
    >>> b = pd.Series([0.6, 0.7, 0.80, 0.7, 0.50, 0.4], index=list("uvwxyz"))
    >>> row = paired_comparison(a, b, label_a="fine-tune", label_b="local")
    >>> int(row.loc[0, "n_a_better"]), int(row.loc[0, "n_ties"]), row.loc[0, "effect"]
    (5, 1, 'large')
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, SchemaError, SelectionError

__all__ = [
    "INDEPENDENT_COLUMNS",
    "OMNIBUS_COLUMNS",
    "PAIRED_COLUMNS",
    "PAIRWISE_COLUMNS",
    "REPORT_COLUMNS",
    "MultiComparison",
    "effect_label",
    "format_p",
    "independent_comparison",
    "multi_comparison",
    "paired_by",
    "paired_comparison",
    "to_latex",
    "to_markdown",
]

_HEAD = ("comparison", "metric", "label_a", "label_b", "test")
# What both two-sample comparisons report after their counts.
_RESULTS = ("mean_a", "mean_b", "median_a", "median_b", "mean_diff", "median_diff", "ci_low", "ci_high", "statistic",
            "p_value", "t", "p_value_t", "rank_biserial", "cles", "cohen_d", "hedges_g", "effect", "significant",
            "note", "summary")

#: Columns of :func:`paired_comparison`, in order.
PAIRED_COLUMNS: tuple[str, ...] = (*_HEAD, "n", "n_dropped", "n_a_better", "n_b_better", "n_ties", *_RESULTS)

#: Columns of :func:`independent_comparison`, in order.
INDEPENDENT_COLUMNS: tuple[str, ...] = (*_HEAD, "n_a", "n_b", "n_dropped", *_RESULTS)

#: Columns of :attr:`MultiComparison.omnibus`, in order.
OMNIBUS_COLUMNS: tuple[str, ...] = (
    "dv",
    "within",
    "test",
    "n_subjects",
    "n_conditions",
    "n_dropped_subjects",
    "statistic",
    "p_value",
    "kendall_w",
    "significant",
    "note",
    "summary",
)

#: Columns of :attr:`MultiComparison.pairwise`, in order.
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "a",
    "b",
    "n",
    "median_a",
    "median_b",
    "median_diff",
    "statistic",
    "p_value",
    "p_holm",
    "rank_biserial",
    "effect",
    "significant",
    "note",
    "summary",
)

#: The compact columns a report table shows (pass as ``columns`` to :func:`to_markdown` or :func:`to_latex`).
REPORT_COLUMNS: tuple[str, ...] = (
    "comparison",
    "metric",
    "n",
    "median_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "rank_biserial",
    "effect",
)

_NAN = float("nan")
_EFFECT_THRESHOLDS = {
    "rank_biserial": (0.1, 0.3, 0.5),
    "cohen_d": (0.2, 0.5, 0.8),
}
_EFFECT_KINDS = {
    "rank_biserial": "rank_biserial",
    "r": "rank_biserial",
    "cohen_d": "cohen_d",
    "d": "cohen_d",
    "hedges_g": "cohen_d",
    "g": "cohen_d",
}
_EFFECT_WORDS = ("negligible", "small", "medium", "large")
_MISSING = "n/a"
_WARNING_NOTES = {
    "Exact p-value calculation does not work if there are zeros": "normal approximation used (zero differences)",
    "Sample size too small for normal approximation": "normal approximation on fewer than 10 non-zero differences",
    "Precision loss occurred in moment calculation": "precision loss in a variance (nearly constant values)",
}


# --------------------------------------------------------------------------- public helpers


def format_p(p: float | None) -> str:
    """Formats a p-value for reports: two significant digits, at most four decimals.

    Args:
        p: A p-value (NaN or None when there was no test).

    Returns:
        ``"< 0.0001"`` below 0.0001, ``"n/a"`` for NaN/None, otherwise the value
        with two significant digits and no more than four decimals
        (``"0.41"``, ``"0.031"``, ``"0.0003"``).

    Example:
        >>> format_p(0.41234), format_p(0.000312), format_p(2e-7), format_p(float("nan"))
        ('0.41', '0.0003', '< 0.0001', 'n/a')
    """
    if p is None or not np.isfinite(p):
        return _MISSING
    if p < 1e-4:
        return "< 0.0001"
    text = f"{p:.2g}"
    if "." in text and len(text.split(".")[1]) > 4:
        text = f"{p:.4f}".rstrip("0").rstrip(".")
    return text


def effect_label(value: float | None, kind: str = "rank_biserial") -> str:
    """The magnitude word of an effect size (its sign is ignored).

    Thresholds on the absolute value: for the rank-biserial correlation
    < 0.1 negligible, < 0.3 small, < 0.5 medium, else large; for Cohen's d or
    Hedges' g < 0.2 negligible, < 0.5 small, < 0.8 medium, else large.

    Args:
        value: The effect size; NaN or None gives ``"n/a"``.
        kind: ``"rank_biserial"`` (alias ``"r"``) or ``"cohen_d"`` (aliases
            ``"d"``, ``"hedges_g"``, ``"g"``).

    Returns:
        ``"negligible"``, ``"small"``, ``"medium"``, ``"large"`` or ``"n/a"``.

    Raises:
        ConfigError: ``kind`` is not one of the above.

    Example:
        >>> effect_label(-0.35), effect_label(0.35, kind="cohen_d")
        ('medium', 'small')
    """
    if kind not in _EFFECT_KINDS:
        raise ConfigError(f"unknown effect size kind {kind!r}: use one of {', '.join(_EFFECT_KINDS)}")
    if value is None or not np.isfinite(value):
        return _MISSING
    size = abs(float(value))
    for threshold, word in zip(_EFFECT_THRESHOLDS[_EFFECT_KINDS[kind]], _EFFECT_WORDS):
        if size < threshold:
            return word
    return _EFFECT_WORDS[-1]


# --------------------------------------------------------------------------- paired


def paired_comparison(
    a: pd.Series | Sequence[float] | np.ndarray,
    b: pd.Series | Sequence[float] | np.ndarray,
    *,
    label_a: str = "a",
    label_b: str = "b",
    metric: str = "f1",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    min_pairs: int = 5,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compares two methods evaluated on the same nodes (Wilcoxon signed-rank).

    Differences are ``a - b``: positive values and a positive
    ``rank_biserial`` mean that A is higher (better, for F1 and AUCs).

    Pairing: when both ``a`` and ``b`` are Series, pairs are matched on the
    index (node id), whatever the row order; a node missing from one of them,
    or NaN in either, drops the pair and counts it in ``n_dropped``. Otherwise
    both are taken as equal-length sequences paired by position.

    The tests, through pingouin (warnings of pingouin and scipy are caught and
    summarised in ``note``):

    * ``statistic`` and ``p_value``: ``pingouin.wilcoxon`` (two-sided), i.e.
      ``scipy.stats.wilcoxon(a, b, correction=True)``. W is the smaller of the
      two signed-rank sums. Zero differences (ties) follow scipy's default
      ``zero_method="wilcox"``: they are left out of the ranks (and counted in
      ``n_ties``). scipy computes an exact p-value for up to 50 pairs without
      zero differences, otherwise a normal approximation (with continuity
      correction and tie correction); the note says when zero differences
      forced the approximation. scipy's exact p-value does not correct for
      tied absolute differences.
    * ``t`` and ``p_value_t``: paired t-test (``pingouin.ttest(paired=True)``).
    * ``rank_biserial``: matched-pairs rank-biserial correlation of
      ``pingouin.wilcoxon`` (zero differences left out).
    * ``cles``: ``pingouin.compute_effsize(a, b, paired=True, eftype="CLES")``,
      the same value ``pingouin.wilcoxon`` reports; it compares every value of
      A with every value of B (all n x n cross pairs, ties count half), not
      only the matched pairs.
    * ``cohen_d``, ``hedges_g``: ``pingouin.compute_effsize(paired=True)``
      (d_av: mean difference over the average standard deviation).
    * ``ci_low``, ``ci_high``: percentile bootstrap interval of the mean
      difference, resampling pairs (``numpy.random.default_rng(seed)``).

    Guard rails (a row with NaN p-values and a ``note``, never an exception):
    fewer than ``min_pairs`` pairs (no statistics at all, no effect size);
    all differences zero (no test; ``rank_biserial`` 0, ``cohen_d`` 0 when
    defined); fewer than ``min_pairs`` untied pairs, but some (the tests
    run, ``rank_biserial`` is NaN and ``effect`` ``"n/a"``: the rank-biserial
    r of so few differing pairs is +-1 or close, whatever the tied majority
    says); all differences equal (no t-test, the Wilcoxon test still runs).

    Args:
        a: Per-node values of method A (Series indexed by node, or a sequence).
        b: Per-node values of method B, like ``a``.
        label_a: Name of method A in the output and summary.
        label_b: Name of method B.
        metric: Name of the metric compared (for the output and summary).
        n_boot: Number of bootstrap resamples (a positive integer).
        confidence: Confidence level of the bootstrap interval, in (0, 1).
        seed: Seed of the bootstrap; None draws a fresh one (not reproducible).
        min_pairs: Fewest usable pairs to run any test or give any effect
            size, and fewest untied pairs to give ``rank_biserial`` (at
            least 2).
        alpha: Significance level of ``significant`` and the summary wording.

    Returns:
        One row with the columns :data:`PAIRED_COLUMNS`, in that order.
        ``comparison`` is ``"{label_a} vs {label_b}"``; ``n`` counts the pairs
        used; ``n_a_better``, ``n_b_better``, ``n_ties`` count the pairs where
        A is higher, lower, equal; ``median_diff`` is the median of the paired
        differences; ``effect`` is the magnitude word of ``rank_biserial``
        (``"n/a"`` without it);
        ``significant`` is ``p_value < alpha`` (False without a test);
        ``note`` is empty when nothing was unusual.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: A value is not numeric or infinite, the inputs have
            different lengths (sequences), repeat a node or share no node
            (Series).

    Example:
        >>> a = pd.Series([0.9, 0.8, 0.85, 0.7, 0.95, 0.9], index=list("uvwxyz"))
        >>> b = pd.Series([0.6, 0.7, 0.80, 0.7, 0.50, 0.4], index=list("uvwxyz"))
        >>> row = paired_comparison(a, b, label_a="fine-tune", label_b="local")
        >>> row.loc[0, "summary"].split(",")[0]
        'no significant difference between fine-tune and local (fine-tune better on 5 of 6 nodes'
    """
    _check_common(n_boot=n_boot, confidence=confidence, alpha=alpha, minimum=min_pairs, minimum_name="min_pairs")
    x, y, n_dropped = _pairs(a, b, label_a, label_b)
    d = x - y
    n = int(d.size)
    row: dict[str, Any] = dict.fromkeys(PAIRED_COLUMNS, _NAN)
    row.update(
        comparison=f"{label_a} vs {label_b}",
        metric=metric,
        label_a=label_a,
        label_b=label_b,
        test="wilcoxon",
        n=n,
        n_dropped=n_dropped,
        n_a_better=int((d > 0).sum()),
        n_b_better=int((d < 0).sum()),
        n_ties=int((d == 0).sum()),
        mean_a=_mean(x),
        mean_b=_mean(y),
        median_a=_median(x),
        median_b=_median(y),
        mean_diff=_mean(d),
        median_diff=_median(d),
    )
    notes: list[str] = []
    if n_dropped:
        notes.append(f"{n_dropped} pair(s) dropped (missing or NaN)")
    if n < min_pairs:
        notes.insert(0, f"too few pairs (n={n} < {min_pairs}): no test")
    else:
        row["ci_low"], row["ci_high"] = _bootstrap_paired(d, n_boot, confidence, seed)
        row.update(_paired_tests(x, y, notes))
        _drop_rank_effect(row, "rank_biserial", n - row["n_ties"], min_pairs, "pairs", notes)
    row["effect"] = effect_label(row["rank_biserial"])
    row["significant"] = bool(np.isfinite(row["p_value"]) and row["p_value"] < alpha)
    row["note"] = "; ".join(notes)
    row["summary"] = _paired_summary(row, confidence=confidence, units="nodes")
    return pd.DataFrame([row], columns=list(PAIRED_COLUMNS))


def _paired_tests(x: np.ndarray, y: np.ndarray, notes: list[str]) -> dict[str, float]:
    """Wilcoxon, paired t and effect sizes of at least two pairs; appends to ``notes``."""
    pg = _pingouin()
    d = x - y
    out: dict[str, float] = {}
    n_zero = int((d == 0).sum())
    with _captured(notes):
        out["cles"] = float(pg.compute_effsize(x, y, paired=True, eftype="CLES"))
        if n_zero == d.size:
            notes.insert(0, "all differences are zero: no test")
            out.update(statistic=_NAN, p_value=_NAN, rank_biserial=0.0)
        else:
            if n_zero:
                notes.append(f"{n_zero} tied pair(s) left out of the Wilcoxon ranks (zero_method='wilcox')")
            res = pg.wilcoxon(x, y, alternative="two-sided")
            out.update(
                statistic=float(res["W_val"].iloc[0]),
                p_value=float(res["p_val"].iloc[0]),
                rank_biserial=float(res["RBC"].iloc[0]),
            )
        if _constant(d):
            if n_zero != d.size:
                notes.append(f"all differences are equal ({_signed(d[0])}): no t-test")
            out.update(t=_NAN, p_value_t=_NAN)
        else:
            res = pg.ttest(x, y, paired=True)
            out.update(t=float(res["T"].iloc[0]), p_value_t=float(res["p_val"].iloc[0]))
        if not (_constant(x) and _constant(y)):
            out["cohen_d"] = float(pg.compute_effsize(x, y, paired=True, eftype="cohen"))
            out["hedges_g"] = float(pg.compute_effsize(x, y, paired=True, eftype="hedges"))
        else:
            out.update(cohen_d=_NAN, hedges_g=_NAN)
    return out


# --------------------------------------------------------------------------- independent


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
    :func:`paired_comparison`, which is more powerful. Indexes are ignored;
    NaN values are dropped per group and counted in ``n_dropped``.

    The tests, through pingouin (warnings are caught and summarised in
    ``note``):

    * ``statistic`` and ``p_value``: ``pingouin.mwu`` (two-sided), i.e.
      ``scipy.stats.mannwhitneyu`` with its defaults (continuity correction;
      exact p-value for small samples without ties). U is the statistic of A.
    * ``t`` and ``p_value_t``: Welch's t-test
      (``pingouin.ttest(correction=True)``, unequal variances).
    * ``rank_biserial``: ``pingouin.mwu``'s rank-biserial correlation,
      ``(U_a - U_b) / (n_a n_b)``, positive when A tends to be higher.
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
        in :func:`paired_comparison`.

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
    pg = _pingouin()
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
        res = pg.mwu(x, y, alternative="two-sided")
        out.update(
            statistic=float(res["U_val"].iloc[0]),
            p_value=float(res["p_val"].iloc[0]),
            rank_biserial=float(res["RBC"].iloc[0]),
            cles=float(res["CLES"].iloc[0]),
        )
        if _constant(x) and _constant(y):
            notes.append("both groups are constant: no t-test, no Cohen's d")
            out.update(t=_NAN, p_value_t=_NAN, cohen_d=_NAN, hedges_g=_NAN)
        else:
            res = pg.ttest(x, y, paired=False, correction=True)
            out.update(t=float(res["T"].iloc[0]), p_value_t=float(res["p_val"].iloc[0]))
            out["cohen_d"] = float(pg.compute_effsize(x, y, paired=False, eftype="cohen"))
            out["hedges_g"] = float(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
    return out


# --------------------------------------------------------------------------- several methods


@dataclass(frozen=True, eq=False)
class MultiComparison:
    """Friedman omnibus test and Holm-corrected pairwise Wilcoxon tests.

    Attributes:
        omnibus: One row with the columns :data:`OMNIBUS_COLUMNS`.
        pairwise: One row per pair of conditions, columns
            :data:`PAIRWISE_COLUMNS`.
    """

    omnibus: pd.DataFrame
    pairwise: pd.DataFrame

    @property
    def summary(self) -> str:
        """Plain-language lines: the omnibus result, then one line per pair."""
        lines = [str(self.omnibus["summary"].iloc[0])]
        if not np.isfinite(self.omnibus["p_value"].iloc[0]):
            lines.append("pairwise:")
        elif bool(self.omnibus["significant"].iloc[0]):
            lines.append("pairwise (Holm-corrected):")
        else:
            lines.append("pairwise (Holm-corrected; exploratory, the omnibus test is not significant):")
        lines.extend("  " + str(s) for s in self.pairwise["summary"])
        return "\n".join(lines)


def multi_comparison(
    table: pd.DataFrame,
    *,
    dv: str,
    within: str,
    subject: str,
    alpha: float = 0.05,
    min_subjects: int = 5,
) -> MultiComparison:
    """Compares two or more methods on the same nodes (Friedman + pairwise Wilcoxon).

    Subjects (nodes) that miss a condition or have a NaN value are dropped
    listwise (Friedman needs complete blocks) and counted in
    ``n_dropped_subjects``; the note names how many and which.

    * Omnibus: ``pingouin.friedman`` (chi-square form, corrected for ties):
      ``statistic`` is Q, ``kendall_w`` is Kendall's W.
    * Pairwise: for each pair of conditions (in order of first appearance in
      ``table``), the same Wilcoxon test as :func:`paired_comparison` on the
      complete subjects (``p_value``, uncorrected), then Holm's correction
      over all pairs (``p_holm``, ``pingouin.multicomp(method="holm")``; a pair
      without a test is left out of the correction). ``median_diff`` is the
      median of the paired differences ``a - b``; ``significant`` is
      ``p_holm < alpha``.

    Guard rails (NaN p-values and a note): fewer than ``min_subjects``
    complete subjects (no test, no effect size); no subject ranks the
    conditions differently (all values tie within every subject); a pair
    whose differences are all zero. No effect size from too few untied
    subjects: ``kendall_w`` is NaN when fewer than ``min_subjects`` subjects
    rank the conditions differently, and a pair's ``rank_biserial`` is NaN
    (``effect`` ``"n/a"``) when fewer than ``min_subjects`` subjects differ
    on that pair; the tests still run and the note says why.

    Args:
        table: Long table: one row per subject and condition.
        dv: Column of the values compared (e.g. ``"f1"``).
        within: Column of the conditions (e.g. ``"method"``).
        subject: Column of the subject ids (e.g. ``"node"``).
        alpha: Significance level of the omnibus and of ``p_holm``.
        min_subjects: Fewest complete subjects to run any test, and fewest
            untied subjects to give an effect size (at least 2).

    Returns:
        A :class:`MultiComparison`.

    Raises:
        ConfigError: Fewer than two conditions, or a parameter out of range.
        SchemaError: A named column is missing or ``dv`` is not numeric.
        DataError: A subject has a condition twice (average repeated runs
            first, e.g. with :func:`paired_by` or a groupby mean), ``dv``
            holds infinite values, or ``subject``/``within`` hold NaN.

    Example:
        >>> table = pd.DataFrame({"node": [n for n in "uvwxyz" for _ in range(3)],
        ...                       "method": ["local", "fed", "fine-tune"] * 6,
        ...                       "f1": [0.5, 0.6, 0.8, 0.4, 0.6, 0.7, 0.5, 0.5, 0.9,
        ...                              0.3, 0.6, 0.6, 0.5, 0.7, 0.8, 0.2, 0.4, 0.9]})
        >>> res = multi_comparison(table, dv="f1", within="method", subject="node")
        >>> int(res.omnibus.loc[0, "n_subjects"]), len(res.pairwise)
        (6, 3)
    """
    _check_common(alpha=alpha, minimum=min_subjects, minimum_name="min_subjects")
    missing = [c for c in (dv, within, subject) if c not in table.columns]
    if missing:
        raise SchemaError(f"the table lacks column(s) {', '.join(map(repr, missing))}")
    if not pd.api.types.is_numeric_dtype(table[dv]) or pd.api.types.is_bool_dtype(table[dv]):
        raise SchemaError(f"column {dv!r} must be numeric, got {table[dv].dtype}")
    for column in (within, subject):
        if table[column].isna().any():
            raise DataError(f"column {column!r} holds missing values in {int(table[column].isna().sum())} row(s)")
    values = table[dv].to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        bad = table.loc[np.isinf(values), [subject, within]].astype(str).agg("/".join, axis=1)
        raise DataError(f"column {dv!r} holds infinite values for {_few(bad)}")
    conditions = list(dict.fromkeys(table[within].tolist()))
    if len(conditions) < 2:
        raise ConfigError(f"column {within!r} must hold at least 2 conditions to compare, got {conditions}")
    duplicated = table.duplicated([subject, within], keep=False)
    if duplicated.any():
        pairs = sorted({f"{s}/{c}" for s, c in table.loc[duplicated, [subject, within]].itertuples(index=False)})
        raise DataError(
            f"{subject}/{within} pair(s) listed more than once: {_few(pairs)}; "
            f"aggregate repeated runs (e.g. seeds) first"
        )

    wide = table.pivot(index=subject, columns=within, values=dv).reindex(columns=conditions)
    complete = wide.dropna()
    dropped = [s for s in wide.index if s not in complete.index]
    n, k = len(complete), len(conditions)
    omnibus: dict[str, Any] = dict.fromkeys(OMNIBUS_COLUMNS, _NAN)
    omnibus.update(dv=dv, within=within, test="friedman", n_subjects=n, n_conditions=k, n_dropped_subjects=len(dropped))
    notes: list[str] = []
    if dropped:
        notes.append(f"{len(dropped)} subject(s) dropped (a condition missing or NaN): {_few(map(str, dropped))}")
    X = complete.to_numpy(dtype=float)
    enough = n >= min_subjects
    n_untied = sum(not _constant(values) for values in X)
    if not enough:
        notes.insert(0, f"too few complete subjects (n={n} < {min_subjects}): no test")
    elif not n_untied:
        notes.insert(0, "all conditions tie within every subject: no test")
    else:
        pg = _pingouin()
        long = complete.reset_index().melt(id_vars=subject, var_name=within, value_name=dv)
        with _captured(notes):
            res = pg.friedman(data=long, dv=dv, within=within, subject=subject)
        omnibus.update(
            statistic=float(res["Q"].iloc[0]), p_value=float(res["p_unc"].iloc[0]), kendall_w=float(res["W"].iloc[0])
        )
        _drop_rank_effect(omnibus, "kendall_w", n_untied, min_subjects, "subjects", notes)
    omnibus["significant"] = bool(np.isfinite(omnibus["p_value"]) and omnibus["p_value"] < alpha)
    omnibus["note"] = "; ".join(notes)
    omnibus["summary"] = _omnibus_summary(omnibus, conditions)

    rows = [_pairwise_row(complete, ca, cb, enough, min_subjects) for ca, cb in itertools.combinations(conditions, 2)]
    pairwise = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
    p = pairwise["p_value"].to_numpy(dtype=float)
    if np.isfinite(p).any():
        _, p_holm = _pingouin().multicomp(p, alpha=alpha, method="holm")
        pairwise["p_holm"] = np.asarray(p_holm, dtype=float)
    pairwise["significant"] = (pairwise["p_holm"] < alpha).astype(bool)
    pairwise["summary"] = [_pairwise_summary(r) for r in pairwise.to_dict("records")]
    return MultiComparison(omnibus=pd.DataFrame([omnibus], columns=list(OMNIBUS_COLUMNS)), pairwise=pairwise)


def _pairwise_row(complete: pd.DataFrame, ca: Any, cb: Any, enough: bool, min_subjects: int) -> dict[str, Any]:
    x, y = complete[ca].to_numpy(dtype=float), complete[cb].to_numpy(dtype=float)
    d = x - y
    row: dict[str, Any] = dict.fromkeys(PAIRWISE_COLUMNS, _NAN)
    row.update(a=ca, b=cb, n=int(d.size), median_a=_median(x), median_b=_median(y), median_diff=_median(d))
    notes: list[str] = []
    if not enough:
        notes.append(f"too few complete subjects (n={d.size} < {min_subjects}): no test")
    elif (d == 0).all():
        notes.append("all differences are zero: no test")
        row["rank_biserial"] = 0.0
    else:
        n_zero = int((d == 0).sum())
        if n_zero:
            notes.append(f"{n_zero} tied pair(s) left out of the Wilcoxon ranks (zero_method='wilcox')")
        pg = _pingouin()
        with _captured(notes):
            res = pg.wilcoxon(x, y, alternative="two-sided")
        row.update(
            statistic=float(res["W_val"].iloc[0]),
            p_value=float(res["p_val"].iloc[0]),
            rank_biserial=float(res["RBC"].iloc[0]),
        )
        _drop_rank_effect(row, "rank_biserial", int(d.size) - n_zero, min_subjects, "subjects", notes)
    row["effect"] = effect_label(row["rank_biserial"])
    row["note"] = "; ".join(notes)
    return row


# --------------------------------------------------------------------------- long tables


def paired_by(
    table: pd.DataFrame,
    *,
    metric: str,
    method_col: str = "method",
    a: Any,
    b: Any,
    subject: str = "node",
    aggregate: str = "mean",
) -> tuple[pd.Series, pd.Series]:
    """Extracts the two aligned per-subject Series that :func:`paired_comparison` takes.

    ``table`` is a long per-node result table (columns ``node``, ``method``,
    the metric, maybe ``seed`` or others). Rows of the same subject and
    method (e.g. several seeds) are collapsed into one value with
    ``aggregate``: ``"mean"`` or ``"median"`` (NaN values are skipped, so a
    subject is NaN only when all its runs are NaN), or ``"error"`` to raise on
    any repeated row instead. Both Series are indexed by the union of the
    subjects of A and B, sorted; a subject that only one method has is NaN in
    the other (and counted in ``n_dropped`` by :func:`paired_comparison`).

    Args:
        table: Long table with one row per subject, method (and run).
        metric: Column of the values (e.g. ``"f1"``).
        method_col: Column of the method names.
        a: Method A (a value of ``method_col``).
        b: Method B.
        subject: Column of the subject ids.
        aggregate: ``"mean"``, ``"median"`` or ``"error"``.

    Returns:
        ``(values_a, values_b)``: float Series named ``a`` and ``b``, indexed by
        subject.

    Raises:
        ConfigError: ``aggregate`` is unknown or ``a`` equals ``b``.
        SchemaError: A named column is missing or ``metric`` is not numeric.
        SelectionError: ``a`` or ``b`` does not occur in ``method_col``.
        DataError: ``aggregate="error"`` and a subject/method repeats, or
            ``subject`` holds NaN.

    Example:
        >>> table = pd.DataFrame({"node": ["1", "1", "2", "2", "1", "2"], "seed": [0, 1, 0, 1, 0, 0],
        ...                       "method": ["fed"] * 4 + ["local"] * 2, "f1": [0.8, 0.6, 0.9, 0.7, 0.5, 0.6]})
        >>> fed, local = paired_by(table, metric="f1", a="fed", b="local")
        >>> fed.round(2).tolist(), local.tolist()
        ([0.7, 0.8], [0.5, 0.6])
    """
    if aggregate not in ("mean", "median", "error"):
        raise ConfigError(f"unknown aggregate {aggregate!r}: use 'mean', 'median' or 'error'")
    if a == b:
        raise ConfigError(f"methods a and b are the same ({a!r})")
    missing = [c for c in (metric, method_col, subject) if c not in table.columns]
    if missing:
        raise SchemaError(f"the table lacks column(s) {', '.join(map(repr, missing))}")
    if not pd.api.types.is_numeric_dtype(table[metric]) or pd.api.types.is_bool_dtype(table[metric]):
        raise SchemaError(f"column {metric!r} must be numeric, got {table[metric].dtype}")
    if table[subject].isna().any():
        raise DataError(f"column {subject!r} holds missing values in {int(table[subject].isna().sum())} row(s)")
    present = set(table[method_col].tolist())
    absent = [m for m in (a, b) if m not in present]
    if absent:
        raise SelectionError(
            f"method(s) {', '.join(map(repr, absent))} not in column {method_col!r} "
            f"(it holds {_few(sorted(map(str, present)))})"
        )
    rows = table.loc[table[method_col].isin([a, b]), [subject, method_col, metric]]
    if aggregate == "error":
        repeated = rows.duplicated([subject, method_col], keep=False)
        if repeated.any():
            pairs = sorted({f"{s}/{m}" for s, m in rows.loc[repeated, [subject, method_col]].itertuples(index=False)})
            raise DataError(f"{subject}/{method_col} pair(s) listed more than once: {_few(pairs)}")
        how = "mean"  # one row per group: any reducer returns it
    else:
        how = aggregate
    wide = rows.groupby([subject, method_col], sort=False)[metric].agg(how).unstack(method_col)
    wide = wide.astype(float).sort_index()
    return wide[a].rename(a), wide[b].rename(b)


# --------------------------------------------------------------------------- renderers


def to_markdown(table: pd.DataFrame, columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """Renders a result table as a GitHub pipe table.

    Columns whose name is ``p_value`` or starts with ``p_`` are formatted by
    :func:`format_p`; counts (``n``, ``n_*``) as integers; other floats with
    ``digits`` decimals; booleans as yes/no; NaN as ``n/a``. Pipes in text are
    escaped. Numeric columns are right-aligned.

    Args:
        table: Rows to render (e.g. ``pd.concat`` of comparison rows).
        columns: Columns to show, in order (e.g. :data:`REPORT_COLUMNS`);
            None shows all.
        digits: Decimals of float values.

    Returns:
        The table as Markdown text, one line per row, ending with a newline.

    Raises:
        ConfigError: A requested column is missing, or ``digits`` is negative.

    Example:
        >>> row = pd.DataFrame({"comparison": ["a vs b"], "p_value": [0.00003], "rank_biserial": [0.81234]})
        >>> print(to_markdown(row), end="")
        | comparison | p_value | rank_biserial |
        | --- | ---: | ---: |
        | a vs b | < 0.0001 | 0.812 |
    """
    names, cells, numeric = _cells(table, columns, digits)
    lines = [
        "| " + " | ".join(_md_escape(n) for n in names) + " |",
        "| " + " | ".join("---:" if num else "---" for num in numeric) + " |",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def to_latex(
    table: pd.DataFrame,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """Renders a result table as a booktabs LaTeX tabular (needs ``\\usepackage{booktabs}``).

    Cells are formatted as in :func:`to_markdown` and LaTeX special
    characters (``\\ & % $ # _ { } ~ ^ < >``) are escaped, in the header too.
    Written by hand: pandas' ``to_latex`` needs jinja2, which ftl-tff does
    not depend on.

    Args:
        table: Rows to render.
        columns: Columns to show, in order; None shows all.
        digits: Decimals of float values.
        caption: Caption; with ``caption`` or ``label`` the tabular is wrapped
            in a ``table`` environment.
        label: ``\\label`` key (not escaped: use a plain key like
            ``tab:paired``).

    Returns:
        The LaTeX source, ending with a newline.

    Raises:
        ConfigError: A requested column is missing, or ``digits`` is negative.

    Example:
        >>> row = pd.DataFrame({"comparison": ["fed_avg vs local"], "p_value": [0.012]})
        >>> print(to_latex(row).splitlines()[4])
        fed\\_avg vs local & 0.012 \\\\
    """
    names, cells, numeric = _cells(table, columns, digits)
    spec = "".join("r" if num else "l" for num in numeric)
    body = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_tex_escape(n) for n in names) + " \\\\",
        "\\midrule",
    ]
    body += [" & ".join(_tex_escape(c) for c in row) + " \\\\" for row in cells]
    body += ["\\bottomrule", "\\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    wrapped = ["\\begin{table}[htbp]", "\\centering"]
    if caption is not None:
        wrapped.append(f"\\caption{{{_tex_escape(caption)}}}")
    if label is not None:
        wrapped.append(f"\\label{{{label}}}")
    return "\n".join([*wrapped, *body, "\\end{table}"]) + "\n"


# --------------------------------------------------------------------------- internals


def _pingouin() -> Any:
    """pingouin, imported on first use (it pulls in statsmodels and matplotlib: seconds)."""
    import pingouin

    return pingouin


@contextmanager
def _captured(notes: list[str]) -> Iterator[None]:
    """Silences warnings and numpy floating-point messages; appends short reasons to ``notes``.

    Deprecation and future warnings (about library internals) are dropped;
    known scipy messages are shortened (:data:`_WARNING_NOTES`); any other
    warning is kept as its first line.
    """
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue  # about library internals (e.g. numpy API deprecations), not about the data
        text = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
        reason = next((v for k, v in _WARNING_NOTES.items() if text.startswith(k)), text)
        if reason not in notes:
            notes.append(reason)


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


def _pairs(a: Any, b: Any, label_a: str, label_b: str) -> tuple[np.ndarray, np.ndarray, int]:
    what_a, what_b = f"a ({label_a!r})", f"b ({label_b!r})"
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        for s, what in ((a, what_a), (b, what_b)):
            if s.index.has_duplicates:
                raise DataError(f"{what} lists unit(s) more than once: {_few(map(str, s.index[s.index.duplicated()]))}")
        if len(a) and len(b) and not len(a.index.intersection(b.index)):
            raise DataError(
                f"{what_a} and {what_b} share no index value (unit id): cannot pair them; "
                f"pass arrays to pair by position"
            )
        index = a.index.union(b.index)
        try:
            index = index.sort_values()
        except TypeError:  # mixed id types: a stable order anyway
            index = index[np.argsort(index.astype(str), kind="stable")]
        x, y = _to_float(a.reindex(index), what_a), _to_float(b.reindex(index), what_b)
    else:
        x, y = _to_float(a, what_a), _to_float(b, what_b)
        if x.size != y.size:
            raise DataError(f"{what_a} and {what_b} have different lengths ({x.size} and {y.size}): cannot pair them")
        index = None
    _check_finite(x, what_a, index)
    _check_finite(y, what_b, index)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep], int((~keep).sum())


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


def _bootstrap_paired(d: np.ndarray, n_boot: int, confidence: float, seed: int | None) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    return _percentiles(means, confidence)


def _bootstrap_independent(
    x: np.ndarray, y: np.ndarray, n_boot: int, confidence: float, seed: int | None
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    mean_x = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    mean_y = y[rng.integers(0, y.size, size=(n_boot, y.size))].mean(axis=1)
    return _percentiles(mean_x - mean_y, confidence)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _constant(x: np.ndarray) -> bool:
    """All values equal, up to floating-point noise (e.g. ``(b + 0.25) - b``)."""
    return bool(np.ptp(x) <= 1e-9 * np.max(np.abs(x)))


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else _NAN


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else _NAN


def _few(items: Any, limit: int = 10) -> str:
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _signed(x: float) -> str:
    if not np.isfinite(x):
        return _MISSING
    if x == 0:
        return "0"
    return f"{x:+.2f}" if abs(x) >= 0.1 else f"{x:+.2g}"


def _p_phrase(p: float) -> str:
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _ci_phrase(row: dict[str, Any], confidence: float, what: str) -> str:
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return ""
    return f"{_percent(confidence)} CI of {what} {_signed(row['ci_low'])} to {_signed(row['ci_high'])}"


def _percent(confidence: float) -> str:
    return f"{confidence * 100:.3g}%"


def _direction(*values: float) -> int:
    """The sign of the first finite non-zero value (0 when none)."""
    for v in values:
        if np.isfinite(v) and v != 0:
            return int(math.copysign(1, v))
    return 0


def _effect_phrase(r: float, note: str = "", units: str = "pairs") -> str:
    """``"large effect (r = 0.62)"``, or why there is no effect size."""
    if np.isfinite(r):
        return f"{effect_label(r)} effect (r = {r:.2f})"
    return f"too few {units} for an effect size{_untied_detail(note)}"


def _untied_detail(note: str) -> str:
    """`` (2 untied < 5)`` from the note of :func:`_drop_rank_effect`, else empty."""
    for part in note.split("; "):
        if part.startswith("too few untied ") and " (" in part:
            return " (" + part.split(" (", 1)[1]
    return ""


def _paired_summary(row: dict[str, Any], *, confidence: float, units: str) -> str:
    la, lb, n, metric = row["label_a"], row["label_b"], row["n"], row["metric"]
    if not np.isfinite(row["p_value"]):
        reason = row["note"].split(";")[0].split(":")[0]
        extra = f" ({la} and {lb} tie on all {n} {units})" if row["n_ties"] == n and n else ""
        return f"no test of {la} vs {lb} on {metric}: {reason}{extra}"
    ci = _ci_phrase(row, confidence, "mean")
    tail = f"Wilcoxon {_p_phrase(row['p_value'])}, {_effect_phrase(row['rank_biserial'], row['note'])}"
    if row["significant"]:
        sign = _direction(row["median_diff"], row["rank_biserial"])
        verb, better, worse, other = (
            ("beats", row["n_a_better"], row["n_b_better"], "worse")
            if sign > 0
            else ("is worse than", row["n_b_better"], row["n_a_better"], "better")
        )
        counts = f"on {better} of {n} {units} ({worse} {other}, {row['n_ties']} tied)"
        delta = f"median delta {metric} {_signed(row['median_diff'])}" + (f" ({ci})" if ci else "")
        return f"{la} {verb} {lb} {counts}, {delta}, {tail}"
    counts = f"{la} better on {row['n_a_better']} of {n} {units}, {row['n_b_better']} worse, {row['n_ties']} tied"
    delta = f"median delta {metric} {_signed(row['median_diff'])}" + (f", {ci}" if ci else "")
    return f"no significant difference between {la} and {lb} ({counts}; {delta}; {tail})"


def _independent_summary(row: dict[str, Any], *, confidence: float) -> str:
    la, lb, metric = row["label_a"], row["label_b"], row["metric"]
    sizes = f"median {row['median_a']:.3g} vs {row['median_b']:.3g}, n = {row['n_a']} vs {row['n_b']}"
    if not np.isfinite(row["p_value"]):
        reason = row["note"].split(": no test")[0]
        return f"no test of {la} vs {lb} on {metric}: {reason}"
    ci = _ci_phrase(row, confidence, "mean delta")
    tail = f"Mann-Whitney {_p_phrase(row['p_value'])}, {_effect_phrase(row['rank_biserial'], units='values')}"
    detail = f"{sizes}" + (f", {ci}" if ci else "")
    if row["significant"]:
        verb = "beats" if _direction(row["median_diff"], row["rank_biserial"]) > 0 else "is worse than"
        return f"{la} {verb} {lb} on {metric} ({detail}), {tail}"
    return f"no significant difference between {la} and {lb} on {metric} ({detail}; {tail})"


def _omnibus_summary(row: dict[str, Any], conditions: list[Any]) -> str:
    names = ", ".join(map(str, conditions))
    dropped = f", {row['n_dropped_subjects']} dropped" if row["n_dropped_subjects"] else ""
    if not np.isfinite(row["p_value"]):
        reason = row["note"].split(": no test")[0]
        return f"no test of {names} on {row['dv']}: {reason}"
    w = (
        f"Kendall's W = {row['kendall_w']:.2f}"
        if np.isfinite(row["kendall_w"])
        else f"too few subjects for an effect size{_untied_detail(row['note'])}"
    )
    stats = f"Friedman Q = {row['statistic']:.2f}, {_p_phrase(row['p_value'])}, {w}, {row['n_subjects']} subjects{dropped}"
    if row["significant"]:
        return f"the {row['n_conditions']} conditions ({names}) differ on {row['dv']} ({stats})"
    return f"no significant difference among {names} on {row['dv']} ({stats})"


def _pairwise_summary(row: dict[str, Any]) -> str:
    a, b = row["a"], row["b"]
    if not np.isfinite(row["p_value"]):
        return f"no test of {a} vs {b}: {row['note'].split(': no test')[0]}"
    tail = f"Holm {_p_phrase(row['p_holm'])}, {_effect_phrase(row['rank_biserial'], row['note'])}"
    delta = f"median delta {_signed(row['median_diff'])} on {row['n']} subjects"
    if row["significant"]:
        verb = "beats" if _direction(row["median_diff"], row["rank_biserial"]) > 0 else "is worse than"
        return f"{a} {verb} {b} ({delta}; {tail})"
    return f"no significant difference between {a} and {b} ({delta}; {tail})"


def _cells(
    table: pd.DataFrame, columns: Sequence[str] | None, digits: int
) -> tuple[list[str], list[list[str]], list[bool]]:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ConfigError(f"digits must be a non-negative integer, got {digits!r}")
    names = list(table.columns) if columns is None else list(columns)
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise ConfigError(
            f"column(s) {', '.join(map(repr, missing))} not in the table (it has {_few(map(str, table.columns), 40)})"
        )
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in names]
    rows = [
        [_cell(value, str(name), digits) for name, value in zip(names, record)]
        for record in table[names].itertuples(index=False, name=None)
    ]
    return [str(n) for n in names], rows, numeric


def _cell(value: Any, name: str, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer, float, np.floating)):
        if name == "p_value" or name.startswith("p_"):
            return format_p(float(value))
        if (name == "n" or name.startswith("n_")) and float(value).is_integer():
            return str(int(value))
        if isinstance(value, (int, np.integer)):
            return str(value)
        return f"{value:.{digits}f}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("|", "\\|")


_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def _tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in text.replace("\n", " "))
