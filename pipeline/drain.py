"""Draining the journal into SQL: claim a batch, write it in one transaction, clear it.

A drain of one partition runs as a Celery task (pipeline.tasks). At most one per partition is
queued per interval by the accepting script's marker; beat's sweep queues one every few
seconds for each partition with rows due (leases that ran out while nothing was accepted); a
worker queues them each time it (re)connects to the broker.
"""

import logging
import time

from django.conf import settings

from chatapi.errors import unavailable
from chatapi.redis_client import redis_connection
from core.metrics.instruments import DRAIN_BATCH_ROWS, DRAIN_BATCH_SECONDS
from pipeline import dead_letters, keys
from pipeline.journal import Claim, journal_claim, journal_release, partitions_due
from pipeline.legacy import misplaced_move
from pipeline.numbering import DRAIN_REQUEST_INTERVAL_MS
from pipeline.persist import records_persist

logger = logging.getLogger(__name__)


def drain_queue(
    partition: int,
    *,
    already_marked: bool = False,
    countdown: float | None = None,
    later: bool = False,
) -> None:
    """Queue a drain of a partition, unless one was queued less than an interval ago.

    ``already_marked``: the caller's Lua script set the marker and asks to queue the task.
    ``later``: the drain a pause announced (``drain_queue_later``).
    A failure to queue is logged and forgiven: beat's sweep queues drains every few seconds.
    """
    if not already_marked and not redis_connection().set(
        keys.drain_requested_key(partition), 1, nx=True, px=DRAIN_REQUEST_INTERVAL_MS
    ):
        return
    # Imported here: the task module imports this one (HackSoft's styleguide does the same).
    from pipeline.tasks import journal_drain_task

    try:
        kwargs = {"later": True} if later else {}
        journal_drain_task.apply_async(args=(partition,), kwargs=kwargs, countdown=countdown)
    except Exception:
        logger.exception("could not queue a journal drain; beat will")


def drain_queue_later(partition: int, *, after_ms: int) -> None:
    """Queue a drain in ``after_ms``, unless one is announced already, and hold the
    drain-requested marker until it runs, so the rows accepted meanwhile wait for it.

    Several drains can end on a partial batch at once (the extra drains full batches queued
    find a journal nearly empty): they queue one later drain between them, not one each,
    which would go on as that many chains of drains on a few rows each. ``{pN}:drain-later``
    announces it from when it is queued until it starts (``journal_drain`` with ``later``
    deletes it), not for a time of its own: a worker whose clock runs ahead, or a broker that
    rounds a countdown down, may start it early, and it must then be free to queue the next.
    """
    announce = DRAIN_REQUEST_INTERVAL_MS + after_ms
    pipe = redis_connection().pipeline(transaction=False)  # one slot: both keys carry {pN}
    pipe.set(keys.drain_requested_key(partition), 1, px=announce)
    # Expires as well, should the task be lost (a worker killed holding it): a bounded stall.
    pipe.set(keys.drain_later_key(partition), 1, nx=True, px=announce)
    if pipe.execute()[1]:
        drain_queue(partition, already_marked=True, countdown=after_ms / 1000, later=True)


def drain_idle(partition: int) -> None:
    """An idle drain clears the marker, so the next accepted row queues a drain at once."""
    redis_connection().delete(keys.drain_requested_key(partition))


def journal_sweep() -> list[int]:
    """Queue a drain of every partition with an entry due (beat, every few seconds): rows whose
    lease ran out, or whose drain was lost, while nothing new was accepted. The partitions."""
    due = partitions_due()
    for partition in due:
        drain_queue(partition)
    return due


def drain_queue_after_connect(*, lease_seconds: float) -> None:
    """Queue the drains a worker owes the journal each time it (re)connects to the broker.

    Losing the broker can lose the drain a row asked for: the worker had it (a drain is not
    retried), or the ``BRPOP`` that popped it lost its reply with the connection. After a
    clean Redis restart the row's drain-requested marker comes back from the AOF and, for the
    rest of its interval, tells the rows accepted next that a drain is on its way, so none
    would be queued before beat's. Hence: the markers are cleared, a drain queued now for
    every partition with rows due, and a sweep once the leases of a drain that died with the
    connection have run out. Failures are logged and forgiven, as in ``drain_queue``.
    """
    from pipeline.tasks import journal_sweep_task

    try:
        misplaced_move()
        for partition in partitions_due(now=float("inf")):
            drain_idle(partition)
            drain_queue(partition, already_marked=True)
        journal_sweep_task.apply_async(countdown=lease_seconds)
    except Exception:
        logger.exception("could not queue the journal drains after connecting; beat will")
        return
    logger.info("connected to the broker: journal drains queued now and in %ss", lease_seconds)


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


def journal_drain(
    partition: int,
    *,
    batch_size: int,
    time_budget_seconds: float,
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
            drain_queue(partition)
        started = time.perf_counter()
        _claims_persist(claims)
        DRAIN_BATCH_SECONDS.observe(time.perf_counter() - started)
        DRAIN_BATCH_ROWS.observe(len(claims))
        written += len(claims)
        if not full and pause_after_partial_ms:
            drain_queue_later(partition, after_ms=pause_after_partial_ms)
            return written
        if time.monotonic() > deadline:
            drain_queue(partition)  # hand over rather than hold one worker for ever
            return written
