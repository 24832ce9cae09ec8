"""Every instrument the service updates, in one module: adding one is one line here and one
where it is counted.

Importable by the engine (pipeline), the apps and the shared library alike: it imports nothing
of the project. Label values come from fixed sets only (a route template, a method from
``METHODS``, a status code, a kind or cause named here), never a token, a chat number or
anything a client chose, so no series can leak an identifier or multiply without bound.

Gauges set by a process say how they combine across processes (``multiprocess_mode``): a
timestamp takes the largest.
https://prometheus.github.io/client_python/multiprocess/
"""

import os
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

# The multiprocess directory must exist before the first value is made (below, at import): a
# launcher may name one that nobody created yet (core.metrics.multiprocess).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# Seconds: from a millisecond to the 10 s a request may take before gunicorn's timeout matters.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Rows in one drained batch: PERSIST_BATCH_SIZE is 500 by default.
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)

# The HTTP methods counted under their own name; any other is counted as "other".
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))

HTTP_REQUESTS = Histogram(
    "chatapi_http_request_duration_seconds",
    "HTTP requests by route template, method and status, and how long each took.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
CREATES_ACCEPTED = Counter(
    "chatapi_creates_accepted_total",
    "Chats and messages accepted (journaled, 201), replays of an Idempotency-Key left out.",
    ["kind"],
)
CHATS_ACCEPTED = CREATES_ACCEPTED.labels(kind="chat")
MESSAGES_ACCEPTED = CREATES_ACCEPTED.labels(kind="message")
REFUSALS = Counter(
    "chatapi_refusals_total",
    "Requests refused for now (503; 429 when throttled), by cause.",
    ["cause"],
)
ALLOCATOR_RESEEDS = Counter(
    "chatapi_allocator_reseeds_total",
    "Counters the allocator could not vouch for and reseeded from SQL.",
    ["kind"],
)
ROWS_PERSISTED = Counter(
    "chatapi_rows_persisted_total",
    "Journaled chats and messages written to SQL by the drains.",
    ["kind"],
)
DRAIN_BATCH_ROWS = Histogram(
    "chatapi_drain_batch_rows",
    "Rows per batch a drain claimed and wrote.",
    buckets=BATCH_BUCKETS,
)
DRAIN_BATCH_SECONDS = Histogram(
    "chatapi_drain_batch_duration_seconds",
    "How long a drain took to write one batch (its transaction and the after-commit work).",
    buckets=LATENCY_BUCKETS,
)
COUNTS_REFRESHED = Gauge(
    "chatapi_counts_last_refresh_timestamp_seconds",
    "When the stale chats_count and messages_count were last recomputed (Unix time).",
    multiprocess_mode="max",
)
SEARCH_SECONDS = Histogram(
    "chatapi_search_duration_seconds",
    "Queries to the search backend, by backend, and how long each took.",
    ["backend"],
    buckets=LATENCY_BUCKETS,
)
BEAT_TASKS_SENT = Counter(
    "chatapi_beat_tasks_sent_total",
    "Periodic tasks Celery beat sent to the broker, by task.",
    ["task"],
)
