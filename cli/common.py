"""What every command module of the ``ftl-tff`` command line shares."""

from __future__ import annotations

import re

import click

from ftl_tff.config import GROUPS, RunConfig, TransferConfig, flat_fields
from ftl_tff.errors import FtlError

EXIT_DATA_ERROR = 1
EXIT_INTERRUPTED = 130


class FriendlyGroup(click.Group):
    """A click group that reports library errors as one line, no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FtlError as exc:
            click.echo(f"Error: {in_flags(str(exc))}", err=True)
            ctx.exit(EXIT_DATA_ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


#: Library parameter -> the flag that sets it, where the names differ.
_FLAG_OF = {"n_nodes": "--nodes", "modes": "--mode"}
_PARAMETERS = {"out", "plugins", "metrics"} | set(flat_fields(RunConfig)) | set(flat_fields(TransferConfig)) | set(_FLAG_OF)
#: Library words for a keyword argument -> the flag.
_WORDS = {"fresh=True": "--fresh", "resume=True": "--resume"}
_LEADING = re.compile(r"^(?:(?:" + "|".join([*GROUPS, "run", "transfer"]) + r")\.)?([a-z_]+): ")


def in_flags(message: str) -> str:
    """A library message that starts with the parameter at fault (``fedavg.rounds: ...``), in the flag's words."""
    for words, flag in _WORDS.items():
        message = message.replace(words, flag)
    match = _LEADING.match(message)
    if not match or match.group(1) not in _PARAMETERS:
        return message
    name = match.group(1)
    return f"{_FLAG_OF.get(name, '--' + name.replace('_', '-'))}: {message[match.end():]}"


def split_list(values: tuple[str, ...]) -> list[str] | None:
    """Accept repeated options and comma-separated lists alike."""
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items or None
