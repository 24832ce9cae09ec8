"""Fixtures of the fault drills: a Redis server of their own, web servers and workers pointed
wherever a drill says, and ``manage.py`` commands run the same way.

Every drill breaks a component for real, so none of it may touch what other tests use: the
drills' Redis is a ``redis-server`` of their own on a free port of 127.0.0.1 with AOF on, in a
temporary folder, and never the Redis of the rest of the suite. Every process is started by the
harness (tests/support/harness: ``RedisServer``, ``server_process``, and the ``celery_workers``
fixture of tests/support/processes.py) and all are stopped at teardown, before the test
database is flushed; their logs are printed if a drill failed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess, command_run
from tests.support.harness.redis import REDIS_SERVER, RedisServer
from tests.support.harness.service import server_process, wait_until_serving
from tests.support.http import HttpApi
from tests.support.processes import dump_logs_if_failed

# A ``redis-server`` with AOF (``appendfsync everysec``) in a folder of its own: ``shutdown()``
# is the clean stop, ``kill()`` the crash, ``start()`` the restart that replays the AOF.
DrillRedis = RedisServer


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

    def manage(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        result = command_run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.environment(**extra),
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
