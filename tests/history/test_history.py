"""The history checker on one standalone Redis, one test per seed (the seed's work: ``runner``).

Per seed: a fresh Redis (AOF, ``appendfsync everysec``), which is the numbering, the journal,
the cache and the broker, two gunicorn servers and two Celery workers on the session's private
MariaDB; the nemesis restarts, kills, power-cuts and flushes that Redis, and kills, stops and
restarts the workers and MariaDB (``nemesis.ALL_FAULTS``).

Seeds: ``CI_SEEDS`` by default; ``HISTORY_SEEDS``, ``HISTORY_SECONDS`` and ``HISTORY_FAULTS`` as
``runner`` says (``make soak SEEDS=...``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.history.cluster import Cluster, PrivateMariaDB
from tests.history.nemesis import ALL_FAULTS, Nemesis, schedule
from tests.history.report import Row
from tests.history.runner import TRAFFIC_SECONDS, history_faults, history_seeds, run_seed

# The seeds CI runs: together they inject every kind of fault several times (see the README).
CI_SEEDS = (1, 2, 3, 4)

pytestmark = [pytest.mark.history, pytest.mark.e2e]


@pytest.mark.parametrize("seed", history_seeds(CI_SEEDS))
def test_history(
    seed: int,
    private_mariadb: PrivateMariaDB,
    history_table: list[Row],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    plan = schedule(seed, TRAFFIC_SECONDS, history_faults(ALL_FAULTS))
    cluster = Cluster(tmp_path, private_mariadb)
    run_seed(
        seed,
        cluster,
        lambda: Nemesis(cluster, seed, plan),
        history_table,
        tmp_path,
        request,
    )
