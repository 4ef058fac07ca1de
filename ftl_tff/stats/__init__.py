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

The package, one concern per module (every public name is imported from
``ftl_tff.stats``): :mod:`~ftl_tff.stats.paired`,
:mod:`~ftl_tff.stats.independent` and :mod:`~ftl_tff.stats.multi` run the
tests, calling pingouin through :mod:`~ftl_tff.stats.backend` and
:mod:`~ftl_tff.stats.bootstrap` for the intervals;
:mod:`~ftl_tff.stats.summaries` words the results (``format_p``,
``effect_label``, the ``summary`` sentences); :mod:`~ftl_tff.stats.render`
writes Markdown and LaTeX tables; :mod:`~ftl_tff.stats.columns` lists the
result columns.

Example:
    >>> a = pd.Series([0.9, 0.8, 0.85, 0.7, 0.95, 0.9], index=list("uvwxyz"))
    >>> b = pd.Series([0.6, 0.7, 0.80, 0.7, 0.50, 0.4], index=list("uvwxyz"))
    >>> row = paired_comparison(a, b, label_a="fine-tune", label_b="local")
    >>> int(row.loc[0, "n_a_better"]), int(row.loc[0, "n_ties"]), row.loc[0, "effect"]
    (5, 1, 'large')
"""

from __future__ import annotations

from .columns import INDEPENDENT_COLUMNS, OMNIBUS_COLUMNS, PAIRED_COLUMNS, PAIRWISE_COLUMNS, REPORT_COLUMNS
from .independent import independent_comparison
from .multi import MultiComparison, multi_comparison
from .paired import paired_by, paired_comparison
from .render import to_latex, to_markdown
from .summaries import effect_label, format_p

# In reading order: the API reference lists the members in this order (members_order: __all__).
__all__ = [
    "PAIRED_COLUMNS",
    "INDEPENDENT_COLUMNS",
    "OMNIBUS_COLUMNS",
    "PAIRWISE_COLUMNS",
    "REPORT_COLUMNS",
    "MultiComparison",
    "format_p",
    "effect_label",
    "paired_comparison",
    "independent_comparison",
    "multi_comparison",
    "paired_by",
    "to_markdown",
    "to_latex",
]
