"""Fixtures of the fault drills: a Redis server of their own, web servers and workers pointed
wherever a drill says, and ``manage.py`` commands run the same way.

Every drill breaks a component for real, so none of it may touch what other tests use: the
drills' Redis is a ``redis-server`` started here on a free port of 127.0.0.1 with AOF on, in a
temporary folder, and never the Redis of the rest of the suite. Processes are started by the
helpers of ``tests.support.processes`` (``ServiceProcess``, the gunicorn command line,
``celery_workers``) and all stopped at teardown, before the test database is flushed; their
logs are printed if a drill failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from tests.support.http import HttpApi
from tests.support.processes import (
    ServiceProcess,
    dump_logs_if_failed,
    free_port,
    server_process,
    wait_until_serving,
)

REDIS_SERVER = shutil.which("redis-server")


class DrillRedis:
    """A ``redis-server`` with AOF (``appendfsync everysec``) in a folder of its own.

    ``shutdown()`` is the clean stop (SHUTDOWN: the AOF is fsynced before exit), ``kill()`` the
    crash (SIGKILL: up to the last second of writes is lost); ``start()`` brings it back on the
    same port from the same folder, replaying the AOF.
    """

    def __init__(self, directory: Path, *extra_args: str) -> None:
        self.directory = directory
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: ServiceProcess | None = None
        self.processes: list[ServiceProcess] = []
        self.starts = 0

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.starts += 1
        self.process = ServiceProcess(
            f"redis-server on 127.0.0.1:{self.port} (start {self.starts})",
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--maxmemory-policy",
                "noeviction",
                *self.extra_args,
            ],
            dict(os.environ),
            self.directory / f"redis-{self.starts}.log",
        )
        self.processes.append(self.process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:  # not listening yet, or still loading the AOF
                pass
            if not self.process.alive():
                break
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start:\n{self.process.log()}")

    def shutdown(self) -> None:
        """SHUTDOWN: with AOF on, Redis fsyncs the file before it exits."""
        assert self.process is not None
        try:
            self.client().shutdown()
        except redis.ConnectionError:  # the server closes the connection as it exits
            pass
        self.process.popen.wait(timeout=20)
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no fsync, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.stop()

    def aof_size(self) -> int:
        """Bytes in the AOF file being appended to (the multi-part AOF's last ``incr`` file)."""
        return self._incr_file().stat().st_size

    def cut_aof(self, size: int) -> int:
        """Truncate the appended AOF to ``size`` bytes; how many bytes were cut.

        What a machine crash (power loss) does to an AOF with ``appendfsync everysec``: what
        was written after the last fsync, up to a second of writes, is gone. A SIGKILL of the
        process alone loses almost nothing, since written pages survive in the OS cache. The
        server must be stopped; Redis loads a file cut mid-command (``aof-load-truncated``).
        """
        assert self.process is not None and not self.process.alive()
        incr = self._incr_file()
        cut = incr.stat().st_size - size
        with incr.open("r+b") as aof:
            aof.truncate(size)
        return cut

    def _incr_file(self) -> Path:
        (incr,) = (self.directory / "appendonlydir").glob("*.incr.aof")
        return incr

    def stop(self) -> None:
        if self.process is not None and self.process.alive():
            self.process.signal(signal.SIGTERM)
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def drill_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DrillRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    failed_before = request.session.testsfailed
    server = DrillRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        dump_logs_if_failed(request, failed_before, server.processes)


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: connections to it are refused at once."""
    return free_port()


@dataclass
class Drill:
    """Start web servers and workers, and run ``manage.py``, with the drill's environment."""

    env: dict[str, str]
    log_dir: Path
    start_worker: Callable[..., ServiceProcess]
    servers: list[ServiceProcess] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    workers: list[tuple[ServiceProcess, dict[str, str]]] = field(default_factory=list)
    worker_restarts: int = 0

    def environment(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}

    def web(self, *, wait: bool = True, **extra: str) -> HttpApi:
        """A gunicorn server (2 processes x 8 threads), as
        tests.support.processes.api_servers starts them.

        With ``wait=False`` it is only spawned, so that several processes start at once;
        ``ready()`` then waits for every server spawned so far.
        """
        process, port = server_process(
            self.environment(**extra), self.log_dir, 100 + len(self.servers)
        )
        self.servers.append(process)
        self.ports.append(port)
        if wait:
            wait_until_serving(process, port)
        return HttpApi(port)

    def ready(self) -> None:
        for process, port in zip(self.servers, self.ports, strict=True):
            wait_until_serving(process, port)

    def worker(self, **extra: str) -> ServiceProcess:
        process = self.start_worker(**self.environment(**extra))
        self.workers.append((process, extra))
        return process

    def restart_exited_workers(self) -> int:
        """Start a new worker for each that exited by itself; how many.

        What the deployment's supervisor does (``restart: unless-stopped`` in docker-compose,
        ``scripts/run.sh``): a safety net. The known way a worker stopped when its broker
        vanished ("Unrecoverable error", kombu closing a channel whose connection was already
        gone) is worked around in core/broker.py and drilled in test_worker_survives_redis.py.
        """
        exited = [(process, extra) for process, extra in self.workers if not process.alive()]
        for process, extra in exited:
            self.workers.remove((process, extra))
            self.worker(**extra)
        self.worker_restarts += len(exited)
        return len(exited)

    def stop_worker(self, process: ServiceProcess) -> None:
        """Stop a worker on purpose (it is not restarted)."""
        self.workers = [(p, extra) for p, extra in self.workers if p is not process]
        process.stop()

    def manage(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.environment(**extra),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result


@pytest.fixture
def drill(
    request: pytest.FixtureRequest,
    drill_redis: DrillRedis,
    celery_workers: Callable[..., ServiceProcess],
    service_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Drill]:
    """The drill's processes all use ``drill_redis``: numbering, journal, cache and broker.

    Listed after ``drill_redis`` and ``celery_workers``, this fixture is torn down first: the
    web servers stop, then the workers, then Redis, then the database is flushed.
    """
    failed_before = request.session.testsfailed
    env = {
        **service_env,
        "REDIS_URL": drill_redis.url,
        "CELERY_BROKER_URL": drill_redis.url,
        # The drills wait for redeliveries and retries: keep them short.
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "PERSIST_LEASE_SECONDS": "3",
        "PERSIST_DRAIN_SECONDS": "2",
        "PERSIST_RETRY_SECONDS": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    result = Drill(env=env, log_dir=tmp_path, start_worker=celery_workers)
    try:
        yield result
    finally:
        for process in result.servers:
            process.stop()
        dump_logs_if_failed(request, failed_before, result.servers)


def http_call(api: HttpApi, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """``api.call`` that turns a refused or reset connection into status 0."""
    try:
        return api.call(method, path, body, headers=headers or None)
    except OSError:
        return 0, None
