"""The service's own processes: gunicorn and Celery (worker, beat), ready when they say so.

Their command lines are scripts/processes.py's (the one builder, shared with run.sh's
supervisor); what is here is how the tests, the drills, the history checker and the benchmark
start them and know they are ready: a server answers ``GET /healthz`` with 200, a worker logs
`` ready.``, beat logs ``beat: Starting``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from scripts.processes import celery_beat_command, celery_worker_command, gunicorn_command
from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess
from tests.support.http import HttpApi

WORKER_READY = " ready."
BEAT_READY = "beat: Starting"


def server_process(
    env: Mapping[str, str], log_dir: Path, index: int, extra_args: Sequence[str] = ()
) -> tuple[ServiceProcess, int]:
    """A test's gunicorn (2 workers x 8 threads) on a free port, spawned, not yet awaited."""
    port = free_port()
    process = ServiceProcess(
        f"gunicorn {index} on 127.0.0.1:{port}",
        gunicorn_command(
            bind=f"127.0.0.1:{port}",
            workers=2,
            threads=8,
            graceful_timeout=3,
            log_level="warning",
            extra=tuple(extra_args),
        ),
        env,
        log_dir / f"gunicorn-{index}.log",
    )
    return process, port


def serving(port: int) -> bool:
    """True once a server on ``port`` answers ``GET /healthz`` with 200."""
    try:
        return HttpApi(port).call("GET", "/healthz")[0] == 200
    except (OSError, ValueError):  # not listening yet, or an error page that is not JSON
        return False


def wait_until_serving(process: ServiceProcess, port: int, timeout: float = 30) -> None:
    process.wait_ready(lambda: serving(port), timeout=timeout, what="start")


def worker_command(*, name: str, concurrency: int) -> list[str]:
    """The command line of a test's Celery worker: prefork, INFO (its " ready." line), a
    unique hostname, and no gossip with other workers: start-up is quicker, and the test's own
    workers are the only ones that consume from its Redis database."""
    return celery_worker_command(
        concurrency=concurrency,
        pool="prefork",
        log_level="INFO",
        hostname=f"{name}-{uuid.uuid4().hex[:8]}@127.0.0.1",
        gossip=False,
    )


def worker_spawn(
    *, name: str, label: str, concurrency: int, env: Mapping[str, str], log_path: Path
) -> ServiceProcess:
    """A test's Celery worker, spawned; ``worker_wait`` waits for its " ready." line."""
    return ServiceProcess(label, worker_command(name=name, concurrency=concurrency), env, log_path)


def worker_wait(process: ServiceProcess, timeout: float = 30) -> ServiceProcess:
    process.wait_for_log(WORKER_READY, timeout=timeout)
    return process


def beat_start(*, env: Mapping[str, str], directory: Path, timeout: float = 30) -> ServiceProcess:
    """``celery beat`` keeping its schedule and pid file in ``directory``, once it has started."""
    process = ServiceProcess(
        "celery beat",
        celery_beat_command(
            schedule=directory / "celerybeat-schedule",
            log_level="INFO",
            pidfile=directory / "celerybeat.pid",
        ),
        env,
        directory / "beat.log",
    )
    process.wait_for_log(BEAT_READY, timeout=timeout)
    return process
