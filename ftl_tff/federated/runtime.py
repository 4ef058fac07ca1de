"""Execution contexts and the lifetime of TFF's ``worker_binary`` processes.

TensorFlow Federated runs every federated computation in a C++
``worker_binary`` process reached over gRPC. Left to itself, TFF 0.87 starts
that process lazily, lets it inherit the script's stdout, and kills it only in
a ``__del__`` that does not run at interpreter exit: the worker outlives the
script, holds memory and keeps pipes open (``script | tail`` hangs).
This module owns that lifetime:

* :class:`FederatedRuntime` installs an execution context on entry and, on
  every way out (normal exit, exception, ``KeyboardInterrupt``), stops the
  worker it started, installs a fresh context and stops any ``worker_binary``
  child left by earlier TFF use. While it is active an :mod:`atexit` hook does
  the same for a script that never leaves the block. A worker it starts also
  receives ``SIGKILL`` from the kernel if this process dies without running
  any Python (``kill -9``, the OOM killer), via Linux's parent-death signal.
* ``FederatedRuntime(workers=["host:port", ...])`` runs on workers started
  elsewhere (``worker_binary --port=N`` on each host) and splits the clients of
  each round across them (TFF's mergeable-computation context).
* :func:`local_workers` starts ``n`` workers on this machine for that mode
  and always stops them.

Security: TFF's executor service speaks **insecure gRPC** (no TLS, no
authentication) and a worker listens on all interfaces, including the workers
:func:`local_workers` and :class:`FederatedRuntime` start. Anyone who reaches
a worker's port can run TensorFlow code in it and read what it holds. Use
workers on a trusted network only (a cluster's private network, or an SSH
tunnel), and firewall their ports.

TensorFlow Federated is imported when a runtime is entered, not when this
module is imported.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ftl_tff._processes import stop_children_named
from ftl_tff.errors import ConfigError, FtlError

__all__ = [
    "WORKER_BINARY_NAME",
    "FederatedRuntime",
    "WorkerError",
    "active_runtime",
    "local_workers",
    "managed_worker_pids",
    "worker_binary_path",
]

#: Command name of TFF's C++ executor service (as shown in ``/proc/PID/stat``).
WORKER_BINARY_NAME = "worker_binary"

# TFF's own local context allows messages up to ~2 GB; one round of 100
# clients' data easily exceeds gRPC's 4 MB default.
_GRPC_MAX_MESSAGE_BYTES = 2 * 1000 * 1000 * 1000
_GRPC_OPTIONS = [
    ("grpc.max_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _GRPC_MAX_MESSAGE_BYTES),
]
_PORT_ATTEMPTS = 5
_STOP_TIMEOUT_S = 10.0

# Workers this process started and has not stopped yet, by pid; the
# runtimes now active, innermost last. Guarded by _LOCK.
_LOCK = threading.RLock()
_MANAGED_WORKERS: dict[int, _Worker] = {}
_ACTIVE_RUNTIMES: list[FederatedRuntime] = []
_ATEXIT_REGISTERED = False


class WorkerError(FtlError, RuntimeError):
    """A ``worker_binary`` could not be started, exited, or cannot be reached."""


def worker_binary_path() -> Path:
    """Path of the ``worker_binary`` shipped in the ``tensorflow_federated`` package.

    Found without importing TensorFlow Federated.

    Returns:
        ``.../tensorflow_federated/data/worker_binary``.

    Raises:
        WorkerError: If TFF is not installed or the binary is missing.
    """
    spec = importlib.util.find_spec("tensorflow_federated")
    if spec is None or spec.origin is None:
        raise WorkerError("tensorflow_federated is not installed")
    path = Path(spec.origin).parent / "data" / WORKER_BINARY_NAME
    if not path.is_file():
        raise WorkerError(f"TFF's worker binary is missing: {path}")
    return path


class _Worker:
    """One ``worker_binary`` process started by this module."""

    def __init__(self, popen: subprocess.Popen, port: int) -> None:
        self.popen = popen
        self.port = port

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def check_alive(self) -> None:
        """Raises :class:`WorkerError` if the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise WorkerError(f"worker_binary on port {self.port} (pid {self.pid}) exited with code {code}")

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Interrupts the worker (as TFF does), kills it after ``timeout_s``, reaps it."""
        try:
            if self.popen.poll() is None:
                self.popen.send_signal(signal.SIGINT)
                try:
                    self.popen.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait()
        finally:
            with _LOCK:
                _MANAGED_WORKERS.pop(self.pid, None)


# Run by a short-lived Python that then becomes the worker (exec keeps the
# pid and the setting): asks Linux to SIGKILL the worker when the thread that
# started it dies, so even ``kill -9`` of this process leaves no worker. Done
# in a fresh process rather than a ``preexec_fn`` because forking a process
# full of TensorFlow and gRPC threads to run Python is unsafe.
_EXEC_WITH_PARENT_DEATH_SIGNAL = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
# An ignored SIGINT (a background job of a script) would survive exec and
# make the worker deaf to the interrupt that stops it.
signal.signal(signal.SIGINT, signal.SIG_DFL)
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
except (OSError, AttributeError):
    pass  # not Linux/glibc: the atexit hook still stops the worker
if os.getppid() != parent:
    sys.exit(1)  # the parent died before prctl took effect
os.execv(sys.argv[2], sys.argv[2:])
"""


def _worker_command(binary: Path, port: int, max_concurrent_computation_calls: int) -> list[str]:
    args = [str(binary), f"--port={port}", f"--max_concurrent_computation_calls={max_concurrent_computation_calls}"]
    if sys.platform != "linux":
        return args
    return [sys.executable, "-I", "-S", "-c", _EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), *args]


def _free_port() -> int:
    """A TCP port free on every interface now (the worker binds ``[::]``)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
            return int(probe.getsockname()[1])
    except OSError:  # no IPv6 here
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("0.0.0.0", 0))
            return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_worker(
    port: int | None,
    max_concurrent_computation_calls: int,
    ready_timeout_s: float,
    log_path: str | Path | None,
) -> _Worker:
    """Starts one ``worker_binary`` and waits until it accepts connections.

    A port picked here can be taken by someone else before the worker binds
    it; the worker then exits and another port is tried (only when ``port``
    is None).
    """
    binary = worker_binary_path()
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    last_error: WorkerError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else _free_port()
        if port is not None and _listening(chosen):
            raise WorkerError(f"port {chosen} is already in use")
        args = _worker_command(binary, chosen, max_concurrent_computation_calls)
        log: IO[bytes] | int = subprocess.DEVNULL
        if log_path is not None:
            log = open(log_path, "ab")  # the child keeps its own copy
        try:
            popen = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        worker = _Worker(popen, chosen)
        with _LOCK:
            _MANAGED_WORKERS[worker.pid] = worker
            _ensure_atexit_hook()
        try:
            _wait_until_listening(worker, ready_timeout_s)
            return worker
        except WorkerError as error:
            worker.stop()
            last_error = error
        except BaseException:
            worker.stop()
            raise
    assert last_error is not None
    raise last_error


def _wait_until_listening(worker: _Worker, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        worker.check_alive()
        if _listening(worker.port):
            return
        if time.monotonic() > deadline:
            raise WorkerError(f"worker_binary on port {worker.port} did not listen within {timeout_s:g} s")
        time.sleep(0.05)


@contextmanager
def local_workers(
    n: int,
    base_port: int | None = None,
    *,
    max_concurrent_computation_calls: int = -1,
    ready_timeout_s: float = 60.0,
    log_dir: str | Path | None = None,
) -> Iterator[list[str]]:
    """Starts ``n`` TFF workers on this machine; stops them when the block ends.

    Meant for :class:`FederatedRuntime` ``(workers=...)`` on one machine (tests,
    or splitting a round's clients over several processes). The workers listen
    on all interfaces with insecure gRPC (see the module notes).

    Example::

        with local_workers(2) as addresses, FederatedRuntime(workers=addresses):
            result = train_federated(clients, fedavg=FedAvgConfig(rounds=10))

    Args:
        n: Number of workers (>= 1).
        base_port: Use ports ``base_port .. base_port + n - 1``; by default
            free ports are picked.
        max_concurrent_computation_calls: The worker's limit on parallel calls
            of one computation (non-positive: no limit).
        ready_timeout_s: Seconds to wait for each worker to listen.
        log_dir: Folder for ``worker_{i}.log`` (stdout and stderr of the
            i-th worker, from 0); by default their output is discarded.

    Yields:
        The addresses, ``["localhost:PORT", ...]``.

    Raises:
        ConfigError: If ``n < 1``.
        WorkerError: If a worker cannot be started or does not listen in time.
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    workers: list[_Worker] = []
    try:
        for i in range(n):
            port = None if base_port is None else base_port + i
            log_path = None if log_dir is None else Path(log_dir) / f"worker_{i}.log"
            workers.append(_start_worker(port, max_concurrent_computation_calls, ready_timeout_s, log_path))
        yield [worker.address for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
        _cleanup_if_idle()


class FederatedRuntime:
    """Owns TFF's execution context and its ``worker_binary`` for a block of code.

    With no ``workers``, entering starts one local ``worker_binary`` (on a
    free port, output discarded, killed by the kernel if this process dies)
    and installs a synchronous C++ execution context on it, equivalent to
    ``tff.backends.native.set_sync_local_cpp_execution_context()``. With
    ``workers``, it installs one asynchronous context per worker under TFF's
    mergeable-computation context, which splits each round's clients across
    the workers and merges their partial aggregates.

    Leaving the block (normally, by an exception or ``KeyboardInterrupt``)
    closes the executors, stops the worker it started, reinstalls the
    context of an enclosing runtime or else a fresh TFF default context, and,
    once no runtime or :func:`local_workers` block is active, stops every
    ``worker_binary`` child of this process. Runtimes nest; the innermost one
    is in force.

    Example::

        with FederatedRuntime():
            result = train_federated(clients, fedavg=FedAvgConfig(rounds=10))

    Args:
        workers: ``"host:port"`` addresses of running ``worker_binary``
            services (insecure gRPC: trusted networks only). None: start a
            local worker.
        max_concurrent_computation_calls: For the local worker: its limit on
            parallel calls of one computation (non-positive: none). Remote
            workers set their own with the ``--max_concurrent_computation_calls``
            flag of ``worker_binary``.
        num_subrounds: With ``workers``: how many parts to split each round's
            clients into (default: one per worker; more parts than workers
            run in turn).
        connect_timeout_s: Seconds to wait for a worker to be reachable
            before failing, at entry and whenever a computation starts.
        worker_log: For the local worker: file to append its output to.
    """

    def __init__(
        self,
        workers: Sequence[str] | None = None,
        *,
        max_concurrent_computation_calls: int = -1,
        num_subrounds: int | None = None,
        connect_timeout_s: float = 60.0,
        worker_log: str | Path | None = None,
    ) -> None:
        if isinstance(workers, str):
            raise ConfigError(f"workers must be a list of 'host:port' strings, got the string {workers!r}")
        self.workers: list[str] | None = None if workers is None else [str(w) for w in workers]
        if self.workers is not None:
            if not self.workers:
                raise ConfigError("workers is empty; pass None to start a local worker")
            bad = [w for w in self.workers if not _is_address(w)]
            if bad:
                raise ConfigError(f"worker addresses must look like 'host:port', got {bad}")
        if num_subrounds is not None and num_subrounds < 1:
            raise ConfigError(f"num_subrounds must be >= 1, got {num_subrounds}")
        self.max_concurrent_computation_calls = int(max_concurrent_computation_calls)
        self.num_subrounds = num_subrounds
        self.connect_timeout_s = float(connect_timeout_s)
        self.worker_log = worker_log
        self._context: Any = None
        self._local_worker: _Worker | None = None
        self._channels: list[Any] = []
        self._executors: list[Any] = []

    def __repr__(self) -> str:
        where = "local" if self.workers is None else f"workers={self.workers}"
        return f"FederatedRuntime({where}, active={self.active})"

    @property
    def active(self) -> bool:
        """True between entering and leaving the block."""
        return self._context is not None

    @property
    def local_worker_pid(self) -> int | None:
        """PID of the local worker this runtime started (None with remote workers or when inactive)."""
        return None if self._local_worker is None else self._local_worker.pid

    def __enter__(self) -> FederatedRuntime:
        if self.active:
            raise ConfigError("this FederatedRuntime is already active")
        import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

        try:
            if self.workers is None:
                self._local_worker = _start_worker(
                    None, self.max_concurrent_computation_calls, self.connect_timeout_s, self.worker_log
                )
                stub = self._stub(self._local_worker.address, self._local_worker)
                context = tff.framework.SyncExecutionContext(
                    **self._context_arguments(tff, stub, self._local_worker.address)
                )
            else:
                async_contexts = [
                    tff.framework.AsyncExecutionContext(**self._context_arguments(tff, self._stub(address), address))
                    for address in self.workers
                ]
                context = tff.backends.native.create_mergeable_comp_execution_context(
                    async_contexts, num_subrounds=self.num_subrounds
                )
            with _LOCK:
                tff.framework.get_context_stack().set_default_context(context)
                self._context = context
                _ACTIVE_RUNTIMES.append(self)
                _ensure_atexit_hook()
        except BaseException:
            self._release()
            _cleanup_if_idle()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Leaves the runtime: what ``with`` does on exit. Safe to call twice."""
        with _LOCK:
            was_active = self in _ACTIVE_RUNTIMES
            if was_active:
                _ACTIVE_RUNTIMES.remove(self)
            if was_active and self._context is not None:
                _install_context(_ACTIVE_RUNTIMES[-1]._context if _ACTIVE_RUNTIMES else None)
        self._release()
        _cleanup_if_idle()

    def _release(self) -> None:
        """Frees server-side executors, closes channels, stops the local worker."""
        for executor in self._executors:
            try:
                executor.close()  # disposes its values on a worker that may live on
            except Exception:  # a worker already gone has nothing to free
                pass
        for channel in self._channels:
            try:
                channel.close()
            except Exception:
                pass
        self._executors.clear()
        self._channels.clear()
        self._context = None
        gc.collect()  # lets TFF's objects of the old context run their __del__ now
        if self._local_worker is not None:
            self._local_worker.stop()
            self._local_worker = None

    def _stub(self, address: str, local_worker: _Worker | None = None) -> Any:
        """A gRPC stub to ``address``, after checking the worker is reachable."""
        import grpc  # lazy: loaded with TFF; only remote workers need it
        import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

        channel = grpc.insecure_channel(address, _GRPC_OPTIONS)
        self._channels.append(channel)
        stub = tff.framework.RemoteExecutorGrpcStub(channel)
        self._wait_ready(stub, address, local_worker)
        return stub

    def _wait_ready(self, stub: Any, address: str, local_worker: _Worker | None) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        while not stub.is_ready:
            if local_worker is not None:
                local_worker.check_alive()
            if time.monotonic() > deadline:
                raise WorkerError(f"TFF worker at {address} is not reachable after {self.connect_timeout_s:g} s")
            time.sleep(0.05)

    def _context_arguments(self, tff: Any, stub: Any, address: str) -> dict[str, Any]:
        """Executor factory and compiler of a native-backend context on ``stub``."""
        local_worker = self._local_worker

        def executor_stack(cardinalities: dict) -> Any:
            # A dead worker would otherwise make TFF retry UNAVAILABLE calls
            # forever; a WorkerError is not retryable, so it surfaces.
            if local_worker is not None:
                local_worker.check_alive()
            self._wait_ready(stub, address, local_worker)
            cardinalities.setdefault(tff.CLIENTS, 0)
            executor = tff.framework.RemoteExecutor(stub)
            executor.set_cardinalities(cardinalities)
            self._executors.append(executor)
            return executor

        return {
            "executor_fn": tff.framework.ResourceManagingExecutorFactory(executor_stack),
            "compiler_fn": tff.backends.native.desugar_and_transform_to_native,
            "transform_args": tff.tensorflow.transform_args,
            "transform_result": tff.tensorflow.transform_result,
        }


def _is_address(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _install_context(context: Any | None) -> None:
    """Installs ``context``, or a fresh TFF default context (lazy: starts no worker)."""
    import tensorflow_federated as tff  # lazy: TFF takes seconds to import; only federated work needs it

    if context is None:
        tff.backends.native.set_sync_local_cpp_execution_context()
    else:
        tff.framework.get_context_stack().set_default_context(context)


def _cleanup_if_idle() -> None:
    """Once nothing of ours is active: stop stray workers, drop the atexit hook."""
    with _LOCK:
        if _ACTIVE_RUNTIMES or _MANAGED_WORKERS:
            return
        gc.collect()
        # Workers started by TFF's own default context (used before a runtime
        # was entered, or between runtimes) are children of this process too.
        stop_children_named(WORKER_BINARY_NAME, timeout_s=_STOP_TIMEOUT_S)
        _drop_atexit_hook()


def _ensure_atexit_hook() -> None:
    global _ATEXIT_REGISTERED
    with _LOCK:
        if not _ATEXIT_REGISTERED:
            atexit.register(_stop_everything_at_exit)
            _ATEXIT_REGISTERED = True


def _drop_atexit_hook() -> None:
    global _ATEXIT_REGISTERED
    with _LOCK:
        if _ATEXIT_REGISTERED:
            atexit.unregister(_stop_everything_at_exit)
            _ATEXIT_REGISTERED = False


def _stop_everything_at_exit() -> None:
    """The atexit hook: leave every runtime and stop every worker of this process."""
    with _LOCK:
        runtimes = list(reversed(_ACTIVE_RUNTIMES))
        workers = list(_MANAGED_WORKERS.values())
    for runtime in runtimes:
        try:
            runtime.close()
        except Exception:  # keep stopping the others
            pass
    for worker in workers:
        worker.stop()
    stop_children_named(WORKER_BINARY_NAME, timeout_s=_STOP_TIMEOUT_S)
    _drop_atexit_hook()


def active_runtime() -> FederatedRuntime | None:
    """The innermost active :class:`FederatedRuntime`, or None."""
    with _LOCK:
        return _ACTIVE_RUNTIMES[-1] if _ACTIVE_RUNTIMES else None


def managed_worker_pids() -> list[int]:
    """PIDs of the workers started by this module and not stopped yet."""
    with _LOCK:
        return sorted(_MANAGED_WORKERS)
