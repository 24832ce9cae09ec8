"""The processes of a history on a Redis Cluster, and which applications a failover touched.

``ShardedCluster`` is ``Cluster`` (two gunicorn servers, two Celery workers, the session's
private MariaDB, a ``DrillRedis``) plus a real Redis Cluster of 3 masters with a replica each
(``tests.redis_cluster.LocalRedisCluster``, node timeout 1 s) that ``REDIS_CLUSTER_NODES``
gives the pipeline: numbering, journal, Idempotency-Keys, dead letters. The ``DrillRedis``
stays what production keeps on ``REDIS_URL`` (Django's cache with the rate limits, and the
Celery broker), and the cluster's nemesis never faults it.

A failover loses only what the failed master acknowledged after its replica's link was cut,
and only for the applications whose partition (``{pN}`` hash tag, ``pipeline.keys``) hashes
into that master's slots. The nemesis records the slots (``Fault.lost_slots``); ``scope``
turns them into the applications of the history once the run is over.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from redis.cluster import key_slot

from pipeline import keys
from tests.history.cluster import Cluster, PrivateMariaDB
from tests.history.history import Fault
from tests.redis_cluster import LocalRedisCluster

MASTERS = 3
REPLICAS_PER_MASTER = 1
# A node that (re)joins as a replica is copied at once, not after the 5 s a diskless sync waits
# by default for more replicas to share it: otherwise each failover holds the nemesis ~10 s.
NODE_ARGS = ("--repl-diskless-sync-delay", "0")


class ShardedCluster(Cluster):
    """The history's processes with the pipeline on a 3-master, 3-replica Redis Cluster."""

    def __init__(self, directory: Path, mariadb: PrivateMariaDB) -> None:
        super().__init__(directory, mariadb)
        self.redis_cluster = LocalRedisCluster(
            masters=MASTERS, replicas=REPLICAS_PER_MASTER, extra_args=NODE_ARGS
        )
        self.env["REDIS_CLUSTER_NODES"] = self.redis_cluster.nodes_setting()

    def start(self) -> None:
        self.redis_cluster.start()
        super().start()

    def heal(self) -> list[str]:
        """Every node of the cluster up again (a killed one rejoins as a replica), the cluster
        healthy, then what ``Cluster.heal`` does for the rest."""
        done = []
        for node in self.redis_cluster.nodes:
            if not node.alive():
                self.redis_cluster.restart(node)
                done.append(f"redis node {node.address} restarted")
        return done + super().heal()

    def log_files(self) -> list[tuple[str, Path]]:
        nodes = [
            (f"redis cluster node {node.address}", node.log_path)
            for node in self.redis_cluster.nodes
        ]
        return [*super().log_files(), *nodes]

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.redis_cluster.stop()


def slot_of(token: str) -> int:
    """The cluster slot of every key of the application (one hash tag: its partition)."""
    return key_slot(keys.application_key(token).encode())


def scope(faults: list[Fault], tokens: set[str]) -> list[Fault]:
    """The faults, with each loss window that names slots scoped to the applications in them."""
    scoped = []
    for fault in faults:
        if fault.lost_slots is not None:
            apps = sorted(
                token
                for token in tokens
                if any(first <= slot_of(token) <= last for first, last in fault.lost_slots)
            )
            fault = dataclasses.replace(fault, lost_apps=apps)
        scoped.append(fault)
    return scoped
