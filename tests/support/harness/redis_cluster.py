"""A real Redis Cluster on loopback: N masters (and a replica each, if asked), for the tests,
the drills, the history checker and the benchmark.

Every node is a ``redis-server --cluster-enabled yes`` on a free port, in a folder of its own
under one temporary directory, with no persistence (tests that need an AOF start their own);
``redis-cli --cluster create ... --cluster-replicas 0|1 --cluster-yes`` assigns the 16384 slots
and the replicas, and ``start`` returns once every node says ``cluster_state:ok``, knows every
other node and every replica's link to its master is up. ``stop`` kills every node and removes
the directory.

Faults, for failover drills:

- ``kill(node)``: SIGKILL, no goodbye. After ``cluster-node-timeout`` the other masters mark
  it failed and its replica is elected in its place: ``wait_for_failover(node)``.
- ``restart(node)``: a killed node started again; it rejoins as a replica.
- ``cut_replication(replica)``: the replica's link to its master goes down and stays down
  (its ``masterauth`` is set to a password its master does not have, so the replica's
  reconnections fail at the handshake, then the current link is killed); writes to the master
  from then on never reach it, which is what a replica that lags, or sits behind a partition,
  loses when it is promoted. ``restore_replication(replica)`` undoes it.

The node timeout defaults to 1 s (Redis's default is 15 s) so that a failover takes a couple of
seconds; ``cluster-replica-validity-factor 0`` lets a replica whose link was cut still be
elected (by default one that has not heard from its master for about ten node timeouts
refuses). The slot arithmetic is redis-py's (``key_slot``), the same CRC16 as the server's.
https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.support.harness.ports import free_cluster_ports
from tests.support.harness.process import ServiceProcess, command_run
from tests.support.harness.redis import REDIS_CLI, redis_server_command

T = TypeVar("T")
_BAD_MASTERAUTH = "chatapi-test-cut-link"  # noqa: S105 - a password no master has


def _wait(predicate: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; a node that does not answer yet
    (or answers an error, e.g. CLUSTERDOWN) counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Node:
    port: int
    directory: Path
    process: ServiceProcess | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "redis.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        """A plain client of this node alone (CLUSTER, INFO, CONFIG; keys of its own slots)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def node_id(self) -> str:
        return self.client().execute_command("CLUSTER MYID").decode()

    def role(self) -> str:
        return self.client().info("replication")["role"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LocalRedisCluster:
    """``masters`` masters with ``replicas`` replica(s) each, in a temporary directory."""

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 1000,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``extra_args``: more ``redis-server`` options for every node (``--name value``)."""
        self.masters_wanted = masters
        self.extra_args = list(extra_args)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.root = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
        ports = free_cluster_ports(masters * (1 + replicas))
        self.nodes = [Node(port, self.root / str(port)) for port in ports]
        self.started_in: float | None = None
        self._replicas_at_kill: dict[int, list[int]] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> LocalRedisCluster:
        started = time.monotonic()
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            _wait(node.client().ping, timeout=10, what=f"redis-server on {node.address}")
        command_run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(node.address for node in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            timeout=timeout,
        )
        _wait(self.healthy, timeout=timeout, what="cluster_state:ok on every node")
        self.started_in = time.monotonic() - started
        return self

    def _spawn(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        node.process = ServiceProcess(
            f"redis cluster node {node.address}",
            redis_server_command(
                port=node.port,
                directory=node.directory,
                aof=False,
                cluster_node_timeout_ms=self.node_timeout_ms,
                extra=self.extra_args,
            ),
            dict(os.environ),
            node.log_path,
            append=True,
        )

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                if node.alive():
                    node.process.kill()
                node.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- state ----------------------------------------------------------------------------

    def alive_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.alive()]

    def masters(self) -> list[Node]:
        return [node for node in self.alive_nodes() if node.role() == "master"]

    def replicas_of(self, master: Node) -> list[Node]:
        return [
            node
            for node in self.alive_nodes()
            if node is not master
            and node.client().info("replication").get("master_port") == master.port
        ]

    def healthy(self) -> bool:
        """Every live node: cluster_state:ok, knows all live nodes, replicas' links up."""
        alive = self.alive_nodes()
        for node in alive:
            info = node.client().cluster("INFO")
            if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) < len(alive):
                return False
            replication = node.client().info("replication")
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        return True

    def master_of_slot(self, slot: int) -> Node:
        """The node that serves ``slot`` now, as a live node sees it."""
        for node in self.alive_nodes():
            for start, end, master, *_ in node.client().execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    port = int(master[1])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(slot)

    def startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode("127.0.0.1", node.port) for node in self.alive_nodes()]

    def nodes_setting(self) -> str:
        """The value of REDIS_CLUSTER_NODES for this cluster: host:port,host:port,..."""
        return ",".join(node.address for node in self.nodes)

    def client(self) -> RedisCluster:
        return RedisCluster(
            startup_nodes=self.startup_nodes(), socket_timeout=2, socket_connect_timeout=2
        )

    # --- faults ---------------------------------------------------------------------------

    def kill(self, node: Node) -> float:
        """SIGKILL the node (its replicas are remembered, for ``wait_for_failover``); returns
        the monotonic time of the signal. Its clients see their connections reset from then
        on, before the process is reaped, which is when this returns."""
        assert node.process is not None
        self._replicas_at_kill[node.port] = [replica.port for replica in self.replicas_of(node)]
        return node.process.kill()

    def restart(self, node: Node, timeout: float = 30) -> float:
        """Start a killed node again on its port, from its folder (its ``nodes.conf``: the same
        node ID), with an empty dataset (no persistence here); returns once the cluster is
        healthy again, and the seconds that took.

        A master that was failed over comes back as a replica of the replica that took its
        place (the cluster tells it so) and copies its data in a full sync; a replica comes
        back as a replica of its master, likewise. Restart a master only after its failover:
        back before it, it would serve its slots with an empty dataset.
        """
        assert not node.alive(), f"{node.address} is running"
        started = time.monotonic()
        self._spawn(node)
        _wait(node.client().ping, timeout=10, what=f"redis-server on {node.address}")
        _wait(
            lambda: node.role() == "slave" and self.healthy(),
            timeout=timeout,
            what=f"{node.address} to rejoin as a replica, and the cluster healthy",
        )
        return time.monotonic() - started

    def wait_for_failover(self, dead: Node, timeout: float = 30) -> tuple[Node, float]:
        """Wait until a replica of ``dead`` (killed by ``kill``) is a master serving slots, and
        every live node says cluster_state:ok. Returns the new master and the seconds waited.
        """
        started = time.monotonic()
        candidates = [n for n in self.nodes if n.port in self._replicas_at_kill[dead.port]]
        assert candidates, f"{dead.address} had no replica to take over"

        def promoted() -> Node | None:
            if not self.healthy():
                return None
            for node in candidates:
                if node.role() == "master" and self.slots_of(node):
                    return node
            return None

        new_master = _wait(promoted, timeout=timeout, what=f"a replica of {dead.address}")
        return new_master, time.monotonic() - started

    def slots_of(self, master: Node) -> list[tuple[int, int]]:
        """The slot ranges ``master`` serves, as the node itself says (CLUSTER SLOTS)."""
        return [
            (int(start), int(end))
            for start, end, owner, *_ in master.client().execute_command("CLUSTER SLOTS")
            if int(owner[1]) == master.port
        ]

    def cut_replication(self, replica: Node) -> None:
        """Take the replica's link to its master down, and keep it down."""
        client = replica.client()
        client.config_set("masterauth", _BAD_MASTERAUTH)
        client.client_kill_filter(_type="master")
        _wait(
            lambda: client.info("replication")["master_link_status"] == "down",
            timeout=10,
            what=f"the replication link of {replica.address} to go down",
        )

    def restore_replication(self, replica: Node) -> None:
        client = replica.client()
        client.config_set("masterauth", "")
        _wait(
            lambda: client.info("replication")["master_link_status"] == "up",
            timeout=20,
            what=f"the replication link of {replica.address} to come back",
        )
