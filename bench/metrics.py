"""Metrics' cost: message creates per second with the metrics on and off, in one sitting, and
how long a scrape of GET /metrics takes under that load.

    .venv/bin/python bench/metrics.py [--seconds 8] [--rounds 8] [--redis redis://127.0.0.1:6379/8]

First, and robust to other work on the machine, the CPU time per message create in one process
(the WSGI application called directly, as bench/profile_create.py does), metrics on and off
alternately. Then each round starts gunicorn (2 gthread workers x 4 threads, SO_REUSEPORT)
twice, metrics on (chatapi.settings.test) then off (bench/metrics_off_settings.py: no HTTP
middleware), and runs wrk (bench/wrk.lua, ``message_create`` over 20 chats, 2 threads x 16
connections) against it; the ratio of the medians, and the median of each round's ratio (its
two runs back to back), are the cost. After the last "on" run, another one with a scrape of
/metrics (Bearer token) every second measures the scrape's latency under that load (256
partitions to read), and 20 scrapes with no load what a scrape itself costs. Finally it times,
in a process in multiprocess mode, the counter increment each accepted create makes (which the
"off" arm keeps) and what the HTTP middleware adds to a request. A throwaway
SQLite file; Redis keys under a prefix of their own, deleted at the end; no Celery worker
(creates need none: the journal holds them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# As bench/stack.py imports them (one module name for mypy).
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "scripts"))

from processes import gunicorn_command  # noqa: E402

from tests.support.harness.process import ServiceProcess, command_run  # noqa: E402

TOKEN = "bench-metrics-token"  # noqa: S105 - a throwaway server's
CHATS = 20


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run [8]")
    parser.add_argument("--rounds", type=int, default=8, help="on/off pairs [8]")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8", help="Redis URL [db 8]")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn's port [8765]")
    return parser.parse_args()


def call(
    port: int, method: str, path: str, body: object = None, auth: str = ""
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def serve(env: dict[str, str], port: int, log: Path) -> ServiceProcess:
    command = gunicorn_command(
        bind=f"127.0.0.1:{port}",
        workers=2,
        threads=4,
        control_socket=False,
        reuse_port=True,
        log_level="warning",
    )
    process = ServiceProcess("gunicorn", command, env, log)

    def healthy() -> bool:
        try:
            return call(port, "GET", "/healthz")[0] == 200
        except OSError:
            return False

    process.wait_ready(healthy, timeout=30, what="answer /healthz")
    return process


def wrk(port: int, token: str, seconds: int) -> float:
    output = command_run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "-s",
            str(BASE_DIR / "bench" / "wrk.lua"),
            f"http://127.0.0.1:{port}",
            "--",
            "message_create",
            token,
            "1",
            str(CHATS),
        ],
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    figures = json.loads(line.removeprefix("WRK_JSON "))
    ok = figures["statuses"].get("201", 0)
    if set(figures["statuses"]) != {"201"}:
        print("  statuses other than 201:", figures["statuses"], flush=True)
    return ok / (figures["duration_us"] / 1e6)


def scrapes(port: int, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        status, _ = call(port, "GET", "/metrics", auth=f"Bearer {TOKEN}")
        if status == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        stop.wait(1.0)


# CPU per message create in one process, the WSGI application called as gunicorn calls it
# (bench/profile_create.py's harness), in multiprocess mode as under gunicorn: robust to other
# work on the machine, which wall-clock rates are not. argv: "on" or "off", Redis URL, prefix.
CPU_PER_CREATE = """
import json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "bench")
import profile_create as harness
arm, redis_url, prefix = sys.argv[1:4]
harness.configure(Path(tempfile.mkdtemp()) / "db.sqlite3", redis_url, prefix)
from django.conf import settings
if arm == "off":
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "HttpMetrics" not in m]
wsgi = harness.Wsgi()
token = json.loads(harness.expect(wsgi.call("POST", "/api/v1/apps", {"name": "b"}), 201))["token"]
harness.expect(wsgi.call("POST", f"/api/v1/apps/{token}/chats"), 201)
path, body = f"/api/v1/apps/{token}/chats/1/messages", {"body": "hello world, a message"}
for _ in range(300):
    harness.expect(wsgi.call("POST", path, body), 201)
n = 3000
start = time.process_time()
for _ in range(n):
    harness.expect(wsgi.call("POST", path, body), 201)
print((time.process_time() - start) / n * 1000)
"""


def cpu_per_create(arm: str, env: dict[str, str], redis_url: str, prefix: str) -> float:
    output = command_run(
        [sys.executable, "-c", CPU_PER_CREATE, arm, redis_url, prefix],
        env=env,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


INCREMENT = """
import timeit
import django
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve
from core.metrics.instruments import MESSAGES_ACCEPTED
from core.metrics.middleware import HttpMetricsMiddleware
path = "/api/v1/apps/some-token/chats/1/messages"
request = RequestFactory().post(path)
response = HttpResponse(status=201)
match = resolve(path)
def view(request):
    request.resolver_match = match
    return response
middleware = HttpMetricsMiddleware(view)
n = 100_000
increment = timeit.timeit(MESSAGES_ACCEPTED.inc, number=n) / n * 1e6
bare = min(timeit.repeat(lambda: view(request), number=n, repeat=3)) / n * 1e6
wrapped = min(timeit.repeat(lambda: middleware(request), number=n, repeat=3)) / n * 1e6
print(increment, wrapped - bare)
"""


def main() -> int:
    args = arguments()
    work = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    prefix = f"bench-metrics-{os.getpid()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapi.settings.test",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "REDIS_URL": args.redis,
        "REDIS_KEY_PREFIX": prefix,
        "METRICS_TOKEN": TOKEN,
        "PYTHONPATH": f"{BASE_DIR}{os.pathsep}{BASE_DIR / 'bench'}",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # The test settings put the database under a "test" name; bench against the file itself.
    command_run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        env={**env, "DJANGO_SETTINGS_MODULE": "chatapi.settings.local"},
        check=True,
    )
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    cpu_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(work / "cpu")}
    for _ in range(args.rounds // 2 or 1):
        for arm in ("on", "off"):
            cpu[arm].append(cpu_per_create(arm, cpu_env, args.redis, f"{prefix}-cpu"))
            print(f"CPU per message create, metrics {arm}: {cpu[arm][-1]:.3f} ms", flush=True)
    arms = {"on": "chatapi.settings.test", "off": "metrics_off_settings"}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    latencies: list[float] = []
    idle: list[float] = []
    token = ""
    try:
        for round_ in range(args.rounds):
            for arm, settings_module in arms.items():
                arm_env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
                server = serve(arm_env, args.port, work / f"gunicorn-{arm}-{round_}.log")
                try:
                    if not token:
                        status, raw = call(args.port, "POST", "/api/v1/apps", {"name": "bench"})
                        if status != 201:
                            raise RuntimeError(raw.decode())
                        token = json.loads(raw)["token"]
                        for _ in range(CHATS):
                            call(args.port, "POST", f"/api/v1/apps/{token}/chats", {})
                    rate = wrk(args.port, token, args.seconds)
                    if arm == "on" and round_ == args.rounds - 1:
                        # Scrapes once a second under the same load, in a run of their own,
                        # so that their CPU does not count against the ratio above.
                        stop = threading.Event()
                        scraper = threading.Thread(
                            target=scrapes, args=(args.port, stop, latencies)
                        )
                        scraper.start()
                        wrk(args.port, token, args.seconds)
                        stop.set()
                        scraper.join()
                        # And with no load: what a scrape itself costs.
                        for _ in range(20):
                            started = time.perf_counter()
                            call(args.port, "GET", "/metrics", auth=f"Bearer {TOKEN}")
                            idle.append((time.perf_counter() - started) * 1000)
                    rates[arm].append(rate)
                    print(
                        f"round {round_ + 1} metrics {arm}: {rate:.0f} message creates/s",
                        flush=True,
                    )
                finally:
                    server.stop(timeout=10)
        increment = command_run(
            [sys.executable, "-c", INCREMENT],
            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(work / "increment")},
            check=True,
        ).stdout.strip()
    finally:
        import redis

        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    print(
        f"median CPU per message create, one process: on {cpu_on:.3f} ms, off {cpu_off:.3f} ms, "
        f"on/off {cpu_on / cpu_off:.3f}"
    )
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    latencies.sort()
    ratios = sorted(a / b for a, b in zip(rates["on"], rates["off"], strict=True))
    print(f"median message creates/s: on {on:.0f}, off {off:.0f}, on/off {on / off:.3f}")
    print(
        f"on/off per round (each pair back to back): median {statistics.median(ratios):.3f}, "
        f"from {ratios[0]:.3f} to {ratios[-1]:.3f}"
    )
    print(
        f"scrape of /metrics under load ({len(latencies)} scrapes, 256 partitions): "
        f"median {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms, max {latencies[-1]:.1f} ms"
    )
    print(f"scrape of /metrics with no load (20 scrapes): median {statistics.median(idle):.1f} ms")
    increment_us, observe_us = (float(value) for value in increment.split())
    print(
        f"in multiprocess mode: the accepted create's counter increment {increment_us:.2f} µs, "
        f"the HTTP middleware per request {observe_us:.2f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
