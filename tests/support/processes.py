"""The service as real, separate processes on the test database: fixtures and helpers.

The root conftest.py loads this module as a plugin (``pytest_plugins``), so its fixtures are
visible to every test:

- ``service_env``: the environment every child process gets: the test settings, the test
  database pytest-django created (read from the live connection, so it is the ``test_`` one),
  and the same Redis database and key prefix as the tests.
- ``api_servers``: two gunicorn processes on free ports of 127.0.0.1 (one per module).
- ``celery_workers`` / ``celery_worker``: ``celery -A chatapi worker -P prefork -c 2``.
- ``celery_beat``: ``celery -A chatapi beat``, for the counters' schedule.
- ``broker_url``: the broker of the three above, module-scoped: ``None`` (the test Redis, as
  ``service_env`` says) unless a test module overrides it, e.g. with ``rabbitmq_vhost.url``.
- ``rabbitmq_vhost``: a vhost of its own on the shared RabbitMQ for the session (tests/rabbitmq.py).

Every process is started in its own session so that it can be stopped (or SIGKILLed) together
with its children, is always stopped at teardown, and prints its log when a test failed.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from scripts.processes import (
    celery_beat_command,
    celery_worker_command,
    group_kill,
    group_signal,
    group_start,
    group_stop,
    gunicorn_command,
)
from tests.rabbitmq import Vhost, vhost_create, vhost_delete
from tests.support.http import HttpApi
from tests.support.terminal import to_terminal

# A worker started with these redelivers a task whose worker died after 5 seconds instead of
# the production 300 (CELERY_VISIBILITY_TIMEOUT), and takes again rows claimed by a drain that
# died after 3 seconds instead of 30 (PERSIST_LEASE_SECONDS; a drain hands over after 2).
VISIBILITY_TIMEOUT_SECONDS = 5
LEASE_SECONDS = 3


def database_url_of_tests() -> str:
    """A DATABASE_URL naming the database this test run really uses (the ``test_`` one)."""
    config = connection.settings_dict
    engine = config["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite:///{config['NAME']}"
    scheme = {"mysql": "mysql", "postgresql": "postgres"}[engine]
    auth = quote(config["USER"] or "", safe="")
    if config["PASSWORD"]:
        auth += ":" + quote(config["PASSWORD"], safe="")
    host = config["HOST"] or "127.0.0.1"
    port = f":{config['PORT']}" if config["PORT"] else ""
    return f"{scheme}://{auth}@{host}{port}/{quote(config['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """A child process with its output in a log file, in a process group of its own
    (started and stopped by scripts/processes.py, as run.sh's and the benchmark's are)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = group_start(args, output=self._log, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process and its children (SIGSTOP and SIGCONT: a pause)."""
        group_signal(self.popen, signum)

    def kill(self) -> None:
        """SIGKILL the process and its children (the prefork pool): nothing gets to clean up."""
        group_kill(self.popen)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the group, SIGKILL to what is left of it after ``timeout`` s."""
        group_stop(self.popen, timeout=timeout)
        self._log.close()

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if not self.alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not log {text!r}:\n{self.log()}")


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


def dump_logs_if_failed(
    request: pytest.FixtureRequest, failed_before: int, processes: list[ServiceProcess]
) -> None:
    if request.session.testsfailed > failed_before:
        for process in processes:
            to_terminal(
                request.config,
                f"\n----- log of {process.name} ({process.log_path}) -----\n{process.log()}",
            )


@pytest.fixture(scope="session")
def service_env(django_db_setup: None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="chatapi.settings.test",
        DATABASE_URL=database_url_of_tests(),
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_SECONDS),
        PERSIST_LEASE_SECONDS=str(LEASE_SECONDS),
        PERSIST_DRAIN_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def server_process(
    env: dict[str, str], log_dir: Path, index: int, extra_args: tuple[str, ...] = ()
) -> tuple[ServiceProcess, int]:
    port = free_port()
    process = ServiceProcess(
        f"gunicorn {index} on 127.0.0.1:{port}",
        gunicorn_command(
            bind=f"127.0.0.1:{port}",
            workers=2,
            threads=8,
            graceful_timeout=3,
            log_level="warning",
            extra=extra_args,
        ),
        env,
        log_dir / f"gunicorn-{index}.log",
    )
    return process, port


def server_start(
    env: dict[str, str], log_dir: Path, *extra_args: str
) -> tuple[ServiceProcess, HttpApi]:
    """One gunicorn like ``api_servers``', with more options; the caller stops it."""
    process, port = server_process(env, log_dir, 0, extra_args)
    try:
        wait_until_serving(process, port)
    except RuntimeError:
        process.stop()
        raise
    return process, HttpApi(port)


def wait_until_serving(process: ServiceProcess, port: int, timeout: float = 30) -> None:
    api = HttpApi(port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            break
        try:
            if api.call("GET", "/healthz")[0] == 200:
                return
        except (OSError, ValueError):  # not listening yet, or an error page that is not JSON
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not start:\n{process.log()}")


@pytest.fixture(scope="module")
def broker_url() -> str | None:
    """The Celery broker of a module's servers, workers and beat; None: ``service_env``'s Redis.

    A test module overrides this fixture to run the same processes on another broker.
    """
    return None


def broker_env(url: str | None) -> dict[str, str]:
    """The environment that points a child process at the broker ``url`` (nothing for None)."""
    return {} if url is None else {"CELERY_BROKER_URL": url}


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[Vhost]:
    """A vhost on the shared RabbitMQ for this session, deleted with its queues at the end."""
    vhost = vhost_create()
    try:
        yield vhost
    finally:
        vhost_delete(vhost)


@pytest.fixture(scope="module")
def api_servers(
    request: pytest.FixtureRequest,
    service_env: dict[str, str],
    broker_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[HttpApi]]:
    """Two gunicorn processes (2 workers x 8 threads each) serving the test database."""
    failed_before = request.session.testsfailed
    log_dir = tmp_path_factory.mktemp("servers")
    env = {**service_env, **broker_env(broker_url)}
    started = [server_process(env, log_dir, index) for index in (1, 2)]
    try:
        for process, port in started:
            wait_until_serving(process, port)
        yield [HttpApi(port) for _, port in started]
    finally:
        for process, _ in started:
            process.stop()
        dump_logs_if_failed(request, failed_before, [process for process, _ in started])


@pytest.fixture
def celery_workers(
    request: pytest.FixtureRequest,
    transactional_db: None,
    service_env: dict[str, str],
    broker_url: str | None,
    tmp_path: Path,
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start Celery workers on demand; all are stopped before the test database is flushed.

    Depending on ``transactional_db`` puts their teardown before its flush, so no worker
    writes into the next test. Extra keyword arguments become environment variables.
    """
    service_env = {**service_env, **broker_env(broker_url)}
    failed_before = request.session.testsfailed
    started: list[ServiceProcess] = []

    def start(**extra_env: str) -> ServiceProcess:
        index = len(started) + 1
        process = ServiceProcess(
            f"celery worker {index}",
            worker_command(name=f"e2e-{index}", concurrency=2),
            {**service_env, **extra_env},
            tmp_path / f"worker-{index}.log",
        )
        started.append(process)
        process.wait_for_log(" ready.", timeout=30)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
        dump_logs_if_failed(request, failed_before, started)


@pytest.fixture
def celery_worker(celery_workers: Callable[..., ServiceProcess]) -> ServiceProcess:
    return celery_workers()


@pytest.fixture
def celery_beat(
    request: pytest.FixtureRequest,
    transactional_db: None,
    service_env: dict[str, str],
    broker_url: str | None,
    tmp_path: Path,
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``celery beat`` with extra environment variables (e.g. COUNTS_REFRESH_SECONDS)."""
    service_env = {**service_env, **broker_env(broker_url)}
    failed_before = request.session.testsfailed
    started: list[ServiceProcess] = []

    def start(**extra_env: str) -> ServiceProcess:
        process = ServiceProcess(
            "celery beat",
            celery_beat_command(
                schedule=tmp_path / "celerybeat-schedule",
                log_level="INFO",
                pidfile=tmp_path / "celerybeat.pid",
            ),
            {**service_env, **extra_env},
            tmp_path / "beat.log",
        )
        started.append(process)
        process.wait_for_log("beat: Starting", timeout=30)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
        dump_logs_if_failed(request, failed_before, started)
