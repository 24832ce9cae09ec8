"""``redis-server``: the one place that builds its command line, and a standalone server.

``RedisServer`` is a server of its own on a free port of 127.0.0.1, in a folder of its own:
with AOF (``appendfsync everysec``) by default, as the drills and the history checker need it,
or with no persistence at all (``aof=False``) for a test or a benchmark that only needs a Redis
configured as the shared one must not be (maxmemory, DEBUG, a cluster of one node).
https://redis.io/docs/latest/operate/oss_and_stack/management/config/
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.support.harness.ports import free_cluster_ports, free_port
from tests.support.harness.process import ServiceProcess

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def redis_server_command(
    *,
    port: int,
    directory: Path,
    aof: bool,
    cluster_node_timeout_ms: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """A foreground ``redis-server`` on 127.0.0.1:``port`` keeping its files in ``directory``.

    ``aof``: append-only file fsynced every second, never an RDB snapshot; otherwise nothing
    is persisted. ``cluster_node_timeout_ms`` makes it a cluster node (its ``nodes.conf`` in
    ``directory``) that still serves the slots of live masters while one is down
    (``cluster-require-full-coverage no``, as docker-compose configures it) and whose replica
    may be elected however long its link was down (``cluster-replica-validity-factor 0``).
    """
    assert REDIS_SERVER is not None, "redis-server is not installed"
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--daemonize", "no", "--save", ""]
    if aof:
        command += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        command += ["--appendonly", "no"]
    command += ["--protected-mode", "yes", "--maxmemory-policy", "noeviction"]
    if cluster_node_timeout_ms is not None:
        command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        command += ["--cluster-node-timeout", str(cluster_node_timeout_ms)]
        command += ["--cluster-replica-validity-factor", "0"]
        command += ["--cluster-require-full-coverage", "no"]
    return [*command, *extra]


def answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False  # not listening yet, or still loading its AOF


class RedisServer:
    """A ``redis-server`` in ``directory`` (which must exist) on a port chosen once.

    ``shutdown()`` is the clean stop (SHUTDOWN: the AOF is fsynced before exit), ``kill()`` the
    crash (SIGKILL: up to the last second of writes is lost); ``start()`` brings it back on the
    same port from the same folder, replaying the AOF.
    """

    def __init__(
        self,
        directory: Path,
        *extra_args: str,
        aof: bool = True,
        cluster_node_timeout_ms: int | None = None,
    ) -> None:
        """``cluster_node_timeout_ms``: a cluster node, to be given slots by the caller."""
        self.directory = directory
        self.extra_args = list(extra_args)
        self.aof = aof
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        # A cluster node also listens on its port + 10000 (the cluster bus).
        self.port = free_port() if cluster_node_timeout_ms is None else free_cluster_ports(1)[0]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: ServiceProcess | None = None
        self.processes: list[ServiceProcess] = []
        self.starts = 0

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self, timeout: float = 20) -> RedisServer:
        self.starts += 1
        self.process = ServiceProcess(
            f"redis-server on 127.0.0.1:{self.port} (start {self.starts})",
            redis_server_command(
                port=self.port,
                directory=self.directory,
                aof=self.aof,
                cluster_node_timeout_ms=self.cluster_node_timeout_ms,
                extra=self.extra_args,
            ),
            dict(os.environ),
            self.directory / f"redis-{self.starts}.log",
        )
        self.processes.append(self.process)
        client = self.client()
        self.process.wait_ready(lambda: answers_ping(client), timeout=timeout, what="start")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def shutdown(self) -> None:
        """SHUTDOWN: with AOF on, Redis fsyncs the file before it exits."""
        assert self.process is not None
        try:
            self.client().shutdown()
        except redis.ConnectionError:  # the server closes the connection as it exits
            pass
        self.process.wait(timeout=20)
        self.process.stop()

    def kill(self) -> float:
        """SIGKILL: no fsync, no goodbye. The monotonic time of the signal."""
        assert self.process is not None
        signalled_at = self.process.kill()
        self.process.stop()
        return signalled_at

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
        """SIGTERM (Redis saves nothing more with ``save ""``), SIGKILL if it lingers."""
        if self.process is not None:
            self.process.stop()
