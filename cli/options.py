"""Command-line options built from the configuration fields (:mod:`ftl_tff.config`).

Each leaf field of :class:`~ftl_tff.config.RunConfig` and
:class:`~ftl_tff.config.TransferConfig` becomes one option: ``--<field name>``
(plus the spellings in the field's metadata, e.g. ``--client-lr``), with the
field's help text, choices and default, so the command line cannot drift
from the library. :func:`explicit` returns only the options the user typed,
which override a ``--config`` file, which overrides the defaults.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ftl_tff.config import RunConfig, TransferConfig, field_default, option_fields, read_config_file
from ftl_tff.errors import ConfigError
from ftl_tff.experiments.config import GRID_KEYS, ExperimentConfig

__all__ = ["config_file_option", "explicit", "file_options", "from_config", "run_config"]

#: ``train``/``federated`` set the nodes themselves.
_RUN_EXCLUDED = ("nodes", "selection")


def from_config(cls: type, exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """A decorator adding one click option per exposed leaf field of ``cls``."""

    def decorate(function: Callable) -> Callable:
        for name, f, hint in reversed(option_fields(cls, (*_RUN_EXCLUDED, *exclude))):
            function = _option(name, f, hint)(function)
        return function

    return decorate


def _option(name: str, f: Any, hint: Any) -> Callable[[Callable], Callable]:
    meta = f.metadata
    flag = "--" + name.replace("_", "-")
    default = field_default(f)
    base, optional = _base_type(hint)
    help_text = meta.get("help", "")
    if base is bool:
        return click.option(f"{flag}/--no-{name.replace('_', '-')}", *meta.get("flags", ()), name, default=default,
                            help=help_text)
    decls = [flag, *meta.get("flags", ()), name]
    if base is tuple:
        shown = ",".join(str(v) for v in default) if default else ""
        return click.option(*decls, multiple=True, default=(shown,) if shown else (), show_default=bool(shown),
                            help=help_text + " (comma-separated or repeated)")
    kind: Any = {int: click.INT, float: click.FLOAT, str: click.STRING}[base]
    if meta.get("choices"):
        kind = click.Choice(list(meta["choices"]))
    elif meta.get("minimum") is not None and base in (int, float):
        kind = (click.IntRange if base is int else click.FloatRange)(min=meta["minimum"])
    return click.option(*decls, type=kind, default=default, show_default=default is not None, help=help_text)


def _base_type(hint: Any) -> tuple[type, bool]:
    """The field's value type (``int``, ``float``, ``str``, ``bool`` or ``tuple``) and whether None is allowed."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _base_type(inner[0])[0], type(None) in args
    if typing.get_origin(hint) is tuple or hint is tuple:
        return tuple, False
    return hint, False


def explicit(ctx: click.Context, cls: type, options: Mapping[str, Any],
             exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options of ``cls``'s fields the user gave on the command line, converted to field values."""
    out: dict[str, Any] = {}
    for name, _field, hint in option_fields(cls, (*_RUN_EXCLUDED, *exclude)):
        if name in options and ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                                                 ParameterSource.ENVIRONMENT):
            out[name] = _value(name, options[name], hint)
    return out


def _value(name: str, value: Any, hint: Any) -> Any:
    base, _ = _base_type(hint)
    if base is not tuple:
        return value
    items = [item.strip() for part in (value if isinstance(value, tuple) else (value,))
             for item in str(part).split(",") if item.strip()]
    if name == "baselines" and [i.lower() for i in items] == ["none"]:
        return ()
    element = typing.get_args(_strip_none(hint))[0]
    if element is int:
        try:
            return tuple(int(i) for i in items)
        except ValueError as error:
            raise ConfigError(f"{name} must be comma-separated integers, got {value!r}") from error
    return tuple(items)


def _strip_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def config_file_option(function: Callable) -> Callable:
    """``--config FILE``: the experiment file format (TOML or YAML), whose flags given here override it."""
    return click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Read options from an experiment file (TOML or YAML: its [training] / [transfer] "
                             "tables and single-valued grid keys); flags given here override it.")(function)


def file_options(path: Path | None, overrides: Mapping[str, Any] | None = None,
                 grid: tuple[str, ...] = ("paradigm", "seed", "strategy", "n_nodes")) -> dict[str, Any]:
    """What a run takes from an experiment file: the ``[training]``/``[transfer]`` tables and single grid values.

    The file is checked as an experiment file (unknown keys and bad values
    are errors naming the file). A grid key the command uses (``grid``:
    ``paradigm`` from ``paradigms``, ``seed`` from ``seeds``, ``strategy``,
    ``n_nodes``) with several values needs the matching flag in
    ``overrides`` to pick one; the grid keys a command does not use are
    ignored (``transfer`` reads the source run's paradigm and seed).

    Returns:
        ``{"run": RunConfig leaf options, "transfer": TransferConfig,
        "dataset", "strategy", "n_nodes", "criterion"}`` (the last four
        None when the file does not set them).
    """
    overrides = overrides or {}
    if path is None:
        return {"run": {}, "transfer": TransferConfig(), "dataset": None, "strategy": None, "n_nodes": None,
                "criterion": None}
    data = read_config_file(path)
    unknown = sorted(set(data) - {f.name for f in fields(ExperimentConfig)})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    try:
        experiment = ExperimentConfig(**{"dataset": data.get("dataset", ""), **data})
    except ConfigError as error:
        raise ConfigError(str(error).replace("experiment: ", f"{path}: ", 1)) from error
    run = {k: v for k, v in experiment.training.flat().items() if k not in GRID_KEYS}
    for key, field_name in (("paradigms", "paradigm"), ("seeds", "seed")):
        if key in data and field_name in grid:
            run[field_name] = _single(path, key, getattr(experiment, key), overrides.get(field_name))
    for key in ("features", "baselines"):
        if key in data:
            run[key] = getattr(experiment, key)
    dataset = data.get("dataset")
    if dataset is not None and not Path(str(dataset)).expanduser().is_absolute():
        dataset = str((path.parent / str(dataset)).resolve())
    return {"run": run, "transfer": experiment.transfer, "dataset": dataset,
            "strategy": _single(path, "strategies", experiment.strategies, overrides.get("strategy"))
            if "strategies" in data and "strategy" in grid else None,
            "n_nodes": _single(path, "n_nodes", experiment.n_nodes, overrides.get("n_nodes"))
            if "n_nodes" in data and "n_nodes" in grid else None,
            "criterion": experiment.criterion if "criterion" in data else None}


def _single(path: Path, key: str, values: list[Any], chosen: Any) -> Any:
    if chosen is not None:
        return chosen
    if len(values) != 1:
        raise ConfigError(f"{path}: {key} lists {len(values)} values ({', '.join(map(str, values))}); a single run "
                          "takes one: choose it with its flag")
    return values[0]


def run_config(ctx: click.Context, options: Mapping[str, Any], from_file: Mapping[str, Any], nodes: list[str],
               selection: Mapping[str, Any] | None = None) -> RunConfig:
    """Defaults, then the file's options, then the flags typed: the run's configuration."""
    typed = explicit(ctx, RunConfig, options)
    return RunConfig.from_flat({**from_file["run"], **typed, "nodes": nodes, "selection": dict(selection or {})},
                               source="options")
