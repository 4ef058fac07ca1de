"""Tests of the label-free threshold rules (ftl_tff.thresholds)."""

from __future__ import annotations

import doctest
import inspect
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from ftl_tff import thresholds
from ftl_tff.errors import ConfigError, DataError
from ftl_tff.thresholds import (
    RULE_SETTINGS,
    RULES,
    SPOT,
    iqr_fence,
    node_scale,
    normalised_scores,
    pot,
    robust_z,
    threshold,
    transferred,
    trimmed,
)

SMALL = [1.0, 2.0, 3.0, 4.0, 100.0]


def _flagged(scores, value: float) -> int:
    return int((np.asarray(scores) >= value).sum())


# -- robust_z --------------------------------------------------------------


def test_robust_z_by_hand():
    # median 3; |s - 3| = [2, 1, 0, 1, 97], whose median (the MAD) is 1.
    assert robust_z(SMALL) == pytest.approx(3.0 + 3.5 * 1.4826 * 1.0, rel=1e-12)
    assert robust_z(SMALL, k=2.0) == pytest.approx(5.9652, rel=1e-12)
    # median 2.5; |s - 2.5| = [1.5, 0.5, 0.5, 1.5, 7.5] -> MAD 1.5.
    assert robust_z([1, 2, 3, 4, 10, 0.5], k=1.0) == pytest.approx(2.5 + 1.4826 * 1.5, rel=1e-12)


def test_robust_z_ignores_the_outlier_the_mean_rule_does_not():
    # A mean + 3.5 std rule is dragged far up by the one anomaly; the robust rule is not.
    assert robust_z(SMALL) < 10.0 < np.mean(SMALL) + 3.5 * np.std(SMALL)
    assert _flagged(SMALL, robust_z(SMALL)) == 1


def test_robust_z_mad_zero_falls_back_to_the_mean_absolute_deviation():
    scores = [5.0, 5.0, 5.0, 5.0, 10.0]
    # median 5, MAD = median([0, 0, 0, 0, 5]) = 0; mean |s - 5| = 5 / 5 = 1.
    assert robust_z(scores, k=2.0) == pytest.approx(5.0 + 2.0 * 1.2533 * 1.0, rel=1e-12)
    assert _flagged(scores, robust_z(scores, k=2.0)) == 1


@pytest.mark.parametrize("value", [0.0, 2.0, -3.5, 1e12])
def test_identical_scores_flag_nothing(value):
    scores = np.full(50, value)
    for rule in RULES:
        cut = threshold(scores, rule)
        assert cut == np.nextafter(value, np.inf), rule
        assert _flagged(scores, cut) == 0, rule
    assert _flagged(scores, transferred(scores, 3.5)) == 0


# -- iqr ------------------------------------------------------------------------


def test_iqr_fence_by_hand():
    # Five values: Q1 is the 2nd, Q3 the 4th -> 4 + 1.5 * (4 - 2).
    assert iqr_fence(SMALL) == pytest.approx(7.0, rel=1e-12)
    # Four values: Q1 at position 0.75 -> 1.75, Q3 at 2.25 -> 3.25; IQR 1.5.
    assert iqr_fence([4.0, 1.0, 3.0, 2.0], k=1.5) == pytest.approx(3.25 + 1.5 * 1.5, rel=1e-12)
    assert iqr_fence(SMALL, k=3.0) == pytest.approx(4.0 + 3.0 * 2.0, rel=1e-12)


def test_iqr_fence_with_tied_quartiles_does_not_flag_the_ties():
    scores = [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 9.0]
    cut = iqr_fence(scores)
    assert cut == np.nextafter(2.0, np.inf)
    assert _flagged(scores, cut) == 1


# -- pot ------------------------------------------------------------------------


def test_pot_is_the_closed_form_on_an_independent_maximum_likelihood_fit():
    # An "ideal" exponential sample (its quantiles); level 0.9 -> t, 20 peaks of 200.
    scores = -np.log1p(-(np.arange(200) + 0.5) / 200)
    t = np.quantile(scores, 0.9)
    peaks = scores[scores > t] - t
    assert peaks.size == 20
    gamma, _, sigma = stats.genpareto.fit(peaks, floc=0)  # scipy's own optimiser, not ours
    q = 1e-3
    expected = t + sigma / gamma * ((q * 200 / 20) ** -gamma - 1.0)
    assert pot(scores, q=q, level=0.9) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("shape", [0.2, 0.0])
def test_pot_recovers_a_known_generalised_pareto_quantile(shape):
    q = 1e-3
    truth = stats.genpareto(c=shape, scale=1.0)
    scores = truth.rvs(200_000, random_state=7)
    z = pot(scores, q=q, level=0.9)
    assert z == pytest.approx(truth.ppf(1.0 - q), rel=0.04)
    # The empirical quantile of the same data is no better, and a fresh sample exceeds z at about rate q.
    fresh = truth.rvs(1_000_000, random_state=8)
    assert np.mean(fresh >= z) == pytest.approx(q, rel=0.2)


def test_pot_fit_is_the_maximum_likelihood_one():
    scores = stats.genpareto(c=0.3).rvs(50_000, random_state=3)
    t = np.quantile(scores, 0.95)
    peaks = scores[scores > t] - t
    gamma, _, sigma = stats.genpareto.fit(peaks, floc=0)
    ours = thresholds._fit_gpd(peaks)
    assert ours == pytest.approx((gamma, sigma), rel=2e-3)
    loglik = stats.genpareto(c=ours[0], scale=ours[1]).logpdf(peaks).sum()
    assert loglik >= stats.genpareto(c=gamma, scale=sigma).logpdf(peaks).sum() - 1e-6


def test_pot_extrapolates_beyond_the_data():
    # q = 1e-5 with 20,000 scores: beyond the largest score, where a percentile cannot go.
    truth = stats.expon()
    scores = truth.rvs(20_000, random_state=1)
    z = pot(scores, q=1e-5, level=0.95)
    assert z > scores.max()
    assert z == pytest.approx(truth.ppf(1 - 1e-5), rel=0.15)  # 1,000 peaks, extrapolated 50-fold


def test_pot_few_peaks_falls_back_to_the_empirical_quantile():
    scores = np.arange(20.0)
    # t = quantile(0.9) = 17.1: two peaks (18, 19) < 10 -> np.quantile(scores, 1 - 1e-3):
    # position 0.999 * 19 = 18.981, between 18 and 19.
    assert pot(scores, q=1e-3, level=0.9) == pytest.approx(18.981, rel=1e-12)
    assert pot(scores, q=0.05, level=0.9) == pytest.approx(18.05, rel=1e-12)


def test_pot_never_returns_at_or_below_the_initial_threshold():
    # 9,990 zeros and 10 positive peaks: t = 0, and q * n / N_t = 0.01 * 10_000 / 10 = 10 > 1,
    # for which the formula would fall below t.
    scores = np.concatenate([np.zeros(9_990), np.linspace(1.0, 10.0, 10)])
    cut = pot(scores, q=0.01, level=0.98)
    assert cut == np.nextafter(0.0, np.inf)
    assert _flagged(scores, cut) == 10


# -- SPOT ----------------------------------------------------------------------


def test_spot_fit_matches_pot():
    scores = stats.expon.rvs(size=20_000, random_state=0)
    spot = SPOT(q=1e-3, level=0.95).fit(scores)
    assert spot.threshold_ == pot(scores, q=1e-3, level=0.95)
    assert spot.initial_threshold_ == np.quantile(scores, 0.95)
    assert spot.n_ == 20_000
    assert spot.n_peaks_ == int((scores > spot.initial_threshold_).sum())
    assert spot.shape_ is not None and spot.scale_ is not None


def test_spot_keeps_the_false_alarm_rate_near_q():
    q, level = 0.02, 0.8
    truth = stats.genpareto(c=0.1)
    initial = truth.rvs(2_000, random_state=0)
    stream = truth.rvs(5_000, random_state=1000)
    final = {}
    for truncation in (True, False):
        spot = SPOT(q=q, level=level, truncation=truncation).fit(initial)
        alarms = sum(spot.update(float(score)) for score in stream)
        final[truncation] = truth.sf(spot.threshold_) / q
        if truncation:
            assert alarms / stream.size == pytest.approx(q, rel=0.4)
            assert spot.n_ == initial.size + stream.size - alarms
    # The truncation-aware fit stays near q; Siffer's plain fit drifts down to about twice q.
    assert 0.7 < final[True] < 1.35
    assert final[False] > 1.4


def test_spot_alarm_is_not_absorbed():
    spot = SPOT(q=1e-3, level=0.95).fit(stats.expon.rvs(size=5_000, random_state=2))
    before = (spot.threshold_, spot.n_, spot.n_peaks_, spot.shape_, spot.scale_)
    peaks = spot.peaks_
    assert spot.update(1e6) is True
    assert spot.update(spot.threshold_) is True  # the threshold itself alarms (score >= z_q)
    assert (spot.threshold_, spot.n_, spot.n_peaks_, spot.shape_, spot.scale_) == before
    np.testing.assert_array_equal(spot.peaks_, peaks)
    # A normal peak is absorbed and moves the threshold; a low score only counts.
    peak = (spot.initial_threshold_ + spot.threshold_) / 2
    assert spot.update(peak) is False
    assert (spot.n_, spot.n_peaks_) == (before[1] + 1, before[2] + 1)
    assert spot.peaks_[-1] == pytest.approx(peak - spot.initial_threshold_)
    assert spot.threshold_ != before[0]
    assert spot.update(0.0) is False
    assert (spot.n_, spot.n_peaks_) == (before[1] + 2, before[2] + 1)


def test_spot_few_peaks_holds_the_fallback_until_ten_peaks():
    initial = np.arange(100.0)
    spot = SPOT(q=1e-3, level=0.95).fit(initial)
    # t = 94.05, peaks 95..99 (5 < 10): z = np.quantile(initial, 0.999) = 98.901.
    assert spot.threshold_ == pytest.approx(98.901, rel=1e-12)
    assert spot.shape_ is None
    for score in (95.5, 96.5, 97.5, 98.5):
        assert spot.update(score) is False
        assert spot.threshold_ == pytest.approx(98.901, rel=1e-12)
    assert spot.update(96.0) is False  # the tenth peak: now a fitted tail
    assert spot.n_peaks_ == 10 and spot.shape_ is not None
    assert spot.threshold_ > spot.initial_threshold_


def test_spot_validation():
    with pytest.raises(ConfigError, match="not fitted"):
        SPOT().update(1.0)
    spot = SPOT(q=1e-2, level=0.9).fit(np.arange(1000.0))
    for bad in (float("nan"), float("inf"), "3", None, True, np.array([1.0, 2.0])):
        with pytest.raises(DataError, match="score must be a finite number"):
            spot.update(bad)
    assert spot.update(np.float32(1.0)) is False
    assert spot.update(np.array(2.0)) is False
    with pytest.raises(ConfigError, match="q "):
        SPOT(q=0.2, level=0.9)
    with pytest.raises(ConfigError, match="truncation"):
        SPOT(truncation="yes")
    with pytest.raises(DataError, match="NaN"):
        SPOT().fit([1.0, float("nan")])


# -- trimmed --------------------------------------------------------------------


def test_trimmed_by_hand():
    scores = list(range(1, 21)) + [1000.0]
    # Round 1: p95 of 21 values is the 20th (20) -> drop 1000; round 2: p95 of 1..20 = 19.05 -> drop 20;
    # round 3: p95 of 1..19 = 18.1 -> drop 19. p99 of 1..18: position 16.83 -> 17.83.
    assert trimmed(scores) == pytest.approx(17.83, rel=1e-12)
    # One round only: p99 of 1..20 at position 18.81 -> 19.81.
    assert trimmed(scores, iterations=1) == pytest.approx(19.81, rel=1e-12)
    assert trimmed(scores, iterations=0) == pytest.approx(np.percentile(scores, 99.0), rel=1e-12)
    assert trimmed(scores, trim_percentile=100.0) == pytest.approx(np.percentile(scores, 99.0), rel=1e-12)


def test_trimmed_stops_before_keeping_fewer_than_ten():
    # 1..12 -> drop 12 (p95 = 11.45) -> drop 11 (p95 = 10.5) -> the next round (p95 = 9.55)
    # would keep 9 < 10: stop at 1..10, whose median is 5.5.
    assert trimmed(np.arange(1.0, 13.0), percentile=50.0, iterations=5) == pytest.approx(5.5, rel=1e-12)


def test_trimmed_resists_contamination_where_the_percentile_does_not():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=8_000)
    outliers = rng.normal(20.0, 1.0, size=2_000)
    contaminated = np.concatenate([clean, outliers])  # 20% large outliers
    plain_shift = np.percentile(contaminated, 99) - np.percentile(clean, 99)
    # Dropping 5% per round needs 5 rounds (1 - 0.95**5 = 23% > 20%) to remove them all.
    trimmed_shift = trimmed(contaminated, iterations=5) - trimmed(clean, iterations=5)
    assert plain_shift > 15.0
    assert abs(trimmed_shift) < 1.5
    assert abs(trimmed_shift) < plain_shift / 10
    # With the default 3 rounds (up to 1 - 0.95**3 = 14%), 10% contamination is handled too.
    ten = np.concatenate([clean, outliers[:800]])
    assert abs(trimmed(ten) - trimmed(clean)) < 1.0 < np.percentile(ten, 99) - np.percentile(clean, 99)


# -- transfer between nodes ---------------------------------------------------


def test_node_scale_and_normalised_scores_by_hand():
    assert node_scale(SMALL) == (3.0, pytest.approx(1.4826, rel=1e-12))
    np.testing.assert_allclose(normalised_scores([3.0, 6.0, 0.0], SMALL), [0.0, 3.0 / 1.4826, -3.0 / 1.4826])
    assert transferred(SMALL, 2.0) == pytest.approx(3.0 + 2.0 * 1.4826, rel=1e-12)
    # MAD 0: the mean absolute deviation fallback (median 5, mean |s - 5| = 1).
    assert node_scale([5.0, 5.0, 5.0, 5.0, 10.0]) == (5.0, pytest.approx(1.2533, rel=1e-12))


def test_node_scale_is_never_zero():
    median, scale = node_scale(np.full(10, 2.0))
    assert median == 2.0 and scale == pytest.approx(2.0 * np.finfo(float).eps)
    zero_median, zero_scale = node_scale(np.zeros(10))
    assert zero_scale > 0
    assert np.isfinite(normalised_scores([0.0, 1.0, 1e6], np.zeros(10))).all()


@pytest.mark.parametrize("z", [-2.0, 0.0, 1.0, 3.5, 10.0])
def test_transferred_and_normalised_are_inverse(z):
    reference = stats.lognorm(s=1.0).rvs(1_000, random_state=4) * 1e-3
    raw = transferred(reference, z)
    assert normalised_scores([raw], reference)[0] == pytest.approx(z, abs=1e-12)
    assert transferred(reference, float(normalised_scores([raw], reference)[0])) == pytest.approx(raw, rel=1e-12)


def test_transferred_is_robust_z_on_the_node_and_equalises_flag_rates():
    reference = stats.expon.rvs(size=5_000, random_state=5)
    assert transferred(reference, 3.5) == pytest.approx(robust_z(reference, k=3.5), rel=1e-12)
    # Two nodes whose scores differ by scale and offset: one normalised threshold flags the same share.
    node_b = 50.0 + 20.0 * reference
    assert _flagged(reference, transferred(reference, 4.0)) == _flagged(node_b, transferred(node_b, 4.0))
    assert _flagged(node_b, transferred(reference, 4.0)) == node_b.size  # a raw threshold would not transfer


# -- dispatcher -----------------------------------------------------------------


def test_rules_and_dispatcher():
    assert RULES == ("log_robust_z", "robust_z", "iqr", "pot", "trimmed")
    assert tuple(RULE_SETTINGS) == RULES
    scores = stats.expon.rvs(size=5_000, random_state=6)
    functions = {"log_robust_z": thresholds.log_robust_z, "robust_z": robust_z, "iqr": iqr_fence, "pot": pot,
                 "trimmed": trimmed}
    settings = {"log_robust_z": {"k": 2.0}, "robust_z": {"k": 2.0}, "iqr": {"k": 3.0}, "pot": {"q": 1e-4, "level": 0.97},
                "trimmed": {"percentile": 98.0, "trim_percentile": 90.0, "iterations": 2}}
    for rule in RULES:
        parameters = list(inspect.signature(functions[rule]).parameters)[1:]
        assert list(RULE_SETTINGS[rule]) == parameters
        assert threshold(scores, rule, **settings[rule]) == functions[rule](scores, **settings[rule])
        assert threshold(scores, rule) == functions[rule](scores)
    with pytest.raises(ConfigError, match="unknown threshold rule 'percentile'"):
        threshold(scores, "percentile")
    with pytest.raises(ConfigError, match="unknown threshold rule"):
        threshold(scores, None)
    with pytest.raises(ConfigError, match=r"unknown settings \['q'\] for threshold rule 'iqr'"):
        threshold(scores, "iqr", q=0.1)


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([1.0, float("nan"), 3.0], r"scores holds 1 non-finite values \(1 NaN, 0 infinite\)"),
        ([1.0, float("inf")], r"1 non-finite values \(0 NaN, 1 infinite\)"),
        ([], "scores is empty"),
        (np.ones((3, 2)), r"scores must be 1-D .* got shape \(3, 2\)"),
        (3.0, r"scores must be 1-D .* got shape \(\)"),
        (["a", "b"], "scores must be numeric"),
        ([True, False], "scores must be numeric"),
        ([1.0, None], "scores must be numeric"),
    ],
)
def test_bad_scores_raise_data_error(scores, message):
    for rule in RULES:
        with pytest.raises(DataError, match=message):
            threshold(scores, rule)
    with pytest.raises(DataError, match=message.replace("scores", "reference")):
        node_scale(scores)
    with pytest.raises(DataError, match=message):
        normalised_scores(scores, SMALL)


def test_integer_scores_are_accepted():
    assert robust_z([1, 2, 3, 4, 100]) == robust_z(SMALL)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: robust_z(SMALL, k=0.0), r"k must be a finite number > 0, got 0.0"),
        (lambda: robust_z(SMALL, k=-1), "k must be a finite number > 0"),
        (lambda: robust_z(SMALL, k=float("nan")), "k must be"),
        (lambda: robust_z(SMALL, k=True), "k must be"),
        (lambda: iqr_fence(SMALL, k="1.5"), "k must be"),
        (lambda: pot(SMALL, q=0.0), r"q must be a number in \(0, 1\)"),
        (lambda: pot(SMALL, q=1.0), r"q must be a number in \(0, 1\)"),
        (lambda: pot(SMALL, q=0.05, level=0.98), r"q \(the risk, 0.05\) must be below 1 - level \(0.02\)"),
        (lambda: pot(SMALL, level=1.0), r"level must be a number in \(0, 1\)"),
        (lambda: pot(SMALL, level=0.0), "level must be"),
        (lambda: SPOT(level=float("nan")), "level must be"),
        (lambda: trimmed(SMALL, percentile=101.0), r"percentile must be a number in \[0, 100\], got 101.0"),
        (lambda: trimmed(SMALL, percentile=-1.0), "percentile must be"),
        (lambda: trimmed(SMALL, trim_percentile=0.0), r"trim_percentile must be a number in \(0, 100\]"),
        (lambda: trimmed(SMALL, iterations=-1), "iterations must be a non-negative integer, got -1"),
        (lambda: trimmed(SMALL, iterations=1.5), "iterations must be a non-negative integer"),
        (lambda: trimmed(SMALL, iterations=True), "iterations must be a non-negative integer"),
        (lambda: transferred(SMALL, float("inf")), "z must be a finite number, got inf"),
        (lambda: threshold(SMALL, "pot", q=-1.0), "q must be"),
    ],
)
def test_bad_settings_raise_config_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_errors_are_value_errors_of_the_library():
    with pytest.raises(ValueError):
        robust_z([])
    with pytest.raises(ValueError):
        robust_z(SMALL, k=-1.0)


# -- module -------------------------------------------------------------------------


def test_docstring_examples_hold():
    result = doctest.testmod(thresholds, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


def test_importable_without_tensorflow():
    code = "import sys, ftl_tff.thresholds; sys.exit(int('tensorflow' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_public_names_are_documented():
    for name in thresholds.__all__:
        value = getattr(thresholds, name)
        if callable(value):
            assert inspect.getdoc(value), name
    for method in ("fit", "update"):
        doc = inspect.getdoc(getattr(SPOT, method))
        assert "Args:" in doc and "Returns:" in doc
    assert math.isclose(thresholds.MAD_TO_STD, 1.4826) and math.isclose(thresholds.MEAN_AD_TO_STD, 1.2533)


def test_log_robust_z_by_hand():
    from ftl_tff.thresholds import log_robust_z

    # log scores 0, log 2, log 4, log 8, log 1000: median log 4, deviations log 4, log 2, 0, log 2, log 250 -> MAD log 2.
    expected = np.exp(np.log(4.0) + 2.0 * 1.4826 * np.log(2.0))
    assert log_robust_z([1.0, 2.0, 4.0, 8.0, 1000.0], k=2.0) == pytest.approx(expected)
    # Zeros are taken as the smallest positive score, not -inf.
    assert np.isfinite(log_robust_z([0.0, 1.0, 2.0, 4.0]))
    # Contamination by large scores barely moves it, unlike a percentile.
    rng = np.random.default_rng(0)
    normal = rng.lognormal(-6, 0.5, 2000)
    mixed = np.concatenate([normal, np.full(200, 1.0)])
    assert log_robust_z(mixed) < 2 * log_robust_z(normal) and np.percentile(mixed, 99) > 100 * np.percentile(normal, 99)
