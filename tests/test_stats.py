"""Tests of the comparison statistics: agreement with pingouin and scipy, guard rails, summaries, renderers."""

from __future__ import annotations

import ast
import doctest
import re
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats as sps

from ftl_tff import stats
from ftl_tff.errors import ConfigError, DataError, FtlError, SchemaError, SelectionError
from ftl_tff.stats import (
    INDEPENDENT_COLUMNS,
    OMNIBUS_COLUMNS,
    PAIRED_COLUMNS,
    PAIRWISE_COLUMNS,
    REPORT_COLUMNS,
    MultiComparison,
    effect_label,
    format_p,
    independent_comparison,
    multi_comparison,
    paired_by,
    paired_comparison,
    to_latex,
    to_markdown,
)
from ftl_tff.stats.backend import _value

NODES = [f"n{i}" for i in range(30)]


@contextmanager
def strict():
    """Any warning inside the block fails the test (none may leak to the user)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@contextmanager
def reference():
    """Reference calls to scipy/pingouin may warn (e.g. normal approximation): not under test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def first(row: pd.DataFrame) -> dict:
    assert len(row) == 1
    return row.iloc[0].to_dict()


def pg_col(result, name: str):
    """A column of a pingouin result by its pingouin 0.6 name (``p_val``), else by its 0.5 spelling (``p-val``)."""
    return result[name] if name in result else result[name.replace("_", "-")]


@pytest.fixture
def continuous():
    """30 nodes, no ties: scipy's exact Wilcoxon."""
    rng = np.random.default_rng(7)
    b = rng.uniform(0.3, 0.7, 30)
    a = b + rng.normal(0.05, 0.1, 30)
    return pd.Series(a, index=NODES), pd.Series(b, index=NODES)


@pytest.fixture
def rounded():
    """40 nodes rounded to 2 decimals: zero and tied differences, normal approximation."""
    rng = np.random.default_rng(11)
    b = np.round(rng.uniform(0.3, 0.7, 40), 2)
    a = np.round(b + rng.normal(0.03, 0.05, 40), 2)
    a[:4] = b[:4]
    return a, b


def margin_deltas(n_better: int, n_worse: int, n_tied: int) -> np.ndarray:
    return np.concatenate([np.linspace(0.1, 0.3, n_better), -np.linspace(0.01, 0.02, n_worse), np.zeros(n_tied)])


# --------------------------------------------------------------------------- paired


@pytest.mark.parametrize("data", ["continuous", "rounded"])
def test_paired_agrees_with_pingouin_and_scipy(data, request):
    a, b = request.getfixturevalue(data)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with strict():
        row = first(paired_comparison(a, b, label_a="fine-tune", label_b="local"))
    with reference():
        sp_w = sps.wilcoxon(x, y, correction=True)  # pingouin's default continuity correction
        sp_t = sps.ttest_rel(x, y)
        pg_w = pg.wilcoxon(x, y, alternative="two-sided")
        pg_t = pg.ttest(x, y, paired=True)
    assert row["statistic"] == pytest.approx(sp_w.statistic) == pytest.approx(pg_col(pg_w, "W_val").iloc[0])
    assert row["p_value"] == pytest.approx(sp_w.pvalue, rel=1e-12) == pytest.approx(pg_col(pg_w, "p_val").iloc[0])
    assert row["t"] == pytest.approx(sp_t.statistic) == pytest.approx(pg_t["T"].iloc[0])
    assert row["p_value_t"] == pytest.approx(sp_t.pvalue, rel=1e-12) == pytest.approx(pg_col(pg_t, "p_val").iloc[0])
    assert row["rank_biserial"] == pytest.approx(pg_w["RBC"].iloc[0])
    assert row["cles"] == pytest.approx(pg_w["CLES"].iloc[0])
    assert row["cohen_d"] == pytest.approx(pg.compute_effsize(x, y, paired=True, eftype="cohen"))
    assert row["hedges_g"] == pytest.approx(pg.compute_effsize(x, y, paired=True, eftype="hedges"))
    d = x - y
    assert (row["n"], row["n_a_better"], row["n_b_better"], row["n_ties"]) == (
        len(d),
        (d > 0).sum(),
        (d < 0).sum(),
        (d == 0).sum(),
    )
    assert row["mean_diff"] == pytest.approx(d.mean()) and row["median_diff"] == pytest.approx(np.median(d))
    assert row["effect"] == effect_label(row["rank_biserial"])
    assert row["significant"] == (sp_w.pvalue < 0.05)


def test_paired_rank_biserial_matches_kerby_by_hand():
    a = np.array([10.0, 9.0, 8.0, 7.0, 6.0, 5.0])
    b = np.array([6.0, 10.0, 5.0, 4.0, 5.0, 5.5])
    d = a - b  # 4, -1, 3, 3, 1, -0.5: ranks of |d| 6, 2.5, 4.5, 4.5, 2.5, 1
    r_minus = 2.5 + 1
    r_plus = 21 - r_minus
    with strict():
        row = first(paired_comparison(a, b))
    assert row["rank_biserial"] == pytest.approx((r_plus - r_minus) / 21)
    assert (row["n_a_better"], row["n_b_better"]) == ((d > 0).sum(), (d < 0).sum())


def test_paired_columns_are_stable():
    row = paired_comparison(np.arange(6.0), np.arange(6.0)[::-1])
    assert list(row.columns) == [
        "comparison", "metric", "label_a", "label_b", "test",
        "n", "n_dropped", "n_a_better", "n_b_better", "n_ties",
        "mean_a", "mean_b", "median_a", "median_b", "mean_diff", "median_diff", "ci_low", "ci_high",
        "statistic", "p_value", "t", "p_value_t", "rank_biserial", "cles", "cohen_d", "hedges_g",
        "effect", "significant", "note", "summary",
    ]
    assert tuple(row.columns) == PAIRED_COLUMNS  # and the documented constant names them
    assert row.loc[0, "test"] == "wilcoxon" and row.loc[0, "comparison"] == "a vs b"


def test_pairs_are_aligned_by_index_not_position(continuous):
    a, b = continuous
    reference_row = paired_comparison(a, b, seed=3)
    shuffled = paired_comparison(a.sample(frac=1, random_state=1), b.sample(frac=1, random_state=2), seed=3)
    pd.testing.assert_frame_equal(reference_row, shuffled)
    # same order on both sides but shuffled: still the same (bootstrap included)
    order = np.random.default_rng(0).permutation(len(a))
    pd.testing.assert_frame_equal(reference_row, paired_comparison(a.iloc[order], b.iloc[order], seed=3))
    # positional pairing of the shuffled arrays would be different
    assert (
        paired_comparison(a.sample(frac=1, random_state=1).to_numpy(), b.to_numpy()).loc[0, "p_value"]
        != (reference_row.loc[0, "p_value"])
    )


def test_nan_and_unmatched_pairs_are_dropped_and_counted(continuous):
    a, b = continuous
    a_nan = a.copy()
    a_nan.iloc[[2, 5]] = np.nan
    b_short = b.drop(index=["n7"])  # n7 only in a
    with strict():
        row = first(paired_comparison(a_nan, b_short))
    keep = [n for i, n in enumerate(NODES) if i not in (2, 5) and n != "n7"]
    clean = first(paired_comparison(a[keep], b[keep]))
    assert row["n"] == 27 and row["n_dropped"] == 3
    assert "3 pair(s) dropped" in row["note"]
    for column in ("statistic", "p_value", "t", "rank_biserial", "ci_low", "ci_high", "mean_a", "median_diff"):
        assert row[column] == pytest.approx(clean[column])


def test_bootstrap_ci_is_deterministic_and_covers_the_mean_difference():
    rng = np.random.default_rng(42)
    b = rng.normal(0.5, 0.1, 50)
    a = b + rng.normal(0.1, 0.05, 50)
    one = first(paired_comparison(a, b, seed=5))
    again = first(paired_comparison(a, b, seed=5))
    other = first(paired_comparison(a, b, seed=6))
    assert (one["ci_low"], one["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (one["ci_low"], one["ci_high"]) != (other["ci_low"], other["ci_high"])
    assert one["ci_low"] < one["mean_diff"] < one["ci_high"]
    # close to the normal-theory interval of the mean difference
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert one["ci_high"] - one["ci_low"] == pytest.approx(2 * half, rel=0.2)
    narrow = first(paired_comparison(a, b, seed=5, confidence=0.5))
    assert one["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < one["ci_high"]


def test_too_few_pairs_gives_no_test_and_no_warning():
    with strict():
        row = first(paired_comparison([0.9, 0.8, 0.7], [0.5, 0.6, 0.4], label_a="fed", label_b="local"))
    assert row["n"] == 3 and row["n_a_better"] == 3
    assert row["note"] == "too few pairs (n=3 < 5): no test"
    for column in ("statistic", "p_value", "t", "p_value_t", "rank_biserial", "cles", "cohen_d", "ci_low"):
        assert np.isnan(row[column]), column
    assert row["significant"] is False and row["effect"] == "n/a"
    assert row["summary"] == "no test of fed vs local on f1: too few pairs (n=3 < 5)"
    with strict():
        empty = first(paired_comparison([], []))
    assert empty["n"] == 0 and np.isnan(empty["mean_a"]) and "too few pairs (n=0 < 5)" in empty["note"]


def test_all_zero_differences_give_no_test():
    a = [0.5, 0.6, 0.7, 0.8, 0.9, 0.4]
    with strict():
        row = first(paired_comparison(a, list(a), label_a="fed", label_b="local"))
    assert np.isnan(row["p_value"]) and np.isnan(row["statistic"]) and np.isnan(row["p_value_t"])
    assert row["note"].startswith("all differences are zero: no test")
    assert row["n_ties"] == row["n"] == 6
    assert row["rank_biserial"] == 0 and row["cohen_d"] == 0 and row["cles"] == 0.5
    assert row["significant"] is False
    assert "tie on all 6 nodes" in row["summary"] and row["summary"].startswith("no test of fed vs local")


def test_all_equal_differences_skip_the_t_test_but_not_wilcoxon():
    b = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    a = b + 0.25
    with strict():
        row = first(paired_comparison(a, b))
    assert np.isnan(row["t"]) and np.isnan(row["p_value_t"])
    assert "all differences are equal (+0.25): no t-test" in row["note"]
    with reference():
        expected = sps.wilcoxon(a, b, correction=True).pvalue
    assert row["p_value"] == pytest.approx(expected)
    assert row["rank_biserial"] == 1.0


def test_zero_differences_are_dropped_from_ranks_and_noted(rounded):
    a, b = rounded
    with strict():
        row = first(paired_comparison(a, b))
    n_zero = int((a == b).sum())
    assert row["n_ties"] == n_zero >= 4
    assert f"{n_zero} tied pair(s) left out of the Wilcoxon ranks (zero_method='wilcox')" in row["note"]
    assert "normal approximation used (zero differences)" in row["note"]
    with reference():
        wilcox = sps.wilcoxon(a, b, zero_method="wilcox", correction=True)
        pratt = sps.wilcoxon(a, b, zero_method="pratt", correction=True)
    assert row["p_value"] == pytest.approx(wilcox.pvalue)
    assert row["p_value"] != pytest.approx(pratt.pvalue)



def test_two_untied_pairs_give_no_effect_size():
    # 6 pairs, 4 of them tied: the Wilcoxon ranks hold 2 pairs, whose rank-biserial r is 1
    a = [0.9, 0.8, 0.5, 0.5, 0.5, 0.5]
    b = [0.6, 0.7, 0.5, 0.5, 0.5, 0.5]
    with strict():
        row = first(paired_comparison(a, b, label_a="fed", label_b="local"))
    assert (row["n"], row["n_ties"], row["n_a_better"]) == (6, 4, 2)
    assert np.isfinite(row["p_value"])  # the test still runs
    assert np.isnan(row["rank_biserial"]) and row["effect"] == "n/a"
    assert "too few untied pairs for an effect size (2 untied < 5)" in row["note"]
    assert "too few pairs for an effect size" in row["summary"]
    assert "large" not in row["summary"] and "r = " not in row["summary"]
    # the same two pairs alone, with the default min_pairs: no test and no effect size at all
    with strict():
        alone = first(paired_comparison(a[:2], b[:2]))
    for column in ("p_value", "rank_biserial", "cles", "cohen_d", "hedges_g"):
        assert np.isnan(alone[column]), column
    assert alone["effect"] == "n/a" and "large" not in alone["summary"]
    assert alone["note"] == "too few pairs (n=2 < 5): no test"


def test_enough_untied_pairs_keep_the_effect_size():
    # 5 untied pairs (the minimum) among 8: r is computed as before
    a = [0.9, 0.8, 0.85, 0.7, 0.95, 0.5, 0.5, 0.5]
    b = [0.6, 0.7, 0.80, 0.6, 0.50, 0.5, 0.5, 0.5]
    with strict():
        row = first(paired_comparison(a, b, label_a="fed", label_b="local"))
    with reference():
        expected = pg.wilcoxon(a, b, alternative="two-sided")["RBC"].iloc[0]
    assert row["rank_biserial"] == pytest.approx(expected) == pytest.approx(1.0)
    assert row["effect"] == "large" and "effect size" not in row["note"]
    assert f"large effect (r = {row['rank_biserial']:.2f})" in row["summary"]
    assert "too few" not in row["summary"]
    # a lower min_pairs asks for fewer untied pairs
    with strict():
        lenient = first(paired_comparison(a[:2] + [0.5] * 4, b[:2] + [0.5] * 4, min_pairs=2))
    assert lenient["rank_biserial"] == 1.0 and lenient["effect"] == "large"

@pytest.mark.parametrize("which", ["a", "b"])
def test_infinite_values_raise_a_data_error_naming_the_input(continuous, which):
    a, b = (s.copy() for s in continuous)
    (a if which == "a" else b).iloc[4] = np.inf
    with pytest.raises(DataError, match=rf"{which} \('{'fed' if which == 'a' else 'local'}'\).*inf.*n4"):
        paired_comparison(a, b, label_a="fed", label_b="local")
    with pytest.raises(DataError, match=rf"{which} \(.*inf"):
        independent_comparison(a.to_numpy(), b.to_numpy())


def test_bad_paired_inputs_raise():
    with pytest.raises(DataError, match="share no index"):
        paired_comparison(pd.Series([1.0, 2.0], index=["x", "y"]), pd.Series([1.0, 2.0], index=["u", "v"]))
    with pytest.raises(DataError, match="more than once: x"):
        paired_comparison(pd.Series([1.0, 2.0], index=["x", "x"]), pd.Series([1.0, 2.0], index=["x", "y"]))
    with pytest.raises(DataError, match="different lengths"):
        paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(DataError, match="non-numeric"):
        paired_comparison(["high", "low"], [1.0, 2.0])
    with pytest.raises(DataError, match="one-dimensional"):
        paired_comparison(np.ones((3, 2)), np.ones((3, 2)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_boot": 0}, "n_boot"),
        ({"confidence": 1.0}, "confidence"),
        ({"alpha": 0}, "alpha"),
        ({"min_pairs": 1}, "min_pairs"),
    ],
)
def test_bad_parameters_raise_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        paired_comparison([1.0] * 6, [2.0] * 6, **kwargs)


# --------------------------------------------------------------------------- summaries and formatting


def test_summary_of_a_significant_win_counts_nodes_and_names_the_direction():
    b = pd.Series(np.linspace(0.3, 0.6, 30), index=NODES)
    a = b + margin_deltas(27, 2, 1)
    with strict():
        row = first(paired_comparison(a, b, label_a="fine-tune", label_b="local"))
    assert row["significant"] and row["effect"] == "large"
    s = row["summary"]
    assert s.startswith("fine-tune beats local on 27 of 30 nodes (2 worse, 1 tied), median delta f1 +0.")
    assert "95% CI of mean +" in s and f"Wilcoxon p {format_p(row['p_value'])}" in s.replace("p =", "p")
    assert f"large effect (r = {row['rank_biserial']:.2f})" in s
    with strict():
        swapped = first(paired_comparison(b, a, label_a="local", label_b="fine-tune"))
    assert swapped["summary"].startswith("local is worse than fine-tune on 27 of 30 nodes (2 better, 1 tied)")
    assert swapped["p_value"] == pytest.approx(row["p_value"])
    assert swapped["rank_biserial"] == pytest.approx(-row["rank_biserial"])


def test_summary_says_no_significant_difference_when_p_is_not_below_alpha():
    rng = np.random.default_rng(3)
    b = rng.uniform(0.3, 0.7, 30)
    a = b + rng.normal(0, 0.1, 30)
    with strict():
        row = first(paired_comparison(a, b, label_a="fine-tune", label_b="local"))
    assert row["p_value"] >= 0.05 and not row["significant"]
    assert row["summary"].startswith("no significant difference between fine-tune and local (")
    assert f"p = {format_p(row['p_value'])}" in row["summary"]
    assert "beats" not in row["summary"] and "worse than" not in row["summary"]
    # the same data is 'significant' at a lenient alpha exactly when p < alpha
    lenient = first(paired_comparison(a, b, alpha=min(0.999, row["p_value"] + 0.01)))
    assert lenient["significant"] and "no significant" not in lenient["summary"]


@pytest.mark.parametrize(
    "p, text",
    [
        (0.41234, "0.41"),
        (0.05, "0.05"),
        (0.031234, "0.031"),
        (0.0003, "0.0003"),
        (0.00012, "0.0001"),
        (0.00009, "< 0.0001"),
        (1.0, "1"),
        (float("nan"), "n/a"),
        (None, "n/a"),
    ],
)
def test_format_p(p, text):
    assert format_p(p) == text


@pytest.mark.parametrize(
    "value, kind, word",
    [
        (0.0999, "rank_biserial", "negligible"),
        (0.1, "rank_biserial", "small"),
        (-0.35, "rank_biserial", "medium"),
        (0.5, "rank_biserial", "large"),
        (0.19, "cohen_d", "negligible"),
        (-0.5, "cohen_d", "medium"),
        (0.79, "hedges_g", "medium"),
        (0.8, "cohen_d", "large"),
        (float("nan"), "cohen_d", "n/a"),
    ],
)
def test_effect_label_thresholds(value, kind, word):
    assert effect_label(value, kind=kind) == word


def test_effect_label_rejects_unknown_kinds():
    with pytest.raises(ConfigError, match="eta"):
        effect_label(0.3, kind="eta")


# --------------------------------------------------------------------------- independent


def test_independent_agrees_with_pingouin_and_scipy():
    rng = np.random.default_rng(5)
    x = rng.normal(0.6, 0.1, 18)
    y = rng.normal(0.5, 0.15, 25)
    with strict():
        row = first(independent_comparison(x, y, label_a="participating", label_b="others"))
    with reference():
        sp_u = sps.mannwhitneyu(x, y, alternative="two-sided")
        sp_t = sps.ttest_ind(x, y, equal_var=False)
        pg_u = pg.mwu(x, y, alternative="two-sided")
        pg_t = pg.ttest(x, y, correction=True)
    assert row["statistic"] == pytest.approx(sp_u.statistic) == pytest.approx(pg_col(pg_u, "U_val").iloc[0])
    assert row["p_value"] == pytest.approx(sp_u.pvalue, rel=1e-12) == pytest.approx(pg_col(pg_u, "p_val").iloc[0])
    assert row["t"] == pytest.approx(sp_t.statistic) == pytest.approx(pg_t["T"].iloc[0])
    assert row["p_value_t"] == pytest.approx(sp_t.pvalue, rel=1e-12) == pytest.approx(pg_col(pg_t, "p_val").iloc[0])
    # (U_a - U_b) / (n_a n_b) = 2 CLES - 1, positive when A is higher (pingouin 0.5.4's RBC has the other sign)
    assert row["rank_biserial"] == pytest.approx(2 * pg_u["CLES"].iloc[0] - 1)
    assert row["rank_biserial"] == pytest.approx(2 * sp_u.statistic / (x.size * y.size) - 1)
    assert row["cles"] == pytest.approx(pg_u["CLES"].iloc[0])
    assert row["cohen_d"] == pytest.approx(pg.compute_effsize(x, y, paired=False, eftype="cohen"))
    assert row["hedges_g"] == pytest.approx(pg.compute_effsize(x, y, paired=False, eftype="hedges"))
    assert (row["n_a"], row["n_b"], row["test"]) == (18, 25, "mannwhitney")
    assert row["median_diff"] == pytest.approx(np.median(x) - np.median(y))
    assert row["ci_low"] < row["mean_diff"] < row["ci_high"]


def test_independent_columns_nan_counting_and_determinism():
    x = [0.9, np.nan, 0.8, 0.85, 0.9, 0.95, 0.7]
    y = [0.5, 0.6, np.nan, np.nan, 0.55, 0.7, 0.65]
    with strict():
        table = independent_comparison(x, y, seed=1)
    row = first(table)
    assert list(table.columns) == [
        "comparison", "metric", "label_a", "label_b", "test",
        "n_a", "n_b", "n_dropped",
        "mean_a", "mean_b", "median_a", "median_b", "mean_diff", "median_diff", "ci_low", "ci_high",
        "statistic", "p_value", "t", "p_value_t", "rank_biserial", "cles", "cohen_d", "hedges_g",
        "effect", "significant", "note", "summary",
    ]
    assert tuple(table.columns) == INDEPENDENT_COLUMNS
    assert (row["n_a"], row["n_b"], row["n_dropped"]) == (6, 5, 3)
    assert "3 NaN value(s) dropped" in row["note"]
    pd.testing.assert_frame_equal(table, independent_comparison(x, y, seed=1))
    clean = first(independent_comparison([v for v in x if v == v], [v for v in y if v == v], seed=1))
    assert row["p_value"] == clean["p_value"] and row["ci_low"] == clean["ci_low"]


def test_independent_guard_rails():
    with strict():
        small = first(independent_comparison([0.1, 0.2, 0.3], [0.4, 0.5, 0.6, 0.7, 0.8], label_a="A", label_b="B"))
        same = first(independent_comparison([0.5] * 5, [0.5] * 6))
        both_constant = first(independent_comparison([0.5] * 5, [0.7] * 6))
        one_constant = first(independent_comparison([0.5] * 6, [0.6, 0.7, 0.65, 0.8, 0.75, 0.9]))
    assert np.isnan(small["p_value"]) and small["note"] == "group 'A' too small (n=3 < 5): no test"
    assert small["summary"] == "no test of A vs B on f1: group 'A' too small (n=3 < 5)"
    assert np.isnan(same["p_value"]) and np.isnan(same["p_value_t"])
    assert same["note"].startswith("all values are identical (0.5) in both groups: no test")
    assert same["rank_biserial"] == 0 and same["cles"] == 0.5 and not same["significant"]
    # both constant but different: Mann-Whitney is defined, Welch's t is not
    with reference():
        expected = sps.mannwhitneyu([0.5] * 5, [0.7] * 6, alternative="two-sided").pvalue
    assert both_constant["p_value"] == pytest.approx(expected)
    assert np.isnan(both_constant["t"]) and np.isnan(both_constant["cohen_d"])
    assert "both groups are constant" in both_constant["note"]
    assert both_constant["summary"].startswith("a is worse than b on f1")
    # one constant group: both tests are defined and agree with scipy
    with reference():
        welch = sps.ttest_ind([0.5] * 6, [0.6, 0.7, 0.65, 0.8, 0.75, 0.9], equal_var=False)
    assert one_constant["t"] == pytest.approx(welch.statistic)
    assert one_constant["p_value_t"] == pytest.approx(welch.pvalue)



def test_independent_groups_too_small_give_no_effect_size():
    # 2 vs 6 values that do not overlap: r would be 1, a "large effect" from two nodes
    with strict():
        row = first(independent_comparison([0.9, 0.95], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    for column in ("p_value", "rank_biserial", "cles", "cohen_d", "hedges_g"):
        assert np.isnan(row[column]), column
    assert row["effect"] == "n/a" and "too small (n=2 < 5)" in row["note"]
    assert "large" not in row["summary"]
    with strict():
        enough = first(independent_comparison([0.9, 0.95, 0.85, 0.8, 0.99], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    assert enough["rank_biserial"] == pytest.approx(1.0) and enough["effect"] == "large"
    assert "large effect (r = 1.00)" in enough["summary"]

# --------------------------------------------------------------------------- several methods


@pytest.fixture
def long_table():
    rng = np.random.default_rng(9)
    rows = []
    for i in range(25):
        base = rng.uniform(0.3, 0.6)
        for method, shift in (("local", 0.0), ("fedavg", 0.04), ("fine_tune", 0.15), ("fedprox", 0.05)):
            rows.append({"node": f"n{i}", "method": method, "f1": base + shift + rng.normal(0, 0.05)})
    return pd.DataFrame(rows)


def test_multi_comparison_agrees_with_scipy_friedman_and_holm(long_table):
    with strict():
        res = multi_comparison(long_table, dv="f1", within="method", subject="node")
    assert isinstance(res, MultiComparison)
    omnibus = first(res.omnibus)
    assert list(res.omnibus.columns) == [
        "dv", "within", "test", "n_subjects", "n_conditions", "n_dropped_subjects",
        "statistic", "p_value", "kendall_w", "significant", "note", "summary",
    ]
    assert list(res.pairwise.columns) == [
        "a", "b", "n", "median_a", "median_b", "median_diff",
        "statistic", "p_value", "p_holm", "rank_biserial", "effect", "significant", "note", "summary",
    ]
    assert tuple(res.omnibus.columns) == OMNIBUS_COLUMNS and tuple(res.pairwise.columns) == PAIRWISE_COLUMNS
    wide = long_table.pivot(index="node", columns="method", values="f1")
    conditions = ["local", "fedavg", "fine_tune", "fedprox"]
    with reference():
        fried = sps.friedmanchisquare(*(wide[c] for c in conditions))
        pg_f = pg.friedman(data=long_table, dv="f1", within="method", subject="node")
        pw = pg.pairwise_tests(
            data=long_table, dv="f1", within="method", subject="node", parametric=False, padjust="holm"
        )
    assert omnibus["statistic"] == pytest.approx(fried.statistic)
    assert omnibus["p_value"] == pytest.approx(fried.pvalue)
    assert omnibus["kendall_w"] == pytest.approx(pg_f["W"].iloc[0])
    assert (omnibus["n_subjects"], omnibus["n_conditions"], omnibus["n_dropped_subjects"]) == (25, 4, 0)
    assert omnibus["significant"] and omnibus["test"] == "friedman"

    pairs = res.pairwise
    assert list(zip(pairs["a"], pairs["b"])) == [
        ("local", "fedavg"),
        ("local", "fine_tune"),
        ("local", "fedprox"),
        ("fedavg", "fine_tune"),
        ("fedavg", "fedprox"),
        ("fine_tune", "fedprox"),
    ]
    with reference():
        p = np.array([sps.wilcoxon(wide[a], wide[b], correction=True).pvalue for a, b in zip(pairs["a"], pairs["b"])])
    np.testing.assert_allclose(pairs["p_value"], p)
    # Holm by hand: sort ascending, multiply by (m - rank), running maximum, cap at 1
    order = np.argsort(p)
    adjusted = np.minimum(1, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    holm = np.empty_like(p)
    holm[order] = adjusted
    np.testing.assert_allclose(pairs["p_holm"], holm)
    np.testing.assert_allclose(pairs["p_holm"], pg.multicomp(p, method="holm")[1])
    for _, r in pw.iterrows():
        mine = pairs[
            ((pairs["a"] == r["A"]) & (pairs["b"] == r["B"])) | ((pairs["a"] == r["B"]) & (pairs["b"] == r["A"]))
        ]
        assert mine["p_holm"].iloc[0] == pytest.approx(pg_col(r, "p_corr"))
    assert list(pairs["significant"]) == list(holm < 0.05)
    np.testing.assert_allclose(
        pairs["median_diff"], [np.median(wide[a] - wide[b]) for a, b in zip(pairs["a"], pairs["b"])]
    )
    assert pairs.loc[1, "summary"].startswith("local is worse than fine_tune (median delta -")
    assert res.summary.splitlines()[0] == omnibus["summary"]
    assert len(res.summary.splitlines()) == 2 + len(pairs)


def test_multi_comparison_drops_incomplete_subjects_listwise(long_table):
    table = long_table.copy()
    table.loc[(table["node"] == "n3") & (table["method"] == "fedavg"), "f1"] = np.nan
    table = table.drop(index=table.index[(table["node"] == "n8") & (table["method"] == "local")])
    with strict():
        res = multi_comparison(table, dv="f1", within="method", subject="node")
    omnibus = first(res.omnibus)
    assert (omnibus["n_subjects"], omnibus["n_dropped_subjects"]) == (23, 2)
    assert "2 subject(s) dropped" in omnibus["note"] and "n3" in omnibus["note"] and "n8" in omnibus["note"]
    complete = long_table[~long_table["node"].isin(["n3", "n8"])]
    expected = multi_comparison(complete, dv="f1", within="method", subject="node")
    assert omnibus["statistic"] == pytest.approx(expected.omnibus.loc[0, "statistic"])
    np.testing.assert_allclose(res.pairwise["p_holm"], expected.pairwise["p_holm"])
    assert set(res.pairwise["n"]) == {23}


def test_multi_comparison_guard_rails(long_table):
    few = long_table[long_table["node"].isin(["n1", "n2", "n3"])]
    with strict():
        res = multi_comparison(few, dv="f1", within="method", subject="node")
    assert np.isnan(res.omnibus.loc[0, "p_value"]) and not res.omnibus.loc[0, "significant"]
    assert res.omnibus.loc[0, "note"] == "too few complete subjects (n=3 < 5): no test"
    assert res.pairwise["p_value"].isna().all() and res.pairwise["p_holm"].isna().all()
    assert not res.pairwise["significant"].any()

    tied = pd.DataFrame({"node": np.repeat(list("abcdef"), 3), "method": list("xyz") * 6, "f1": 0.5})
    with strict():
        res = multi_comparison(tied, dv="f1", within="method", subject="node")
    assert res.omnibus.loc[0, "note"] == "all conditions tie within every subject: no test"
    assert np.isnan(res.omnibus.loc[0, "statistic"])
    assert (res.pairwise["note"] == "all differences are zero: no test").all()

    with pytest.raises(ConfigError, match="at least 2 conditions"):
        multi_comparison(long_table[long_table["method"] == "local"], dv="f1", within="method", subject="node")
    duplicated = pd.concat([long_table, long_table.iloc[[5]]])
    with pytest.raises(DataError, match=r"more than once: n1/fedavg"):
        multi_comparison(duplicated, dv="f1", within="method", subject="node")
    infinite = long_table.copy()
    infinite.loc[0, "f1"] = np.inf
    with pytest.raises(DataError, match="infinite values for n0/local"):
        multi_comparison(infinite, dv="f1", within="method", subject="node")
    with pytest.raises(SchemaError, match="'auc'"):
        multi_comparison(long_table, dv="auc", within="method", subject="node")



def test_multi_comparison_gives_no_effect_size_from_too_few_untied_subjects(long_table):
    # 6 subjects, 4 of which tie on every condition: 2 untied subjects rank the conditions
    tied = pd.DataFrame({"node": np.repeat(list("abcdef"), 3), "method": list("xyz") * 6,
                         "f1": [0.5] * 12 + [0.1, 0.5, 0.9, 0.2, 0.4, 0.8]})
    with strict():
        res = multi_comparison(tied, dv="f1", within="method", subject="node")
    omnibus = first(res.omnibus)
    assert np.isfinite(omnibus["p_value"]) and np.isnan(omnibus["kendall_w"])
    assert "too few untied subjects for an effect size (2 untied < 5)" in omnibus["note"]
    assert "too few subjects for an effect size" in omnibus["summary"] and "Kendall" not in omnibus["summary"]
    assert res.pairwise["rank_biserial"].isna().all() and (res.pairwise["effect"] == "n/a").all()
    assert res.pairwise["note"].str.contains("too few untied subjects for an effect size").all()
    assert res.pairwise["summary"].str.contains("too few pairs for an effect size").all()
    assert not res.pairwise["summary"].str.contains("large").any()
    # enough untied subjects: the effect sizes are there, as before
    with strict():
        full = multi_comparison(long_table, dv="f1", within="method", subject="node")
    assert np.isfinite(full.omnibus.loc[0, "kendall_w"]) and full.pairwise["rank_biserial"].notna().all()
    assert "effect size" not in " ".join(full.pairwise["note"])

# --------------------------------------------------------------------------- long tables


def test_paired_by_averages_seeds_and_aligns_subjects():
    table = pd.DataFrame(
        {
            "node": ["1", "1", "2", "2", "3", "1", "2", "4"],
            "seed": [0, 1, 0, 1, 0, 0, 0, 0],
            "method": ["fed"] * 5 + ["local"] * 3,
            "f1": [0.8, 0.6, 0.9, np.nan, 0.7, 0.5, 0.6, 0.4],
        }
    )
    fed, local = paired_by(table, metric="f1", a="fed", b="local")
    assert list(fed.index) == list(local.index) == ["1", "2", "3", "4"]
    assert fed.name == "fed" and local.name == "local"
    np.testing.assert_allclose(fed.to_numpy(), [0.7, 0.9, 0.7, np.nan])  # NaN seed skipped, node 4 missing
    np.testing.assert_allclose(local.to_numpy(), [0.5, 0.6, np.nan, 0.4])
    row = first(paired_comparison(fed, local, min_pairs=2))
    assert (row["n"], row["n_dropped"]) == (2, 2)
    median = paired_by(table, metric="f1", a="fed", b="local", aggregate="median")[0]
    assert median["1"] == pytest.approx(0.7)
    with pytest.raises(DataError, match="more than once: 1/fed, 2/fed"):
        paired_by(table, metric="f1", a="fed", b="local", aggregate="error")
    with pytest.raises(SelectionError, match="'fine-tune'"):
        paired_by(table, metric="f1", a="fine-tune", b="local")
    with pytest.raises(ConfigError, match="aggregate"):
        paired_by(table, metric="f1", a="fed", b="local", aggregate="max")
    with pytest.raises(SchemaError, match="'auc'"):
        paired_by(table, metric="auc", a="fed", b="local")


# --------------------------------------------------------------------------- renderers


def split_row(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1])]


def test_to_markdown_renders_a_pipe_table(continuous):
    a, b = continuous
    rows = pd.concat(
        [
            paired_comparison(a, b, label_a="fine-tune", label_b="local"),
            paired_comparison(a[:3], b[:3], label_a="fed|avg", label_b="local"),
        ],
        ignore_index=True,
    )
    rows.loc[0, "p_value"] = 2e-6
    text = to_markdown(rows, columns=REPORT_COLUMNS)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == 2 + len(rows)
    assert split_row(lines[0]) == [
        "comparison", "metric", "n", "median_diff", "ci_low", "ci_high", "p_value", "rank_biserial", "effect",
    ]
    assert all(set(cell) <= set("-:") for cell in split_row(lines[1]))
    body = [split_row(line) for line in lines[2:]]
    assert all(len(cells) == len(REPORT_COLUMNS) for cells in body)
    p_col = REPORT_COLUMNS.index("p_value")
    assert body[0][p_col] == "< 0.0001"
    assert body[1][p_col] == "n/a"  # too few pairs
    assert body[1][0] == "fed\\|avg vs local"  # pipe escaped
    assert body[0][REPORT_COLUMNS.index("n")] == "30"
    assert body[0][REPORT_COLUMNS.index("rank_biserial")] == f"{rows.loc[0, 'rank_biserial']:.3f}"
    assert split_row(to_markdown(rows, digits=1).split("\n")[0]) == list(rows.columns)  # None: every column
    with pytest.raises(ConfigError, match="'nope'"):
        to_markdown(rows, columns=["comparison", "nope"])


def test_to_latex_escapes_and_uses_booktabs(continuous):
    a, b = continuous
    row = paired_comparison(a, b, label_a="fine_tune", label_b="local_100%")
    text = to_latex(row, columns=["comparison", "n", "p_value", "effect"])
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "\\begin{tabular}{lrrl}" and lines[-1] == "\\end{tabular}"
    assert "\\toprule" in lines and "\\midrule" in lines and "\\bottomrule" in lines
    assert lines[2] == "comparison & n & p\\_value & effect \\\\"
    assert lines[4].startswith("fine\\_tune vs local\\_100\\% & 30 & ")
    assert "_" not in text.replace("\\_", "")
    wrapped = to_latex(row, caption="Paired tests & effects", label="tab:paired")
    assert "\\caption{Paired tests \\& effects}" in wrapped and "\\label{tab:paired}" in wrapped
    assert wrapped.startswith("\\begin{table}") and wrapped.rstrip().endswith("\\end{table}")
    assert "\\textless{} 0.0001" in to_latex(pd.DataFrame({"p_value": [1e-9]}))


# --------------------------------------------------------------------------- pingouin versions


def test_value_reads_either_spelling_and_names_a_missing_column():
    assert _value(pd.DataFrame({"p_val": [0.25]}), "p_val", "p-val") == 0.25
    assert _value(pd.DataFrame({"p-val": [0.25]}), "p_val", "p-val") == 0.25
    assert _value(pd.DataFrame({"p_val": [0.1], "p-val": [0.9]}), "p_val", "p-val") == 0.1  # the first name wins
    with pytest.raises(FtlError, match=r"pingouin \S+ returned no column 'W_val' or 'W-val' \(it has RBC, CLES\)"):
        _value(pd.DataFrame({"RBC": [0.1], "CLES": [0.5]}), "W_val", "W-val")


# What pingouin 0.5.4 returns instead: hyphenated columns, and the Mann-Whitney RBC with the opposite sign.
PINGOUIN_05_NAMES = {"W_val": "W-val", "U_val": "U-val", "p_val": "p-val", "p_unc": "p-unc", "cohen_d": "cohen-d",
                     "CI95": "CI95%"}


def pingouin_05(name: str):
    """``pingouin.<name>`` returning what pingouin 0.5.4 returns."""
    new = getattr(pg, name)

    def old(*args, **kwargs):
        res = new(*args, **kwargs).rename(columns=PINGOUIN_05_NAMES)
        if name == "mwu":
            res["RBC"] = -res["RBC"]
        return res

    return old


def test_pingouin_05_results_give_the_same_rows(monkeypatch, continuous, long_table):
    a, b = continuous
    x, y = a.to_numpy()[:18], b.to_numpy()[5:]

    def rows():
        with strict():
            multi = multi_comparison(long_table, dv="f1", within="method", subject="node")
            return paired_comparison(a, b), independent_comparison(x, y), multi.omnibus, multi.pairwise

    expected = rows()
    for name in ("wilcoxon", "mwu", "ttest", "friedman"):
        monkeypatch.setattr(pg, name, pingouin_05(name))
    with reference():
        assert "W-val" in pg.wilcoxon(a, b).columns and "U-val" in pg.mwu(x, y).columns  # the stand-in works
    for got, want in zip(rows(), expected):
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert expected[1].loc[0, "rank_biserial"] > 0  # A's values are higher: positive whatever pingouin's sign


# --------------------------------------------------------------------------- package layout


def test_the_package_exports_the_public_names_from_their_modules():
    assert sorted(stats.__all__) == [
        "INDEPENDENT_COLUMNS", "MultiComparison", "OMNIBUS_COLUMNS", "PAIRED_COLUMNS", "PAIRWISE_COLUMNS",
        "REPORT_COLUMNS", "effect_label", "format_p", "independent_comparison", "multi_comparison", "paired_by",
        "paired_comparison", "to_latex", "to_markdown",
    ]
    homes = {name: getattr(stats, name).__module__ for name in stats.__all__ if not name.endswith("_COLUMNS")}
    assert homes == {
        "MultiComparison": "ftl_tff.stats.multi",
        "multi_comparison": "ftl_tff.stats.multi",
        "paired_comparison": "ftl_tff.stats.paired",
        "paired_by": "ftl_tff.stats.paired",
        "independent_comparison": "ftl_tff.stats.independent",
        "format_p": "ftl_tff.stats.summaries",
        "effect_label": "ftl_tff.stats.summaries",
        "to_markdown": "ftl_tff.stats.render",
        "to_latex": "ftl_tff.stats.render",
    }
    assert stats.PAIRED_COLUMNS is stats.columns.PAIRED_COLUMNS and stats.REPORT_COLUMNS is stats.columns.REPORT_COLUMNS


def test_the_modules_import_each_other_without_cycles_and_only_at_the_top():
    folder = Path(stats.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = {node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}
        nested = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and n not in top]
        for node in nested:  # only pingouin is imported lazily (its import takes seconds)
            assert isinstance(node, ast.Import) and [a.name for a in node.names] == ["pingouin"], path.name
        graph[path.stem] = {n.module for n in top if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}
    assert set(graph) >= {"columns", "summaries", "render", "common", "backend", "bootstrap", "paired",
                          "independent", "multi"}
    done: list[str] = []
    while len(done) < len(graph):  # peel off the modules whose imports are all done: stuck means a cycle
        ready = sorted(m for m, deps in graph.items() if m not in done and deps <= set(done))
        assert ready, f"import cycle among {sorted(set(graph) - set(done))}"
        done += ready
    assert done[-1] == "__init__"
    assert graph["summaries"] == set()  # the words build on nothing else of the package
    assert all("render" not in graph[m] for m in ("paired", "independent", "multi"))  # tests never render


def test_importing_the_package_does_not_import_pingouin():
    code = "import sys, ftl_tff.stats; sys.exit(int('pingouin' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.parametrize("module", ["", ".summaries", ".render", ".paired", ".independent", ".multi"])
def test_docstring_examples_hold(module):
    target = sys.modules[f"ftl_tff.stats{module}"]
    with reference():
        result = doctest.testmod(target, extraglobs={"pd": pd}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
