"""The nemesis of a history on a Redis Cluster: a master failed over, a replica restarted.

- ``master_failover``: pick the busiest master (most commands in 0.3 s), cut its
  replica's replication link (``LocalRedisCluster.cut_replication``: the replica stops
  receiving writes and cannot reconnect), let traffic run 0.5 to 1 s so that the master
  acknowledges creates its replica never sees, SIGKILL the master, wait until the replica has
  taken over (node timeout 1 s: a couple of seconds) and the cluster is healthy, then start the
  killed node again: it rejoins as a replica of the promoted one, so the next failover has a
  replica to promote too. Declares the loss window from the cut to the end of the failover,
  for the slots the master served (``Fault.lost_slots``; ``sharded.scope`` names the
  applications): what the master acknowledged after the cut is gone with it.
- ``replica_restart``: SIGKILL a replica, start it again after 0.3 to 1 s (empty: it copies
  its master in a full sync). Nothing acknowledged is lost: the master kept answering.

The worker and MariaDB faults are ``Nemesis``'s. The standalone Redis (cache and broker) is
never faulted here.
"""

from __future__ import annotations

import time

from tests.history.history import MASTER_FAILOVER, REPLICA_RESTART, Fault
from tests.history.nemesis import Nemesis
from tests.history.sharded import ShardedCluster
from tests.redis_cluster import LocalRedisCluster, Node

# How long the master keeps acknowledging after its replica's link is cut, before the SIGKILL.
CUT_SECONDS = (0.5, 1.0)
# How long the nemesis watches the masters' command counts to pick the busiest.
BUSY_SAMPLE_SECONDS = 0.3


def failover_first(plan: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The plan with its first failover moved to the first slot (the times stay in order).

    A failover takes ~5 s where the schedule leaves 2.5 to 4 s between faults, so the faults
    after one start late and the last ones may not run before the traffic ends; moving the
    first failover to the front makes sure every seed has one."""
    kinds = [kind for _, kind in plan]
    if MASTER_FAILOVER not in kinds:
        return plan
    index = kinds.index(MASTER_FAILOVER)
    kinds[0], kinds[index] = kinds[index], kinds[0]
    return [(at, kind) for (at, _), kind in zip(plan, kinds, strict=True)]


class ClusterNemesis(Nemesis):
    """``Nemesis`` with the Redis faults of a cluster in place of a standalone Redis's."""

    def __init__(self, cluster: ShardedCluster, seed: int, plan: list[tuple[float, str]]) -> None:
        super().__init__(cluster, seed, plan)
        self.sharded = cluster

    @property
    def redis_cluster(self) -> LocalRedisCluster:
        return self.sharded.redis_cluster

    def _inject(self, kind: str) -> None:
        if kind == MASTER_FAILOVER:
            self.faults.append(self._master_failover())
        elif kind == REPLICA_RESTART:
            self.faults.append(self._replica_restart())
        else:
            super()._inject(kind)

    def _masters_in_slot_order(self) -> list[Node]:
        """The live masters with a replica, by their first slot: the seed picks a position,
        whichever ports the run drew (a replica to restart; a failover picks the busiest)."""
        masters = [m for m in self.redis_cluster.masters() if self.redis_cluster.replicas_of(m)]
        return sorted(masters, key=lambda master: min(self.redis_cluster.slots_of(master)))

    def _busiest_master(self) -> Node:
        """The master (with a replica) that ran the most commands in the last 0.3 s.

        Clients keep to a few applications at a time, so one master may serve none of the busy
        ones: a failover there would lose nothing and test nothing. The busiest is the one
        where acknowledged writes can be lost, and numbers reused if the promoted replica
        trusted its counters."""
        masters = self._masters_in_slot_order()
        before = [_commands(master) for master in masters]
        time.sleep(BUSY_SAMPLE_SECONDS)
        after = [_commands(master) for master in masters]
        busiest = max(range(len(masters)), key=lambda index: after[index] - before[index])
        return masters[busiest]

    def _master_failover(self) -> Fault:
        rc = self.redis_cluster
        master = self._busiest_master()
        [replica] = rc.replicas_of(master)
        slots = [[first, last] for first, last in rc.slots_of(master)]
        start = time.monotonic()
        rc.cut_replication(replica)
        cut_for = self.rng.uniform(*CUT_SECONDS)
        time.sleep(cut_for)
        rc.kill(master)
        killed_at = time.monotonic()
        promoted, waited = rc.wait_for_failover(master)
        failed_over_at = time.monotonic()
        # The promoted node keeps the bad masterauth of the cut; reset it, should it ever be a
        # replica again.
        promoted.client().config_set("masterauth", "")
        rejoined = rc.restart(master)
        detail = (
            f"master {master.address} (slots {_ranges(slots)}): replica {replica.address} cut "
            f"off for {killed_at - start:.1f} s, then the master SIGKILLed; the replica took over "
            f"in {waited:.1f} s; the old master back as its replica in {rejoined:.1f} s"
        )
        return Fault(
            MASTER_FAILOVER,
            start,
            time.monotonic(),
            detail,
            lost_from=start,
            lost_until=failed_over_at,
            lost_slots=slots,
        )

    def _replica_restart(self) -> Fault:
        rc = self.redis_cluster
        master = self.rng.choice(self._masters_in_slot_order())
        [replica] = rc.replicas_of(master)
        start = time.monotonic()
        rc.kill(replica)
        down = self.rng.uniform(0.3, 1.0)
        time.sleep(down)
        rejoined = rc.restart(replica)
        detail = (
            f"replica {replica.address} of {master.address} SIGKILLed, down {down:.1f} s, "
            f"back and synced in {rejoined:.1f} s"
        )
        return Fault(REPLICA_RESTART, start, time.monotonic(), detail)


def _commands(node: Node) -> int:
    return int(node.client().info("stats")["total_commands_processed"])


def _ranges(slots: list[list[int]]) -> str:
    return ", ".join(f"{first}-{last}" for first, last in slots)
