"""Fixtures of the history checker: the private MariaDB (one per session) and the tables."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.history.cluster import PrivateMariaDB, mariadb_available, service_environment
from tests.history.report import Row, table
from tests.support.harness.process import command_run
from tests.support.harness.redis import REDIS_SERVER
from tests.support.terminal import to_terminal


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A ``mariadbd`` of the history's own, migrated once: the nemesis stops and starts it."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip(
            "the history checker runs on the MariaDB pass only: it starts a MariaDB of its own, "
            "which its nemesis stops, and SQLite has no server to stop"
        )
    if not mariadb_available() or REDIS_SERVER is None:
        pytest.skip("the history checker needs mariadbd, mariadb-install-db and redis-server")
    server = PrivateMariaDB(Path(tmp_path_factory.mktemp("history-mariadb")))
    server.install()
    server.start()
    try:
        server.create_database()
        migrate = command_run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=settings.BASE_DIR,
            env=service_environment(server.url(), settings.REDIS_URL),
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield server
    finally:
        if server.alive():
            server.stop()


def _table(request: pytest.FixtureRequest, title: str) -> Iterator[list[Row]]:
    rows: list[Row] = []
    yield rows
    if len(rows) > 1:
        to_terminal(request.config, f"\n{title}, all seeds:\n" + table(rows))


@pytest.fixture(scope="session")
def history_table(request: pytest.FixtureRequest) -> Iterator[list[Row]]:
    """Rows added by every seed; the whole table is printed once the session ends."""
    yield from _table(request, "history checker")


@pytest.fixture(scope="session")
def history_cluster_table(request: pytest.FixtureRequest) -> Iterator[list[Row]]:
    """The same for the seeds on a Redis Cluster, in a table of their own."""
    yield from _table(request, "history checker on a Redis Cluster")
