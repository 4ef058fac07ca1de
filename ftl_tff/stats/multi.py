"""Two or more methods on the same nodes: :func:`multi_comparison` (Friedman, then Holm-corrected Wilcoxon)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, SchemaError
from .backend import _captured, _friedman, _holm, _wilcoxon
from .columns import OMNIBUS_COLUMNS, PAIRWISE_COLUMNS
from .common import _NAN, _check_common, _constant, _drop_rank_effect, _median
from .summaries import _few, _omnibus_summary, _pairwise_summary, effect_label

__all__ = ["MultiComparison", "multi_comparison"]


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
      ``table``), the same Wilcoxon test as
      :func:`~ftl_tff.stats.paired_comparison` on the complete subjects
      (``p_value``, uncorrected), then Holm's correction
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
            first, e.g. with :func:`~ftl_tff.stats.paired_by` or a groupby mean), ``dv``
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
    conditions = _check_long_table(table, dv=dv, within=within, subject=subject)
    wide = table.pivot(index=subject, columns=within, values=dv).reindex(columns=conditions)
    complete = wide.dropna()
    dropped = [s for s in wide.index if s not in complete.index]
    omnibus = _omnibus_row(complete, dropped, dv=dv, within=within, subject=subject, min_subjects=min_subjects)
    omnibus["significant"] = bool(np.isfinite(omnibus["p_value"]) and omnibus["p_value"] < alpha)
    omnibus["summary"] = _omnibus_summary(omnibus, conditions)

    enough = len(complete) >= min_subjects
    rows = [_pairwise_row(complete, ca, cb, enough, min_subjects) for ca, cb in itertools.combinations(conditions, 2)]
    pairwise = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
    p = pairwise["p_value"].to_numpy(dtype=float)
    if np.isfinite(p).any():
        pairwise["p_holm"] = _holm(p, alpha)
    pairwise["significant"] = (pairwise["p_holm"] < alpha).astype(bool)
    pairwise["summary"] = [_pairwise_summary(r) for r in pairwise.to_dict("records")]
    return MultiComparison(omnibus=pd.DataFrame([omnibus], columns=list(OMNIBUS_COLUMNS)), pairwise=pairwise)


def _check_long_table(table: pd.DataFrame, *, dv: str, within: str, subject: str) -> list[Any]:
    """The conditions of ``table`` in order of first appearance, after checking it (see :func:`multi_comparison`)."""
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
    return conditions


def _omnibus_row(
    complete: pd.DataFrame, dropped: list[Any], *, dv: str, within: str, subject: str, min_subjects: int
) -> dict[str, Any]:
    """The Friedman test of the complete subjects (rows of ``complete``), without ``significant`` and ``summary``."""
    n, k = complete.shape
    omnibus: dict[str, Any] = dict.fromkeys(OMNIBUS_COLUMNS, _NAN)
    omnibus.update(dv=dv, within=within, test="friedman", n_subjects=n, n_conditions=k, n_dropped_subjects=len(dropped))
    notes: list[str] = []
    if dropped:
        notes.append(f"{len(dropped)} subject(s) dropped (a condition missing or NaN): {_few(map(str, dropped))}")
    n_untied = sum(not _constant(values) for values in complete.to_numpy(dtype=float))
    if n < min_subjects:
        notes.insert(0, f"too few complete subjects (n={n} < {min_subjects}): no test")
    elif not n_untied:
        notes.insert(0, "all conditions tie within every subject: no test")
    else:
        long = complete.reset_index().melt(id_vars=subject, var_name=within, value_name=dv)
        with _captured(notes):
            omnibus.update(_friedman(long, dv=dv, within=within, subject=subject))
        _drop_rank_effect(omnibus, "kendall_w", n_untied, min_subjects, "subjects", notes)
    omnibus["note"] = "; ".join(notes)
    return omnibus


def _pairwise_row(complete: pd.DataFrame, ca: Any, cb: Any, enough: bool, min_subjects: int) -> dict[str, Any]:
    """The Wilcoxon test of conditions ``ca`` and ``cb``, without ``p_holm``, ``significant`` and ``summary``."""
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
        with _captured(notes):
            row.update(_wilcoxon(x, y))
        _drop_rank_effect(row, "rank_biserial", int(d.size) - n_zero, min_subjects, "subjects", notes)
    row["effect"] = effect_label(row["rank_biserial"])
    row["note"] = "; ".join(notes)
    return row
