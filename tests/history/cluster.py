"""The processes a history runs against, all private to it: a MariaDB, a Redis, two gunicorn
servers and two Celery workers.

Nothing here is shared with the rest of the suite or the machine: the MariaDB is a ``mariadbd``
of its own, installed into a temporary folder and listening on a free port (the nemesis stops
it, which must never happen to the shared server), and the Redis is a ``RedisServer`` (AOF,
``appendfsync everysec``) on another free port. The servers and workers are the commands the
other end-to-end tests run (``tests.support.harness.service.server_process``), with the
history's environment; the harness (tests/support/harness) starts and stops every one.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from django.conf import settings

from scripts.processes import stream_command
from tests.support.harness import mariadb
from tests.support.harness.mariadb import mariadb_available
from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess, command_run
from tests.support.harness.redis import RedisServer
from tests.support.harness.service import (
    server_process,
    wait_until_serving,
    worker_spawn,
    worker_wait,
)

__all__ = ["Cluster", "PrivateMariaDB", "mariadb_available", "service_environment"]

DATABASE = "history"
# Short, so that a worker SIGSTOPped for longer than this has its rows taken by the other one
# while it is stopped, and both drains write them: two drains overlap.
LEASE_SECONDS = 2


class PrivateMariaDB(mariadb.PrivateMariaDB):
    """The history's own ``mariadbd`` (tests/support/harness/mariadb.py), database ``history``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, DATABASE)


def service_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """What every server, worker and ``manage.py`` of a history gets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update(
        DJANGO_SETTINGS_MODULE="chatapi.settings.test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        REDIS_KEY_PREFIX="history",
        CELERY_VISIBILITY_TIMEOUT="5",
        PERSIST_LEASE_SECONDS=str(LEASE_SECONDS),
        PERSIST_DRAIN_SECONDS="1",
        PERSIST_RETRY_SECONDS="1",
        PYTHONUNBUFFERED="1",
        # The stream readers (tests/history/streams.py): a keep-alive each second, an idle
        # reader checking its stream every 300 ms.
        EVENTS_KEEPALIVE_SECONDS="1",
        EVENTS_READ_BLOCK_MS="300",
    )
    return env


class Cluster:
    """The servers and workers of one history, on its Redis and the private MariaDB."""

    def __init__(self, directory: Path, mariadb: PrivateMariaDB) -> None:
        self.directory = directory
        self.mariadb = mariadb
        (directory / "redis").mkdir(parents=True)
        self.redis = RedisServer(directory / "redis")
        self.env = service_environment(mariadb.url(), self.redis.url)
        self.servers: list[ServiceProcess] = []
        self.ports: list[int] = []
        self.workers: list[ServiceProcess] = []
        self.retired: list[ServiceProcess] = []
        self.streams: ServiceProcess | None = None  # the stream process (live events)
        self.streams_port = free_port()

    def start(self) -> None:
        self.redis.start()
        for index in (1, 2):
            process, port = server_process(self.env, self.directory, index)
            self.servers.append(process)
            self.ports.append(port)
        for _ in range(2):
            self.workers.append(self.worker_spawn())
        self.streams = self.streams_spawn()
        for process, port in zip(self.servers, self.ports, strict=True):
            wait_until_serving(process, port)
        wait_until_serving(self.streams, self.streams_port)
        for worker in self.workers:
            worker_wait(worker, timeout=60)

    def streams_spawn(self) -> ServiceProcess:
        return ServiceProcess(
            "stream process",
            stream_command(bind=f"127.0.0.1:{self.streams_port}", log_level="warning"),
            self.env,
            self.directory / "streams.log",
            append=True,  # a restarted one (the nemesis) goes on in the same log
        )

    def streams_kill(self) -> None:
        """SIGKILL the stream process: every open stream is cut at once."""
        if self.streams is not None:
            self.streams.kill()

    def streams_restart(self) -> None:
        """A new stream process on the same port, once it serves."""
        self.streams = self.streams_spawn()
        wait_until_serving(self.streams, self.streams_port)

    def worker_spawn(self) -> ServiceProcess:
        index = len(self.workers) + len(self.retired) + 1
        return worker_spawn(
            name=f"history-{index}",
            label=f"celery worker {index}",
            concurrency=1,
            env=self.env,
            log_path=self.directory / f"worker-{index}.log",
        )

    def worker_replace(self, worker: ServiceProcess) -> ServiceProcess:
        """Stop ``worker`` for good (if it still runs) and start another in its place."""
        worker.kill()
        worker.stop()
        self.workers.remove(worker)
        self.retired.append(worker)
        fresh = self.worker_spawn()
        self.workers.append(fresh)
        worker_wait(fresh, timeout=60)
        return fresh

    def workers_exited(self) -> list[ServiceProcess]:
        return [worker for worker in self.workers if not worker.alive()]

    def heal(self) -> list[str]:
        """Everything up again after the nemesis stopped; what had to be done."""
        done: list[str] = []
        for worker in self.workers:
            if worker.alive():
                worker.signal(signal.SIGCONT)
        if self.redis.process is None or not self.redis.process.alive():
            self.redis.start()
            done.append("redis started")
        if not self.mariadb.alive():
            self.mariadb.start()
            done.append("mariadb started")
        for worker in self.workers_exited():
            self.worker_replace(worker)
            done.append("worker restarted")
        if self.streams is not None and not self.streams.alive():
            self.streams = self.streams_spawn()
            wait_until_serving(self.streams, self.streams_port)
            done.append("stream process restarted")
        return done

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = command_run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def processes(self) -> list[ServiceProcess]:
        streams = [] if self.streams is None else [self.streams]
        return [*self.servers, *streams, *self.workers, *self.retired, *self.redis.processes]

    def log_files(self) -> list[tuple[str, Path]]:
        """Every process's name and log file."""
        return [(process.name, process.log_path) for process in self.processes()]

    def logs_tail(self, lines: int = 30) -> str:
        """The last lines of every process's log, for a run that broke."""
        parts = []
        for name, path in self.log_files():
            text = path.read_text(errors="replace") if path.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"----- {name} ({path}) -----\n{tail}")
        return "\n".join(parts)

    def stop(self) -> None:
        streams = [] if self.streams is None else [self.streams]
        for process in [*self.servers, *streams, *self.workers]:
            if process.alive():
                process.signal(signal.SIGCONT)
            process.stop()
        self.redis.stop()
