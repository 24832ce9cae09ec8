"""How the service's processes are started and stopped: the one place that knows.

Three programs start gunicorn, a Celery worker and Celery beat: scripts/supervise.py (for
scripts/run.sh), the tests and the benchmark (both through the process harness,
tests/support/harness). Their command lines are built here, each caller saying only what
differs (ports, worker counts, log levels). supervise.py's processes are started here too, each
in a session of its own, so that it and its children (gunicorn's workers, Celery's prefork
pool) form one process group that one signal reaches.

Stopping a group: SIGTERM to the leader or to the whole group, a grace period, then SIGKILL
to whatever is left of the group, which also catches children that outlived their parent.

No Django import, and nothing beyond the standard library: supervise.py imports this before
Django, in production, where the harness's libraries are not installed. Import it as
``processes`` with scripts/ on the path (supervise.py) or as ``scripts.processes`` from the
repository root (the harness, bench/stack.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

BASE_DIR = Path(__file__).resolve().parent.parent
WSGI_APPLICATION = "chatapi.wsgi:application"
ASGI_APPLICATION = "chatapi.asgi:application"
CELERY_APP = "chatapi"

# --- command lines ----------------------------------------------------------------------------


def gunicorn_command(
    *,
    bind: str,
    workers: int,
    threads: int,
    worker_class: str = "gthread",
    python: str = sys.executable,
    log_level: str | None = None,
    access_log: bool = False,
    control_socket: str | Literal[False] | None = None,
    graceful_timeout: int | None = None,
    reuse_port: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """gunicorn serving the project's WSGI application (settings in gunicorn.conf.py).

    ``control_socket``: a path, False for none (``--no-control-socket``), or None for
    gunicorn's default (~/.gunicorn/gunicorn.ctl). ``reuse_port`` gives each worker a socket of
    its own (SO_REUSEPORT), which spreads connections over the workers.
    """
    command = [python, "-m", "gunicorn", WSGI_APPLICATION, "--bind", bind]
    command += ["--workers", str(workers), "--worker-class", worker_class]
    command += ["--threads", str(threads)]
    if graceful_timeout is not None:
        command += ["--graceful-timeout", str(graceful_timeout)]
    if access_log:
        command += ["--access-logfile", "-"]
    if control_socket is False:
        command.append("--no-control-socket")
    elif control_socket is not None:
        command += ["--control-socket", control_socket]
    if reuse_port:
        command.append("--reuse-port")
    if log_level is not None:
        command += ["--log-level", log_level.lower()]
    return [*command, *extra]


def stream_command(
    *,
    bind: str,
    workers: int = 1,
    python: str = sys.executable,
    log_level: str | None = None,
    graceful_timeout: int = 5,
) -> list[str]:
    """gunicorn serving the live event streams: chatapi/asgi.py on uvicorn's event loop, with
    events/worker.py's worker class (a graceful stop ends every stream at once)."""
    command = gunicorn_command(
        bind=bind,
        workers=workers,
        threads=1,
        worker_class="events.worker.StreamWorker",
        python=python,
        graceful_timeout=graceful_timeout,
        control_socket=False,
        log_level=log_level,
    )
    return [ASGI_APPLICATION if part == WSGI_APPLICATION else part for part in command]


def _celery(python: str, quiet: bool) -> list[str]:
    return [python, "-m", "celery", *(["--quiet"] if quiet else []), "-A", CELERY_APP]


# The queues every worker consumes: Celery's default one (the pipeline's tasks) and the search
# indexing's own (SEARCH_QUEUE in chatapi/settings/base.py), which a hung search engine can
# slow down without holding up persistence's.
WORKER_QUEUES = ("celery", "search")


def celery_worker_command(
    *,
    concurrency: int,
    python: str = sys.executable,
    log_level: str | None = None,
    hostname: str | None = None,
    pool: str | None = None,
    gossip: bool = True,
    quiet: bool = False,
    queues: Sequence[str] = WORKER_QUEUES,
) -> list[str]:
    """A Celery worker of the project's app. ``quiet`` drops Celery's start-up banner;
    ``gossip=False`` (no mingle, no gossip) starts faster and keeps the worker to itself."""
    command = [*_celery(python, quiet), "worker", "-Q", ",".join(queues)]
    if pool is not None:
        command += ["-P", pool]
    command += ["--concurrency", str(concurrency)]
    if log_level is not None:
        command.append(f"--loglevel={log_level}")
    if hostname is not None:
        command += ["--hostname", hostname]
    if not gossip:
        command += ["--without-mingle", "--without-gossip"]
    return command


def celery_beat_command(
    *,
    schedule: Path,
    python: str = sys.executable,
    log_level: str | None = None,
    pidfile: Path | None = None,
    quiet: bool = False,
) -> list[str]:
    """Celery beat, the scheduler of the periodic tasks, keeping its state in ``schedule``."""
    command = [*_celery(python, quiet), "beat"]
    if log_level is not None:
        command.append(f"--loglevel={log_level}")
    command += ["--schedule", str(schedule)]
    if pidfile is not None:
        command += ["--pidfile", str(pidfile)]
    return command


def command_text(command: Sequence[str]) -> str:
    """A command line as a reader would type it: without the interpreter and ``-m``."""
    if len(command) > 2 and command[1] == "-m":
        command = command[2:]
    return " ".join(command)


# --- process groups ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def group_start(
    command: Sequence[str],
    *,
    output: IO[bytes] | int,
    env: Mapping[str, str] | None = None,
    cwd: Path = BASE_DIR,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new session (so a new process group), its stdin
    closed, its stdout and stderr both to ``output`` (a file, or ``subprocess.PIPE``).

    A new session also keeps a terminal's Ctrl-C from reaching it: the caller decides when and
    how it stops. ``die_with_parent`` has it sent SIGTERM should the caller die first (Linux).
    """
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        list(command),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # Only in a caller without threads (supervise.py): preexec_fn is unsafe with threads.
        preexec_fn=_die_with_parent if die_with_parent else None,
    )


def group_signal(process: subprocess.Popen[bytes], signum: int) -> bool:
    """Send ``signum`` to every process of the group ``process`` leads; False if none is left."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(process: subprocess.Popen[bytes]) -> bool:
    """True while any process of the group lives (the leader, or children it left behind)."""
    process.poll()  # reap the leader: a zombie still counts as a member of its group
    return group_signal(process, 0)


def group_kill(process: subprocess.Popen[bytes], *, timeout: float = 10) -> None:
    """SIGKILL the whole group: nothing in it gets to clean up (a crash, for the drills)."""
    group_signal(process, signal.SIGKILL)
    process.wait(timeout=timeout)


def group_stop(process: subprocess.Popen[bytes], *, timeout: float) -> int:
    """Stop the group: SIGTERM to all of it, up to ``timeout`` s for the leader to exit, then
    SIGKILL to what is left of the group. Returns the leader's exit status.

    (supervise.py stops its three in its own loop, SIGTERM to each leader only, as it keeps
    forwarding their output meanwhile; it uses ``group_alive`` and ``group_signal``.)
    """
    if process.poll() is None:
        group_signal(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # The leader may be gone while its children are not (a gunicorn worker, a pool process).
    group_signal(process, signal.SIGKILL)
    return process.wait(timeout=10)
