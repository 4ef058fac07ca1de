"""Progress bars that stay quiet when output is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, disable: bool = False, total: int | None = None) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar on stderr (disabled when asked or not a TTY)."""

    return tqdm(items, desc=desc, total=total, disable=disable or not sys.stderr.isatty(), leave=False, file=sys.stderr)
