"""The columns of the comparison results, in order.

The comparisons of :mod:`ftl_tff.stats` return DataFrames with exactly these
columns; :data:`REPORT_COLUMNS` is the compact subset a report table shows.
"""

from __future__ import annotations

__all__ = ["INDEPENDENT_COLUMNS", "OMNIBUS_COLUMNS", "PAIRED_COLUMNS", "PAIRWISE_COLUMNS", "REPORT_COLUMNS"]

_HEAD = ("comparison", "metric", "label_a", "label_b", "test")
# What both two-sample comparisons report after their counts.
_RESULTS = ("mean_a", "mean_b", "median_a", "median_b", "mean_diff", "median_diff", "ci_low", "ci_high", "statistic",
            "p_value", "t", "p_value_t", "rank_biserial", "cles", "cohen_d", "hedges_g", "effect", "significant",
            "note", "summary")

#: Columns of :func:`~ftl_tff.stats.paired_comparison`, in order.
PAIRED_COLUMNS: tuple[str, ...] = (*_HEAD, "n", "n_dropped", "n_a_better", "n_b_better", "n_ties", *_RESULTS)

#: Columns of :func:`~ftl_tff.stats.independent_comparison`, in order.
INDEPENDENT_COLUMNS: tuple[str, ...] = (*_HEAD, "n_a", "n_b", "n_dropped", *_RESULTS)

#: Columns of the ``omnibus`` table of a :class:`~ftl_tff.stats.MultiComparison`, in order.
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

#: Columns of the ``pairwise`` table of a :class:`~ftl_tff.stats.MultiComparison`, in order.
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

#: The compact columns a report table shows (pass as ``columns`` to
#: :func:`~ftl_tff.stats.to_markdown` or :func:`~ftl_tff.stats.to_latex`).
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
