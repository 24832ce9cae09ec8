"""The Redis Cluster test servers (tests/redis_cluster.py) do what the drills will rely on.

A real cluster of ``redis-server --cluster-enabled yes`` processes on loopback: a redis-py
``RedisCluster`` client reaches every master, a cross-slot command is refused as on any cluster,
a killed master is replaced by its replica, and a cut replication link loses what was written
after the cut. The start and failover times are printed (``say``).
"""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from tests.redis_cluster import LocalRedisCluster, Node

pytestmark = pytest.mark.slow


def key_on(cluster: LocalRedisCluster, master: Node, stem: str) -> str:
    """A key whose slot ``master`` serves."""
    ranges = cluster.slots_of(master)
    for index in range(100_000):
        key = f"{stem}-{index}"
        if any(start <= key_slot(key.encode()) <= end for start, end in ranges):
            return key
    raise LookupError(master.address)


def test_a_cluster_client_writes_and_reads_on_each_of_three_masters(redis_cluster, say):
    say(f"Redis Cluster, 3 masters: cluster_state:ok {redis_cluster.started_in:.2f} s after start")
    masters = redis_cluster.masters()
    assert len(masters) == 3
    keys = {master.port: key_on(redis_cluster, master, "fixture") for master in masters}
    assert len({key_slot(key.encode()) for key in keys.values()}) == 3

    client = redis_cluster.client()
    try:
        for port, key in keys.items():
            assert client.set(key, f"on {port}")
        for port, key in keys.items():
            assert client.get(key) == f"on {port}".encode()
        # Each key really lives on its own master: a plain client of that node alone reads it.
        for master in masters:
            assert master.client().get(keys[master.port]) == f"on {master.port}".encode()
        # And the cluster refuses what spans slots, as the issue says a real one does.
        with pytest.raises((RedisClusterException, redis.ResponseError), match="(?i)slot"):
            client.mset({key: "x" for key in keys.values()})
    finally:
        client.delete(*[key for key in keys.values()][:1])
        client.close()


def test_a_cut_replication_link_stays_down_until_restored(redis_cluster_replicated):
    cluster = redis_cluster_replicated
    master = cluster.masters()[0]
    (replica,) = cluster.replicas_of(master)
    key = key_on(cluster, master, "cut")
    direct = master.client()

    direct.set(key, "before")
    assert direct.execute_command("WAIT", 1, 2000) == 1
    cluster.cut_replication(replica)
    direct.set(key, "during")
    assert direct.execute_command("WAIT", 1, 300) == 0  # no replica acknowledges it
    assert replica.client().info("replication")["master_link_status"] == "down"

    cluster.restore_replication(replica)
    assert direct.execute_command("WAIT", 1, 2000) == 1
    replica_client = replica.client()
    replica_client.execute_command("READONLY")
    assert replica_client.get(key) == b"during"


def test_a_killed_master_is_replaced_and_loses_what_its_replica_never_got(
    redis_cluster_replicated, say
):
    cluster = redis_cluster_replicated
    say(
        "Redis Cluster, 3 masters + 3 replicas: cluster_state:ok "
        f"{cluster.started_in:.2f} s after start"
    )
    victim, *others = cluster.masters()
    (replica,) = cluster.replicas_of(victim)
    kept, lost = key_on(cluster, victim, "kept"), key_on(cluster, victim, "lost")
    elsewhere = {other.port: key_on(cluster, other, "elsewhere") for other in others}
    client = cluster.client()
    for key in [kept, *elsewhere.values()]:
        client.set(key, key)
    assert victim.client().execute_command("WAIT", 1, 2000) == 1
    cluster.cut_replication(replica)
    client.set(lost, "never replicated")
    client.close()

    cluster.kill(victim)
    new_master, waited = cluster.wait_for_failover(victim)
    say(
        f"Redis Cluster failover (node timeout {cluster.node_timeout_ms} ms): "
        f"{waited:.2f} s from SIGKILL to a promoted replica and cluster_state:ok"
    )
    assert new_master is replica
    assert len(cluster.masters()) == 3

    client = cluster.client()
    try:
        assert client.get(kept) == kept.encode()
        assert client.get(lost) is None  # written after the cut: gone with the master
        for key in elsewhere.values():
            assert client.get(key) == key.encode()
    finally:
        client.close()
