"""The live events' benchmark (issue 19): what one stream process holds, how fast an event
follows its 201, what the events cost the create, and what Redis keeps per event.

    .venv/bin/python bench/live_events.py                     # every phase, ~4 minutes
    .venv/bin/python bench/live_events.py --phases idle --streams 1000,5000,10000

Phases (``--phases``):

- ``idle``: one stream process (1 worker) and idle application streams opened up to each of
  ``--streams``; the worker's RSS at each level, and per stream over the empty process.
- ``latency``: ``--followers`` streams spread over ``--chats`` chats (each chat followed by
  followers/chats streams), creates posted at ``--rate`` per second for ``--seconds`` to the
  WSGI API over keep-alive connections; for every event received, the time from its create's
  201 (as the poster saw it) to its arrival; p50/p99 and how many events were missing.
- ``rest``: ``wrk`` message creates against the WSGI API (2 gthread workers x 4 threads),
  events off (EVENTS_STREAM_MAXLEN=0) and on, alternating, ``--rounds`` times, same sitting;
  the ratio of the medians.
- ``asgi``: the same ``wrk`` creates against the WSGI API (2 gthread workers x 4 threads) and
  against the stream process's ASGI server serving the API too (2 uvicorn workers), alternating:
  whether one ASGI server could serve everything.
- ``memory``: Redis bytes per retained event (MEMORY USAGE of the partition streams over
  their length) after the creates of the other phases.

MariaDB database ``chatapi_bench_events`` (created and dropped), Redis ``--redis-url`` with
key prefix ``chatapi-bench-events`` (flushed at the start and the end: it refuses a db holding
other keys). Prints a JSON object of every figure at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from loadgen import wrk_ensure
from processes import gunicorn_command, stream_command
from run import HOST, Api, free_port, service_env
from stack import BASE_DIR, PYTHON, Stack, wait_until

from tests.support.harness.process import command_run, interactive_start, interactive_stop


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="idle,latency,rest,memory")
    parser.add_argument("--streams", default="1000,5000,10000")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=250)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rest-seconds", type=int, default=10)
    parser.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--database", default="chatapi_bench_events")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--key-prefix", default="chatapi-bench-events")
    return parser.parse_args()


def rss_kb(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss // 1024)


def children_of(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children()]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def serving(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


class Bench:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack, self.args = stack, args
        self.env = {
            **service_env(stack, args),
            "EVENTS_MAX_STREAMS_PER_APPLICATION": "100000",
            "EVENTS_MAX_STREAMS_PER_PROCESS": "100000",
        }
        self.results: dict[str, object] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))

    def web(self, name: str, **extra: str) -> int:
        port = free_port()
        command = gunicorn_command(
            bind=f"{HOST}:{port}",
            workers=2,
            threads=4,
            python=PYTHON,
            control_socket=False,
            reuse_port=True,
        )
        self.stack.start(name, command, {**self.env, **extra})
        wait_until(lambda: serving(port), timeout=60, what=f"{name} serving")
        return port

    def streams(self, name: str = "stream") -> tuple[int, int]:
        port = free_port()
        command = stream_command(bind=f"{HOST}:{port}", workers=1, python=PYTHON)
        process = self.stack.start(name, command, self.env)
        wait_until(lambda: serving(port), timeout=60, what=f"{name} serving")
        (worker,) = children_of(process.pid)
        return port, worker

    def clients(self, port: int) -> subprocess.Popen[str]:
        return interactive_start([PYTHON, str(BASE_DIR / "bench" / "sse_load.py"), str(port)])

    @staticmethod
    def ask(clients: subprocess.Popen[str], line: str) -> str:
        if clients.stdin is None or clients.stdout is None:
            raise RuntimeError("the clients' pipes are closed")
        clients.stdin.write(line + "\n")
        clients.stdin.flush()
        return clients.stdout.readline().strip()

    def paths_file(self, paths: list[str]) -> str:
        path = self.tmp / f"paths-{len(paths)}.json"
        path.write_text(json.dumps(paths))
        return str(path)

    # --- phases ---------------------------------------------------------------------------------

    def idle(self, api: Api) -> None:
        port, worker = self.streams("stream-idle")
        tokens = [api.create("/api/v1/apps", {"name": f"idle {i}"})["token"] for i in range(100)]
        paths = self.paths_file([f"/api/v1/apps/{token}/events" for token in tokens])
        serving(port)
        time.sleep(1)
        empty = rss_kb(worker)
        clients = self.clients(port)
        levels = []
        try:
            for level in (int(n) for n in self.args.streams.split(",")):
                started = time.monotonic()
                answer = self.ask(clients, f"open {level} {paths}")
                opened, failed = (int(n) for n in answer.split()[1:])
                seconds = time.monotonic() - started
                time.sleep(2)
                rss = rss_kb(worker)
                levels.append(
                    {
                        "streams": level,
                        "open": opened,
                        "failed": failed,
                        "open_seconds": round(seconds, 1),
                        "worker_rss_mb": round(rss / 1024, 1),
                        "kb_per_stream": round((rss - empty) / max(opened, 1), 1),
                    }
                )
                print("idle", levels[-1], flush=True)
        finally:
            self.ask(clients, "quit") if clients.poll() is None else None
            interactive_stop(clients)
            if any(level["failed"] for level in levels):
                print(self.stack.log_tail("stream-idle", 60), flush=True)
            self.stack.stop("stream-idle")
        self.results["idle"] = {"empty_worker_rss_mb": round(empty / 1024, 1), "levels": levels}

    def latency(self, api: Api, web_port: int) -> None:
        args = self.args
        port, worker = self.streams("stream-latency")
        token = api.create("/api/v1/apps", {"name": "latency"})["token"]
        for _ in range(args.chats):
            api.create(f"/api/v1/apps/{token}/chats")
        per_chat = max(args.followers // args.chats, 1)
        paths = [
            f"/api/v1/apps/{token}/chats/{chat}/events"
            for chat in range(1, args.chats + 1)
            for _ in range(per_chat)
        ]
        clients = self.clients(port)
        answer = self.ask(clients, f"open {len(paths)} {self.paths_file(paths)}")
        print("latency streams", answer, flush=True)
        answered: dict[str, float] = {}
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        threads = 64  # synchronous posters: enough to hold the rate at ~100 ms per create
        interval = threads / args.rate
        stop_at = time.monotonic() + args.seconds

        def poster(index: int) -> None:
            connection = http.client.HTTPConnection(HOST, web_port, timeout=10)
            chat = index
            next_at = time.monotonic() + index * interval / threads
            body = json.dumps({"body": "x" * 100})
            headers = {"Content-Type": "application/json"}
            while next_at < stop_at:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                number = chat % args.chats + 1
                connection.request(
                    "POST", f"/api/v1/apps/{token}/chats/{number}/messages", body, headers
                )
                response = connection.getresponse()
                data = response.read()
                now = time.time()
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 201:
                        answered[f"{number} {json.loads(data)['number']}"] = now
                chat += threads
                next_at += interval

        cpu_before = cpu_seconds(worker)
        started = time.monotonic()
        workers = [threading.Thread(target=poster, args=(i,)) for i in range(threads)]
        for each in workers:
            each.start()
        for each in workers:
            each.join()
        elapsed = time.monotonic() - started
        time.sleep(2)
        cpu_after = cpu_seconds(worker)
        receipts_path = self.tmp / "receipts.json"
        self.ask(clients, f"receipts {receipts_path}")
        self.ask(clients, "quit")
        interactive_stop(clients)
        receipts = json.loads(receipts_path.read_text())
        delays = []
        missing = 0
        for key, answered_at in answered.items():
            got = receipts.get(key, [])
            missing += per_chat - len(got)
            delays += [(at - answered_at) * 1000 for at in got]
        delays.sort()
        cpu = cpu_after - cpu_before
        result = {
            "streams": len(paths),
            "chats": args.chats,
            "streams_per_chat": per_chat,
            "creates_per_second": round(len(answered) / elapsed, 1),
            "statuses": statuses,
            "events_expected": len(answered) * per_chat,
            "events_missing": missing,
            "delay_ms_p50": round(delays[len(delays) // 2], 2) if delays else None,
            "delay_ms_p99": round(delays[int(len(delays) * 0.99)], 2) if delays else None,
            "delay_ms_max": round(delays[-1], 2) if delays else None,
            "stream_worker_cpu_seconds_per_second": round(cpu / elapsed, 2),
        }
        print("latency", result, flush=True)
        self.results["latency"] = result
        self.stack.stop("stream-latency")

    def asgi_server(self, name: str) -> int:
        port = free_port()
        command = stream_command(bind=f"{HOST}:{port}", workers=2, python=PYTHON)
        self.stack.start(name, [*command, "--reuse-port"], self.env)
        wait_until(lambda: serving(port), timeout=60, what=f"{name} serving")
        return port

    def rest(self, api: Api, modes: tuple[str, str] = ("off", "on"), key: str = "rest") -> None:
        args = self.args
        wrk = wrk_ensure()
        runs: dict[str, list[float]] = {mode: [] for mode in modes}
        for round_ in range(args.rounds):
            for mode in modes:
                if mode == "asgi":
                    port = self.asgi_server(f"web-{mode}")
                else:
                    maxlen = "0" if mode == "off" else "10000"
                    port = self.web(f"web-{mode}", EVENTS_STREAM_MAXLEN=maxlen)
                client = Api(port)
                token = client.create("/api/v1/apps", {"name": f"rest {mode} {round_}"})["token"]
                for _ in range(50):
                    client.create(f"/api/v1/apps/{token}/chats")
                output = command_run(
                    [
                        wrk,
                        "-t2",
                        "-c32",
                        f"-d{args.rest_seconds}s",
                        "--latency",
                        "-s",
                        str(BASE_DIR / "bench" / "wrk.lua"),
                        f"http://{HOST}:{port}",
                        "--",
                        "message_create",
                        token,
                        "1",
                        "50",
                    ],
                    timeout=args.rest_seconds + 60,
                    check=True,
                ).stdout
                line = next(x for x in output.splitlines() if x.startswith("WRK_JSON"))
                figures = json.loads(line.split(" ", 1)[1])
                created = figures["statuses"].get("201", 0)
                rate = created / (figures["duration_us"] / 1e6)
                runs[mode].append(round(rate, 1))
                print(key, mode, round(rate, 1), flush=True)
                self.stack.stop(f"web-{mode}")
        first, second = (statistics.median(runs[mode]) for mode in modes)
        self.results[key] = {
            "creates_per_second": runs,
            f"{modes[1]}_over_{modes[0]}": round(second / first, 3),
        }

    def memory(self) -> None:
        client = self.stack.redis()
        pattern = f"{self.args.key_prefix}:{{p*}}:events"
        used = length = 0
        for key in client.scan_iter(match=pattern, count=1000):
            if key.endswith(b":events"):
                used += client.memory_usage(key, samples=0) or 0
                length += client.xlen(key)
        self.results["memory"] = {
            "events_retained": length,
            "bytes": used,
            "bytes_per_event": round(used / length, 1) if length else None,
            "body": "100 characters",
        }


def main() -> int:
    args = arguments()
    stack = Stack(
        mysql_url=args.mysql_url,
        database=args.database,
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
    )
    bench = Bench(stack, args)
    phases = args.phases.split(",")
    try:
        stack.redis_claim(force=False)
        stack.database_create()
        stack.run_foreground(
            "migrate", [PYTHON, "manage.py", "migrate", "--noinput"], timeout=300, env=bench.env
        )
        web_port = bench.web("web")
        api = Api(web_port)
        bench.results["load_average_before"] = os.getloadavg()
        if "idle" in phases:
            bench.idle(api)
        if "latency" in phases:
            bench.latency(api, web_port)
        if "memory" in phases:
            bench.memory()
        if "rest" in phases:
            bench.rest(api)
        if "asgi" in phases:
            bench.rest(api, ("on", "asgi"), "asgi")
        bench.results["load_average_after"] = os.getloadavg()
    finally:
        stack.close()
    print(json.dumps(bench.results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
