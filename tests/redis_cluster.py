"""The Redis Cluster fixtures: a real cluster on loopback (tests/support/harness/redis_cluster.py
starts and stops its nodes; its docstring says how and which faults it can inject)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.harness.ports import free_cluster_ports
from tests.support.harness.redis import REDIS_SERVER
from tests.support.harness.redis_cluster import LocalRedisCluster, Node

__all__ = ["REDIS_SERVER", "LocalRedisCluster", "Node", "free_cluster_ports"]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """Three masters, no replicas, for the session; tests must not kill its nodes."""
    cluster = LocalRedisCluster(masters=3, replicas=0)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_replicated() -> Iterator[LocalRedisCluster]:
    """Three masters with a replica each, new for each test: failover drills may break it."""
    cluster = LocalRedisCluster(masters=3, replicas=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
