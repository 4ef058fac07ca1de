"""Label-free threshold rules for anomaly scores.

Every rule takes a node's 1-D array of finite window scores (higher means
more anomalous, e.g. reconstruction errors of normal windows) and returns one
float threshold: a window is anomalous when ``score >= threshold``. None
needs labels. This module needs only NumPy and SciPy (no TensorFlow).

Rules (names of :data:`RULES`, dispatched by :func:`threshold`):

* ``"log_robust_z"`` (:func:`log_robust_z`): the same on the log scale, a
  multiplicative fence that suits positive, right-skewed reconstruction
  errors (the library's default, see ``docs/concepts/thresholds.md``);
* ``"robust_z"`` (:func:`robust_z`): median + k robust standard deviations
  (1.4826 * MAD), insensitive to the anomalies the scores may hold;
* ``"iqr"`` (:func:`iqr_fence`): Tukey's upper fence Q3 + k * IQR;
* ``"pot"`` (:func:`pot`): peaks over threshold, a generalised Pareto tail
  fitted to the largest scores (Siffer et al., KDD 2017), which gives the
  score exceeded by normal windows with a chosen small probability ``q``
  even when ``q`` is below ``1 / len(scores)``;
* ``"trimmed"`` (:func:`trimmed`): a percentile of the scores after the
  largest ones were dropped iteratively (Refine, Sencan et al., ISC 2025).

:class:`SPOT` is the streaming form of ``"pot"`` for a live monitor: its
threshold adapts as normal scores arrive. :func:`node_scale`,
:func:`normalised_scores` and :func:`transferred` carry a threshold from one
node (or a federation) to another on a robust per-node scale.

Degenerate inputs never flag everything: when all scores are identical each
rule returns a threshold just above them (the next float), so none is flagged.

Example:
    >>> import numpy as np
    >>> from ftl_tff import thresholds
    >>> scores = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    >>> round(thresholds.robust_z(scores, k=3.5), 4)  # 3 + 3.5 * 1.4826 * 1
    8.1891
    >>> thresholds.threshold(scores, "iqr", k=1.5)  # 4 + 1.5 * (4 - 2)
    7.0
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from scipy import optimize

from .errors import ConfigError, DataError

__all__ = [
    "MAD_TO_STD",
    "MEAN_AD_TO_STD",
    "MIN_KEPT",
    "MIN_PEAKS",
    "RULES",
    "RULE_SETTINGS",
    "SPOT",
    "iqr_fence",
    "node_scale",
    "normalised_scores",
    "log_robust_z",
    "pot",
    "robust_z",
    "threshold",
    "transferred",
    "trimmed",
]

#: Rule names understood by :func:`threshold`.
RULES = ("log_robust_z", "robust_z", "iqr", "pot", "trimmed")
#: Settings (keyword arguments) each rule of :data:`RULES` accepts.
RULE_SETTINGS: dict[str, tuple[str, ...]] = {
    "log_robust_z": ("k",),
    "robust_z": ("k",),
    "iqr": ("k",),
    "pot": ("q", "level"),
    "trimmed": ("percentile", "trim_percentile", "iterations"),
}
#: Factor turning a median absolute deviation into a standard deviation (normal data).
MAD_TO_STD = 1.4826
#: Factor turning a mean absolute deviation into a standard deviation (normal data, sqrt(pi / 2)).
MEAN_AD_TO_STD = 1.2533
#: Fewest peaks :func:`pot` and :class:`SPOT` fit a tail to; below it they use the empirical quantile.
MIN_PEAKS = 10
#: Fewest scores :func:`trimmed` keeps.
MIN_KEPT = 10

# |shape| below which the tail is taken as exponential (the gamma -> 0 limit).
_GAMMA_ZERO = 1e-8
# Negative log-likelihood outside the parameter space (finite, so Nelder-Mead can compare).
_INFEASIBLE = 1e300
# Initial simplex of the truncated fit, around the previous estimate (gamma, log sigma).
_SIMPLEX_STEP = 0.01


# -- rules -----------------------------------------------------------------


def log_robust_z(scores: Any, k: float = 3.5) -> float:
    """:func:`robust_z` on the logarithm of the scores, mapped back.

    Reconstruction errors are positive and right-skewed (roughly log-normal
    for normal windows): on the raw scale ``median + k * MAD`` sits inside
    the bulk of normal scores and flags 10-15 % of normal windows, while on
    the log scale the same rule is a multiplicative fence,
    ``exp(median(log s) + k * 1.4826 * MAD(log s))``, that flags well under
    1 % of them and still ignores the anomalous windows among the scores.
    Scores at or below 0 are taken as the smallest positive score (or 1e-12).

    Where it breaks down: with about a quarter or more of the scores
    anomalous and far above the normal ones, the MAD of the log scores
    absorbs the anomalies and the fence can rise above them
    (``docs/concepts/thresholds.md`` has the measurements).

    Args:
        scores: Window scores, 1-D, finite, at least one.
        k: Robust standard deviations of the log scores above their median.

    Returns:
        The threshold (on the raw score scale).

    Raises:
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If ``k`` is not a positive finite number.

    Example:
        >>> round(log_robust_z([1.0, 2.0, 4.0, 8.0, 1000.0], k=1.0), 4)  # exp(log 4 + 1.4826 * log 2)
        11.1781
    """
    values = _as_scores(scores)
    k = _checked_real(k, "k", low=0.0, low_open=True)
    if values.min() == values.max():
        return float(np.nextafter(values[0], np.inf))
    positive = values[values > 0]
    floor = float(positive.min()) if positive.size else 1e-12
    return float(np.exp(robust_z(np.log(np.maximum(values, floor)), k=k)))


def robust_z(scores: Any, k: float = 3.5) -> float:
    """Median plus ``k`` robust standard deviations.

    The threshold is ``median + k * 1.4826 * MAD`` where MAD is the median
    absolute deviation of the scores from their median (1.4826 * MAD is the
    standard deviation of normal data, and ignores up to half of the scores
    being anomalous).

    Fallbacks: when half or more of the scores are identical the MAD is 0, and
    the scale is the mean absolute deviation from the median times 1.2533
    (:data:`MEAN_AD_TO_STD`) instead. When that is 0 too (all scores
    identical), the median itself nudged up to the next float is returned,
    so identical scores are not flagged.

    Args:
        scores: Window scores, 1-D, finite, at least one.
        k: Number of robust standard deviations above the median
            (positive; 3.5 is the usual "modified z-score" cut).

    Returns:
        The threshold.

    Raises:
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If ``k`` is not a positive finite number.

    Example:
        >>> round(robust_z([1.0, 2.0, 3.0, 4.0, 100.0], k=2.0), 4)  # 3 + 2 * 1.4826 * 1
        5.9652
    """
    values = _as_scores(scores)
    k = _checked_real(k, "k", low=0.0, low_open=True)
    median, scale = _robust_scale(values)
    if scale == 0.0:
        return float(np.nextafter(median, np.inf))
    return float(median + k * scale)


def iqr_fence(scores: Any, k: float = 1.5) -> float:
    """Tukey's upper fence ``Q3 + k * (Q3 - Q1)``.

    Q1 and Q3 are ``np.percentile(scores, 25)`` and ``np.percentile(scores,
    75)`` (linear interpolation). When the fence equals Q3 (the quartiles
    coincide: at least half of the scores identical) it is nudged up to the
    next float, so the tied scores are not flagged.

    Args:
        scores: Window scores, 1-D, finite, at least one.
        k: Multiple of the interquartile range above Q3 (positive; 1.5 is
            Tukey's "outlier", 3 his "far out" fence).

    Returns:
        The threshold.

    Raises:
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If ``k`` is not a positive finite number.

    Example:
        >>> iqr_fence([1.0, 2.0, 3.0, 4.0, 100.0])  # 4 + 1.5 * (4 - 2)
        7.0
    """
    values = _as_scores(scores)
    k = _checked_real(k, "k", low=0.0, low_open=True)
    q1, q3 = np.percentile(values, [25.0, 75.0])
    fence = float(q3 + k * (q3 - q1))
    return float(np.nextafter(q3, np.inf)) if fence <= q3 else fence


def pot(scores: Any, q: float = 1e-3, level: float = 0.98) -> float:
    """Peaks-over-threshold (POT) threshold of Siffer et al. (KDD 2017).

    From "Anomaly detection in streams with extreme value theory": the scores
    above an initial threshold ``t = np.quantile(scores, level)`` are the
    peaks; their excesses ``y = s - t`` are fitted by maximum likelihood with
    a generalised Pareto distribution (shape ``gamma``, scale ``sigma``,
    location 0), and the threshold is the score a normal window exceeds with
    probability ``q``::

        z_q = t + sigma / gamma * ((q * n / N_t) ** -gamma - 1)
        z_q = t - sigma * ln(q * n / N_t)              (|gamma| ~ 0, exponential tail)

    with ``n`` scores of which ``N_t`` are peaks. The fit uses Grimshaw's
    reduction (as SPOT does): the likelihood is maximised over the single
    variable ``x = gamma / sigma``, on a grid over Grimshaw's bounds refined
    with Brent's method, the exponential tail (``gamma = 0``) always a
    candidate; see :class:`SPOT` for the streaming form.

    Fallbacks: with fewer than :data:`MIN_PEAKS` (10) peaks a tail cannot be
    fitted, and the threshold is the empirical quantile
    ``np.quantile(scores, 1 - q)`` instead (close to the largest score when
    ``n < 1 / q``); the same is used if the fitted tail gives no finite
    threshold. The threshold is never at or below ``t``: it is at least the
    next float above ``t``.

    Args:
        scores: Window scores, 1-D, finite, at least one (thousands for a
            meaningful tail: about ``(1 - level) * n`` peaks are fitted).
        q: Risk, the probability that a normal window's score reaches the
            threshold (the false-alarm rate aimed at), in (0, 1 - level);
            typically 1e-3 to 1e-5.
        level: Quantile of the scores used as the initial threshold ``t``,
            in (0, 1); typically 0.95 to 0.99 (lower fits more peaks, but
            further from the tail).

    Returns:
        The threshold ``z_q``.

    Raises:
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If ``q`` or ``level`` is out of range.

    Example:
        >>> from scipy import stats
        >>> samples = stats.expon.rvs(size=100_000, random_state=0)
        >>> round(pot(samples, q=1e-3, level=0.95), 2)  # the true quantile is ln(1000) = 6.91
        6.97
    """
    values = _as_scores(scores)
    q, level = _checked_pot_settings(q, level)
    initial = float(np.quantile(values, level))
    peaks = values[values > initial] - initial
    fallback = _empirical_fallback(values, q, initial)
    if peaks.size < MIN_PEAKS:
        return fallback
    shape, scale = _fit_gpd(peaks)
    return _pot_threshold(initial, shape, scale, q, values.size, peaks.size, fallback)


class SPOT:
    """Streaming peaks-over-threshold (Siffer et al.'s SPOT, without drift).

    :meth:`fit` computes the initial threshold ``t`` and ``z_q`` on a batch of
    normal scores exactly as :func:`pot`. Each :meth:`update` then takes one
    new score: one at or above ``z_q`` is an alarm (returned True) and left
    out of the model entirely, so an anomaly neither raises the threshold nor
    counts; otherwise the score is counted, and if above ``t`` its excess is
    added to the peaks and the generalised Pareto tail refitted (one
    maximum-likelihood fit per peak), so ``z_q`` adapts to the normal stream.

    Truncation: because alarms are left out, a peak that arrived while the
    threshold was ``z`` is known to lie below ``z``: the stream's peaks are a
    *truncated* sample of the tail. Siffer's SPOT fits them as if they were
    not, and the fit then sees no excess beyond ``z_q``, finds a lighter
    tail, lowers ``z_q``, cuts more of the tail, and so on: on an exponential
    stream with ``q=1e-3, level=0.98`` its false-alarm rate is about ``2 q``
    after 10^5 scores and still rising after 4 * 10^5. With
    ``truncation=True`` (the default) each stream peak's likelihood is
    conditioned on its being below the excess ``c = z - t`` in force when it
    arrived (its density divided by the tail's CDF at ``c``; a maximum
    likelihood fit by Nelder-Mead from the previous estimate), which is
    consistent and keeps the false-alarm rate near ``q``; the peaks of the
    initial batch are not truncated and are fitted as in :func:`pot`.
    ``truncation=False`` reproduces Siffer's algorithm.

    As in SPOT, ``n_`` counts the scores the model has absorbed (the initial
    batch plus every non-alarm update), and ``z_q`` uses ``N_t / n_`` of the
    absorbed scores as the tail's share, which underestimates it by about
    ``q`` (alarms are not counted): a relative error of ``q / (1 - level)``
    in the false-alarm rate (2% at ``q=1e-3, level=0.95``). While there are
    fewer than :data:`MIN_PEAKS` (10) peaks, ``threshold_`` stays at the
    empirical ``1 - q`` quantile of the initial batch (the :func:`pot`
    fallback); the tail is fitted once the tenth peak arrives.

    Attributes:
        threshold_: The current threshold ``z_q`` (a score at or above it alarms).
        initial_threshold_: The initial threshold ``t`` (the ``level`` quantile
            of the initial scores; fixed after :meth:`fit`).
        n_: Number of scores absorbed so far.
        n_peaks_: Number of peaks (absorbed scores above ``t``).
        peaks_: A copy of the peaks' excesses over ``t``, in arrival order.
        shape_: Fitted tail shape ``gamma``, or None while the fallback is used.
        scale_: Fitted tail scale ``sigma``, or None while the fallback is used.

    Args:
        q: Risk, the false-alarm probability aimed at, in (0, 1 - level);
            typically 1e-3 to 1e-5.
        level: Quantile of the initial scores used as ``t``, in (0, 1);
            typically 0.95 to 0.99.
        truncation: Whether the fit accounts for the stream peaks' truncation
            at the threshold (True, the default) or not (False: Siffer's SPOT).

    Raises:
        ConfigError: If ``q``, ``level`` or ``truncation`` is invalid.

    Example:
        >>> from scipy import stats
        >>> spot = SPOT(q=1e-3, level=0.95).fit(stats.expon.rvs(size=20_000, random_state=0))
        >>> spot.update(1.0), spot.update(50.0)
        (False, True)
    """

    def __init__(self, q: float = 1e-3, level: float = 0.98, truncation: bool = True) -> None:
        self.q, self.level = _checked_pot_settings(q, level)
        if not isinstance(truncation, bool):
            raise ConfigError(f"truncation must be True or False, got {truncation!r}")
        self.truncation = truncation

    def __repr__(self) -> str:
        return f"SPOT(q={self.q!r}, level={self.level!r}, truncation={self.truncation!r})"

    @property
    def n_peaks_(self) -> int:
        """Number of peaks (absorbed scores above ``initial_threshold_``)."""
        self._check_fitted()
        return self._n_peaks

    @property
    def peaks_(self) -> np.ndarray:
        """A copy of the peaks' excesses over ``initial_threshold_``, in arrival order."""
        self._check_fitted()
        return self._peaks[: self._n_peaks].copy()

    def fit(self, scores: Any) -> SPOT:
        """Sets the initial threshold and ``z_q`` from a batch of normal scores.

        Args:
            scores: Initial window scores, 1-D, finite, at least one
                (thousands, for about ``(1 - level) * n`` peaks to fit).

        Returns:
            This SPOT, with the fitted attributes set (a new fit discards the
            previous state).

        Raises:
            DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        """
        values = _as_scores(scores)
        initial = float(np.quantile(values, self.level))
        peaks = values[values > initial] - initial
        self.initial_threshold_ = initial
        self.n_ = int(values.size)
        self._fallback = _empirical_fallback(values, self.q, initial)
        capacity = max(64, 2 * peaks.size)
        self._peaks = np.empty(capacity)
        self._limits = np.empty(capacity)  # excess below which each peak was known to lie (inf: not truncated)
        self._peaks[: peaks.size] = peaks
        self._limits[: peaks.size] = np.inf
        self._n_peaks = int(peaks.size)
        self._n_untruncated = int(peaks.size)
        self.shape_: float | None = None
        self.scale_: float | None = None
        self.threshold_ = self._fallback
        self._refit()
        return self

    def update(self, score: float) -> bool:
        """Takes one new score; True when it is an alarm.

        Args:
            score: The new window's score (a finite number).

        Returns:
            True when ``score >= threshold_`` (an alarm: not absorbed, the
            model unchanged); else False, after counting it and, when above
            ``initial_threshold_``, adding its peak and refitting
            ``threshold_``.

        Raises:
            ConfigError: If :meth:`fit` was not called.
            DataError: If ``score`` is not a finite number.
        """
        self._check_fitted()
        if isinstance(score, np.ndarray) and score.ndim == 0:
            score = score.item()
        if not isinstance(score, numbers.Real) or isinstance(score, bool) or not math.isfinite(score):
            raise DataError(f"score must be a finite number, got {score!r}")
        score = float(score)
        if score >= self.threshold_:
            return True
        self.n_ += 1
        if score > self.initial_threshold_:
            if self._n_peaks == self._peaks.size:
                self._peaks = np.concatenate([self._peaks, np.empty(self._peaks.size)])
                self._limits = np.concatenate([self._limits, np.empty(self._limits.size)])
            self._peaks[self._n_peaks] = score - self.initial_threshold_
            self._limits[self._n_peaks] = self.threshold_ - self.initial_threshold_
            self._n_peaks += 1
            self._refit()
        elif self.shape_ is not None:
            # Only n changed: the same tail, at the new exceedance ratio N_t / n.
            self.threshold_ = self._tail_threshold()
        return False

    def _refit(self) -> None:
        if self._n_peaks < MIN_PEAKS:
            return  # threshold_ stays at the empirical fallback
        peaks = self._peaks[: self._n_peaks]
        if not self.truncation or self._n_peaks == self._n_untruncated:
            self.shape_, self.scale_ = _fit_gpd(peaks)
        else:
            start = None if self.shape_ is None else (self.shape_, self.scale_)
            self.shape_, self.scale_ = _fit_truncated_gpd(
                peaks, self._limits[self._n_untruncated : self._n_peaks], self._n_untruncated, start
            )
        self.threshold_ = self._tail_threshold()

    def _tail_threshold(self) -> float:
        assert self.shape_ is not None and self.scale_ is not None
        return _pot_threshold(
            self.initial_threshold_, self.shape_, self.scale_, self.q, self.n_, self._n_peaks, self._fallback
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise ConfigError("this SPOT is not fitted; call fit(initial_scores) first")


def trimmed(
    scores: Any,
    percentile: float = 99.0,
    trim_percentile: float = 95.0,
    iterations: int = 3,
) -> float:
    """Percentile of the scores after iteratively dropping the largest.

    As in Refine (Sencan et al., ISC 2025), which drops the windows above the
    95th percentile of the error iteratively: ``iterations`` times, the
    scores above ``np.percentile(kept, trim_percentile)`` are dropped; the
    threshold is ``np.percentile(kept, percentile)`` of the rest. Anomalies
    hidden in the calibration scores then move the threshold far less than
    they move a plain percentile.

    Trimming stops early when a round would keep fewer than :data:`MIN_KEPT`
    (10) scores (that round is not applied) or drops nothing. When all kept
    scores are identical the threshold is nudged up to the next float, so
    they are not flagged.

    Args:
        scores: Window scores, 1-D, finite, at least one.
        percentile: Percentile of the kept scores returned, in [0, 100].
        trim_percentile: Percentile above which scores are dropped each
            round, in (0, 100] (100 drops nothing).
        iterations: Number of trimming rounds, a non-negative integer (0 is
            the plain percentile).

    Returns:
        The threshold.

    Raises:
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If a setting is out of range.

    Example:
        >>> trimmed(list(range(1, 21)) + [1000.0], percentile=50.0, iterations=1)  # median of 1..20
        10.5
    """
    values = _as_scores(scores)
    percentile = _checked_real(percentile, "percentile", low=0.0, high=100.0)
    trim_percentile = _checked_real(trim_percentile, "trim_percentile", low=0.0, high=100.0, low_open=True)
    if not isinstance(iterations, numbers.Integral) or isinstance(iterations, bool) or iterations < 0:
        raise ConfigError(f"iterations must be a non-negative integer, got {iterations!r}")
    kept = values
    for _ in range(int(iterations)):
        cut = np.percentile(kept, trim_percentile)
        candidate = kept[kept <= cut]
        if candidate.size < MIN_KEPT or candidate.size == kept.size:
            break
        kept = candidate
    value = float(np.percentile(kept, percentile))
    if kept.min() == kept.max():
        return float(np.nextafter(value, np.inf))
    return value


# -- transfer between nodes --------------------------------------------------


def node_scale(reference: Any) -> tuple[float, float]:
    """Robust location and scale of a node's normal scores.

    The location is the median; the scale is ``1.4826 * MAD`` with the
    fallbacks of :func:`robust_z` (half or more identical: the mean
    absolute deviation times 1.2533). It is never 0: when all reference
    scores are identical it is ``eps * max(|median|, 1)`` (``eps`` the float64
    machine epsilon), the smallest scale that keeps normalised scores finite.

    Args:
        reference: The node's normal (calibration) scores, 1-D, finite, at
            least one.

    Returns:
        ``(median, scale)``, ``scale > 0``.

    Raises:
        DataError: If ``reference`` is not a non-empty 1-D array of finite numbers.

    Example:
        >>> node_scale([1.0, 2.0, 3.0, 4.0, 100.0])
        (3.0, 1.4826)
    """
    values = _as_scores(reference, "reference")
    median, scale = _robust_scale(values)
    if scale == 0.0:
        scale = float(np.finfo(np.float64).eps * max(abs(median), 1.0))
    return median, scale


def normalised_scores(scores: Any, reference: Any) -> np.ndarray:
    """Scores on a node's robust scale: ``(scores - median) / scale``.

    ``median`` and ``scale`` are :func:`node_scale` of ``reference``, the
    node's own normal scores, so normalised scores of different nodes are
    comparable and one threshold (a federation's, say) applies to all; see
    :func:`transferred` for the way back to a node's raw scale.

    Args:
        scores: Scores to normalise, 1-D, finite, at least one.
        reference: The node's normal (calibration) scores, 1-D, finite, at
            least one.

    Returns:
        A float64 array shaped like ``scores``.

    Raises:
        DataError: If ``scores`` or ``reference`` is not a non-empty 1-D
            array of finite numbers.

    Example:
        >>> normalised_scores([3.0, 6.0], [1.0, 2.0, 3.0, 4.0, 100.0]).round(4)  # (s - 3) / 1.4826
        array([0.    , 2.0235])
    """
    values = _as_scores(scores)
    median, scale = node_scale(reference)
    return (values - median) / scale


def transferred(reference: Any, z: float) -> float:
    """A threshold on the normalised scale, as a node's raw threshold.

    Returns ``median + z * scale`` with :func:`node_scale` of the node's own
    normal scores ``reference``: a window of this node is anomalous when its
    raw score reaches it, exactly when its :func:`normalised_scores` value
    reaches ``z`` (up to float rounding). With ``z = k`` it is
    :func:`robust_z` ``(reference, k)``, save for identical reference scores.

    Args:
        reference: The target node's normal (calibration) scores, 1-D,
            finite, at least one.
        z: The threshold on the normalised scale (a finite number), e.g.
            one set on a federation's normalised scores.

    Returns:
        The threshold on the node's raw score scale.

    Raises:
        DataError: If ``reference`` is not a non-empty 1-D array of finite numbers.
        ConfigError: If ``z`` is not a finite number.

    Example:
        >>> round(transferred([1.0, 2.0, 3.0, 4.0, 100.0], z=2.0), 4)  # 3 + 2 * 1.4826
        5.9652
    """
    z = _checked_real(z, "z")
    median, scale = node_scale(reference)
    return float(median + z * scale)


# -- dispatcher ---------------------------------------------------------------


def threshold(scores: Any, rule: str, **settings: Any) -> float:
    """Threshold of ``scores`` by the rule named ``rule``.

    Args:
        scores: Window scores, 1-D, finite, at least one.
        rule: One of :data:`RULES`: ``"log_robust_z"`` (:func:`log_robust_z`),
            ``"robust_z"`` (:func:`robust_z`),
            ``"iqr"`` (:func:`iqr_fence`), ``"pot"`` (:func:`pot`) or
            ``"trimmed"`` (:func:`trimmed`).
        **settings: The rule's settings (:data:`RULE_SETTINGS`), e.g.
            ``k=3.0`` or ``q=1e-4, level=0.99``; missing ones take the
            function's defaults.

    Returns:
        The threshold.

    Raises:
        ConfigError: If the rule is unknown, a setting is not the rule's,
            or a setting's value is invalid.
        DataError: If ``scores`` is not a non-empty 1-D array of finite numbers.

    Example:
        >>> round(threshold([1.0, 2.0, 3.0, 4.0, 100.0], "robust_z", k=2.0), 4)
        5.9652
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise ConfigError(f"unknown threshold rule {rule!r}; expected one of {RULES}")
    allowed = RULE_SETTINGS[rule]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown settings {unknown} for threshold rule {rule!r}; it accepts {list(allowed)}")
    return float(_RULE_FUNCTIONS[rule](scores, **settings))


_RULE_FUNCTIONS = {"log_robust_z": log_robust_z, "robust_z": robust_z, "iqr": iqr_fence, "pot": pot,
                   "trimmed": trimmed}


# -- helpers ----------------------------------------------------------------------


def _as_scores(values: Any, name: str = "scores") -> np.ndarray:
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be a 1-D array of numbers: {error}") from error
    if array.dtype.kind not in "iuf":
        raise DataError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D (one score per window), got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name} is empty; a threshold needs at least one score")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        n_nan = int(np.isnan(array).sum())
        raise DataError(
            f"{name} holds {array.size - int(finite.sum())} non-finite values "
            f"({n_nan} NaN, {array.size - int(finite.sum()) - n_nan} infinite); scores must be finite"
        )
    return array


def _checked_real(
    value: Any,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if low == -math.inf and high == math.inf:
            expected = "a finite number"
        elif high == math.inf:
            expected = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def _checked_pot_settings(q: Any, level: Any) -> tuple[float, float]:
    level = _checked_real(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)
    q = _checked_real(q, "q", low=0.0, high=1.0, low_open=True, high_open=True)
    if q >= 1.0 - level:
        raise ConfigError(
            f"q (the risk, {q!r}) must be below 1 - level ({1.0 - level:g}): the threshold for risk q "
            f"lies above the initial level={level!r} quantile"
        )
    return q, level


def _robust_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (0 when all values are identical)."""
    median = float(np.median(values))
    deviations = np.abs(values - median)
    mad = float(np.median(deviations))
    if mad > 0.0:
        return median, MAD_TO_STD * mad
    return median, MEAN_AD_TO_STD * float(np.mean(deviations))


def _empirical_fallback(values: np.ndarray, q: float, initial: float) -> float:
    return max(float(np.quantile(values, 1.0 - q)), float(np.nextafter(initial, np.inf)))


def _pot_threshold(initial: float, shape: float, scale: float, q: float, n: int, n_peaks: int, fallback: float) -> float:
    ratio = q * n / n_peaks
    if abs(shape) < _GAMMA_ZERO:
        excess = -scale * math.log(ratio)
    else:
        # sigma / gamma * (ratio ** -gamma - 1), written to stay exact as gamma -> 0.
        with np.errstate(over="ignore"):
            excess = scale / shape * float(np.expm1(-shape * math.log(ratio)))
    value = initial + excess
    if not math.isfinite(value):
        return fallback
    return max(value, float(np.nextafter(initial, np.inf)))


def _fit_gpd(peaks: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (shape, scale) of a generalised Pareto at location 0.

    Grimshaw's reduction: with x = gamma / sigma, the likelihood is maximal
    over (gamma, sigma) at gamma(x) = mean(log1p(x * y)), sigma = gamma / x,
    so only the profile likelihood over x has to be maximised, on
    x in (-1 / max(y), 0) and (0, 2 * (mean(y) - min(y)) / min(y)**2]
    (Grimshaw 1993). Its interior local maxima (found on a grid, refined with
    bounded Brent) and the exponential tail (x = 0) are the candidates; the
    likelihood is unbounded towards x = -1 / max(y) (gamma < -1), which is
    therefore never taken.
    """
    y = np.asarray(peaks, dtype=np.float64)
    n = y.size
    y_max, y_min, y_mean = float(y.max()), float(y.min()), float(y.mean())
    exponential = -n * (math.log(y_mean) + 1.0)
    if y_max == y_min:
        return 0.0, y_mean

    def profile(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.log1p(np.multiply.outer(x, y)).mean(axis=-1)
            value = -n * (np.log(gamma / x) + gamma + 1.0)
        return np.where(x == 0.0, exponential, np.where(np.isfinite(value), value, -np.inf))

    # The grid is in u = x * max(y): u in (-1, 0) and (0, u_high].
    u_high = 2.0 * (y_mean - y_min) / y_min**2 * y_max if y_min > 0.0 else math.inf
    log_high = min(max(math.log10(u_high), -7.0), 16.0) if u_high > 0.0 else -7.0
    near_zero = np.logspace(-8.0, -0.3, 32)
    near_pole = 1.0 - np.logspace(-0.3, -12.0, 24)[1:]
    positive = np.logspace(-8.0, log_high, 64)
    grid = np.sort(np.concatenate([-near_pole, -near_zero, [0.0], positive])) / y_max
    values = profile(grid)

    best_x, best_value = 0.0, exponential
    inner = values[1:-1]
    peaks_at = np.flatnonzero((inner > values[:-2]) & (inner >= values[2:])) + 1
    for i in peaks_at:
        low, high = grid[i - 1], grid[i + 1]
        result = optimize.minimize_scalar(
            lambda s, low=low, high=high: -float(profile(np.array([low + s * (high - low)]))[0]),
            bounds=(0.0, 1.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        x = low + float(result.x) * (high - low)
        value = float(profile(np.array([x]))[0])
        if values[i] > value:
            x, value = float(grid[i]), float(values[i])
        if value > best_value:
            best_x, best_value = x, value
    if best_x == 0.0:
        return 0.0, y_mean
    gamma = float(np.mean(np.log1p(best_x * y)))
    return gamma, gamma / best_x


def _fit_truncated_gpd(
    peaks: np.ndarray, limits: np.ndarray, n_untruncated: int, start: tuple[float, float] | None
) -> tuple[float, float]:
    """Maximum-likelihood (shape, scale) of peaks of which the last ones are truncated.

    ``peaks[n_untruncated:]`` were only observed because each was below its
    ``limits`` entry: their likelihood is the density divided by the CDF at
    the limit. Nelder-Mead over (gamma, log sigma) from ``start`` (the
    previous estimate), or from the untruncated fit :func:`_fit_gpd` when
    there is none or it is no longer feasible (a new peak beyond the end point
    of a bounded tail).
    """
    y = np.asarray(peaks, dtype=np.float64)
    c = np.asarray(limits, dtype=np.float64)
    n = y.size
    y_max, y_sum = float(y.max()), float(y.sum())

    def negative_log_likelihood(params: np.ndarray) -> float:
        gamma, log_sigma = float(params[0]), float(params[1])
        sigma = math.exp(log_sigma)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if abs(gamma) < _GAMMA_ZERO:
                log_density = -n * log_sigma - y_sum / sigma
                log_survival = -c / sigma
            else:
                if 1.0 + gamma * y_max / sigma <= 0.0:
                    return _INFEASIBLE  # a peak beyond the tail's end point
                ratio = gamma / sigma
                log_density = -n * log_sigma - (1.0 + 1.0 / gamma) * float(np.log1p(ratio * y).sum())
                log_survival = np.where(1.0 + ratio * c > 0.0, -np.log1p(ratio * c) / gamma, -np.inf)
            value = -(log_density - float(np.log(-np.expm1(log_survival)).sum()))
        return value if math.isfinite(value) else _INFEASIBLE

    if start is None or negative_log_likelihood(np.array([start[0], math.log(start[1])])) >= _INFEASIBLE:
        start = _fit_gpd(y)
    x0 = np.array([start[0], math.log(start[1])])
    simplex = np.array([x0, x0 + [_SIMPLEX_STEP, 0.0], x0 + [0.0, _SIMPLEX_STEP]])
    result = optimize.minimize(
        negative_log_likelihood,
        x0,
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000},
    )
    best = result.x if result.fun <= negative_log_likelihood(x0) else x0
    gamma, sigma = float(best[0]), math.exp(float(best[1]))
    return (0.0 if abs(gamma) < _GAMMA_ZERO else gamma), sigma
