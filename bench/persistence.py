"""How fast the Celery workers turn accepted messages (201) into rows, measured from outside.

Nothing here imports the project: rows are counted with SQL on the ``messages`` table, and the
number of accepted messages is read from the allocator's Redis counters, so the same code
measures any persistence strategy (one task per message, batches, a drain task).

- ``RowSampler`` records (time, rows, accepted) five times a second while the API is loaded.
  The workers' capacity under load is the slope of the row count over the span in which the
  queue was not empty (a worker with nothing to do shows only the arrival rate).
- ``drain_wait`` polls until the row count reaches the accepted count.
- ``lag_probe`` posts at a fixed rate (open loop) and notes, for every 201, when the row first
  becomes readable with SQL; a separate poller reads the new numbers every 10 ms.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Below this many messages waiting, the queue counts as empty: the prefetched tasks of a
# worker and the rows of one open transaction are always "in flight".
BACKLOG_EMPTY_BELOW = 100


# The shortest busy span the capacity is computed over: three sampling intervals. Shorter, the
# workers emptied the queue at once and only "at least the window rate" can be said.
MIN_CAPACITY_SPAN_SECONDS = 0.6


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p % of the values lie)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def rows_count(conn, chat_ids: list[int]) -> int:
    with conn.cursor() as cursor:
        marks = ", ".join(["%s"] * len(chat_ids))
        cursor.execute(f"SELECT COUNT(*) FROM messages WHERE chat_id IN ({marks})", chat_ids)  # noqa: S608
        return int(cursor.fetchone()[0])


@dataclass
class RowSampler:
    count_rows: Callable[[], int]
    count_accepted: Callable[[], int]
    interval: float = 0.2
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="row-sampler", daemon=True)

    def sample(self) -> tuple[float, int, int]:
        row = (time.monotonic(), self.count_rows(), self.count_accepted())
        self.samples.append(row)
        return row

    def start(self) -> RowSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def persistence_under_load(samples: list[tuple[float, int, int]], start: float, end: float) -> dict:
    """Rows written per second while the API was loaded, over the whole window and at capacity.

    ``window``: (rows at end - rows at start) / window, as the issue states it. ``capacity``:
    the same over the part of the window in which the queue held at least BACKLOG_EMPTY_BELOW
    messages, i.e. the workers were never waiting for work. When the queue was never empty the
    two are equal; when it emptied (the workers outran the API), the capacity is measured over
    the span before it emptied and ``capacity_lower_bound`` says whether that span was too short
    (under MIN_CAPACITY_SPAN_SECONDS) to tell more than "at least the window rate".
    """
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2:
        return {"error": "fewer than two samples in the load window"}
    (t0, rows0, accepted0), (t1, rows1, accepted1) = inside[0], inside[-1]
    window_rate = (rows1 - rows0) / (t1 - t0)
    busy_end = None
    for t, rows, accepted in inside:
        if accepted - rows < BACKLOG_EMPTY_BELOW:
            break
        busy_end = (t, rows)
    span = busy_end[0] - t0 if busy_end else 0.0
    lower_bound = span < MIN_CAPACITY_SPAN_SECONDS
    capacity = window_rate if busy_end is None or lower_bound else (busy_end[1] - rows0) / span
    return {
        "window_s": round(t1 - t0, 2),
        "rows_at_start": rows0,
        "rows_at_end": rows1,
        "backlog_at_start": accepted0 - rows0,
        "backlog_at_end": accepted1 - rows1,
        "accepted_in_window": accepted1 - accepted0,
        "persisted_per_s_window": round(window_rate, 1),
        "persisted_per_s_capacity": round(capacity, 1),
        "capacity_span_s": round(span, 2),
        "capacity_lower_bound": lower_bound,
    }


def drain_wait(
    *, count_rows: Callable[[], int], count_accepted: Callable[[], int], timeout: float
) -> dict:
    """Seconds from now until every accepted message is a row (or the timeout, extrapolated)."""
    start = time.monotonic()
    accepted = count_accepted()
    first_rows = rows = count_rows()
    backlog_at_stop = accepted - rows
    while rows < accepted and time.monotonic() - start < timeout:
        time.sleep(0.1)
        rows = count_rows()
        # Requests in flight when the load stopped may still have been answered since.
        accepted = count_accepted()
    elapsed = time.monotonic() - start
    result = {
        "accepted_total": accepted,
        "backlog_at_stop": backlog_at_stop,
        "drained": rows >= accepted,
        "drain_s": round(elapsed, 2),
        "rows_left": max(0, accepted - rows),
        "drain_rows_per_s": round((rows - first_rows) / elapsed, 1) if elapsed > 0 else None,
    }
    rate = result["drain_rows_per_s"]
    if not result["drained"] and isinstance(rate, float) and rate:
        result["drain_s_estimated"] = round(elapsed + max(0, accepted - rows) / rate, 1)
    return result


class _SeenPoller:
    """Notes the first time each message number of one chat is readable in SQL."""

    def __init__(self, connect: Callable[[], Any], chat_id: int, interval: float) -> None:
        self.connect = connect
        self.chat_id = chat_id
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.lowest_unseen = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seen-poller", daemon=True)

    def start(self) -> _SeenPoller:
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                while not self._stop.is_set():
                    cursor.execute(
                        "SELECT number FROM messages WHERE chat_id = %s AND number >= %s",
                        (self.chat_id, self.lowest_unseen),
                    )
                    now = time.monotonic()
                    for (number,) in cursor.fetchall():
                        self.seen.setdefault(int(number), now)
                    while self.lowest_unseen in self.seen:
                        self.lowest_unseen += 1
                    self._stop.wait(self.interval)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def lag_probe(
    *,
    host: str,
    port: int,
    token: str,
    chat_number: int,
    chat_id: int,
    connect: Callable[[], object],
    rate: float,
    duration: float,
    clients: int,
    wait_seconds: float,
    poll_interval: float = 0.01,
    poller: Any = None,
) -> dict:
    """Post at ``rate`` per second for ``duration`` and measure 201 -> row readable.

    ``poller``: what says when each number became visible, if not SQL's row (an object with
    ``start()``, ``stop()`` and ``seen``, a dict of number -> monotonic time, as _SeenPoller).

    Open loop: request i is due at start + i / rate whatever happened to the others, across
    ``clients`` threads, so a slow server cannot slow the arrivals down (the coordinated
    omission a closed-loop client would hide).
    """
    path = f"/api/v1/apps/{token}/chats/{chat_number}/messages"
    # A connection per request: kept-alive connections could all land on one gunicorn worker
    # (see loadgen), and the accept of each new one spreads the requests over the workers.
    headers = {"Content-Type": "application/json", "Connection": "close"}
    created: dict[int, float] = {}
    late: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    slots = itertools.count()
    poller = (poller or _SeenPoller(connect, chat_id, poll_interval)).start()
    start = time.monotonic() + 0.2
    end = start + duration

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            while True:
                with lock:
                    slot = next(slots)
                due = start + slot / rate
                if due >= end:
                    return
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                body = json.dumps({"body": f"lag probe {slot}: the quick brown fox"})
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    answered = time.monotonic()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with lock:
                        failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    continue
                with lock:
                    if response.status == 201:
                        created[int(json.loads(payload)["number"])] = answered
                        late.append(answered - due)
                    else:
                        failures[str(response.status)] = failures.get(str(response.status), 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, name=f"probe-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_for = time.monotonic() - start
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and not all(n in poller.seen for n in created):
        time.sleep(0.05)
    poller.stop()

    lags = [poller.seen[n] - at for n, at in created.items() if n in poller.seen]
    unseen = len(created) - len(lags)
    # A row never seen counts as an infinitely late one, so it can only raise the percentiles.
    lags_all = lags + [math.inf] * unseen

    def ms(value: float | None) -> float | None:
        return None if value is None or math.isinf(value) else round(value * 1000, 1)

    return {
        "target_rate_per_s": round(rate, 1),
        "achieved_rate_per_s": round(len(created) / sent_for, 1) if sent_for > 0 else None,
        "duration_s": round(duration, 1),
        "clients": clients,
        "created": len(created),
        "failures": failures,
        "rows_never_seen": unseen,
        "poll_interval_ms": poll_interval * 1000,
        "lag_ms": {
            "p50": ms(percentile(lags_all, 50)),
            "p90": ms(percentile(lags_all, 90)),
            "p99": ms(percentile(lags_all, 99)),
            "max": ms(max(lags_all, default=None)),
        },
        # POST latency counted from when the request was due, not from when it was sent.
        "post_latency_from_schedule_ms_p99": ms(percentile(late, 99)),
    }
