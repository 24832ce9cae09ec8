"""The ``scale`` phase: the service at ten million messages.

    .venv/bin/python bench/run.py --phases scale          (or: .venv/bin/python bench/scale.py)

Unlike the other phases it keeps its database: ``chatapi_scale`` is created, migrated and
seeded once (``manage.py seed``, ~90 s for 10 million messages) and reused by every later run;
``--reseed`` drops and seeds it again. It uses Redis db 10 (key prefix ``chatapi-scale``).

It measures, and prints with a PASS/MISS verdict per target:

- a page of 50 at random depths through the API (gunicorn, production settings, one
  keep-alive connection, so no request queues behind another): ``after=`` and ``before=`` in
  the largest chat (1 million messages), ``after=`` in the other chats; p50/p99;
- the SQL search for a common, a rare and an absent term in the largest chat; p50/p99;
- in a Django process (bench/scale_django.py): the query and the rendering of a page apart,
  the admin's changelists, deep pages, searches and delete pages, the database side of the
  reindex, and the full sweep of ``refresh_counts``;
- ``manage.py search_reindex`` end to end against a fake Elasticsearch (a counting HTTP server,
  search/tests/fake_elasticsearch.py) for ``--reindex-seconds``, stopped with SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import git_describe, load_average, machine_describe
from report import results_path, results_write, target
from stack import (
    BASE_DIR,
    PYTHON,
    VENV_BIN,
    ServiceProcess,
    Stack,
    free_port,
    gunicorn_command,
    wait_until,
)

sys.path.insert(0, str(BASE_DIR))
from search.tests.fake_elasticsearch import FakeElasticsearch  # noqa: E402

HOST = "127.0.0.1"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    add = parser.add_argument
    add("--mysql-url", default="mysql://root@127.0.0.1:3306", help="MariaDB server (root)")
    add("--database", default="chatapi_scale", help="kept between runs [chatapi_scale]")
    add("--redis-url", default="redis://127.0.0.1:6379/10", help="Redis db [/10]")
    add("--key-prefix", default="chatapi-scale", help="REDIS_KEY_PREFIX [chatapi-scale]")
    add("--messages", type=int, default=10_000_000, help="messages seeded [10000000]")
    add("--chats", type=int, default=1000, help="chats seeded [1000]")
    add("--applications", type=int, default=10, help="applications seeded [10]")
    add("--largest-chat", type=int, default=1_000_000, help="messages of chat 1 [1000000]")
    add("--reseed", action="store_true", help="drop the database and seed it again")
    add("--pages", type=int, default=400, help="pages read per kind [400]")
    add("--searches", type=int, default=20, help="searches per term [20]")
    add("--reindex-seconds", type=float, default=30, help="reindex run length [30]")
    add("--sections", default="api,django,reindex", help="subset of api,django,reindex [all]")
    add("--admin-repeats", type=int, default=3, help="requests per admin page [3]")
    add(
        "--wait-load",
        type=float,
        default=0,
        help="first wait up to N s for a 1-minute load average under 2 (the cores are shared) [0]",
    )
    add("--label", default="", help="stored in the results")
    add("--output", default="", help="results file [bench/results/<date>.json, -2...]")
    return parser.parse_args(argv)


def service_env(stack: Stack, args: argparse.Namespace, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore:No directory at",
        "DJANGO_SETTINGS_MODULE": "chatapi.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": stack.database_url(),
        "REDIS_URL": args.redis_url,
        "REDIS_KEY_PREFIX": args.key_prefix,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


def database_prepare(stack: Stack, args: argparse.Namespace) -> dict:
    """Create, migrate and seed the database once; later runs find it seeded and reuse it."""
    with contextlib.closing(stack.mysql()) as conn, conn.cursor() as cursor:
        if args.reseed:
            cursor.execute(f"DROP DATABASE IF EXISTS `{args.database}`")
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{args.database}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    env = service_env(stack, args)
    stack.run_foreground("migrate", [PYTHON, "manage.py", "migrate", "-v0"], timeout=1800, env=env)
    with contextlib.closing(stack.mysql(database=args.database)) as conn, conn.cursor() as cursor:
        # The highest id, not COUNT(*): that would scan ten million rows to answer.
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM messages")
        (highest,) = cursor.fetchone()
    if highest >= args.messages:
        return {"reused": True, "messages_max_id": highest}
    if highest:
        raise SystemExit(
            f"{args.database} holds {highest:,} messages, fewer than --messages "
            f"{args.messages:,}: pass --reseed to start it again"
        )
    print(f"    seeding {args.messages:,} messages (once; later runs reuse them)", flush=True)
    output = stack.run_foreground(
        "seed",
        [
            PYTHON,
            "manage.py",
            "seed",
            "--no-progress",
            f"--applications={args.applications}",
            f"--chats={args.chats}",
            f"--messages={args.messages}",
            f"--largest-chat={args.largest_chat}",
        ],
        timeout=3600,
        env=env,
    )
    print(f"    {output.splitlines()[0]}", flush=True)
    return {"reused": False, "seed_output": output.splitlines()[0]}


def chats_sample(stack: Stack, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """The largest chat, and the others, with their tokens and sizes (a thousand rows)."""
    with contextlib.closing(stack.mysql(database=args.database)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT a.token, c.number, c.messages_count FROM chats c "
            "JOIN applications a ON a.id = c.application_id"
        )
        chats = [{"token": t, "number": n, "messages": m} for t, n, m in cursor.fetchall()]
    chats.sort(key=lambda chat: -chat["messages"])
    return chats[0], chats[1:]


class Client:
    """One keep-alive connection: the latency of a request without queueing."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def get(self, path: str) -> tuple[int, float, bytes]:
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closes a connection idle for its keep-alive (2 s): open another one
                # and time the request again, from the start.
                self.conn.close()
                if attempt == 2:
                    raise
                continue
            return response.status, (time.perf_counter() - started) * 1000, body
        raise AssertionError("unreachable")


def search_latencies(client: Client, url: str, searches: int) -> dict:
    """``searches`` first pages of one search: latency percentiles, the term, its hits."""
    samples, found = [], 0
    for _ in range(searches):
        status, ms, body = client.get(url)
        if status != 200:
            raise RuntimeError(f"search {url}: {status} {body[:200]!r}")
        samples.append(ms)
        found = len(json.loads(body)["results"])
    return {**percentiles(samples), "term": url.rsplit("=", 1)[-1], "first_page": found}


def client_when_serving(port: int) -> Client:
    """A client of the gunicorn on ``port``, once it answers ``/healthz``."""
    client = Client(port)

    def ready() -> bool:
        try:
            return client.get("/healthz")[0] == 200
        except OSError:
            client.conn.close()
            return False

    wait_until(ready, timeout=60, what="gunicorn answering")
    return client


def api_measure(stack: Stack, args: argparse.Namespace, largest: dict, others: list[dict]) -> dict:
    port = free_port()
    stack.start(
        "gunicorn",
        gunicorn_command(
            python=PYTHON, bind=f"{HOST}:{port}", workers=2, threads=4, control_socket=False
        ),
        service_env(stack, args),
    )
    # Read before the timed requests: a pause longer than gunicorn's keep-alive in between
    # would cost a new connection.
    terms = json.loads(
        stack.run_foreground(
            "terms",
            [
                PYTHON,
                "manage.py",
                "shell",
                "-c",
                "import json; from messages_app import seeding as s; "
                "print(json.dumps([s.COMMON_TERM, s.RARE_TERM, s.ABSENT_TERM]))",
            ],
            timeout=60,
            env=service_env(stack, args),
        )
        .strip()
        .splitlines()[-1]
    )
    client = client_when_serving(port)
    rng = random.Random(3)
    base = f"/api/v1/apps/{largest['token']}/chats/{largest['number']}/messages"
    figures: dict = {}

    def pages(name: str, path_of) -> None:
        samples = []
        for i in range(args.pages + 20):
            status, ms, _ = client.get(path_of())
            if status != 200:
                raise RuntimeError(f"{name}: {status}")
            if i >= 20:  # the first requests warm the connection and the workers
                samples.append(ms)
        figures[name] = percentiles(samples)
        print(f"    {name}: {figures[name]}", flush=True)

    size = largest["messages"]
    pages("page_after_largest_chat", lambda: f"{base}?limit=50&after={rng.randint(0, size)}")
    pages("page_before_largest_chat", lambda: f"{base}?limit=50&before={rng.randint(1, size)}")

    def other() -> str:
        chat = rng.choice(others)
        after = rng.randint(0, max(0, chat["messages"] - 1))
        return (
            f"/api/v1/apps/{chat['token']}/chats/{chat['number']}/messages?limit=50&after={after}"
        )

    pages("page_after_other_chats", other)
    search = f"{base}/search?q="
    for kind, term in zip(("common", "rare", "absent"), terms, strict=True):
        figures[f"search_{kind}"] = search_latencies(client, search + term, args.searches)
        print(f"    search {kind} ({term}): {figures[f'search_{kind}']}", flush=True)
    client.conn.close()
    stack.stop("gunicorn")
    return figures


class CountingElasticsearch(FakeElasticsearch):
    """The recording fake, keeping only a count of what it was sent: 10 million documents
    recorded in memory would measure the fake."""

    documents = 0

    def answer(self, request):
        if request.path == "/_bulk":
            self.documents += request.body.count(b"\n") // 2
        self.requests.clear()
        return super().answer(request)


def reindex_measure(stack: Stack, args: argparse.Namespace) -> dict:
    """search_reindex against the counting fake for a while, then SIGINT (as Ctrl-C would)."""
    fake = CountingElasticsearch()
    fake.start()
    try:
        env = service_env(stack, args, ELASTICSEARCH_URL=fake.url)
        log = stack.logs / "reindex.out"
        process = ServiceProcess(
            "search_reindex", [PYTHON, "manage.py", "search_reindex", "--no-progress"], env, log
        )
        started = time.monotonic()
        time.sleep(args.reindex_seconds)
        sent, seconds = fake.documents, time.monotonic() - started
        process.signal(signal.SIGINT)  # to its process group, as Ctrl-C in a terminal
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        finally:
            process.stop()
        output = log.read_text(errors="replace").strip().splitlines()
        return {
            "documents": sent,
            "seconds": round(seconds, 1),
            "messages_per_s": round(sent / seconds),
            "exit_code_after_sigint": code,
            "last_line": output[-1] if output else "",
        }
    finally:
        fake.stop()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = Stack(
        mysql_url=args.mysql_url,
        database=args.database,
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
    )
    results: dict = {
        "schema": 1,
        "phase": "scale",
        "label": args.label,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_describe(),
        "git": git_describe(BASE_DIR),
        "load_before": load_average(),
        "config": {k: v for k, v in vars(args).items() if k not in ("output",)},
    }
    try:
        print(f"scale: database {args.database}", flush=True)
        results["database"] = database_prepare(stack, args)
        largest, others = chats_sample(stack, args)
        results["largest_chat_messages"] = largest["messages"]
        sections = args.sections.split(",")
        deadline = time.monotonic() + args.wait_load
        while os.getloadavg()[0] >= 2 and time.monotonic() < deadline:
            time.sleep(5)
        results["load_at_start"] = load_average()
        if "api" in sections:
            print("scale: the API (gunicorn, one connection)", flush=True)
            results["api"] = api_measure(stack, args, largest, others)
            results["load_after_api"] = load_average()
        if "django" in sections:
            print("scale: in a Django process (page parts, admin, reindex reads, counters)")
            output = stack.run_foreground(
                "scale_django",
                [
                    PYTHON,
                    "bench/scale_django.py",
                    largest["token"],
                    str(largest["number"]),
                    f"--repeats={args.admin_repeats}",
                ],
                timeout=7200,
                # The test settings: production's, but static files served from the apps (the
                # admin's templates need no collectstatic) and DEBUG off all the same.
                env=service_env(stack, args, DJANGO_SETTINGS_MODULE="chatapi.settings.test"),
            )
            results["django"] = json.loads(output.strip().splitlines()[-1])
            for name, value in results["django"].items():
                print(f"    {name}: {value}", flush=True)
        if "reindex" in sections:
            print(f"scale: search_reindex for {args.reindex_seconds:g} s, then SIGINT", flush=True)
            results["reindex"] = reindex_measure(stack, args)
            print(f"    {results['reindex']}", flush=True)
    except KeyboardInterrupt:
        stack.failed = True
        print("\ninterrupted", flush=True)
        return 130
    except BaseException:
        stack.failed = True
        raise
    finally:
        stack.close()
    results["load_after"] = load_average()
    results["targets"] = targets(results)
    for item in results["targets"]:
        print(f"  {item['target']:<58} {item['measured']!s:>10}  {item['verdict']}", flush=True)
    path = Path(args.output) if args.output else results_path()
    results_write(results, path)
    print(f"results written to {path}")
    return 0


def targets(results: dict) -> list[dict]:
    api, django = results.get("api", {}), results.get("django", {})
    reindex = results.get("reindex", {})
    found = []
    for name in ("page_after_largest_chat", "page_before_largest_chat", "page_after_other_chats"):
        if name in api:
            found.append(
                target(f"p99 {name} < 10 ms", api[name]["p99_ms"], 10, at_least=False, unit="ms")
            )
    for kind in ("common", "rare", "absent"):
        if f"search_{kind}" in api:
            found.append(
                target(
                    f"p99 SQL search, {kind} term < 300 ms",
                    api[f"search_{kind}"]["p99_ms"],
                    300,
                    at_least=False,
                    unit="ms",
                )
            )
    admin = django.get("admin_ms", {})
    if admin:
        slowest = max(admin, key=lambda name: admin[name])
        found.append(
            target(
                f"slowest admin page < 300 ms ({slowest})",
                admin[slowest],
                300,
                at_least=False,
                unit="ms",
            )
        )
    reads = django.get("reindex_database_messages_per_s")
    if reads is not None:
        found.append(
            target(
                "reindex, database side, messages/s >= 5000",
                reads if isinstance(reads, int | float) else None,
                5000,
                at_least=True,
                unit="msg/s",
            )
        )
    if reindex:
        found.append(
            target(
                "reindex end to end (fake ES) messages/s >= 5000",
                reindex["messages_per_s"],
                5000,
                at_least=True,
                unit="msg/s",
            )
        )
    return found


if __name__ == "__main__":
    sys.exit(main())
