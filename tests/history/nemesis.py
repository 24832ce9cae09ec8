"""The nemesis: real faults, on a schedule drawn from the seed, one at a time, each healed.

- ``redis_sigterm``: SIGTERM (Redis fsyncs its AOF and exits), then start it on the same AOF.
- ``redis_sigkill``: SIGKILL and start again; written pages survive in the OS, nothing is lost.
- ``redis_power_loss``: note the AOF's size, let traffic run ~1 s, SIGKILL, cut the AOF back to
  the noted size (what a machine crash does to ``appendfsync everysec``), start. The window
  from the note to the kill is declared: what Redis acknowledged in it may be lost.
- ``redis_flushall``: FLUSHALL. Declared too: whatever was accepted and not persisted is gone.
- ``worker_sigkill``: SIGKILL a worker (and its pool) and start another.
- ``worker_sigstop``: SIGSTOP a worker for longer than PERSIST_LEASE_SECONDS, then SIGCONT:
  the other worker takes the stopped drain's rows, and both drains write them.
- ``mariadb_restart``: stop the private MariaDB (SIGTERM, or SIGKILL: a crash), start it again.

After each fault, a worker that exited by itself is started again and that is recorded as
``worker_exited``.

Those are the faults of one standalone Redis (``ALL_FAULTS``). On a Redis Cluster the Redis
faults are ``master_failover`` and ``replica_restart`` instead (``CLUSTER_FAULTS``, injected by
``cluster_nemesis.ClusterNemesis``); the worker and MariaDB faults are the same.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import redis

from tests.history.cluster import LEASE_SECONDS, Cluster
from tests.history.history import (
    MARIADB_RESTART,
    MASTER_FAILOVER,
    REDIS_FLUSHALL,
    REDIS_POWER_LOSS,
    REDIS_SIGKILL,
    REDIS_SIGTERM,
    REPLICA_RESTART,
    STREAM_SIGKILL,
    WORKER_EXITED,
    WORKER_SIGKILL,
    WORKER_SIGSTOP,
    Fault,
)

ALL_FAULTS = (
    REDIS_SIGTERM,
    REDIS_SIGKILL,
    REDIS_POWER_LOSS,
    REDIS_FLUSHALL,
    WORKER_SIGKILL,
    WORKER_SIGSTOP,
    MARIADB_RESTART,
    STREAM_SIGKILL,
)
# A Redis Cluster's run: its own Redis faults, and the same worker and MariaDB faults.
CLUSTER_FAULTS = (
    MASTER_FAILOVER,
    REPLICA_RESTART,
    WORKER_SIGKILL,
    WORKER_SIGSTOP,
    MARIADB_RESTART,
    STREAM_SIGKILL,
)
KNOWN_FAULTS = tuple(dict.fromkeys(ALL_FAULTS + CLUSTER_FAULTS))
# The first fault comes after this much traffic, the last this long before the end.
QUIET_START = 2.5
QUIET_END = 3.0


def schedule(
    seed: int, duration: float, allowed: tuple[str, ...] = ALL_FAULTS
) -> list[tuple[float, str]]:
    """``[(seconds after the start, fault kind), ...]``: every kind once in an order drawn from
    the seed (as far as the run is long enough), then kinds drawn at random."""
    unknown = set(allowed) - set(KNOWN_FAULTS)
    if unknown:
        raise ValueError(f"no such fault: {sorted(unknown)}; the kinds are {KNOWN_FAULTS}")
    rng = random.Random(seed)  # noqa: S311 - a schedule, not a secret
    kinds = rng.sample(allowed, len(allowed))
    plan: list[tuple[float, str]] = []
    at = QUIET_START + rng.uniform(0, 1)
    while at < duration - QUIET_END:
        kind = kinds[len(plan)] if len(plan) < len(kinds) else rng.choice(allowed)
        plan.append((round(at, 2), kind))
        at += rng.uniform(2.5, 4.0)
    return plan


class Nemesis:
    """Runs a schedule in a thread; ``faults`` is what it did, with the declared windows."""

    def __init__(self, cluster: Cluster, seed: int, plan: list[tuple[float, str]]) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed * 7919)  # noqa: S311
        self.plan = plan
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, started_at: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(started_at,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the fault in progress is healed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self, started_at: float) -> None:
        for offset, kind in self.plan:
            if self._stop.wait(max(0.0, started_at + offset - time.monotonic())):
                return
            try:
                self._inject(kind)
            except Exception as exc:  # noqa: BLE001 - reported, and the run is failed for it
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            self._restart_exited_workers()

    def _inject(self, kind: str) -> None:
        start = time.monotonic()
        lost_from = lost_until = None
        detail = ""
        redis_server = self.cluster.redis
        if kind == REDIS_SIGTERM:
            assert redis_server.process is not None
            redis_server.process.stop(timeout=30)  # SIGTERM: Redis saves the AOF and exits
            time.sleep(self.rng.uniform(0.3, 1.0))
            redis_server.start()
        elif kind == REDIS_SIGKILL:
            detail = self._aof_state()
            redis_server.kill()
            time.sleep(self.rng.uniform(0.3, 1.0))
            redis_server.start()
        elif kind == REDIS_POWER_LOSS:
            lost_from = time.monotonic()
            size = redis_server.aof_size()
            time.sleep(self.rng.uniform(0.8, 1.2))
            state = self._aof_state()
            redis_server.kill()
            lost_until = time.monotonic()
            detail = f"AOF cut by {redis_server.cut_aof(size)} bytes; {state}"
            time.sleep(self.rng.uniform(0.1, 0.5))
            redis_server.start()
        elif kind == REDIS_FLUSHALL:
            lost_from = start
            redis_server.client().flushall()
            lost_until = time.monotonic()
        elif kind == WORKER_SIGKILL:
            worker = self.rng.choice(self.cluster.workers)
            worker.kill()
            self.cluster.worker_replace(worker)
        elif kind == WORKER_SIGSTOP:
            worker = self.rng.choice(self.cluster.workers)
            pause = LEASE_SECONDS + self.rng.uniform(1.0, 2.0)
            worker.signal(signal.SIGSTOP)
            time.sleep(pause)
            worker.signal(signal.SIGCONT)
            detail = f"stopped {pause:.1f} s"
        elif kind == STREAM_SIGKILL:
            self.cluster.streams_kill()
            down = self.rng.uniform(0.2, 1.0)
            time.sleep(down)
            self.cluster.streams_restart()
            detail = f"down {down:.1f} s"
        elif kind == MARIADB_RESTART:
            kill = self.rng.random() < 0.5
            self.cluster.mariadb.stop(kill=kill)
            down = self.rng.uniform(0.5, 2.0)
            time.sleep(down)
            self.cluster.mariadb.start()
            detail = f"{'SIGKILL' if kill else 'SIGTERM'}, down {down:.1f} s"
        else:
            raise ValueError(kind)
        self.faults.append(
            Fault(kind, start, time.monotonic(), detail, lost_from=lost_from, lost_until=lost_until)
        )

    def _aof_state(self) -> str:
        """Whether Redis was behind with its AOF when it was killed, in its own words.

        With ``appendfsync everysec`` Redis postpones writing its AOF buffer for up to 2 s while
        a background fsync is still running (``aof_pending_bio_fsync``; each time it gives up
        waiting, ``aof_delayed_fsync`` counts one), and still answers its clients meanwhile: a
        SIGKILL then loses writes it acknowledged, even though the machine did not crash.
        """
        try:
            info = self.cluster.redis.client().info("persistence")
        except redis.RedisError as exc:
            return f"INFO failed: {exc}"
        return (
            f"aof_pending_bio_fsync={info.get('aof_pending_bio_fsync')} "
            f"aof_delayed_fsync={info.get('aof_delayed_fsync')}"
        )

    def _restart_exited_workers(self) -> None:
        for worker in self.cluster.workers_exited():
            at = time.monotonic()
            lines = worker.log().strip().splitlines() or [""]
            why = next((line for line in reversed(lines) if "rror" in line), lines[-1])
            self.cluster.worker_replace(worker)
            self.faults.append(Fault(WORKER_EXITED, at, time.monotonic(), why[-200:]))
