"""Words for the results: p-values, effect-size magnitudes and the one-line ``summary`` of each row.

Pure text: these functions read a finished result row (a dict with the
columns of :mod:`ftl_tff.stats.columns`) and compute nothing statistical.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["effect_label", "format_p"]

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
    """`` (2 untied < 5)`` from the note of :func:`~ftl_tff.stats.common._drop_rank_effect`, else empty."""
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
