"""Which nodes train: Top-N by a criterion, or Random-N.

Strategies are small objects with one verb, ``select(table)``, in the manner
of Flower's strategies. ``table`` is a node-level DataFrame with one row per
node (the ``node`` column or the index) such as
:meth:`ftl_tff.data.ProcessedDataset.summary` returns. Both strategies are
deterministic and return a :class:`Selection` that records how it was made.

Criteria of :class:`TopN` (higher ranks first):

* ``training_windows`` (default): nodes with the most data; FedAvg weights
  clients by examples, so they shape the model most anyway.
* ``normal_windows``: the most windows that Nagios calls normal: the most
  material for a model of normal behaviour (semi-supervised training).
* ``anomaly_rate``: the highest share of anomalous windows: nodes whose
  failures the model sees (supervised thresholds need both classes).
* ``completeness``: the lowest share of missing feature values: the cleanest
  telemetry.
* a callable ``table -> Series`` (indexed like the table) for anything else.

Farooq et al. (ESWA 2025) select Top-N nodes, but the criterion they ranked
by is not public; ``training_windows`` is ftl-tff's documented choice.
Ties are broken by node id, so a ranking never depends on row order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import vocabulary
from .errors import ConfigError, SchemaError

CRITERIA = vocabulary.CRITERIA


@dataclass(frozen=True)
class Selection:
    """The outcome of a selection strategy.

    Attributes:
        participating: Nodes that train the federated model, best first.
        non_participating: The other nodes, in the table's node order.
        strategy: ``"top"`` or ``"random"``.
        criterion: The ranking criterion (``"random"`` for Random-N).
        seed: The seed of Random-N (None for Top-N).
        scores: The criterion's value per node (empty for Random-N).
    """

    participating: list[str]
    non_participating: list[str]
    strategy: str
    criterion: str
    seed: int | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe record of the selection (for results folders)."""
        return {"participating": self.participating, "non_participating": self.non_participating,
                "strategy": self.strategy, "criterion": self.criterion, "seed": self.seed, "scores": self.scores}


def _node_table(table: pd.DataFrame) -> pd.DataFrame:
    table = table.set_index("node") if "node" in table.columns else table
    table.index = table.index.astype(str)
    if table.index.has_duplicates:
        raise SchemaError(f"the node table lists node(s) twice: {sorted(set(table.index[table.index.duplicated()]))}")
    if table.empty:
        raise ConfigError("the node table is empty")
    return table


def _check_n(n: int, available: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    if n > available:
        raise ConfigError(f"cannot select {n} nodes: the table has {available}")


def _criterion_values(table: pd.DataFrame, by: str | Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
    if callable(by):
        values = pd.Series(by(table))
        values.index = values.index.astype(str)
        return values.reindex(table.index)

    def need(*columns: str) -> None:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise SchemaError(f"criterion {by!r} needs column(s) {', '.join(missing)} in the node table")

    if by == "training_windows":
        need("windows")
        return table["windows"].astype(float)
    if by == "normal_windows":
        need("windows", "anomalous_windows")
        return (table["windows"] - table["anomalous_windows"]).astype(float)
    if by == "anomaly_rate":
        need("windows", "anomalous_windows")
        return table["anomalous_windows"] / table["windows"].where(table["windows"] > 0)
    if by == "completeness":
        need("missing_share")
        return 1.0 - table["missing_share"].astype(float)
    raise ConfigError(f"unknown criterion {by!r}: use one of {', '.join(CRITERIA)} or a callable")


@dataclass(frozen=True)
class TopN:
    """The ``n`` nodes ranked highest by ``by``.

    Args:
        n: Number of participating nodes.
        by: One of :data:`CRITERIA` or a callable ``table -> Series``.

    Example:
        >>> table = pd.DataFrame({"node": ["a", "b", "c"], "windows": [10, 30, 20]})
        >>> TopN(2).select(table).participating
        ['b', 'c']
    """

    n: int
    by: str | Callable[[pd.DataFrame], pd.Series] = "training_windows"

    def select(self, table: pd.DataFrame) -> Selection:
        """Rank the nodes of ``table`` and split them into participating and not."""
        table = _node_table(table)
        _check_n(self.n, len(table))
        values = _criterion_values(table, self.by)
        if values.isna().any():
            bad = list(values.index[values.isna()])
            raise SchemaError(f"criterion {self._name()!r} is undefined for node(s) {', '.join(bad[:10])}")
        order = sorted(table.index, key=lambda node: (-float(values[node]), vocabulary.node_order(node)))
        chosen = order[: self.n]
        return Selection(participating=chosen, non_participating=[n for n in table.index if n not in set(chosen)],
                         strategy="top", criterion=self._name(),
                         scores={node: float(values[node]) for node in table.index})

    def _name(self) -> str:
        return self.by if isinstance(self.by, str) else getattr(self.by, "__name__", "callable")


@dataclass(frozen=True)
class RandomN:
    """``n`` nodes drawn uniformly at random, reproducibly for a seed.

    The draw depends only on the seed and the set of node ids (not on row
    order), so the same seed gives the same nodes for the same table.
    """

    n: int
    seed: int = 0

    def select(self, table: pd.DataFrame) -> Selection:
        """Draw the participating nodes."""
        table = _node_table(table)
        _check_n(self.n, len(table))
        ordered = sorted(table.index, key=vocabulary.node_order)
        rng = np.random.default_rng(self.seed)
        chosen = [ordered[i] for i in rng.choice(len(ordered), size=self.n, replace=False)]
        return Selection(participating=chosen, non_participating=[n for n in table.index if n not in set(chosen)],
                         strategy="random", criterion="random", seed=self.seed)


def selector(strategy: str, n_nodes: int, criterion: str = "training_windows", seed: int = 0) -> TopN | RandomN:
    """The node chooser a strategy name stands for: :class:`TopN` by ``criterion``, or :class:`RandomN` seeded.

    Args:
        strategy: A spelling of :data:`~ftl_tff.vocabulary.STRATEGY_NAMES` (``top``, ``topN``, ``random``...).
        n_nodes: Participating nodes.
        criterion: Top-N ranking criterion.
        seed: Seed of the Random-N draw.

    Raises:
        ConfigError: For an unknown strategy.
    """
    name = vocabulary.STRATEGY_NAMES.get(str(strategy).lower())
    if name is None:
        raise ConfigError(f"strategy: unknown {strategy!r} (use one of {', '.join(vocabulary.STRATEGIES)})")
    return TopN(n_nodes, by=criterion) if name == "top" else RandomN(n_nodes, seed)
