"""The pingouin calls of the comparisons, and the capture of their warnings.

Each call returns plain floats under ftl-tff's column names. pingouin 0.6
renamed the columns of its results (``W-val``, ``U-val``, ``p-val``,
``p-unc`` became ``W_val``, ``U_val``, ``p_val``, ``p_unc``), and the
Mann-Whitney rank-biserial r of pingouin 0.5.4 has the opposite sign of
0.6's: :func:`_value` reads either spelling and :func:`_mwu` computes r from
U itself, so pingouin 0.5.4 and 0.6 give the same rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FtlError

_WARNING_NOTES = {
    "Exact p-value calculation does not work if there are zeros": "normal approximation used (zero differences)",
    "Sample size too small for normal approximation": "normal approximation on fewer than 10 non-zero differences",
    "Precision loss occurred in moment calculation": "precision loss in a variance (nearly constant values)",
}


def _pingouin() -> Any:
    """pingouin, imported on first use."""
    import pingouin  # lazy: importing it takes seconds (matplotlib, statsmodels)

    return pingouin


def _value(result: pd.DataFrame, *names: str) -> float:
    """The first-row value of the first of ``names`` that is a column of ``result``.

    ``names`` are the spellings of one column across pingouin versions
    (``"p_val", "p-val"``).

    Raises:
        FtlError: ``result`` has none of ``names`` (a pingouin this code does
            not know); the message names the column and pingouin's version.
    """
    for name in names:
        if name in result.columns:
            return float(result[name].iloc[0])
    raise FtlError(
        f"pingouin {_pingouin().__version__} returned no column {' or '.join(map(repr, names))} "
        f"(it has {', '.join(map(str, result.columns))}): unsupported pingouin version"
    )


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``pingouin.wilcoxon`` (two-sided): W, its p-value and the matched-pairs rank-biserial r."""
    res = _pingouin().wilcoxon(x, y, alternative="two-sided")
    return {
        "statistic": _value(res, "W_val", "W-val"),
        "p_value": _value(res, "p_val", "p-val"),
        "rank_biserial": _value(res, "RBC"),
    }


def _mwu(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``pingouin.mwu`` (two-sided): U of ``x``, its p-value, the rank-biserial r and the CLES.

    r is computed here from U, as pingouin 0.6 does, ``(U_x - U_y) / (n_x n_y)``
    (positive when ``x`` tends to be higher): pingouin 0.5.4 reports it with
    the opposite sign.
    """
    res = _pingouin().mwu(x, y, alternative="two-sided")
    u_x = _value(res, "U_val", "U-val")
    n_pairs = x.size * y.size
    return {
        "statistic": u_x,
        "p_value": _value(res, "p_val", "p-val"),
        "rank_biserial": 1 - (2 * (n_pairs - u_x)) / n_pairs,
        "cles": _value(res, "CLES"),
    }


def _ttest(x: np.ndarray, y: np.ndarray, *, paired: bool) -> dict[str, float]:
    """``pingouin.ttest``: the paired t-test, or Welch's t-test (unequal variances) of two groups."""
    pg = _pingouin()
    res = pg.ttest(x, y, paired=True) if paired else pg.ttest(x, y, paired=False, correction=True)
    return {"t": _value(res, "T"), "p_value_t": _value(res, "p_val", "p-val")}


def _effsize(x: np.ndarray, y: np.ndarray, *, paired: bool, eftype: str) -> float:
    """``pingouin.compute_effsize`` (``eftype`` ``"cohen"``, ``"hedges"`` or ``"CLES"``)."""
    return float(_pingouin().compute_effsize(x, y, paired=paired, eftype=eftype))


def _friedman(long: pd.DataFrame, *, dv: str, within: str, subject: str) -> dict[str, float]:
    """``pingouin.friedman`` (chi-square form): Q, its p-value and Kendall's W."""
    res = _pingouin().friedman(data=long, dv=dv, within=within, subject=subject)
    return {
        "statistic": _value(res, "Q"),
        "p_value": _value(res, "p_unc", "p-unc"),
        "kendall_w": _value(res, "W"),
    }


def _holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm-corrected p-values (``pingouin.multicomp``; NaN stays NaN, out of the correction)."""
    _, p_holm = _pingouin().multicomp(p, alpha=alpha, method="holm")
    return np.asarray(p_holm, dtype=float)


@contextmanager
def _captured(notes: list[str]) -> Iterator[None]:
    """Silences warnings and numpy floating-point messages; appends short reasons to ``notes``.

    Deprecation and future warnings (about library internals) are dropped;
    known scipy messages are shortened (:data:`_WARNING_NOTES`); any other
    warning is kept as its first line. pingouin is imported before the
    recording starts: warnings of its import are not about the data.
    """
    _pingouin()
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
