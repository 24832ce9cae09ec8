"""A child process in a process group of its own, with its output in a log file.

mirakuru does the work: it starts the process in a new session, waits for a readiness check
with a deadline (killing the process if it never gets ready, or failing at once if it exits
with an error), and marks the process with an environment variable that every descendant
inherits, so that ``kill`` also finds the children that outlived their parent or left its
group, and so that mirakuru's exit hook kills whatever a crashed test run left behind.
Two of its defaults are changed below: the child gets exactly the environment the caller built
(mirakuru would merge ``os.environ`` back in, undoing a removed ``PYTEST_`` or
``CELERY_TASK_ALWAYS_EAGER``), and the new session comes from ``start_new_session`` rather than
``os.setsid`` in ``preexec_fn``, which is unsafe in a process that runs threads (the drills' and
the benchmark's load threads).
https://github.com/dbfixtures/mirakuru
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
from mirakuru import Executor
from mirakuru.base import ENV_UUID
from mirakuru.exceptions import ProcessExitedWithError, TimeoutExpired

BASE_DIR = Path(__file__).resolve().parents[3]


class _Exited(RuntimeError):
    """The process ended (even with status 0) while it was awaited: no use waiting on."""


class _GroupExecutor(Executor):
    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        output: Any,
        stdin_open: bool = False,
    ) -> None:
        super().__init__(
            list(command),
            cwd=str(cwd),
            sleep=0.02,
            stdin=subprocess.PIPE if stdin_open else subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        self._environment = dict(env)
        self.ready: Callable[[], bool] = lambda: True

    @property
    def envvars(self) -> dict[str, str]:
        return {**self._environment, ENV_UUID: self._uuid}

    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs = super()._popen_kwargs
        kwargs.pop("preexec_fn", None)
        kwargs["start_new_session"] = True
        return kwargs

    def pre_start_check(self) -> bool:
        return False  # every process gets fresh ports and folders: nothing can be there before

    def after_start_check(self) -> bool:
        return self.ready()

    def spawn(self) -> subprocess.Popen[Any]:
        """Start the process without waiting for it to be ready."""
        super(Executor, self).start()
        assert self.process is not None
        return self.process

    def await_ready(self, ready: Callable[[], bool], timeout: float) -> None:
        self.ready = ready
        self._timeout = timeout
        self._set_timeout()
        self.wait_for(self.check_subprocess)

    def kill_descendants(self, signum: int) -> None:
        self._kill_all_kids(signum)


class ServiceProcess:
    """``args`` started at once, in a session (so a process group) of its own, its stdin closed
    (or, with ``stdin_open``, a pipe held open until ``stop``: for a server that exits when its
    stdin closes, as osmem-server does) and its stdout and stderr in ``log_path``.

    ``stop`` and ``kill`` reach the whole group (gunicorn's workers, Celery's prefork pool) and
    every descendant that left it.
    """

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path = BASE_DIR,
        append: bool = False,
        stdin_open: bool = False,
    ) -> None:
        """``append``: add to the log file (a server restarted with the same log) rather than
        start it anew."""
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self._log = log_path.open("ab" if append else "wb")
        self._executor = _GroupExecutor(
            args, env=env, cwd=cwd, output=self._log, stdin_open=stdin_open
        )
        self.popen: subprocess.Popen[Any] = self._executor.spawn()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process itself to exit; its exit status."""
        return self.popen.wait(timeout=timeout)

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll ``ready()`` until it is true; raise with the log if the process exits first or
        ``timeout`` s pass (then the process is killed: it never became usable)."""

        def check() -> bool:
            if ready():
                return True
            if not self.alive():
                raise _Exited
            return False

        try:
            self._executor.await_ready(check, timeout)
        except (_Exited, ProcessExitedWithError, TimeoutExpired) as error:
            raise RuntimeError(f"{self.name} did not {what}:\n{self.log()}") from error

    def wait_for_log(self, text: str, timeout: float) -> None:
        self.wait_ready(lambda: text in self.log(), timeout=timeout, what=f"log {text!r}")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process and its group (SIGSTOP and SIGCONT: a pause)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def kill(self) -> float:
        """SIGKILL the group and every descendant: nothing gets to clean up (a crash, for the
        drills). Returns the monotonic time of the signal (the process is reaped after it)."""
        signalled_at = time.monotonic()
        self.signal(signal.SIGKILL)
        self._executor.kill_descendants(signal.SIGKILL)
        self.popen.wait(timeout=10)
        return signalled_at

    def children(self) -> set[int]:
        """The pids of the process's own children (a gunicorn master's workers)."""
        return {child.pid for child in psutil.Process(self.pid).children()}

    def child_kill(self, pid: int) -> None:
        """SIGKILL one child of this process (a worker that dies, its master replaces it)."""
        if pid not in self.children():
            raise ValueError(f"{pid} is not a child of {self.name}")
        os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM to the group, up to ``timeout`` s for the process to exit, then SIGKILL to
        whatever is left of the group and of its descendants. Returns the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # The leader may be gone while its children are not (a gunicorn worker, a pool process).
        self.signal(signal.SIGKILL)
        self._executor.kill(wait=True)
        status = self.popen.wait(timeout=10)
        self._log.close()
        return status


def command_run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = BASE_DIR,
    timeout: float = 120,
    check: bool = False,
    text: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """Run a command to completion, its output captured (``manage.py``, ``redis-cli``,
    ``rabbitmqctl``, a version query); on timeout it is killed and ``TimeoutExpired`` raised."""
    return subprocess.run(  # noqa: S603 - our own programs and arguments
        list(args),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=text,
        timeout=timeout,
        check=check,
    )


def interactive_start(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path = BASE_DIR
) -> subprocess.Popen[str]:
    """A helper process the caller talks to line by line over its stdin and stdout (the
    benchmark's load clients), in a session of its own; ``interactive_stop`` ends it."""
    return subprocess.Popen(  # noqa: S603 - our own programs and arguments
        list(args),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def interactive_stop(process: subprocess.Popen[str], timeout: float = 10) -> int:
    """Close its stdin (its cue to finish), wait, then SIGKILL what is left; its exit status."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=10)
