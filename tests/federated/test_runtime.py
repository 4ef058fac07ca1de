"""FederatedRuntime and local_workers: contexts installed, and no worker_binary ever left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ftl_tff._processes import child_pids_named
from ftl_tff.errors import ConfigError
from ftl_tff.federated import (
    WORKER_BINARY_NAME,
    FederatedRuntime,
    WorkerError,
    active_runtime,
    local_workers,
    managed_worker_pids,
)

REPO = Path(__file__).resolve().parents[2]


def workers_alive() -> list[int]:
    return sorted(child_pids_named(WORKER_BINARY_NAME))


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs a worker_binary (exited, reaped or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split()[0]
    return comm != WORKER_BINARY_NAME or state in ("Z", "X")


@pytest.fixture(autouse=True)
def no_worker_left_by_the_test():
    yield
    assert workers_alive() == [], "the test left a worker_binary running"
    assert managed_worker_pids() == [] and active_runtime() is None


@pytest.fixture(scope="module")
def constant():
    """A tiny TFF computation: running it needs a worker."""
    import tensorflow as tf
    import tensorflow_federated as tff

    @tff.tensorflow.computation
    def seven():
        return tf.constant(7)

    return seven


def test_importing_the_package_does_not_import_tensorflow():
    code = "import sys, ftl_tff.federated; sys.exit('tensorflow' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    "workers", ["localhost:1234", [], ["localhost"], ["localhost:0"], ["host:port"]]
)
def test_bad_worker_lists_are_config_errors(workers):
    with pytest.raises(ConfigError):
        FederatedRuntime(workers=workers)


def test_local_workers_rejects_zero():
    with pytest.raises(ConfigError), local_workers(0):
        pass


def test_runtime_stops_its_worker_on_exit_exception_and_interrupt(constant):
    with FederatedRuntime() as runtime:
        assert runtime.active and active_runtime() is runtime
        assert constant() == 7
        assert workers_alive() == [runtime.local_worker_pid]
    assert workers_alive() == [] and not runtime.active

    with pytest.raises(RuntimeError, match="boom"), FederatedRuntime():
        assert constant() == 7
        raise RuntimeError("boom")
    assert workers_alive() == []

    with pytest.raises(KeyboardInterrupt), FederatedRuntime():
        assert constant() == 7
        raise KeyboardInterrupt
    assert workers_alive() == []


def test_runtime_also_stops_a_worker_of_tff_default_context(constant):
    import tensorflow_federated as tff

    # TFF's own context starts an unmanaged worker on first use.
    tff.backends.native.set_sync_local_cpp_execution_context()
    assert constant() == 7
    assert len(workers_alive()) == 1
    with FederatedRuntime():
        assert constant() == 7
    assert workers_alive() == []


def test_nested_runtimes_restore_the_outer_context(constant):
    with FederatedRuntime() as outer:
        with FederatedRuntime() as inner:
            assert constant() == 7
            assert workers_alive() == sorted([outer.local_worker_pid, inner.local_worker_pid])
        assert active_runtime() is outer
        assert workers_alive() == [outer.local_worker_pid]
        assert constant() == 7  # runs in the outer runtime's worker again


def test_local_workers_listen_serve_and_stop(constant):
    with local_workers(2) as addresses:
        ports = [int(address.rsplit(":", 1)[1]) for address in addresses]
        assert len(set(ports)) == 2
        pids = workers_alive()
        assert len(pids) == 2
        for port in ports:
            socket.create_connection(("localhost", port), timeout=5).close()
        with FederatedRuntime(workers=addresses) as runtime:
            assert runtime.local_worker_pid is None
            assert constant() == 7
        assert workers_alive() == pids  # a runtime leaves workers it did not start alone
    assert workers_alive() == []

    with pytest.raises(RuntimeError, match="inside"), local_workers(1):
        raise RuntimeError("inside")
    assert workers_alive() == []


def test_local_workers_on_given_ports():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    with local_workers(1, base_port=port) as addresses:
        assert addresses == [f"localhost:{port}"]
        with pytest.raises(WorkerError, match="in use"), local_workers(1, base_port=port):
            pass
        assert len(workers_alive()) == 1


def test_unreachable_worker_fails_at_entry():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]  # nobody listens here once closed
    with pytest.raises(WorkerError, match="not reachable"):
        FederatedRuntime(workers=[f"localhost:{port}"], connect_timeout_s=1).__enter__()
    assert active_runtime() is None


def test_a_dead_local_worker_raises_instead_of_retrying_forever(constant):
    with FederatedRuntime() as runtime:
        assert constant() == 7
        os.kill(runtime.local_worker_pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="exited"):
            constant()


_CHILD_THAT_NEVER_LEAVES_THE_BLOCK = """
import atexit, json, sys
from ftl_tff._processes import child_pids_named
# Registered first, so it runs after ftl_tff's own atexit hook.
atexit.register(lambda: print("LEFT_AT_EXIT", json.dumps(child_pids_named("worker_binary")), flush=True))
import numpy as np
from ftl_tff.config import FedAvgConfig, ModelConfig
from ftl_tff.federated import FederatedRuntime, train_federated
runtime = FederatedRuntime().__enter__()
rng = np.random.default_rng(0)
clients = {"a": rng.random((12, 4), dtype=np.float32), "b": rng.random((8, 4), dtype=np.float32)}
train_federated(clients, None, FedAvgConfig(rounds=1), ModelConfig(encoder_units=(2,)), runtime=runtime, progress=False)
print("WORKERS", json.dumps(child_pids_named("worker_binary")), flush=True)
"""

_CHILD_KILLED_BY_SIGKILL = """
import json, os, signal
from ftl_tff._processes import child_pids_named
from ftl_tff.federated import local_workers
with local_workers(1):
    print("WORKERS", json.dumps(child_pids_named("worker_binary")), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _marked_pids(output: str, mark: str) -> list[int]:
    import json

    lines = [line for line in output.splitlines() if line.startswith(mark + " ")]
    assert lines, f"no {mark} line in the child's output:\n{output[-3000:]}"
    return json.loads(lines[-1].split(" ", 1)[1])


def test_child_processes_leave_no_worker_behind():
    """A script that never leaves the block (atexit hook) and one killed by SIGKILL (parent-death signal)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for name, code in (("atexit", _CHILD_THAT_NEVER_LEAVES_THE_BLOCK), ("sigkill", _CHILD_KILLED_BY_SIGKILL))
    }
    # A surviving worker would hold the pipe open and make communicate() hang.
    outputs = {name: child.communicate(timeout=300)[0] for name, child in children.items()}

    assert children["atexit"].returncode == 0, outputs["atexit"][-3000:]
    trained_with = _marked_pids(outputs["atexit"], "WORKERS")
    assert len(trained_with) == 1
    assert _marked_pids(outputs["atexit"], "LEFT_AT_EXIT") == []

    assert children["sigkill"].returncode == -signal.SIGKILL
    killed_parent_of = _marked_pids(outputs["sigkill"], "WORKERS")
    assert len(killed_parent_of) == 1
    deadline = time.monotonic() + 10
    while not all(process_gone(pid) for pid in trained_with + killed_parent_of):
        assert time.monotonic() < deadline, "a child's worker_binary outlived it"
        time.sleep(0.1)
