"""A ``mariadbd`` of its own, for a check that stops or kills its database server.

Installed into a temporary folder by ``mariadb-install-db`` and listening on a free port of
127.0.0.1: the shared MariaDB on 3306 must never be stopped, and a drill or the history
checker's nemesis stops this one. root logs in over TCP with no password. pytest-mysql would
start it too, but as a session fixture that cannot be stopped and started again mid-test, which
is what a nemesis does; its executor is mirakuru, as here.
https://mariadb.com/kb/en/mariadb-install-db/
"""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

import MySQLdb

from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess, command_run

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db")


def mariadb_available() -> bool:
    return MARIADB_INSTALL_DB is not None and Path(MARIADBD).exists()


class PrivateMariaDB:
    """A ``mariadbd`` in ``directory``; ``database`` is the one ``create_database`` makes."""

    def __init__(self, directory: Path, database: str) -> None:
        self.directory = directory
        self.database = database
        self.datadir = directory / "data"
        self.port = free_port()
        self.process: ServiceProcess | None = None
        self.starts = 0

    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{self.database}"

    def install(self) -> None:
        """A fresh data folder: ``mariadb-install-db`` with password logins, in under a second."""
        assert MARIADB_INSTALL_DB is not None
        command_run(
            [
                MARIADB_INSTALL_DB,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--user={getpass.getuser()}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            timeout=120,
        )

    def start(self, timeout: float = 30) -> None:
        self.starts += 1
        self.process = ServiceProcess(
            f"mariadbd on 127.0.0.1:{self.port} (start {self.starts})",
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.directory / 'mariadb.sock'}",
                f"--pid-file={self.directory / 'mariadb.pid'}",
                f"--user={getpass.getuser()}",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            dict(os.environ),
            self.directory / f"mariadb-{self.starts}.log",
        )
        self.process.wait_ready(self._answers, timeout=timeout, what="start")

    def _answers(self) -> bool:
        try:
            self.connect(database=None).close()
        except MySQLdb.OperationalError:
            return False
        return True

    def connect(self, database: str | None = "") -> MySQLdb.Connection:
        """A connection to ``database`` (by default this server's; None: to no database)."""
        name = self.database if database == "" else database
        kwargs = {"db": name} if name else {}
        return MySQLdb.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            charset="utf8mb4",
            connect_timeout=2,
            **kwargs,
        )

    def create_database(self) -> None:
        conn = self.connect(database=None)
        try:
            conn.cursor().execute(
                f"CREATE DATABASE {self.database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        finally:
            conn.close()

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown) or SIGKILL (a crash: InnoDB recovers at the next start)."""
        assert self.process is not None
        if kill:
            self.process.kill()
        self.process.stop(timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()
