"""One configuration tree for runs, transfers and experiments.

A training run is configured by a :class:`RunConfig`: the grid coordinates
(paradigm, nodes, seed, feature set, baselines) and five small groups, each
a frozen dataclass whose every field has one default and one validation:

* :class:`SplitConfig` (``data``): the per-node split, imputation and scaling;
* :class:`ModelConfig` (``model``): the autoencoder's architecture;
* :class:`FedAvgConfig` (``fedavg``): rounds, local epochs, batch size,
  optimizers, weighting, client sampling, early stopping;
* :class:`ScoringConfig` (``scoring``): the window score and the threshold rule;
* :class:`RuntimeConfig` (``runtime``): remote TFF workers.

A transfer is configured by a :class:`TransferConfig`; it reads the score,
the threshold rule, the batch size and the seed of the run it transfers.

Every leaf field has a name unique in its tree, so a flat mapping of
options (an experiment file's ``[training]`` table, the command line's
flags) routes to its group without a hand-kept list of keys:
:meth:`RunConfig.from_flat`. The command-line options of ``ftl-tff train``,
``federated`` and ``transfer`` are built from these fields too
(:func:`option_fields`), with the help text of each field's metadata, so a
default is written once. ``validate`` runs before any training.

Example:
    >>> config = RunConfig.from_flat({"paradigm": "unsupervised", "rounds": 5, "threshold": "iqr"})
    >>> config.fedavg.rounds, config.scoring.threshold, config.data.split
    (5, 'iqr', 'blocked')
"""

from __future__ import annotations

import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from . import vocabulary
from .errors import ConfigError, SourceNotFoundError
from .paradigms import DEFAULT_BLOCK, DEFAULT_THRESHOLD_RULE, LABEL_FREE_RULES, get_paradigm

__all__ = [
    "RUN_RULES",
    "TARGET_RULES",
    "FedAvgConfig",
    "ModelConfig",
    "RunConfig",
    "RuntimeConfig",
    "ScoringConfig",
    "SplitConfig",
    "TransferConfig",
    "option_fields",
    "read_config_file",
]

#: Label-free rules a run can name (``contamination`` needs a known share, ``transferred`` a federation).
RUN_RULES: tuple[str, ...] = tuple(r for r in LABEL_FREE_RULES if r not in ("contamination", "transferred"))
#: Rules a transfer's targets can use.
TARGET_RULES: tuple[str, ...] = ("transferred", *RUN_RULES)


def _meta(help: str, choices: tuple[str, ...] | None = None, flags: tuple[str, ...] = (),
          minimum: float | None = None, cli: bool = True) -> dict[str, Any]:
    """Field metadata: the help text and the choices the CLI shows, extra flag spellings, a lower bound."""
    return {"help": help, "choices": choices, "flags": flags, "minimum": minimum, "cli": cli}


def _fail(group: str, name: str, message: str) -> None:
    raise ConfigError(f"{group}.{name}: {message}")


def _positive_int(group: str, name: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        _fail(group, name, f"must be an integer >= {minimum}{' or None' if optional else ''}, got {value!r}")


def _real(group: str, name: str, value: Any, *, low: float, open_low: bool, high: float = math.inf,
          open_high: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        _fail(group, name, f"must be a number in {bounds}, got {value!r}")


def _choice(group: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(group, name, f"unknown value {value!r} (use one of {', '.join(choices)})")


@dataclass(frozen=True)
class SplitConfig:
    """How each node's windows are split, imputed and scaled (on its own training part).

    Attributes:
        split: ``blocked`` (time blocks interleaved over the parts, so every
            part samples the whole period and its failures: use it to
            evaluate) or ``chronological`` (the papers' single cut).
        train: Share of each node's windows for training.
        validation: Share for validation (validation loss, supervised thresholds).
        block: Block length of the blocked split (pandas offset).
        impute: Imputation of missing values (the score still counts what
            was missing: :attr:`ScoringConfig.gap_weight`).
        clip: Scaled values are clipped to ``[-clip, 1 + clip]`` of the
            node's training range.
    """

    split: str = field(default="blocked", metadata=_meta(
        "Per-node split of windows into train/validation/test: blocked interleaves time blocks over the parts, so "
        "every part samples the whole period and its failures (use it to evaluate); chronological is the papers' "
        "single cut, which often leaves a test part without failures.", vocabulary.SPLITS))
    train: float = field(default=0.7, metadata=_meta("Share of each node's windows for training."))
    validation: float = field(default=0.1, metadata=_meta("Share of each node's windows for validation."))
    block: str = field(default=DEFAULT_BLOCK, metadata=_meta(
        "Block length of the blocked split (pandas offset, e.g. 6h, 1D)."))
    impute: str = field(default="median", metadata=_meta(
        "Imputation of missing values for the network (the score still counts them).", vocabulary.IMPUTE_POLICIES))
    clip: float = field(default=1.0, metadata=_meta(
        "Clip scaled values to [-CLIP, 1 + CLIP] of the node's training range.", minimum=0))

    def validate(self) -> None:
        """Raise ConfigError naming the field of the first invalid value."""
        _choice("data", "split", self.split, vocabulary.SPLITS)
        _real("data", "train", self.train, low=0, open_low=True, high=1, open_high=True)
        _real("data", "validation", self.validation, low=0, open_low=False, high=1, open_high=True)
        if self.train + self.validation >= 1:
            _fail("data", "validation", f"train + validation must leave a test part, got {self.train} + "
                                        f"{self.validation}")
        if not isinstance(self.block, str) or not self.block:
            _fail("data", "block", f"must be a pandas offset such as '6h', got {self.block!r}")
        _choice("data", "impute", self.impute, vocabulary.IMPUTE_POLICIES)
        if self.clip is not False:
            _real("data", "clip", self.clip, low=0, open_low=False)

    def kwargs(self, paradigm: str) -> dict[str, Any]:
        """Arguments of :func:`~ftl_tff.data.clients.client_data.prepare_federated_data` for ``paradigm``."""
        kwargs: dict[str, Any] = {"split": self.split, "train": self.train, "validation": self.validation,
                                  "impute": self.impute, "clip": self.clip,
                                  "semi_supervised": get_paradigm(paradigm).normal_only_training}
        if self.split == "blocked":
            kwargs["block"] = self.block
        return kwargs


@dataclass(frozen=True)
class ModelConfig:
    """The dense autoencoder (:func:`~ftl_tff.models.autoencoder.build_autoencoder`).

    Attributes:
        encoder_units: Encoder widths; the last is the latent size.
        decoder_units: Decoder hidden widths (None: the encoder's reversed, without the latent layer).
        activation: Activation of the hidden layers.
        output_activation: Activation of the reconstruction (``sigmoid`` for inputs scaled to [0, 1]).
    """

    encoder_units: tuple[int, ...] = field(default=(100, 80, 60, 40, 20), metadata=_meta(
        "Encoder widths, comma-separated; the decoder mirrors them."))
    decoder_units: tuple[int, ...] | None = field(default=None, metadata=_meta(
        "Decoder hidden widths (default: the encoder's reversed, without the latent layer)."))
    activation: str = field(default="relu", metadata=_meta("Keras activation of the hidden layers."))
    output_activation: str = field(default="sigmoid", metadata=_meta(
        "Keras activation of the output layer (sigmoid for inputs scaled to [0, 1])."))

    def validate(self) -> None:
        """Raise ConfigError naming the field of the first invalid value."""
        for name in ("encoder_units", "decoder_units"):
            units = getattr(self, name)
            if units is None and name == "decoder_units":
                continue
            if (not isinstance(units, tuple) or not units
                    or any(not isinstance(u, int) or isinstance(u, bool) or u < 1 for u in units)):
                _fail("model", name, f"must be positive integer widths, got {units!r}")
        for name in ("activation", "output_activation"):
            if not isinstance(getattr(self, name), str):
                _fail("model", name, f"must be a Keras activation name, got {getattr(self, name)!r}")

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~ftl_tff.models.autoencoder.build_autoencoder`."""
        return {"encoder_units": self.encoder_units, "decoder_units": self.decoder_units,
                "activation": self.activation, "output_activation": self.output_activation}


@dataclass(frozen=True)
class FedAvgConfig:
    """Weighted FedAvg over the participating nodes.

    Attributes:
        rounds: Federated rounds.
        local_epochs: Passes over its rows each client makes per round.
        batch_size: Batch size on every client (and of the baselines and fine-tuning).
        client_optimizer: One of :data:`~ftl_tff.vocabulary.OPTIMIZERS` (from
            Python also a ``tff.learning.optimizers.Optimizer``; such a run
            cannot be saved as ``config.json``).
        client_learning_rate: Client learning rate.
        server_optimizer: Server optimizer (``sgd`` at learning rate 1: plain FedAvg).
        server_learning_rate: Server learning rate.
        weighting: ``examples`` (weighted FedAvg) or ``uniform``.
        clients_per_round: Clients sampled per round (None: all).
        early_stopping_patience: Rounds without validation improvement before stopping (None: off).
        engine: ``per-node`` (the default, TFF's ``build_weighted_fed_avg``)
            or ``cohort`` (:mod:`ftl_tff.federated.cohort`). A round of each
            gives the same weights to float tolerance; over many rounds the
            float differences grow (see the federated-learning concepts page).
            The cohort engine falls back to the per-node one for ready TFF
            optimizer objects and for client data built on the workers.
        cohort_size: Nodes per TFF client with the cohort engine (None:
            :func:`~ftl_tff.federated.cohort.default_cohort_size`).
    """

    rounds: int = field(default=20, metadata=_meta("Federated rounds.", minimum=1))
    local_epochs: int = field(default=1, metadata=_meta("Local epochs per round.", minimum=1))
    batch_size: int = field(default=32, metadata=_meta("Batch size on every client.", minimum=1))
    client_optimizer: str = field(default="adam", metadata=_meta("Client optimizer.", vocabulary.OPTIMIZERS))
    client_learning_rate: float = field(default=1e-3, metadata=_meta("Client learning rate.", flags=("--client-lr",)))
    server_optimizer: str = field(default="sgd", metadata=_meta("Server optimizer.", vocabulary.OPTIMIZERS))
    server_learning_rate: float = field(default=1.0, metadata=_meta(
        "Server learning rate (1.0 with sgd: plain FedAvg).", flags=("--server-lr",)))
    weighting: str = field(default="examples", metadata=_meta(
        "FedAvg client weights: by examples processed, or equal.", vocabulary.WEIGHTINGS))
    clients_per_round: int | None = field(default=None, metadata=_meta(
        "Clients sampled per round (default: all participating nodes).", minimum=1))
    early_stopping_patience: int | None = field(default=None, metadata=_meta(
        "Stop after K rounds without validation improvement (default: off).", flags=("--early-stopping",),
        minimum=1))
    engine: str = field(default="per-node", metadata=_meta(
        "per-node: one TFF client per node (TFF's build_weighted_fed_avg, the reference); cohort: each TFF client "
        "trains a cohort of nodes in one compiled graph (each round equal to per-node to float tolerance; faster).",
        vocabulary.ENGINES))
    cohort_size: int | None = field(default=None, metadata=_meta(
        "Nodes per TFF client with the cohort engine (default: a round's nodes spread over the CPU cores).",
        minimum=1))

    def validate(self) -> None:
        """Raise ConfigError naming the field of the first invalid value."""
        for name in ("rounds", "local_epochs", "batch_size"):
            _positive_int("fedavg", name, getattr(self, name))
        _positive_int("fedavg", "clients_per_round", self.clients_per_round, optional=True)
        _positive_int("fedavg", "early_stopping_patience", self.early_stopping_patience, optional=True)
        for name in ("client_optimizer", "server_optimizer"):
            value = getattr(self, name)
            if not (hasattr(value, "initialize") and hasattr(value, "next")):  # a ready TFF optimizer passes
                _choice("fedavg", name, value, vocabulary.OPTIMIZERS)
        _choice("fedavg", "weighting", self.weighting, vocabulary.WEIGHTINGS)
        _choice("fedavg", "engine", self.engine, vocabulary.ENGINES)
        _positive_int("fedavg", "cohort_size", self.cohort_size, optional=True)
        _real("fedavg", "client_learning_rate", self.client_learning_rate, low=0, open_low=True)
        _real("fedavg", "server_learning_rate", self.server_learning_rate, low=0, open_low=True)

    @property
    def budget(self) -> int:
        """Passes over each training window: what the baselines train for."""
        return self.rounds * self.local_epochs


@dataclass(frozen=True)
class ScoringConfig:
    """How a window is scored and where each node's threshold lies.

    Attributes:
        score: ``mse`` or ``max`` (the largest per-feature error).
        gap_weight: Weight of a window's telemetry gap share in its score.
        smooth_windows: Causal moving average of the reconstruction error over
            this many windows (1: none).
        threshold: Label-free threshold rule (unsupervised, semi-supervised;
            the supervised fallback), one of :data:`RUN_RULES`.
        percentile: Percentile of the ``percentile`` and ``trimmed`` rules.
    """

    score: str = field(default="mse", metadata=_meta(
        "Window score: mean squared reconstruction error, or the largest per-feature error.",
        vocabulary.SCORE_KINDS))
    gap_weight: float = field(default=1.0, metadata=_meta(
        "Weight of a window's missing-telemetry share in its score (0: reconstruction only).", minimum=0))
    smooth_windows: int = field(default=4, metadata=_meta(
        "Average each window's reconstruction error with the windows before it (causal; 4 = an hour of 15-minute "
        "windows; 1 = off). Gaps are added unsmoothed.", minimum=1))
    threshold: str = field(default=DEFAULT_THRESHOLD_RULE, metadata=_meta(
        "Label-free threshold rule of each node (unsupervised, semi-supervised; the supervised fallback): "
        "log_robust_z = median + 3.5 MAD of the log scores, robust_z = the same on raw scores, iqr = Tukey's "
        "fence, pot = extreme-value tail, trimmed = percentile after dropping the top scores, percentile = plain "
        "percentile (see docs/concepts/thresholds.md).", RUN_RULES))
    percentile: float = field(default=99.0, metadata=_meta(
        "Percentile of the percentile and trimmed threshold rules."))

    def validate(self) -> None:
        """Raise ConfigError naming the field of the first invalid value."""
        _choice("scoring", "score", self.score, vocabulary.SCORE_KINDS)
        _real("scoring", "gap_weight", self.gap_weight, low=0, open_low=False)
        _positive_int("scoring", "smooth_windows", self.smooth_windows)
        if self.threshold == "transferred":
            _fail("scoring", "threshold", "'transferred' applies to transfer targets (it needs a trained federation)")
        _choice("scoring", "threshold", self.threshold, RUN_RULES)
        _real("scoring", "percentile", self.percentile, low=0, open_low=True, high=100, open_high=True)


@dataclass(frozen=True)
class RuntimeConfig:
    """Where the federated computation runs.

    Attributes:
        workers: Remote TFF workers (``host:port``); empty for the local runtime.
        data_on_workers: Build client datasets inside the workers from client ids.
    """

    workers: tuple[str, ...] = field(default=(), metadata=_meta(
        "Remote TFF workers, host:port,host:port (trusted network only)."))
    data_on_workers: bool = field(default=False, metadata=_meta(
        "Build each round's client datasets inside the TFF workers (the rows still travel with the computation; "
        "see the remote-workers tutorial)."))

    def validate(self) -> None:
        """Raise ConfigError naming the field of the first invalid value."""
        bad = [w for w in self.workers if not isinstance(w, str) or ":" not in w]
        if bad:
            _fail("runtime", "workers", f"each worker must be host:port, got {bad[0]!r}")
        if not isinstance(self.data_on_workers, bool):
            _fail("runtime", "data_on_workers", f"must be true or false, got {self.data_on_workers!r}")


#: The groups of a run configuration: attribute name -> class.
GROUPS: dict[str, type] = {"data": SplitConfig, "model": ModelConfig, "fedavg": FedAvgConfig,
                           "scoring": ScoringConfig, "runtime": RuntimeConfig}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run (saved as ``config.json``).

    Attributes:
        paradigm: ``unsupervised``, ``semi-supervised`` or ``supervised``.
        nodes: Participating node ids.
        seed: Seed of weights, shuffles, sampling, fine-tuning and Random-N.
        features: Feature set of the dataset: ``all``, ``D1`` or ``D2``.
        baselines: Baselines trained next to the federated model.
        selection: How ``nodes`` were chosen
            (:meth:`ftl_tff.selection.Selection.to_dict`); empty when given.
        data: :class:`SplitConfig`.
        model: :class:`ModelConfig`.
        fedavg: :class:`FedAvgConfig`.
        scoring: :class:`ScoringConfig`.
        runtime: :class:`RuntimeConfig`.
    """

    paradigm: str = field(default="semi-supervised", metadata=_meta(
        "unsupervised: no labels; semi-supervised: train on normal windows; supervised: labels also choose each "
        "node's threshold.", vocabulary.PARADIGMS))
    nodes: tuple[str, ...] = field(default=(), metadata=_meta("Participating node ids.", cli=False))
    seed: int = field(default=0, metadata=_meta("Seed of weights, shuffles, sampling and Random-N."))
    features: str = field(default="all", metadata=_meta(
        "Feature set: D1 = IPMI + Ganglia, D2 = every feature of the dataset (see the docs).", vocabulary.FEATURE_SETS))
    baselines: tuple[str, ...] = field(default=vocabulary.BASELINES, metadata=_meta(
        "Baselines to train with the same budget: local, centralized, both, or 'none'."))
    selection: Mapping[str, Any] = field(default_factory=dict, metadata=_meta("How the nodes were chosen.",
                                                                                cli=False))
    data: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    fedavg: FedAvgConfig = field(default_factory=FedAvgConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def validate(self) -> RunConfig:
        """Raise ConfigError naming the field of the first invalid value; return ``self``."""
        _choice("run", "paradigm", self.paradigm, vocabulary.PARADIGMS)
        _choice("run", "features", self.features, vocabulary.FEATURE_SETS)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            _fail("run", "seed", f"must be an integer >= 0, got {self.seed!r}")
        unknown = [b for b in self.baselines if b not in vocabulary.BASELINES]
        if unknown:
            _fail("run", "baselines", f"unknown baseline(s) {', '.join(map(str, unknown))} "
                                      f"(use {', '.join(vocabulary.BASELINES)})")
        for name in GROUPS:
            getattr(self, name).validate()
        return self

    # -- building ------------------------------------------------------------

    @classmethod
    def from_flat(cls, options: Mapping[str, Any], source: str = "configuration") -> RunConfig:
        """A run configuration from leaf options (``{"rounds": 5, "threshold": "iqr"}``) and/or group tables.

        Every leaf field name of the tree is a key; a group name
        (``fedavg``...) may also hold a table of its fields. Lists become
        tuples. The result is validated.

        Raises:
            ConfigError: For an unknown key (named, with ``source``), a wrong
                type or an invalid value.
        """
        top, groups = _route(cls, options, source)
        try:
            built = {name: GROUPS[name](**values) for name, values in groups.items()}
            return cls(**top, **built).validate()
        except TypeError as error:
            raise ConfigError(f"{source}: {error}") from error

    def with_options(self, options: Mapping[str, Any], source: str = "options") -> RunConfig:
        """A copy with leaf options replaced (as :meth:`from_flat` takes them)."""
        return RunConfig.from_flat({**self.flat(), **options}, source)

    def flat(self) -> dict[str, Any]:
        """Every leaf field by name (the inverse of :meth:`from_flat`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in GROUPS}
        for name in GROUPS:
            out.update({f.name: getattr(getattr(self, name), f.name) for f in fields(GROUPS[name])})
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe nested copy (what ``config.json`` holds)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config.json") -> RunConfig:
        """Read :meth:`to_dict`'s output (or a flat mapping: run folders of 0.1 saved one).

        The ``dataset`` key a run folder's ``config.json`` adds is skipped;
        any other unknown key is an error naming it.
        """
        return cls.from_flat({k: v for k, v in data.items() if k != "dataset"}, source)

    # -- what the stages read ---------------------------------------------------

    def split_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`~ftl_tff.data.clients.client_data.prepare_federated_data` that fix the split."""
        return self.data.kwargs(self.paradigm)

    def detector_params(self, architecture: bool = True) -> dict[str, Any]:
        """Parameters of :class:`~ftl_tff.detection.AnomalyDetector` for this run's models.

        Args:
            architecture: Include the :class:`ModelConfig` fields (leave them
                out for ``AnomalyDetector.from_model``, which reads them from
                the model).
        """
        shape = self.model.kwargs() if architecture else {}
        return {**shape, "batch_size": self.fedavg.batch_size,
                "optimizer": self.fedavg.client_optimizer, "learning_rate": self.fedavg.client_learning_rate,
                "score": self.scoring.score, "percentile": self.scoring.percentile, "seed": self.seed,
                "gap_weight": self.scoring.gap_weight, "smooth_windows": self.scoring.smooth_windows}


@dataclass(frozen=True)
class TransferConfig:
    """How the global model is carried to the nodes that did not train it.

    The window score, the batch size and the seed are the source run's
    (:class:`RunConfig`); only what differs for targets is set here.

    Attributes:
        modes: Transfer modes, from :data:`~ftl_tff.vocabulary.TRANSFER_MODES`.
        epochs: Fine-tuning epochs (the decoder's, or every layer's).
        learning_rate: Fine-tuning learning rate.
        optimizer: Fine-tuning (and local baseline) optimizer.
        reinit_decoder: Start fine-tuning from a freshly initialised decoder (``fine-tune`` only).
        local_baseline: Also train the node-local baseline.
        local_baseline_epochs: Epochs of the local baseline (None: ``epochs``, the same budget).
        threshold: Label-free threshold rule of unlabelled targets (and the
            supervised fallback), one of :data:`TARGET_RULES`;
            ``transferred`` uses the federation's threshold on the normalised
            scale. None: the source run's rule.
        trim: Unlabelled targets only: fine-tune on the windows the global
            model does not flag, and train the local baseline twice, the
            second time without the windows its first pass flagged.
    """

    modes: tuple[str, ...] = field(default=(vocabulary.ZERO_SHOT, vocabulary.FINE_TUNE), metadata=_meta(
        "zero-shot, fine-tune (frozen encoder), full-fine-tune; repeat or comma-separate.", flags=("--mode",)))
    epochs: int = field(default=10, metadata=_meta("Fine-tuning epochs (and the local baseline's).", minimum=1))
    learning_rate: float = field(default=1e-3, metadata=_meta("Fine-tuning learning rate."))
    optimizer: str = field(default="adam", metadata=_meta("Fine-tuning optimizer.", vocabulary.OPTIMIZERS))
    reinit_decoder: bool = field(default=False, metadata=_meta("Fine-tune from a freshly initialised decoder."))
    local_baseline: bool = field(default=True, metadata=_meta("Train the node-local baseline (deltas need it).",
                                                              flags=(" /--no-local",)))
    local_baseline_epochs: int | None = field(default=None, metadata=_meta(
        "Epochs of the local baseline (default: --epochs).", minimum=1))
    threshold: str | None = field(default=None, metadata=_meta(
        "Label-free threshold rule of the targets (default: the run's); transferred = the federation's threshold "
        "on each node's normalised score scale.", TARGET_RULES))
    trim: bool = field(default=True, metadata=_meta(
        "Fine-tune (and train local) only on the training windows the model does not already flag."))

    def validate(self) -> TransferConfig:
        """Raise ConfigError naming the field of the first invalid value; return ``self``."""
        unknown = [m for m in self.modes if m not in vocabulary.TRANSFER_MODES]
        if unknown:
            _fail("transfer", "modes", f"unknown mode(s) {', '.join(map(str, unknown))} "
                                       f"(use {', '.join(vocabulary.TRANSFER_MODES)})")
        if not self.modes and not self.local_baseline:
            _fail("transfer", "modes", "nothing to do: no transfer mode and no local baseline")
        _positive_int("transfer", "epochs", self.epochs)
        _positive_int("transfer", "local_baseline_epochs", self.local_baseline_epochs, optional=True)
        _real("transfer", "learning_rate", self.learning_rate, low=0, open_low=True)
        _choice("transfer", "optimizer", self.optimizer, vocabulary.OPTIMIZERS)
        if self.threshold is not None:
            _choice("transfer", "threshold", self.threshold, TARGET_RULES)
        if self.reinit_decoder and vocabulary.FINE_TUNE not in self.modes:
            _fail("transfer", "reinit_decoder", "applies to the fine-tune mode only")
        return self

    @classmethod
    def from_flat(cls, options: Mapping[str, Any], source: str = "transfer options") -> TransferConfig:
        """A transfer configuration from its options (lists become tuples), validated."""
        top, _ = _route(cls, options, source)
        try:
            return cls(**top).validate()
        except TypeError as error:
            raise ConfigError(f"{source}: {error}") from error

    def with_options(self, options: Mapping[str, Any], source: str = "options") -> TransferConfig:
        """A copy with options replaced."""
        return TransferConfig.from_flat({**asdict(self), **options}, source)

    @property
    def local_epochs(self) -> int:
        """The local baseline's epochs."""
        return self.local_baseline_epochs or self.epochs

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return _jsonable(asdict(self))


# -- the flat view ------------------------------------------------------------


def flat_fields(cls: type) -> dict[str, tuple[str | None, Any]]:
    """Leaf field name -> (group name or None, dataclass field), over ``cls`` and its groups."""
    out: dict[str, tuple[str | None, Any]] = {}
    for f in fields(cls):
        if cls is RunConfig and f.name in GROUPS:
            for leaf in fields(GROUPS[f.name]):
                out[leaf.name] = (f.name, leaf)
        else:
            out[f.name] = (None, f)
    return out


def option_fields(cls: type, exclude: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """``(name, field, type)`` of every leaf field the command line exposes, in declaration order."""
    hints = {**typing.get_type_hints(cls)}
    for group in GROUPS.values():
        hints.update(typing.get_type_hints(group))
    return [(name, f, hints[name]) for name, (_, f) in flat_fields(cls).items()
            if f.metadata.get("cli", True) and name not in exclude]


def field_default(f: Any) -> Any:
    """A dataclass field's default value."""
    return f.default_factory() if f.default is MISSING else f.default


def _route(cls: type, options: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    leaves = flat_fields(cls)
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {name: {} for name in GROUPS} if cls is RunConfig else {}
    for key, value in options.items():
        if key in groups and isinstance(value, Mapping):
            for inner, inner_value in value.items():
                if leaves.get(inner, (None,))[0] != key:
                    raise ConfigError(f"{source}: unknown option {key}.{inner}")
                groups[key][inner] = _tupled(inner_value)
        elif key in leaves:
            group, _ = leaves[key]
            (groups[group] if group else top)[key] = _tupled(value)
        else:
            raise ConfigError(f"{source}: unknown option {key!r} (allowed: {', '.join(sorted(leaves))})")
    return top, groups


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# -- files --------------------------------------------------------------------


def read_config_file(path: str | Path, what: str = "configuration file") -> dict[str, Any]:
    """The table of keys in a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Raises:
        SourceNotFoundError: If the file does not exist.
        ConfigError: If it cannot be parsed or is not a table of keys (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise SourceNotFoundError(f"{what} not found: {path}")
    text = path.read_text()
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: invalid TOML ({error})") from error
    elif path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML ({error})") from error
    else:
        raise ConfigError(f"{path}: use a .toml, .yaml or .yml file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold a table of keys")
    return data

