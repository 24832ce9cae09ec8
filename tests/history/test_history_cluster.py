"""The history checker with the pipeline on a Redis Cluster: 3 masters, a replica each.

The same clients, healing, drain and checker as ``test_history`` (``runner``); the processes
are ``sharded.ShardedCluster`` (the servers and workers get ``REDIS_CLUSTER_NODES``; the cache
and the broker stay on a standalone Redis, which is not faulted), and the nemesis is
``cluster_nemesis.ClusterNemesis``: master failovers with a cut replication link, replica
restarts, and the worker and MariaDB faults (``nemesis.CLUSTER_FAULTS``). A seed starts with a
failover; what the failed master acknowledged after the cut may be lost, for its applications
only (a scoped loss window); a number handed out twice is never excused.

Seeds: ``CI_SEEDS`` by default (one: CI's time); ``HISTORY_SEEDS`` and the rest as ``runner``
says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.history.cluster import PrivateMariaDB
from tests.history.cluster_nemesis import ClusterNemesis, failover_first
from tests.history.nemesis import CLUSTER_FAULTS, schedule
from tests.history.report import Row
from tests.history.runner import TRAFFIC_SECONDS, history_faults, history_seeds, run_seed
from tests.history.sharded import ShardedCluster, scope

# One seed in CI (about a minute); `make soak` runs more.
CI_SEEDS = (1,)

pytestmark = [pytest.mark.history, pytest.mark.e2e]


@pytest.mark.parametrize("seed", history_seeds(CI_SEEDS))
def test_history_cluster(
    seed: int,
    private_mariadb: PrivateMariaDB,
    history_cluster_table: list[Row],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    plan = failover_first(schedule(seed, TRAFFIC_SECONDS, history_faults(CLUSTER_FAULTS)))
    cluster = ShardedCluster(tmp_path, private_mariadb)
    run_seed(
        seed,
        cluster,
        lambda: ClusterNemesis(cluster, seed, plan),
        history_cluster_table,
        tmp_path,
        request,
        scope=scope,
    )
