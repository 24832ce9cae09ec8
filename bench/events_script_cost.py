"""What the events add to a create inside Redis: the allocating script's time per call
(``INFO commandstats``, evalsha) with events off and on, in one process, alternating.

    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/events_script_cost.py

The REST figures of bench/live_events.py on a shared 2-core machine move by more than the
difference sought; this isolates the part the events change (the script gains an INCR and an
XADD, and no round trip). Flushes nothing: it uses a key prefix of its own and deletes its keys.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.test")
os.environ["REDIS_KEY_PREFIX"] = "bench-events-script"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from core.redis_client import redis_connection  # noqa: E402
from pipeline.numbering import (  # noqa: E402
    application_register,
    chat_number_allocate,
    message_number_allocate,
)

CALLS = 5000
ROUNDS = 3


def never(*_args: object) -> int:
    raise RuntimeError("no reseed expected")


def no_replay(_key_hash: str, _lowest: int) -> None:
    raise RuntimeError("no Idempotency-Key is sent")


def usec_per_call() -> tuple[int, float]:
    stats = redis_connection().info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


def run(maxlen: int) -> tuple[float, float]:
    settings.EVENTS_STREAM_MAXLEN = maxlen
    token = secrets.token_hex(16)
    application_register(token=token)
    chat = chat_number_allocate(token=token, payload={}, reseed=never, replay_lookup=no_replay)
    body = {"body": "x" * 100, "created_at": "2026-01-01T00:00:00+00:00"}
    calls_before, usec_before = usec_per_call()
    started = time.perf_counter()
    for _ in range(CALLS):
        message_number_allocate(
            token=token,
            chat_number=chat.number,
            payload=body,
            reseed=never,
            replay_lookup=no_replay,
        )
    elapsed = time.perf_counter() - started
    calls_after, usec_after = usec_per_call()
    return (usec_after - usec_before) / (calls_after - calls_before), elapsed / CALLS * 1e6


def main() -> None:
    figures: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        figures["off"].append(run(0))
        figures["on"].append(run(10000))
    client = redis_connection()
    for key in client.scan_iter(match="bench-events-script:*", count=1000):
        client.delete(key)
    for mode, runs in figures.items():
        server = statistics.median(run[0] for run in runs)
        client_side = statistics.median(run[1] for run in runs)
        print(f"events {mode}: script {server:.1f} us/call in Redis, {client_side:.0f} us/create")


if __name__ == "__main__":
    main()
