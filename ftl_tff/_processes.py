"""Child-process bookkeeping (Linux /proc), for TFF's ``worker_binary``.

TFF's local C++ runtime starts a ``worker_binary`` child that is only killed
in a ``__del__`` that does not run at interpreter exit; it then outlives
Python, keeps inherited pipes open and holds memory. These helpers find and
stop such children of the current process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def child_pids_named(name: str, parent: int | None = None) -> list[int]:
    """PIDs of the children of ``parent`` (default: this process) whose command name is ``name``."""
    parent = os.getpid() if parent is None else parent
    pids = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent_pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if comm == name and parent_pid == parent:
            pids.append(int(stat_path.parent.name))
    return pids


def stop_children_named(name: str, timeout_s: float = 10.0) -> list[int]:
    """Interrupt this process's children called ``name``, kill them after ``timeout_s``, and reap them."""
    pids = child_pids_named(name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        try:
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.05)
        except ChildProcessError:
            continue
    return pids
