"""The ``ftl-tff`` command line: click commands that call the library.

Every command is a thin shell over the same library calls a user makes from
Python. Errors the user can fix (bad paths, bad data, bad options) are
printed as one line ``Error: ...`` with exit code 1, never a traceback.

The commands live in their own modules and are imported when one runs
(:class:`LazyGroup`), so ``ftl-tff --help`` does not load pandas,
matplotlib and scikit-learn; the one-line summaries it lists are checked
against each command's docstring by the tests.
"""

from __future__ import annotations

import importlib
import logging
import os

import click

from ftl_tff import __version__

from .common import FriendlyGroup

#: Command name -> (module, attribute, the first line of its docstring).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("data_commands", "data", "Generate, prepare and inspect M100 telemetry."),
    "train": ("training", "train", "Train a federated autoencoder on a processed dataset and write a run folder."),
    "federated": ("training", "federated", "Select N nodes (Top-N or Random-N), train the federated model on "
                                           "them, write a run folder."),
    "transfer": ("training", "transfer", "Transfer a federated model to the nodes that did not train it, and "
                                         "compare with local models."),
    "evaluate": ("results", "evaluate", "Per-node precision, recall, F1, event F1, MCC, lead time, ROC-AUC, "
                                        "PR-AUC and VUS-PR on the test windows."),
    "score": ("results", "score", "Score every window of MODEL's nodes in DATASET_DIR: score, flag and top "
                                  "contributing metrics."),
    "stats": ("results", "stats_command", "Significance tests and effect sizes of a results folder (experiment, "
                                          "transfer or run) or per-node CSV."),
    "experiment": ("experiment", "experiment", "Run an experiment grid from CONFIG_FILE (TOML or YAML) and/or "
                                               "flags; write results and report.md."),
    "demo": ("experiment", "demo", "Run the whole method on generated M100 data and write a report."),
}


class LazyGroup(FriendlyGroup):
    """The root group: each command's module is imported when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(COMMANDS[name][2], limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 10)].rsplit(" ", 1)[0] + "..."


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, "--version", "-V", prog_name="ftl-tff")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's own log lines and retracing warnings.")
def main(verbose: bool) -> None:
    """Federated transfer learning for anomaly detection on HPC telemetry.

    Prepare Marconi100 (M100 ExaData) telemetry into per-node windows with
    Nagios labels (`data`), train a federated autoencoder over the nodes with
    TensorFlow Federated (`train`), and evaluate or score it (`evaluate`,
    `score`), choose the participating nodes and train (`federated`), carry
    the model to the other nodes (`transfer`), compare methods with
    significance tests and effect sizes (`stats`), and run whole grids of
    paradigms, strategies, N and seeds (`experiment`).
    """
    if not verbose:
        _quiet_tensorflow()


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ log lines and Python warnings (retracing...) off the console.

    No module of ftl_tff imports TensorFlow when it is imported (only the
    functions that train or score do), so setting these here, before that
    import, takes effect.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the cuDNN/cuBLAS registration lines are level E
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


if __name__ == "__main__":  # pragma: no cover
    main()
