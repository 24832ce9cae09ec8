"""Draining the journal into SQL: claim a batch, write it in one transaction, clear it.

A drain of one partition runs as a Celery task; pipeline.tasks queues drains (at most one per
partition per interval, by the accepting script's marker; beat's sweep every few seconds for
each partition with rows due; a worker each time it (re)connects to the broker) and hands each
drain the ``FollowUps`` it queues next.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from core.errors import unavailable
from core.metrics.instruments import DRAIN_BATCH_ROWS, DRAIN_BATCH_SECONDS
from core.redis_client import redis_connection
from pipeline import dead_letters, keys
from pipeline.journal import Claim, journal_claim, journal_release
from pipeline.registry import records_persist

logger = logging.getLogger(__name__)


def drain_idle(partition: int) -> None:
    """An idle drain clears the marker, so the next accepted row queues a drain at once."""
    redis_connection().delete(keys.drain_requested_key(partition))


def _claims_persist(claims: list[Claim]) -> None:
    """Write claimed entries in one go; isolate a bad one rather than fail the batch for good.

    An outage (database, Redis or the broker unreachable, or Redis refusing writes for now)
    gives the batch back uncounted and re-raises, so the drain stops and beat tries again
    later. Any other error means some entry cannot be written: the entries are then written
    one by one, and one that has failed ``PERSIST_MAX_ATTEMPTS`` claims becomes a dead letter
    instead of blocking the queue forever.
    """
    try:
        records_persist([claim.record() for claim in claims])
        return
    except Exception as error:
        if unavailable(error):
            retry = settings.PERSIST_RETRY_SECONDS
            journal_release([c.entry for c in claims], after_seconds=retry)
            raise
        logger.exception("a batch of %d rows failed; writing them one by one", len(claims))
    for claim in claims:
        try:
            records_persist([claim.record()])
        except Exception as error:
            if unavailable(error):
                journal_release([claim.entry], after_seconds=settings.PERSIST_RETRY_SECONDS)
                raise
            if claim.attempts >= settings.PERSIST_MAX_ATTEMPTS:
                dead_letters.dead_letter_from_journal(claim, error)
            else:
                logger.exception("could not write %s (attempt %d)", claim.entry, claim.attempts)


@dataclass(frozen=True)
class FollowUps:
    """How a drain asks for the next ones (pipeline.tasks queues them): ``now(partition)``
    and ``later(partition, after_ms)``."""

    now: Callable[[int], None]
    later: Callable[[int, int], None]


def journal_drain(
    partition: int,
    *,
    batch_size: int,
    time_budget_seconds: float,
    follow_ups: FollowUps,
    pause_after_partial_ms: int = 0,
    later: bool = False,
) -> int:
    """Write what a partition's journal holds, a batch per transaction; how many rows.

    A full batch means more is waiting, so another drain is queued to put an idle worker to
    work too, and this one goes on. A partial batch, with ``pause_after_partial_ms``, is the
    last: the next drain is queued that much later (and the drain-requested marker held until
    then, so accepted rows queue none of their own), to find a batch where looping at once
    would find a few rows per transaction. Without it, the drain goes on until the journal is
    empty. ``later``: this is the drain such a pause queued.

    When the journal looks empty the drain clears the marker and looks once more: a row
    accepted while the marker was still set is either taken by that last look or asks for a
    drain of its own, never left waiting for beat.
    """
    deadline = time.monotonic() + time_budget_seconds
    written = 0
    lease = settings.PERSIST_LEASE_SECONDS
    if later:  # the drain a pause announced has started: the next pause may announce one
        redis_connection().delete(keys.drain_later_key(partition))
    while True:
        claims = journal_claim(partition, limit=batch_size, lease_seconds=lease)
        if not claims:
            drain_idle(partition)
            claims = journal_claim(partition, limit=batch_size, lease_seconds=lease)
            if not claims:
                return written
        full = len(claims) == batch_size
        if full:
            follow_ups.now(partition)
        started = time.perf_counter()
        _claims_persist(claims)
        DRAIN_BATCH_SECONDS.observe(time.perf_counter() - started)
        DRAIN_BATCH_ROWS.observe(len(claims))
        written += len(claims)
        if not full and pause_after_partial_ms:
            follow_ups.later(partition, pause_after_partial_ms)
            return written
        if time.monotonic() > deadline:
            follow_ups.now(partition)  # hand over rather than hold one worker for ever
            return written
