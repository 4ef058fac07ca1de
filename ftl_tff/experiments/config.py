"""The declarative experiment: a grid of paradigms x strategies x N x seeds.

An experiment file is TOML (``.toml``) or YAML (``.yaml``/``.yml``) with the
keys of :class:`ExperimentConfig`; the tables ``[training]``, ``[transfer]``
and ``[data_efficiency]`` hold the options of
:class:`~ftl_tff.runs.TrainConfig`, :class:`~ftl_tff.transfer.TransferConfig`
and the data-efficiency study. A relative ``dataset`` path is read relative
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
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SourceNotFoundError
from ..paradigms import PARADIGMS, get_paradigm
from ..selection import CRITERIA

#: Strategy spellings accepted in files and on the command line.
STRATEGY_NAMES = {"top": "top", "topn": "top", "top-n": "top", "random": "random", "randomn": "random",
                  "random-n": "random"}
#: TrainConfig options an experiment may set in ``[training]`` (the grid sets the others).
TRAINING_KEYS = ("rounds", "local_epochs", "batch_size", "client_optimizer", "client_learning_rate",
                 "server_optimizer", "server_learning_rate", "weighting", "clients_per_round", "split", "train",
                 "validation", "block", "impute", "clip", "threshold", "percentile", "score", "gap_weight", "smooth_windows",
                 "encoder_units",
                 "early_stopping_patience", "workers", "data_on_workers")
#: TransferConfig options an experiment may set in ``[transfer]``.
TRANSFER_KEYS = ("modes", "epochs", "learning_rate", "optimizer", "reinit_decoder", "local_baseline",
                 "local_epochs", "threshold", "trim")
#: Keys of ``[data_efficiency]``.
EFFICIENCY_KEYS = ("days", "paradigm", "strategy", "n_nodes", "seed", "include_full", "max_nodes")


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
        training: :class:`~ftl_tff.runs.TrainConfig` options (:data:`TRAINING_KEYS`).
        transfer: :class:`~ftl_tff.transfer.TransferConfig` options (:data:`TRANSFER_KEYS`).
        data_efficiency: ``days`` (budgets; empty for no study) and the cell it
            runs on (``paradigm``, ``strategy``, ``n_nodes``, ``seed``; default
            the grid's first of each), ``include_full`` (default true),
            ``max_nodes`` (study only the first k non-participating nodes, in
            node order; default all).
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
    baselines: list[str] = field(default_factory=lambda: ["local", "centralized"])
    training: dict[str, Any] = field(default_factory=dict)
    transfer: dict[str, Any] = field(default_factory=dict)
    data_efficiency: dict[str, Any] = field(default_factory=dict)
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
        if self.features not in ("all", "D1", "D2"):
            raise ConfigError(f"{where}features: unknown feature set {self.features!r} (use all, D1 or D2)")
        for key, allowed in (("training", TRAINING_KEYS), ("transfer", TRANSFER_KEYS),
                             ("data_efficiency", EFFICIENCY_KEYS)):
            table = getattr(self, key)
            if not isinstance(table, dict):
                raise ConfigError(f"{where}{key} must be a table of options, got {type(table).__name__}")
            unknown = sorted(set(table) - set(allowed))
            if unknown:
                raise ConfigError(f"{where}{key}: unknown option(s) {', '.join(unknown)} "
                                  f"(allowed: {', '.join(allowed)})")
        try:
            self.train_config(self.cells()[0]).validate()
            self.transfer_config(0).validate()
        except TypeError as error:
            raise ConfigError(f"{where}{error}") from error
        days = self.data_efficiency.get("days", [])
        if days:
            budgets = _list(days, "data_efficiency.days", where)
            if any(not isinstance(d, (int, float)) or isinstance(d, bool) or d <= 0 for d in budgets):
                raise ConfigError(f"{where}data_efficiency.days must be positive numbers, got {days}")
            self.efficiency_cell()
            max_nodes = self.data_efficiency.get("max_nodes")
            if max_nodes is not None and (not isinstance(max_nodes, int) or isinstance(max_nodes, bool)
                                          or max_nodes < 1):
                raise ConfigError(f"{where}data_efficiency.max_nodes must be an integer >= 1, got {max_nodes!r}")

    # -- the grid ---------------------------------------------------------

    def cells(self) -> list[Cell]:
        """Every cell, in the order they run (paradigm, strategy, N, seed)."""
        return [Cell(p, s, n, seed) for p, s, n, seed in
                itertools.product(self.paradigms, self.strategies, self.n_nodes, self.seeds)]

    def train_config(self, cell: Cell):
        """The :class:`~ftl_tff.runs.TrainConfig` of a cell (nodes set later by the selection)."""
        from ..runs import TrainConfig

        return TrainConfig(paradigm=cell.paradigm, seed=cell.seed, features=self.features,
                           baselines=list(self.baselines), **self.training)

    def transfer_config(self, seed: int):
        """The :class:`~ftl_tff.transfer.TransferConfig` of a cell with ``seed``."""
        from ..transfer import TransferConfig

        shared = {k: self.training[k] for k in ("percentile", "score", "batch_size", "gap_weight", "smooth_windows",
                                                "threshold")
                  if k in self.training}
        return TransferConfig(seed=seed, **{**shared, **self.transfer})

    def efficiency_cell(self) -> Cell | None:
        """The cell whose global model the data-efficiency study uses (None: no study)."""
        spec = self.data_efficiency
        if not spec.get("days"):
            return None
        cell = Cell(get_paradigm(spec.get("paradigm", self.paradigms[0])).name,
                    STRATEGY_NAMES.get(str(spec.get("strategy", self.strategies[0])).lower(), "?"),
                    int(spec.get("n_nodes", self.n_nodes[0])), int(spec.get("seed", self.seeds[0])))
        if cell not in self.cells():
            raise ConfigError(f"data_efficiency: the cell {cell.cell_id} is not in the grid (its paradigm, strategy, "
                              "n_nodes and seed must be among the experiment's)")
        return cell

    # -- persistence --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy (what ``config.json`` of a results folder holds)."""
        return asdict(self)

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
            if key in ("training", "transfer", "data_efficiency"):
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
    if not path.is_file():
        raise SourceNotFoundError(f"experiment file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: use a .toml, .yaml or .yml experiment file")
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML ({error})") from error
    except ImportError as error:  # pragma: no cover - pyyaml is a dependency
        raise ConfigError(f"{path}: reading YAML needs pyyaml") from error
    except Exception as error:
        if type(error).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: invalid YAML ({error})") from error
        raise
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold a table of keys")
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
