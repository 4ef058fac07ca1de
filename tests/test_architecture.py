"""The package's shape: layers that read top-down, no hidden imports, the CLI built from the library.

Layers, from the bottom: core (data, models, federated, detection,
transfer, selection, stats, metrics, thresholds, config, vocabulary...) ->
runs (train / evaluate / score) -> experiments (grid runner, the one-cell
transfer run, reports, figures, the demo) -> the command line. An import may
go down or stay in its layer, never up.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import click
import pytest

from ftl_tff import vocabulary
from ftl_tff.config import RUN_RULES, TARGET_RULES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ftl_tff"
CLI = ROOT / "cli"

#: Imports allowed inside functions, for import time only (each with a ``# lazy:`` reason).
LAZY_MODULES = {"tensorflow", "tensorflow_federated", "grpc", "pingouin"}


def _module_name(path: Path) -> str:
    if path.is_relative_to(CLI):
        parts = ["ftl_tff_cli", *path.relative_to(CLI).with_suffix("").parts]
    else:
        parts = ["ftl_tff", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    if module.startswith("ftl_tff_cli"):
        return 3
    if module.startswith(("ftl_tff.experiments", "ftl_tff.demo")):
        return 2
    if module == "ftl_tff.runs":
        return 1
    return 0


def _sources() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *CLI.rglob("*.py")])


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import of ``path``, relative ones resolved."""
    return _imports_of(path.read_text(), _module_name(path), path.name == "__init__.py")


def _imports_of(text: str, module: str, is_package: bool) -> list[tuple[str, int, bool]]:
    tree = ast.parse(text)
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                names = [f"{target}.{alias.name}" for alias in child.names]
                found.extend((name, child.lineno, in_function) for name in [target, *names])
            visit(child, inner)

    visit(tree, False)
    return found


def _known_module(name: str) -> str | None:
    """The ftl_tff / ftl_tff_cli module an import name refers to (a module, or the module holding a name)."""
    if not name.startswith(("ftl_tff.", "ftl_tff_cli.")) and name not in ("ftl_tff", "ftl_tff_cli"):
        return None
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


MODULES = {_module_name(path) for path in _sources()}


def _climbing(source: str, imports: list[tuple[str, int, bool]]) -> list[str]:
    out = []
    for name, line, _ in imports:
        target = _known_module(name)
        if target is not None and _layer(target) > _layer(source):
            out.append(f"{source}:{line} (layer {_layer(source)}) imports {target} (layer {_layer(target)})")
    return out


def test_no_import_climbs_a_layer():
    climbing = [v for path in _sources() for v in _climbing(_module_name(path), _imports(path))]
    assert not climbing, "\n".join(sorted(set(climbing)))


@pytest.mark.parametrize(("module", "text"), [
    ("ftl_tff.transfer", "def f():\n    from .runs import train_run\n"),
    ("ftl_tff.data.building.dataset", "from ...experiments import report\n"),
    ("ftl_tff.runs", "import ftl_tff.experiments.figures\n"),
    ("ftl_tff.experiments.runner", "from ftl_tff_cli.main import main\n"),
])
def test_the_layer_check_sees_an_upward_import(module, text):
    assert len(_climbing(module, _imports_of(text, module, False))) >= 1


def test_function_level_imports_are_only_lazy_heavy_modules_with_a_reason():
    offending = []
    for path in _sources():
        lines = path.read_text().splitlines()
        for name, line, in_function in _imports(path):
            if not in_function:
                continue
            top = name.split(".")[0]
            if top not in LAZY_MODULES or "# lazy:" not in lines[line - 1]:
                offending.append(f"{path.relative_to(ROOT)}:{line} {lines[line - 1].strip()}")
    assert not offending, "\n".join(sorted(set(offending)))


def test_importing_the_package_loads_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys, ftl_tff.runs, ftl_tff.experiments.runner, ftl_tff_cli.main; "
            "print(sorted(m for m in ('tensorflow', 'tensorflow_federated') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_root_command_loads_no_data_stack():
    # `ftl-tff --help` stays fast: the commands' modules (pandas, matplotlib...) load when a command runs.
    import subprocess
    import sys

    code = ("import sys, ftl_tff_cli.main; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'sklearn', 'tensorflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {_module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert folders - listed == set(), "add these packages to pyproject.toml [tool.setuptools] packages"


def test_the_root_help_lists_each_command_by_its_own_docstring():
    from ftl_tff_cli.main import COMMANDS, main

    context = click.Context(main)
    for name, (_, _, summary) in COMMANDS.items():
        command = main.get_command(context, name)
        assert command is not None and command.name == name
        assert (command.help or "").strip().splitlines()[0] == summary, name


@pytest.mark.parametrize(("command", "option", "choices"), [
    ("train", "paradigm", vocabulary.PARADIGMS),
    ("train", "client_optimizer", vocabulary.OPTIMIZERS),
    ("train", "split", vocabulary.SPLITS),
    ("train", "features", vocabulary.FEATURE_SETS),
    ("train", "threshold", RUN_RULES),
    ("federated", "criterion", vocabulary.CRITERIA),
    ("transfer", "threshold", TARGET_RULES),
    ("transfer", "optimizer", vocabulary.OPTIMIZERS),
])
def test_cli_choices_are_read_from_the_library(command, option, choices):
    from ftl_tff_cli.main import main

    parameter = next(p for p in main.get_command(click.Context(main), command).params if p.name == option)
    assert tuple(parameter.type.choices) == tuple(choices)


def test_node_order_is_numeric_then_text():
    assert vocabulary.sort_nodes(["10", "2", "b", "a", 3, "2"]) == ["2", "3", "10", "a", "b"]
