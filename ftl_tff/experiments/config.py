"""The declarative experiment: a grid of paradigms x strategies x N x seeds.

An experiment file is TOML (``.toml``) or YAML (``.yaml``/``.yml``) with the
keys of :class:`ExperimentConfig`; the tables ``[training]``, ``[transfer]``
and ``[data_efficiency]`` hold the fields of
:class:`~ftl_tff.config.RunConfig` (any leaf field but those the grid sets:
paradigm, seed, features, baselines, nodes), of
:class:`~ftl_tff.config.TransferConfig` and of :class:`EfficiencyConfig`.
``ftl-tff train``, ``federated`` and ``transfer`` read the same files
(``--config FILE``). A relative ``dataset`` path is read relative
to the file. Example::

    name = "topn-vs-randomn"
    dataset = "prepared/"           # a folder written by `ftl-tff data prepare`
    features = "all"                # all | D1 | D2
    paradigms = ["unsupervised", "semi-supervised", "supervised"]
    strategies = ["top", "random"]
    criterion = "training_windows"  # Top-N ranking
    n_nodes = [10]
    seeds = [0, 1, 2]
    baselines = ["local", "centralized"]

    [training]
    rounds = 10
    local_epochs = 1
    batch_size = 32

    [transfer]
    modes = ["zero-shot", "fine-tune"]
    epochs = 10

    [data_efficiency]
    days = [1, 3, 7]                # empty: no study
    max_nodes = 10                  # optional: the first 10 non-participating nodes only

Unknown keys and wrong types are errors that name the key and the file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import GROUPS, RunConfig, TransferConfig, flat_fields, read_config_file
from ..errors import ConfigError
from ..paradigms import get_paradigm
from ..vocabulary import BASELINES, CRITERIA, FEATURE_SETS, PARADIGMS, STRATEGY_NAMES

#: RunConfig fields the grid sets per cell, so ``[training]`` may not.
GRID_KEYS = ("paradigm", "seed", "features", "baselines", "nodes", "selection")
#: RunConfig options an experiment may set in ``[training]``.
TRAINING_KEYS = tuple(k for k in flat_fields(RunConfig) if k not in GRID_KEYS)
#: TransferConfig options an experiment may set in ``[transfer]``.
TRANSFER_KEYS = tuple(f.name for f in fields(TransferConfig))


@dataclass(frozen=True)
class EfficiencyConfig:
    """The data-efficiency study of an experiment.

    Attributes:
        days: Training budgets in days (empty: no study).
        paradigm: The cell whose model is studied (default: the grid's first paradigm).
        strategy: Its strategy (default: the grid's first).
        n_nodes: Its N (default: the grid's first).
        seed: Its seed (default: the grid's first).
        include_full: Add the full training part as one more budget.
        max_nodes: Study only the first k non-participating nodes, in node order (None: all).
    """

    days: tuple[float, ...] = ()
    paradigm: str | None = None
    strategy: str | None = None
    n_nodes: int | None = None
    seed: int | None = None
    include_full: bool = True
    max_nodes: int | None = None

    def validate(self, where: str) -> None:
        """Raise ConfigError naming ``where`` and the key."""
        if any(not isinstance(d, (int, float)) or isinstance(d, bool) or d <= 0 for d in self.days):
            raise ConfigError(f"{where}data_efficiency.days must be positive numbers, got {list(self.days)}")
        if self.max_nodes is not None and (not isinstance(self.max_nodes, int) or isinstance(self.max_nodes, bool)
                                           or self.max_nodes < 1):
            raise ConfigError(f"{where}data_efficiency.max_nodes must be an integer >= 1, got {self.max_nodes!r}")


#: Keys of ``[data_efficiency]``.
EFFICIENCY_KEYS = tuple(f.name for f in fields(EfficiencyConfig))


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a federated training and its transfer.

    Attributes:
        paradigm: The paradigm.
        strategy: ``top`` or ``random``.
        n_nodes: Participating nodes.
        seed: Seed of training (and of the Random-N draw).
    """

    paradigm: str
    strategy: str
    n_nodes: int
    seed: int

    @property
    def cell_id(self) -> str:
        """A stable folder name, e.g. ``semi-supervised_top10_seed0``."""
        return f"{self.paradigm}_{self.strategy}{self.n_nodes}_seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The grid coordinates as a dict."""
        return asdict(self)


@dataclass
class ExperimentConfig:
    """A whole experiment (see the module docstring for the file format).

    Attributes:
        dataset: Processed dataset folder.
        name: Name shown in the report.
        features: Feature set: ``all``, ``D1`` or ``D2``.
        paradigms: Paradigms of the grid.
        strategies: ``top`` and/or ``random``.
        criterion: Ranking criterion of Top-N (:data:`ftl_tff.selection.CRITERIA`).
        n_nodes: Numbers of participating nodes.
        seeds: Seeds; each cell trains with its seed, Random-N draws with it.
        baselines: Baselines on participating nodes (``local``, ``centralized``).
        training: The :class:`~ftl_tff.config.RunConfig` every cell starts
            from (a table of its fields, :data:`TRAINING_KEYS`, is accepted
            and converted); the grid sets paradigm, seed, features and baselines.
        transfer: The :class:`~ftl_tff.config.TransferConfig` (or a table of its fields).
        data_efficiency: The :class:`EfficiencyConfig` (or a table of its fields).
        metric: The headline metric of the report (``f1`` or ``roc_auc``...).
    """

    dataset: str
    name: str = "experiment"
    features: str = "all"
    paradigms: list[str] = field(default_factory=lambda: list(PARADIGMS))
    strategies: list[str] = field(default_factory=lambda: ["top", "random"])
    criterion: str = "training_windows"
    n_nodes: list[int] = field(default_factory=lambda: [10])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    training: RunConfig = field(default_factory=RunConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    data_efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    metric: str = "f1"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "experiment") -> None:
        """Normalise names and raise ConfigError (naming ``source`` and the key) on bad values."""
        where = f"{source}: "
        try:
            self._check(where)
        except ConfigError as error:
            message = str(error)
            raise ConfigError(message if message.startswith(where) else where + message) from error

    def _check(self, where: str) -> None:
        self.dataset = str(self.dataset)
        self.paradigms = [get_paradigm(str(p)).name for p in _list(self.paradigms, "paradigms", where)]
        strategies = []
        for name in _list(self.strategies, "strategies", where):
            key = str(name).lower()
            if key not in STRATEGY_NAMES:
                raise ConfigError(f"{where}strategies: unknown strategy {name!r} (use top or random)")
            strategies.append(STRATEGY_NAMES[key])
        self.strategies = list(dict.fromkeys(strategies))
        if self.criterion not in CRITERIA:
            raise ConfigError(f"{where}criterion: unknown {self.criterion!r} (use one of {', '.join(CRITERIA)})")
        self.n_nodes = _ints(self.n_nodes, "n_nodes", where, minimum=1)
        self.seeds = _ints(self.seeds, "seeds", where, minimum=0)
        if self.features not in FEATURE_SETS:
            raise ConfigError(f"{where}features: unknown feature set {self.features!r} (use {', '.join(FEATURE_SETS)})")
        self.baselines = list(dict.fromkeys(str(b) for b in self.baselines))
        self.training = _table(self.training, RunConfig, TRAINING_KEYS, "training", where)
        self.transfer = _table(self.transfer, TransferConfig, TRANSFER_KEYS, "transfer", where)
        if isinstance(self.data_efficiency, dict):
            unknown = sorted(set(self.data_efficiency) - set(EFFICIENCY_KEYS))
            if unknown:
                raise ConfigError(f"{where}data_efficiency: unknown option(s) {', '.join(unknown)} "
                                  f"(allowed: {', '.join(EFFICIENCY_KEYS)})")
            values = dict(self.data_efficiency)
            if values.get("days"):  # empty or absent: no study
                values["days"] = tuple(_list(values["days"], "data_efficiency.days", where))
            else:
                values["days"] = ()
            self.data_efficiency = EfficiencyConfig(**values)
        self.data_efficiency.validate(where)
        self.train_config(self.cells()[0])
        if self.data_efficiency.days:
            self.efficiency_cell()

    # -- the grid ---------------------------------------------------------

    def cells(self) -> list[Cell]:
        """Every cell, in the order they run (paradigm, strategy, N, seed)."""
        return [Cell(p, s, n, seed) for p, s, n, seed in
                itertools.product(self.paradigms, self.strategies, self.n_nodes, self.seeds)]

    def train_config(self, cell: Cell) -> RunConfig:
        """The :class:`~ftl_tff.config.RunConfig` of a cell (nodes set later by the selection)."""
        return RunConfig.from_flat({**self.training.flat(), "paradigm": cell.paradigm, "seed": cell.seed,
                                    "features": self.features, "baselines": list(self.baselines)},
                                   source=f"cell {cell.cell_id}")

    def efficiency_cell(self) -> Cell | None:
        """The cell whose global model the data-efficiency study uses (None: no study)."""
        spec = self.data_efficiency
        if not spec.days:
            return None
        cell = Cell(get_paradigm(spec.paradigm or self.paradigms[0]).name,
                    STRATEGY_NAMES.get(str(spec.strategy or self.strategies[0]).lower(), "?"),
                    int(spec.n_nodes or self.n_nodes[0]), int(self.seeds[0] if spec.seed is None else spec.seed))
        if cell not in self.cells():
            raise ConfigError(f"data_efficiency: the cell {cell.cell_id} is not in the grid (its paradigm, strategy, "
                              "n_nodes and seed must be among the experiment's)")
        return cell

    # -- persistence --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy (what ``config.json`` of a results folder holds)."""
        data = asdict(self)
        data["training"] = {k: v for k, v in self.training.to_dict().items() if k not in GRID_KEYS}
        data["transfer"] = self.transfer.to_dict()
        data["data_efficiency"] = {k: list(v) if isinstance(v, tuple) else v
                                   for k, v in asdict(self.data_efficiency).items()}
        return data

    def fingerprint(self) -> str:
        """A hash of everything that changes results (the name excluded)."""
        return _hash({k: v for k, v in self.to_dict().items() if k != "name"})

    def cell_fingerprint(self) -> str:
        """A hash of what changes a grid cell's results.

        The report's metric and the data-efficiency study are left out: they
        can change without redoing finished cells.
        """
        return _hash({k: v for k, v in self.to_dict().items() if k not in ("name", "metric", "data_efficiency")})

    def with_overrides(self, **overrides: Any) -> ExperimentConfig:
        """A copy with top-level keys replaced (None values are ignored).

        ``training.<key>`` / ``transfer.<key>`` style keys are not accepted;
        pass ``training={...}`` to merge options into the table.
        """
        data = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in data:
                raise ConfigError(f"unknown experiment option {key!r}")
            if key == "training":
                data[key] = {k: v for k, v in self.training.with_options(value, "training").to_dict().items()
                             if k not in GRID_KEYS}
            elif key in ("transfer", "data_efficiency"):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return ExperimentConfig(**data)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an experiment file (TOML or YAML).

    Raises:
        SourceNotFoundError: If the file does not exist.
        ConfigError: If it cannot be parsed, has unknown keys, or holds
            invalid values; the message names the file and the key.
    """
    path = Path(path)
    data = read_config_file(path, "experiment file")
    known = {f.name for f in fields(ExperimentConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})")
    if "dataset" not in data:
        raise ConfigError(f"{path}: missing key 'dataset' (a folder written by `ftl-tff data prepare`)")
    dataset = Path(str(data["dataset"])).expanduser()
    if not dataset.is_absolute():
        dataset = (path.parent / dataset).resolve()
    data["dataset"] = str(dataset)
    try:
        return ExperimentConfig(**data)
    except ConfigError as error:
        raise ConfigError(str(error).replace("experiment: ", f"{path}: ", 1)) from error


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _list(value: Any, key: str, where: str) -> list[Any]:
    if isinstance(value, (str, int, float)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where}{key} must be a non-empty list, got {value!r}")
    return list(value)


def _ints(value: Any, key: str, where: str, minimum: int) -> list[int]:
    items = _list(value, key, where)
    if any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in items):
        raise ConfigError(f"{where}{key} must be integers >= {minimum}, got {value!r}")
    return list(dict.fromkeys(items))


def _table(value: Any, cls: type, allowed: tuple[str, ...], key: str, where: str) -> Any:
    """A configuration of ``cls`` from ``value`` (itself, or a table of the ``allowed`` keys), validated."""
    if isinstance(value, cls):
        return value.validate()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be a table of options, got {type(value).__name__}")
    groups = set(GROUPS) if cls is RunConfig else set()
    unknown = sorted(k for k in value if k not in allowed and k not in groups)
    if unknown:
        raise ConfigError(f"{where}{key}: unknown option(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    return cls.from_flat(value, source=f"{where}{key}".rstrip(": "))

