"""Runs wrk (Debian's package) with bench/wrk.lua and turns its report into plain figures."""

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack import ServiceProcess, Stack, command_run

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
# How many times a run whose connections landed on one worker is started again.
MAX_RESTARTS = 5


def wrk_ensure() -> str:
    """The path of wrk; installed with apt when missing and we are root, else a clear error."""
    path = shutil.which("wrk")
    if path:
        return path
    if Path("/usr/bin/apt-get").exists() and _is_root():
        print("wrk is missing: apt-get install -y wrk", flush=True)
        command_run(["apt-get", "install", "-y", "wrk"], timeout=600)
        path = shutil.which("wrk")
        if not path:  # the package lists may be empty on a fresh image
            command_run(["apt-get", "update"], timeout=600)
            command_run(["apt-get", "install", "-y", "wrk"], check=True, timeout=600)
            path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian) first")
    return path


def _is_root() -> bool:
    return os.geteuid() == 0


def _accepted(
    balance: Callable[[], list[int]], connections: int, process: ServiceProcess
) -> list[int]:
    """The connections per worker once all are accepted (or after 2 s, whatever is there)."""
    deadline = time.monotonic() + 2.0
    counts = balance()
    while sum(counts) < connections and time.monotonic() < deadline and process.alive():
        time.sleep(0.02)
        counts = balance()
    return counts


@dataclass(frozen=True)
class LoadSettings:
    threads: int
    connections: int
    timeout_seconds: int = 10
    # The connections each gunicorn worker holds, to restart a run that started lopsided.
    balance: Callable[[], list[int]] | None = None


def wrk_run(
    stack: Stack,
    *,
    base_url: str,
    scenario: list[str],
    duration: float,
    settings: LoadSettings,
    expected_status: int,
) -> dict:
    """One wrk run at fixed concurrency; figures as a dict (rates per second, times in ms).

    ``errors`` counts every response whose status is not ``expected_status`` plus every socket
    error (connect, read, write, timeout), so a 4xx, a 5xx or a redirect is an error alike.

    ``settings.balance()`` gives the connections each gunicorn worker accepted. wrk opens all its
    keep-alive connections at once, and now and then one worker accepts nearly all of them:
    the run then measures one core instead of two (half the requests per second). Such a
    start is stopped and run again (``restarts`` says how often, with the counts seen).
    """
    args = [
        wrk_ensure(),
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={settings.timeout_seconds}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        base_url,
        "--",
        *scenario,
    ]
    restarts: list[list[int]] = []
    while True:
        process, log_path = stack.spawn("wrk", args)
        started = time.monotonic()
        balance = settings.balance
        counts = _accepted(balance, settings.connections, process) if balance else None
        if (
            counts
            and 1 < len(counts) <= settings.connections / 2
            and min(counts) < settings.connections / len(counts) / 2
            and len(restarts) < MAX_RESTARTS
        ):
            stack.stop("wrk")
            restarts.append(counts)
            continue
        try:
            code = process.wait(timeout=duration + 60)
        finally:
            stack.stop("wrk")
        break
    output = log_path.read_text(errors="replace")
    line = next((ln for ln in output.splitlines() if ln.startswith("WRK_JSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"wrk exited with {code} and printed no report:\n{output[-3000:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    statuses = {int(status): count for status, count in raw["statuses"].items()}
    ok = statuses.get(expected_status, 0)
    socket_errors = sum(raw["socket_errors"].values())
    latency = raw["latency_us"]
    return {
        "scenario": scenario[0],
        "started_at_monotonic": started,
        "connections_per_worker": counts,
        "restarts": restarts,
        "threads": settings.threads,
        "connections": settings.connections,
        "seconds": round(seconds, 3),
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "ok": ok,
        "ok_per_s": round(ok / seconds, 1),
        "errors": raw["requests"] - ok + socket_errors,
        "socket_errors": raw["socket_errors"],
        "statuses": dict(sorted(statuses.items())),
        "latency_ms": {
            name: round(latency[name] / 1000, 2)
            for name in ("p50", "p90", "p99", "p999", "mean", "max")
        },
    }
