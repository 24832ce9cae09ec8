"""What the benchmark starts and must stop: its database, its Redis db and its processes.

Every process is started by the tests' process harness (tests/support/harness/process.py), in
a session of its own, so that it and its children (gunicorn's and Celery's workers) are stopped
together: SIGTERM to the group, then SIGKILL after a grace period. ``Stack.close()``
runs from a ``finally`` and also on SIGTERM and SIGHUP, so Ctrl-C, an error or a kill of
run.py leaves nothing running, and the database ``chatapi_bench`` is dropped and the Redis db
flushed (the logs are kept if the run failed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import MySQLdb
import redis

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = BASE_DIR / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
STOP_GRACE_SECONDS = 10

# The process harness and the service's command lines (scripts/processes.py, imported as
# ``processes`` as run.sh's supervisor does), re-exported for run.py and scale.py.
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "scripts"))
from processes import (  # noqa: E402
    celery_beat_command,
    celery_worker_command,
    command_text,
    gunicorn_command,
)

from tests.support.harness.ports import free_port  # noqa: E402
from tests.support.harness.process import ServiceProcess, command_run  # noqa: E402

__all__ = [
    "ServiceProcess",
    "celery_beat_command",
    "celery_worker_command",
    "command_run",
    "command_text",
    "free_port",
    "gunicorn_command",
]


class Stack:
    def __init__(self, *, mysql_url: str, database: str, redis_url: str, key_prefix: str) -> None:
        self.mysql_url = mysql_url
        self.database = database
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.logs = Path(tempfile.mkdtemp(prefix="chatapi-bench-"))
        self.processes: dict[str, ServiceProcess] = {}
        self._created_database = False
        self._flush_redis = False
        self.failed = False

    # --- processes ------------------------------------------------------------------------------

    def start(self, name: str, args: list[str], env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(name, args, env, self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> tuple[ServiceProcess, Path]:
        """Start in the background with its output in a file; stopped with the rest."""
        log_path = self.logs / f"{name}.out"
        process = ServiceProcess(name, args, dict(os.environ) if env is None else env, log_path)
        self.processes[name] = process
        return process, log_path

    def run_foreground(
        self, name: str, args: list[str], *, timeout: float, env: dict[str, str] | None = None
    ) -> str:
        """Run to completion (stopped with the rest if interrupted); its output, or an error."""
        process, log_path = self.spawn(name, args, env)
        try:
            code = process.wait(timeout=timeout)
        finally:
            self.stop(name)
        output = log_path.read_text(errors="replace")
        if code != 0:
            raise RuntimeError(f"{' '.join(args[:3])}… exited with {code}:\n{output[-3000:]}")
        return output

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.alive()

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop(timeout=STOP_GRACE_SECONDS)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- MariaDB ----------------------------------------------------------------------------------

    def mysql(self, *, database: str | None = None) -> MySQLdb.Connection:
        url = urlsplit(self.mysql_url)
        kwargs: dict = {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "charset": "utf8mb4",
            "autocommit": True,
        }
        if database:
            kwargs["database"] = database
        return MySQLdb.connect(**kwargs)

    def database_url(self) -> str:
        url = urlsplit(self.mysql_url)
        return url._replace(path=f"/{self.database}").geturl()

    def database_create(self) -> None:
        with contextlib.closing(self.mysql()) as conn, conn.cursor() as cursor:
            # A run that was SIGKILLed cannot have dropped it: start from nothing either way.
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
            cursor.execute(
                f"CREATE DATABASE `{self.database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        self._created_database = True

    def database_drop(self) -> None:
        with contextlib.closing(self.mysql()) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        self._created_database = False

    # --- Redis ------------------------------------------------------------------------------------

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def redis_claim(self, *, force: bool) -> None:
        """Flush the bench's Redis db, refusing if it holds keys that are not the bench's."""
        client = self.redis()
        foreign = [
            key
            for key in client.scan_iter(count=1000)
            if not key.decode(errors="replace").startswith(self.key_prefix + ":")
        ]
        if foreign and not force:
            raise SystemExit(
                f"Redis {self.redis_url} holds {len(foreign)} keys that are not the benchmark's "
                f"(e.g. {foreign[0]!r}); pick another db with --redis-url or pass --force-flush"
            )
        client.flushdb()
        self._flush_redis = True

    # --- teardown ---------------------------------------------------------------------------------

    def close(self) -> None:
        # Stop the load first, then the web server, then the worker.
        order = sorted(self.processes, key=lambda n: (n != "wrk", n != "gunicorn", n))
        for name in order:
            try:
                self.stop(name)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {name}: {exc}", flush=True)
        if self._created_database:
            try:
                self.database_drop()
            except Exception as exc:
                print(f"could not drop database {self.database}: {exc}", flush=True)
        if self._flush_redis:
            try:
                self.redis().flushdb()
            except Exception as exc:
                print(f"could not flush {self.redis_url}: {exc}", flush=True)
        if self.failed:
            print(f"logs of the run are kept in {self.logs}", flush=True)
        else:
            shutil.rmtree(self.logs, ignore_errors=True)


class ProcessExited(RuntimeError):
    """A process the benchmark started is gone: no use waiting for it."""


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ProcessExited:
            raise
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s ({last_error or 'no error'})")
