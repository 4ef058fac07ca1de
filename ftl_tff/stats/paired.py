"""Two methods on the same nodes: :func:`paired_comparison` and the long-table helper :func:`paired_by`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, SchemaError, SelectionError
from .backend import _captured, _effsize, _ttest, _wilcoxon
from .bootstrap import _bootstrap_paired
from .columns import PAIRED_COLUMNS
from .common import _NAN, _check_common, _check_finite, _constant, _drop_rank_effect, _mean, _median, _to_float
from .summaries import _few, _paired_summary, _signed, effect_label

__all__ = ["paired_by", "paired_comparison"]


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
    d = x - y
    out: dict[str, float] = {}
    n_zero = int((d == 0).sum())
    with _captured(notes):
        out["cles"] = _effsize(x, y, paired=True, eftype="CLES")
        if n_zero == d.size:
            notes.insert(0, "all differences are zero: no test")
            out.update(statistic=_NAN, p_value=_NAN, rank_biserial=0.0)
        else:
            if n_zero:
                notes.append(f"{n_zero} tied pair(s) left out of the Wilcoxon ranks (zero_method='wilcox')")
            out.update(_wilcoxon(x, y))
        if _constant(d):
            if n_zero != d.size:
                notes.append(f"all differences are equal ({_signed(d[0])}): no t-test")
            out.update(t=_NAN, p_value_t=_NAN)
        else:
            out.update(_ttest(x, y, paired=True))
        if not (_constant(x) and _constant(y)):
            out["cohen_d"] = _effsize(x, y, paired=True, eftype="cohen")
            out["hedges_g"] = _effsize(x, y, paired=True, eftype="hedges")
        else:
            out.update(cohen_d=_NAN, hedges_g=_NAN)
    return out


def _pairs(a: Any, b: Any, label_a: str, label_b: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The usable pairs of ``a`` and ``b`` (by index for two Series, else by position) and the number dropped."""
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
