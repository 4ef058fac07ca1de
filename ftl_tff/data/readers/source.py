"""What every reader returns: window statistics per metric and node, plus Nagios.

The three readers (raw release, pre-aggregated release, wide tables) differ in
what they parse; they all hand the same :class:`SourceWindows` to the dataset
builder, so schema alignment, coverage features, labels and the on-disk format
are computed by one code path whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...vocabulary import sort_nodes
from .windows import WindowStats

#: Columns of the per-node Nagios summary, one row per window.
NAGIOS_COLUMNS: tuple[str, ...] = (
    "nagios_state_max",  # worst state of any check in the window (0-3), NaN if unknown
    "nagios_warning",  # number of WARNING (1) check results in the window
    "nagios_critical",  # number of CRITICAL (2) check results
    "nagios_unknown",  # number of UNKNOWN (3) check results
    "nagios_drained",  # 1 if the node was drained by an operator in the window, NaN if unknown
)


@dataclass
class SourceWindows:
    """Windowed telemetry and Nagios summaries read from one source.

    Attributes:
        source: Path of the source, for the manifest.
        format: ``"raw"``, ``"aggregated"`` or ``"wide"``.
        window: Window length as a pandas offset string.
        metrics: ``metric -> node -> WindowStats``.
        metric_plugins: ``metric -> plugin`` (e.g. ``ipmi_pub``).
        nagios: ``node -> DataFrame`` indexed by window start (int64 ns) with
            :data:`NAGIOS_COLUMNS`.
        sample_counts: True when ``WindowStats.count`` counts readings (raw
            release); False when it only marks presence (one value per window).
        notes: Human-readable notes on everything skipped, repaired or dropped.
        counts: Named counters behind the notes (for the manifest).
    """

    source: str
    format: str
    window: str
    metrics: dict[str, dict[str, WindowStats]] = field(default_factory=dict)
    metric_plugins: dict[str, str] = field(default_factory=dict)
    nagios: dict[str, pd.DataFrame] = field(default_factory=dict)
    sample_counts: bool = True
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add_metric(self, metric: str, plugin: str, per_node: dict[str, WindowStats]) -> None:
        """Record the window statistics of one metric."""
        if not per_node:
            return
        self.metrics[metric] = per_node
        self.metric_plugins[metric] = plugin

    def count(self, key: str, amount: int = 1) -> None:
        """Increase a named counter (e.g. ``nan_readings_dropped``)."""
        self.counts[key] = self.counts.get(key, 0) + int(amount)

    @property
    def nodes(self) -> list[str]:
        """All nodes seen in telemetry or Nagios, sorted numerically when possible."""
        seen: set[str] = set(self.nagios)
        for per_node in self.metrics.values():
            seen.update(per_node)
        return sort_nodes(seen)




def nagios_frame(window: np.ndarray, state_max, warning, critical, unknown, drained) -> pd.DataFrame:
    """Build a Nagios summary frame indexed by window start (int64 ns)."""
    return pd.DataFrame(
        {
            "nagios_state_max": np.asarray(state_max, dtype=np.float64),
            "nagios_warning": np.asarray(warning, dtype=np.float64),
            "nagios_critical": np.asarray(critical, dtype=np.float64),
            "nagios_unknown": np.asarray(unknown, dtype=np.float64),
            "nagios_drained": np.asarray(drained, dtype=np.float64),
        },
        index=pd.Index(np.asarray(window, dtype=np.int64), name="window"),
    )


def to_utc(value) -> pd.Timestamp | None:
    """A time bound as a UTC timestamp (tz-naive values are taken as UTC); None stays None."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
