"""Reading the JSON records ftl-tff writes: run configurations, calibrations, manifests, markers.

One reader, one error type (:class:`~ftl_tff.errors.RecordError`), and a
message that names the file and what it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import RecordError

__all__ = ["read_record"]


def read_record(path: str | Path, what: str = "record") -> dict[str, Any]:
    """The JSON object stored in ``path``.

    Args:
        path: The file.
        what: What the file is, for the message (``"run configuration"``...).

    Raises:
        RecordError: If the file is missing, unreadable, not JSON, or holds no JSON object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise RecordError(f"{path}: {what} not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: cannot read the {what} ({error})") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: the {what} is not valid JSON ({error.msg}, line {error.lineno})") from error
    if not isinstance(data, dict):
        raise RecordError(f"{path}: the {what} must be a JSON object, got {type(data).__name__}")
    return data
