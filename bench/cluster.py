"""Allocation throughput on one Redis and on a 3-master Redis Cluster, in the same run.

    .venv/bin/python bench/cluster.py [--seconds 10] [--threads 8] [--applications 30]

It starts its own servers on free ports (a standalone ``redis-server``, a 3-master cluster and
a 3-master, 3-replica cluster, all without persistence) with the tests' process harness
(tests/support/harness/redis.py, tests/support/harness/redis_cluster.py) and stops them at the
end. For each topology, ``--threads`` threads call the allocator
(``pipeline.numbering.message_number_allocate``: the script a create runs, with its journal
entry) for ``--seconds``, over ``--applications`` applications with one chat each. Printed:

- allocations per second through the client, and the client's CPU per allocation;
- the servers' time per call (``INFO commandstats``: ``usec_per_call`` of EVALSHA), which
  bounds what each master can do on a host of its own: 10^6 / usec_per_call calls per second;
- on the replicated cluster, the latency of one allocation alone and followed by ``WAIT 1``
  (on the same connection: the cost of knowing a replica has it before answering 201).

Nothing touches the database: the applications are registered in Redis, so no reseed runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def _django(redis_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatapi.settings.test"
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()


def _never(*_: object) -> NoReturn:
    raise AssertionError("the bench's counters are registered: no reseed, no key lookup")


def _applications(count: int) -> list[str]:
    from pipeline.numbering import application_register, chat_number_allocate

    tokens = [secrets.token_hex(20) for _ in range(count)]
    for token in tokens:
        application_register(token=token)
        chat_number_allocate(
            token=token, payload={"created_at": "now"}, reseed=_never, replay_lookup=_never
        )
    return tokens


def _allocate(token: str) -> int:
    from pipeline.numbering import message_number_allocate

    return message_number_allocate(
        token=token,
        chat_number=1,
        payload={"body": "hello", "created_at": "now", "updated_at": "now"},
        reseed=_never,
        replay_lookup=_never,
    ).number


def _commandstats(clients: list) -> tuple[int, float]:
    """EVALSHA calls and microseconds, summed over the servers."""
    calls, usec = 0, 0.0
    for client in clients:
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        calls += int(stats.get("calls", 0))
        usec += float(stats.get("usec", 0))
    return calls, usec


def _load(tokens: list[str], *, threads: int, seconds: float, servers: list) -> dict:
    for server in servers:
        server.config_resetstat()
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        count = 0
        while time.monotonic() < stop:
            _allocate(tokens[(index + count * threads) % len(tokens)])
            count += 1
        done[index] = count

    cpu, wall = time.process_time(), time.monotonic()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    calls, usec = _commandstats(servers)
    total = sum(done)
    return {
        "allocations_per_second": total / wall,
        "client_cpu_ms_per_allocation": 1000 * cpu / total,
        "server_usec_per_call": usec / calls if calls else 0.0,
        "calls": calls,
    }


def _wait_latency(cluster, token: str, samples: int) -> dict:
    """One allocation's latency alone and followed by WAIT 1, on one master's connection."""
    import redis
    from redis.cluster import key_slot

    from pipeline import keys, scripts
    from pipeline.numbering import allocation_keys

    master = cluster.master_of_slot(key_slot(keys.application_key(token).encode()))
    client = redis.Redis(host="127.0.0.1", port=master.port, single_connection_client=True)
    script = scripts.script("allocate")
    script_keys = allocation_keys(token, "chats/1/messages", None)
    prefix = keys.message_entry(token, 1, "")
    results = {}
    for label, wait in (("alone", False), ("with_wait_1", True)):
        latencies = []
        for _ in range(samples):
            args: list[Any] = ["1", prefix, keys.chat_entry(token, 1), '{"body": "x"}', time.time()]
            args += ["", 10**9, 200, "", ""]
            start = time.perf_counter()
            script(keys=script_keys, args=args, client=client)
            if wait:
                if client.execute_command("WAIT", 1, 1000) < 1:
                    raise RuntimeError("no replica acknowledged the write within 1 s")
            latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        results[label] = {
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        }
    client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--applications", type=int, default=30)
    parser.add_argument("--wait-samples", type=int, default=2000)
    args = parser.parse_args()

    import tempfile

    from tests.support.harness.redis import RedisServer
    from tests.support.harness.redis_cluster import LocalRedisCluster

    folder = tempfile.TemporaryDirectory(prefix="bench-redis-")
    standalone = RedisServer(Path(folder.name), aof=False).start()
    port = standalone.port
    one = standalone.client()
    cluster = LocalRedisCluster(masters=3, replicas=0).start()
    replicated = LocalRedisCluster(masters=3, replicas=1).start()
    try:
        _django(f"redis://127.0.0.1:{port}/0")
        from django.conf import settings

        print(f"{os.cpu_count()} cores; client: {args.threads} threads in one process")
        figures = {}
        for label, topology, servers in (
            ("one Redis", None, [one]),
            ("3-master cluster", cluster, [node.client() for node in cluster.masters()]),
        ):
            settings.REDIS_CLUSTER_NODES = (
                [] if topology is None else topology.nodes_setting().split(",")
            )
            tokens = _applications(args.applications)
            figures[label] = _load(
                tokens,
                threads=args.threads,
                seconds=args.seconds,
                servers=servers,
            )
            row = figures[label]
            print(
                f"{label:18} {row['allocations_per_second']:8.0f} allocations/s  "
                f"client CPU {row['client_cpu_ms_per_allocation']:.3f} ms each  "
                f"server {row['server_usec_per_call']:.1f} µs per call"
            )
        single, three = figures["one Redis"], figures["3-master cluster"]
        ratio = three["allocations_per_second"] / single["allocations_per_second"]
        print(
            f"cluster / one Redis, same run: {ratio:.2f}; "
            f"per-call server time: one Redis {single['server_usec_per_call']:.1f} µs, cluster "
            f"{three['server_usec_per_call']:.1f} µs, so three masters on hosts of their own "
            f"could serve about {3 * 1e6 / three['server_usec_per_call']:.0f} calls/s "
            f"(one Redis: {1e6 / single['server_usec_per_call']:.0f})"
        )
        settings.REDIS_CLUSTER_NODES = replicated.nodes_setting().split(",")
        [token] = _applications(1)
        wait = _wait_latency(replicated, token, args.wait_samples)
        alone = wait["alone"]
        print(
            f"replicated cluster, one connection: allocation alone p50 {alone['p50_ms']:.3f} ms "
            f"p99 {alone['p99_ms']:.3f} ms; followed by WAIT 1 p50 "
            f"{wait['with_wait_1']['p50_ms']:.3f} ms p99 {wait['with_wait_1']['p99_ms']:.3f} ms"
        )
    finally:
        standalone.stop()
        cluster.stop()
        replicated.stop()
        folder.cleanup()


if __name__ == "__main__":
    main()
