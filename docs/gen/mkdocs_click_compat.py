"""MkDocs hook: make mkdocs-click 0.9.0's option tables read click 8.3+ defaults.

click 8.3 marks "no default given" with a sentinel (``click._utils.UNSET``)
where it used to store None. mkdocs-click 0.9.0 (the latest release) prints
that sentinel as is, so the Default column of the command-line reference shows
``Sentinel.UNSET`` for every flag and every option without a default, and
required options lose their "required" mark. This hook makes its table rows
see what click itself means by the sentinel (False for a flag, None
otherwise) and shows required options as *required*. Only the rendering of
the reference changes; the CLI is untouched (the row is built from a copy of
the option).

Loaded by mkdocs.yml (``hooks:``); not a page.
"""

from __future__ import annotations

import copy
from typing import Any


def on_config(config: Any, **kwargs: Any) -> Any:
    try:
        from click._utils import UNSET
    except ImportError:  # click < 8.3: defaults are None already
        return config
    from mkdocs_click import _docs

    original = getattr(_docs._format_table_option_row, "__wrapped__", _docs._format_table_option_row)

    def format_row(option: Any) -> str:
        if option.default is UNSET:
            option = copy.copy(option)
            option.default = False if option.is_flag and not option.required else None
        # mkdocs-click marks a required option "_required" (a lone underscore,
        # shown as is); show it in italics instead.
        return original(option).replace("| _required |", "| *required* |")

    format_row.__wrapped__ = original  # type: ignore[attr-defined]
    _docs._format_table_option_row = format_row
    return config
