"""Index lag and outage recovery of the search outbox, on osmem-server (issue 18's targets).

    .venv/bin/python bench/search_index.py                 # both figures, ~1 minute
    .venv/bin/python bench/search_index.py --rate 500 --duration 30

It starts, on loopback: MariaDB database ``chatapi_bench_search`` (created and dropped),
gunicorn (production settings, 2 gthread workers x 4 threads), a Celery worker (prefork, 2,
queues ``celery`` and ``search``), Celery beat, and osmem-server behind the compatibility proxy
(tests/support/harness/search_engine.py). Redis: ``--redis-url`` with its own key prefix; the db is
flushed (refused if it holds keys that are not the benchmark's, as bench/run.py does).

1. **Index lag**: first the create peak, the same client threads posting closed loop for
   ``--peak-seconds`` (with indexing on: the worker persists and drains meanwhile); then
   messages posted open loop at half of it (or ``--rate``) for ``--duration`` seconds; for
   each, the time from its 201 to the first search of osmem that returns it (osmem is asked
   directly, every ``--poll-ms``, so the poll interval is part of the figure). Target: p99 < 2 s.
   The peak is this Python client's on this machine at that moment, not wrk's
   (docs/benchmarks.md): the load average is recorded with it.
2. **Outage drill**: the proxy stopped (the engine unreachable) for ``--outage-seconds``;
   meanwhile ``--outage-messages`` messages created and ``--outage-edits`` edited, and the
   worker SIGKILLed and started again. The figure is the time from the engine's return to the
   moment every one of those updates is visible in osmem. Target: < 30 s.

Prints both figures with their verdicts and writes them, with the configuration, as JSON to
``bench/results/<date>-search-index.json`` (``-2``, ``-3``… for a later run that day).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import run  # noqa: E402
from persistence import _SeenPoller, lag_probe, percentile  # noqa: E402
from run import HOST, Api, free_port  # noqa: E402
from stack import (  # noqa: E402
    PYTHON,
    Stack,
    celery_beat_command,
    celery_worker_command,
    gunicorn_command,
    wait_until,
)

from tests.support.harness.search_engine import SearchEngine  # noqa: E402

LAG_TARGET_S = 2.0
RECOVERY_TARGET_S = 30.0


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add(
        "--rate",
        type=float,
        default=None,
        help="creates per second [half of the peak measured first, in the same sitting]",
    )
    add("--peak-seconds", type=float, default=5, help="seconds of the closed-loop peak run [5]")
    add("--duration", type=float, default=20, help="seconds of creates for the lag [20]")
    add("--clients", type=int, default=24, help="client threads posting [24]")
    add("--poll-ms", type=float, default=50, help="how often osmem is searched [50]")
    add("--outage-seconds", type=float, default=15)
    add("--outage-messages", type=int, default=100)
    add("--outage-edits", type=int, default=10)
    add("--mysql-url", default="mysql://root@127.0.0.1:3306/")
    add("--database", default="chatapi_bench_search")
    add("--redis-url", default="redis://127.0.0.1:6379/9")
    add("--key-prefix", default="chatapi-bench-search")
    add("--force-flush", action="store_true")
    add("--label", default="")
    add(
        "--search-worker",
        action="store_true",
        help="a worker of its own (1 process) for the search queue; the other only persists",
    )
    return parser.parse_args(argv)


def service_env(stack: Stack, args: argparse.Namespace, engine_url: str) -> dict[str, str]:
    """bench/run.py's environment, pointed at the engine."""
    return {
        **run.service_env(stack, args),
        "ELASTICSEARCH_URL": engine_url,
        "ELASTICSEARCH_INDEX": "chatapi-bench-messages",
    }


class IndexPoller:
    """Notes the first time each message number of one chat is returned by an osmem search,
    and (``rows``, bench/persistence.py's poller) when its row was readable in SQL: the lag
    splits into persistence and indexing."""

    def __init__(
        self, engine: SearchEngine, index: str, chat_key: str, interval: float, rows: Any
    ) -> None:
        self.rows = rows
        self.engine = engine
        self.index = index
        self.chat_key = chat_key
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.lowest_unseen = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-poller", daemon=True)

    def start(self) -> IndexPoller:
        self.rows.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            query = {
                "bool": {
                    "filter": [
                        {"term": {"chat": self.chat_key}},
                        {"range": {"number": {"gte": self.lowest_unseen}}},
                    ]
                }
            }
            with contextlib.suppress(OSError, ValueError):
                answer = self.engine.request(
                    "POST",
                    f"/{self.index}/_search",
                    {"query": query, "size": 10000, "_source": ["number"]},
                )
                now = time.monotonic()
                for hit in answer["hits"]["hits"]:
                    self.seen.setdefault(int(hit["_source"]["number"]), now)
                while self.lowest_unseen in self.seen:
                    self.lowest_unseen += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.rows.stop()

    def row_to_index_ms(self) -> dict[str, float | None]:
        """From the row readable in SQL to the document returned by a search, per message."""
        gaps = [at - self.rows.seen[n] for n, at in self.seen.items() if n in self.rows.seen]

        def ms(p: float) -> float | None:
            value = percentile(gaps, p)
            return None if value is None else round(value * 1000, 1)

        return {"p50": ms(50), "p90": ms(90), "p99": ms(99)}


def _bodies(engine: SearchEngine, index: str, chat_key: str, numbers: list[int]) -> dict[int, str]:
    query = {"bool": {"filter": [{"term": {"chat": chat_key}}, {"terms": {"number": numbers}}]}}
    with contextlib.suppress(OSError, ValueError):
        answer = engine.request(
            "POST", f"/{index}/_search", {"query": query, "size": len(numbers) + 10}
        )
        return {hit["_source"]["number"]: hit["_source"]["body"] for hit in answer["hits"]["hits"]}
    return {}


def outage_drill(
    args: argparse.Namespace,
    stack: Stack,
    engine: SearchEngine,
    api: Api,
    token: str,
    index: str,
    start_worker: Any,
) -> dict:
    chat = api.create(f"/api/v1/apps/{token}/chats")["number"]
    path = f"/api/v1/apps/{token}/chats/{chat}/messages"
    chat_key = f"{token}-{chat}"
    engine.outage_begin()
    away = time.monotonic()
    numbers = [
        api.create(path, {"body": f"during {n}"})["number"] for n in range(args.outage_messages)
    ]
    edited = numbers[: args.outage_edits]
    for number in edited:
        status, answer = api.call("PATCH", f"{path}/{number}", {"body": f"edited {number}"})
        if status != 200:
            raise RuntimeError(f"PATCH answered {status}: {answer}")
    stack.processes["celery"].kill()
    stack.stop("celery")
    start_worker()
    time.sleep(max(0.0, args.outage_seconds - (time.monotonic() - away)))
    engine.outage_end()
    back = time.monotonic()
    wanted = {n: (f"edited {n}" if n in edited else f"during {i}") for i, n in enumerate(numbers)}

    def complete() -> bool:
        return _bodies(engine, index, chat_key, numbers) == wanted

    wait_until(complete, timeout=180, interval=0.1, what="every update searchable")
    recovered = time.monotonic() - back
    return {
        "outage_s": round(back - away, 1),
        "created": len(numbers),
        "edited": len(edited),
        "worker_sigkilled": True,
        "all_searchable_after_return_s": round(recovered, 2),
    }


def create_peak(port: int, path: str, clients: int, seconds: float) -> dict:
    """201s per second with ``clients`` threads posting back to back (a connection each)."""
    import http.client

    counts = [0] * clients
    end = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Connection": "close"}

    def client(index: int) -> None:
        while time.monotonic() < end:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            try:
                conn.request("POST", path, body=json.dumps({"body": "peak"}), headers=headers)
                if conn.getresponse().status == 201:
                    counts[index] += 1
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "creates_per_s": round(sum(counts) / elapsed, 1),
        "seconds": round(elapsed, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _result_path() -> Path:
    folder = BASE_DIR / "bench" / "results"
    stem = f"{datetime.datetime.now(tz=datetime.UTC).date().isoformat()}-search-index"
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    return path


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    stack = Stack(
        mysql_url=args.mysql_url,
        database=args.database,
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
    )
    engine = SearchEngine(stack.logs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, Any] = {"label": args.label, "config": vars(args).copy()}
    try:
        stack.redis_claim(force=args.force_flush)
        stack.database_create()
        engine.start()
        env = service_env(stack, args, engine.url)
        stack.run_foreground(
            "migrate", [PYTHON, "manage.py", "migrate", "--noinput"], env=env, timeout=300
        )
        port = free_port()
        stack.start(
            "gunicorn",
            gunicorn_command(
                python=PYTHON,
                bind=f"{HOST}:{port}",
                workers=2,
                threads=4,
                control_socket=False,
                reuse_port=True,
            ),
            env,
        )
        worker = celery_worker_command(
            python=PYTHON,
            concurrency=2,
            hostname=f"{args.key_prefix}@%h",
            log_level="WARNING",
            queues=("celery",) if args.search_worker else ("celery", "search"),
        )

        def start_worker() -> None:
            stack.start("celery", worker, env)

        start_worker()
        if args.search_worker:
            search_worker = celery_worker_command(
                python=PYTHON,
                concurrency=1,
                hostname=f"{args.key_prefix}-search@%h",
                log_level="WARNING",
                queues=("search",),
            )
            stack.start("celery-search", search_worker, env)
        schedule = stack.logs / "celerybeat-schedule"
        stack.start("beat", celery_beat_command(python=PYTHON, schedule=schedule), env)
        api = Api(port)
        wait_until(lambda: api.call("GET", "/readyz")[0] == 200, timeout=60, what="/readyz")
        token = api.create("/api/v1/apps", {"name": "bench search"})["token"]
        chat = api.create(f"/api/v1/apps/{token}/chats")["number"]
        index = env["ELASTICSEARCH_INDEX"]
        # A first message creates the index (the first drain does).
        api.create(f"/api/v1/apps/{token}/chats/{chat}/messages", {"body": "warm up"})
        wait_until(
            lambda: bool(_bodies(engine, index, f"{token}-{chat}", [1])), timeout=60, what="index"
        )
        peak_chat = api.create(f"/api/v1/apps/{token}/chats")["number"]
        peak_path = f"/api/v1/apps/{token}/chats/{peak_chat}/messages"
        peak = create_peak(port, peak_path, args.clients, args.peak_seconds)
        results["create_peak"] = peak
        rate = args.rate or peak["creates_per_s"] / 2
        print(f"create peak: {json.dumps(peak)}", flush=True)
        time.sleep(5)  # the peak's backlog persisted and indexed before the lag is measured
        chat = api.create(f"/api/v1/apps/{token}/chats")["number"]
        print(f"index lag: {rate:.0f} creates/s for {args.duration:.0f} s", flush=True)
        chat_ids: list[int] = []

        def chat_persisted() -> bool:
            database = stack.mysql(database=args.database)
            with contextlib.closing(database), database.cursor() as cursor:
                cursor.execute(
                    "SELECT chats.id FROM chats JOIN applications ON applications.id = "
                    "chats.application_id WHERE applications.token = %s AND chats.number = %s",
                    (token, chat),
                )
                chat_ids.extend(row[0] for row in cursor.fetchall())
            return bool(chat_ids)

        wait_until(chat_persisted, timeout=30, what="the chat's row")
        chat_id = chat_ids[0]
        interval = args.poll_ms / 1000
        rows = _SeenPoller(lambda: stack.mysql(database=args.database), chat_id, interval)
        poller = IndexPoller(engine, index, f"{token}-{chat}", interval, rows)
        lag = lag_probe(
            host=HOST,
            port=port,
            token=token,
            chat_number=chat,
            chat_id=0,
            connect=lambda: None,
            rate=rate,
            duration=args.duration,
            clients=args.clients,
            wait_seconds=60,
            poll_interval=interval,
            poller=poller,
        )
        lag["row_to_index_ms"] = poller.row_to_index_ms()
        lag["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        results["index_lag"] = lag
        print(json.dumps(lag, indent=2), flush=True)
        print(f"outage drill: {args.outage_seconds:.0f} s, worker SIGKILLed", flush=True)
        results["outage"] = outage_drill(args, stack, engine, api, token, index, start_worker)
        print(json.dumps(results["outage"], indent=2), flush=True)
    except BaseException:
        stack.failed = True
        raise
    finally:
        stack.close()
        engine.stop()
    p99 = results["index_lag"]["lag_ms"]["p99"]
    recovered = results["outage"]["all_searchable_after_return_s"]
    results["targets"] = {
        "index_lag_p99_s": {
            "value": None if p99 is None else p99 / 1000,
            "target": f"< {LAG_TARGET_S}",
            "pass": p99 is not None and p99 / 1000 < LAG_TARGET_S,
        },
        "outage_recovery_s": {
            "value": recovered,
            "target": f"< {RECOVERY_TARGET_S}",
            "pass": recovered < RECOVERY_TARGET_S,
        },
    }
    for name, target in results["targets"].items():
        verdict = "PASS" if target["pass"] else "MISS"
        print(f"{name}: {target['value']} (target {target['target']}): {verdict}", flush=True)
    path = _result_path()
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path.relative_to(BASE_DIR)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
