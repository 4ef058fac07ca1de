"""Window labels from Nagios, with the rules the literature uses.

Nagios ``value``: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Rules:

* ``critical`` (default; RUAD, Molan et al. 2023): any check CRITICAL.
* ``nonzero`` (ExaData demo): any check not OK.
* ``critical_or_unknown`` (GRAAFE, Molan et al. 2024): any CRITICAL or UNKNOWN.
* ``drained``: the operators drained the node (``nagiosdrained == 1``).

``horizon=k`` turns a label into anticipation: a window is positive when any
of the *next* ``k`` windows (by time, not by row: gaps count) is anomalous
under the rule, as GRAAFE's "anomaly within the next k windows".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import ConfigError

LABEL_RULES: tuple[str, ...] = ("critical", "nonzero", "critical_or_unknown", "drained")


def rule_positive(nagios: pd.DataFrame, rule: str) -> pd.Series:
    """Per-window 0/1 anomaly under ``rule``; NaN where Nagios said nothing.

    Args:
        nagios: Frame with the ``nagios_*`` summary columns.
        rule: One of :data:`LABEL_RULES`.
    """
    if rule not in LABEL_RULES:
        raise ConfigError(f"unknown label rule {rule!r}: use one of {', '.join(LABEL_RULES)}")
    if rule == "critical":
        positive = nagios["nagios_critical"] > 0
        known = nagios["nagios_critical"].notna()
    elif rule == "nonzero":
        positive = nagios["nagios_state_max"] > 0
        known = nagios["nagios_state_max"].notna()
    elif rule == "critical_or_unknown":
        positive = (nagios["nagios_critical"] > 0) | (nagios["nagios_unknown"] > 0)
        known = nagios["nagios_critical"].notna()
    else:
        positive = nagios["nagios_drained"] > 0
        known = nagios["nagios_drained"].notna()
    return positive.astype(np.float64).where(known)


def anticipate(positive: pd.Series, window_length: pd.Timedelta, horizon: int) -> pd.Series:
    """Label a window 1 when any of the next ``horizon`` windows is positive.

    Args:
        positive: 0/1 (NaN allowed) indexed by a sorted DatetimeIndex of window starts.
        window_length: The window length.
        horizon: Number of future windows looked at (0 returns ``positive``).
    """
    if horizon < 0:
        raise ConfigError(f"horizon must be >= 0, got {horizon}")
    if horizon == 0:
        return positive
    known = positive.fillna(0.0)
    ahead = pd.Series(0.0, index=positive.index)
    for step in range(1, horizon + 1):
        shifted = known.copy()
        shifted.index = shifted.index - step * window_length
        ahead = np.maximum(ahead, shifted.reindex(positive.index, fill_value=0.0))
    return ahead
