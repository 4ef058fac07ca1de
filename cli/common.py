"""What every command module of the ``ftl-tff`` command line shares."""

from __future__ import annotations

import re

import click
import pandas as pd

from ftl_tff.config import RunConfig, TransferConfig, flat_fields
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
_LEADING = re.compile(r"^(?:(?:data|model|fedavg|scoring|runtime|run|transfer)\.)?([a-z_]+): ")


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


#: Metrics of the per-method table: point-wise F1/precision/recall, event F1 (Nagios episodes), MCC, the AUCs.
_TABLE_METRICS = ("f1", "precision", "recall", "event_f1", "mcc", "roc_auc", "pr_auc", "vus_pr")


def print_method_table(metrics: dict) -> None:
    rows = []
    for method, table in metrics.items():
        row = {"method": method}
        for metric in _TABLE_METRICS:
            values = table.get(metric, {})
            row[metric] = float("nan") if values.get("mean") is None else values["mean"]
            row[f"{metric}_nodes"] = values.get("n_defined")
        rows.append(row)
    frame = pd.DataFrame(rows)
    columns = ["method", *_TABLE_METRICS, "f1_nodes", "roc_auc_nodes"]
    click.echo("Mean over the nodes where each metric is defined (test windows; *_nodes: how many):")
    click.echo(frame[[c for c in columns if c in frame]].to_string(index=False, na_rep="n/a",
                                                                 float_format=lambda v: f"{v:.3f}"))
