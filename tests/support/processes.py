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

The processes are the harness's (tests/support/harness): each in a session of its own so that
it can be stopped (or SIGKILLed) together with its children, always stopped at teardown, and
its log printed when a test failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.rabbitmq import Vhost, vhost_create, vhost_delete
from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess
from tests.support.harness.service import (
    beat_start,
    server_process,
    wait_until_serving,
    worker_command,
    worker_spawn,
    worker_wait,
)
from tests.support.http import HttpApi
from tests.support.terminal import to_terminal

__all__ = [
    "ServiceProcess",
    "free_port",
    "server_process",
    "server_start",
    "wait_until_serving",
    "worker_command",
]

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
        process = worker_spawn(
            name=f"e2e-{index}",
            label=f"celery worker {index}",
            concurrency=2,
            env={**service_env, **extra_env},
            log_path=tmp_path / f"worker-{index}.log",
        )
        started.append(process)
        return worker_wait(process, timeout=30)

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
        process = beat_start(env={**service_env, **extra_env}, directory=tmp_path)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()
        dump_logs_if_failed(request, failed_before, started)
