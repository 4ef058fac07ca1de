"""Result tables as Markdown (GitHub pipe tables) or LaTeX (booktabs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .summaries import _MISSING, _few, format_p

__all__ = ["to_latex", "to_markdown"]


def to_markdown(table: pd.DataFrame, columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """Renders a result table as a GitHub pipe table.

    Columns whose name is ``p_value`` or starts with ``p_`` are formatted by
    :func:`~ftl_tff.stats.format_p`; counts (``n``, ``n_*``) as integers;
    other floats with ``digits`` decimals; booleans as yes/no; NaN as
    ``n/a``. Pipes in text are escaped. Numeric columns are right-aligned.

    Args:
        table: Rows to render (e.g. ``pd.concat`` of comparison rows).
        columns: Columns to show, in order (e.g.
            :data:`~ftl_tff.stats.REPORT_COLUMNS`); None shows all.
        digits: Decimals of float values.

    Returns:
        The table as Markdown text, one line per row, ending with a newline.

    Raises:
        ConfigError: A requested column is missing, or ``digits`` is negative.

    Example:
        >>> row = pd.DataFrame({"comparison": ["a vs b"], "p_value": [0.00003], "rank_biserial": [0.81234]})
        >>> print(to_markdown(row), end="")
        | comparison | p_value | rank_biserial |
        | --- | ---: | ---: |
        | a vs b | < 0.0001 | 0.812 |
    """
    names, cells, numeric = _cells(table, columns, digits)
    lines = [
        "| " + " | ".join(_md_escape(n) for n in names) + " |",
        "| " + " | ".join("---:" if num else "---" for num in numeric) + " |",
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def to_latex(
    table: pd.DataFrame,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """Renders a result table as a booktabs LaTeX tabular (needs ``\\usepackage{booktabs}``).

    Cells are formatted as in :func:`to_markdown` and LaTeX special
    characters (``\\ & % $ # _ { } ~ ^ < >``) are escaped, in the header too.
    Written by hand: pandas' ``to_latex`` needs jinja2, which ftl-tff does
    not depend on.

    Args:
        table: Rows to render.
        columns: Columns to show, in order; None shows all.
        digits: Decimals of float values.
        caption: Caption; with ``caption`` or ``label`` the tabular is wrapped
            in a ``table`` environment.
        label: ``\\label`` key (not escaped: use a plain key like
            ``tab:paired``).

    Returns:
        The LaTeX source, ending with a newline.

    Raises:
        ConfigError: A requested column is missing, or ``digits`` is negative.

    Example:
        >>> row = pd.DataFrame({"comparison": ["fed_avg vs local"], "p_value": [0.012]})
        >>> print(to_latex(row).splitlines()[4])
        fed\\_avg vs local & 0.012 \\\\
    """
    names, cells, numeric = _cells(table, columns, digits)
    spec = "".join("r" if num else "l" for num in numeric)
    body = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_tex_escape(n) for n in names) + " \\\\",
        "\\midrule",
    ]
    body += [" & ".join(_tex_escape(c) for c in row) + " \\\\" for row in cells]
    body += ["\\bottomrule", "\\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    wrapped = ["\\begin{table}[htbp]", "\\centering"]
    if caption is not None:
        wrapped.append(f"\\caption{{{_tex_escape(caption)}}}")
    if label is not None:
        wrapped.append(f"\\label{{{label}}}")
    return "\n".join([*wrapped, *body, "\\end{table}"]) + "\n"


def _cells(
    table: pd.DataFrame, columns: Sequence[str] | None, digits: int
) -> tuple[list[str], list[list[str]], list[bool]]:
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ConfigError(f"digits must be a non-negative integer, got {digits!r}")
    names = list(table.columns) if columns is None else list(columns)
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise ConfigError(
            f"column(s) {', '.join(map(repr, missing))} not in the table (it has {_few(map(str, table.columns), 40)})"
        )
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in names]
    rows = [
        [_cell(value, str(name), digits) for name, value in zip(names, record)]
        for record in table[names].itertuples(index=False, name=None)
    ]
    return [str(n) for n in names], rows, numeric


def _cell(value: Any, name: str, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer, float, np.floating)):
        if name == "p_value" or name.startswith("p_"):
            return format_p(float(value))
        if (name == "n" or name.startswith("n_")) and float(value).is_integer():
            return str(int(value))
        if isinstance(value, (int, np.integer)):
            return str(value)
        return f"{value:.{digits}f}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("|", "\\|")


_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def _tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in text.replace("\n", " "))
