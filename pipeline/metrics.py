"""The engine's state as Prometheus metrics, read from Redis at scrape time.

``JournalCollector`` (listed in ``settings.METRICS_COLLECTORS``) answers, summed over every
partition: the rows accepted but not persisted yet, the age of the oldest of them (the
201-to-readable promise: a row older than a few seconds means the drains are not keeping up or
not running), and the dead letters. One script per partition (``pipeline/lua/backlog.lua``),
all in one pipeline: one round trip to a Redis, one per node of a cluster, whatever the
number of partitions; each partition's keys share its hash slot (pipeline.keys).

The age is that of the oldest of two candidates per partition, the entry due first and the
entry whose lease ends first: the journal's clock orders entries by when they are next due,
not by when they were accepted, so an entry given back after an outage (due again later) can
be older than both; it is counted once its new due time comes.
"""

import logging
import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.errors import unavailable
from core.redis_client import redis_connection
from pipeline import keys, scripts

logger = logging.getLogger(__name__)


class JournalState:
    """The journal summed over partitions, as one scrape read it."""

    def __init__(self, replies: list[list[object]], now: float) -> None:
        self.backlog = sum(int(reply[0]) for reply in replies)  # type: ignore[call-overload]
        self.dead_letters = sum(int(reply[1]) for reply in replies)  # type: ignore[call-overload]
        accepted = [
            datetime.fromisoformat(scripts.text(candidate)).timestamp()
            for reply in replies
            for candidate in reply[2:]
            if candidate
        ]
        self.oldest_age = max(now - min(accepted), 0.0) if accepted else 0.0


def journal_state(now: float | None = None) -> JournalState:
    """The journal as of ``now`` (epoch seconds; by default, now)."""
    now = time.time() if now is None else now
    pipe = redis_connection().pipeline(transaction=False)
    for partition in keys.partitions():
        scripts.queue(
            pipe,
            "backlog",
            keys=[
                keys.journal_entries_key(partition),
                keys.journal_clock_key(partition),
                keys.dead_letters_key(partition),
            ],
            args=[now],
        )
    return JournalState(pipe.execute(), now)


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "chatapi_journal_read_ok",
            "1 when this scrape could read the journal from Redis, 0 when Redis did not answer.",
        ),
        GaugeMetricFamily(
            "chatapi_journal_backlog",
            "Chats and messages accepted (201) and not persisted yet, over every partition.",
        ),
        GaugeMetricFamily(
            "chatapi_journal_oldest_age_seconds",
            "How long ago the oldest row not persisted yet was accepted (0 when there is none).",
        ),
        GaugeMetricFamily(
            "chatapi_dead_letters", "Rows and edits that failed for good and wait for an operator."
        ),
    )


class JournalCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Named here so that registering the collector does not read Redis.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        read_ok, backlog, oldest, dead = _families()
        try:
            state = journal_state()
        except Exception as error:
            if not unavailable(error):
                raise
            logger.warning("metrics: the journal could not be read: %s", error)
            read_ok.add_metric([], 0)
            yield read_ok
            return
        read_ok.add_metric([], 1)
        backlog.add_metric([], state.backlog)
        oldest.add_metric([], state.oldest_age)
        dead.add_metric([], state.dead_letters)
        yield from (read_ok, backlog, oldest, dead)
