"""The engine's Celery tasks, and the one place that queues them.

The drain (pipeline.drain) and the create services ask for drains through the functions here
(``drain_queue``, and the ``FOLLOW_UPS`` a drain task hands its drain); nothing below this
module imports it, so the engine's modules form no cycle. Tasks are thin, over the services,
and take plain data, never models.
"""

import logging

from celery import shared_task
from django.conf import settings

from core.redis_client import redis_connection
from pipeline import counters, drain, keys
from pipeline.journal import partitions_due
from pipeline.numbering import DRAIN_REQUEST_INTERVAL_MS

logger = logging.getLogger(__name__)


# Not retried: when the database is down the drain gives its batch back and beat runs a new
# drain every JOURNAL_DRAIN_EVERY_SECONDS; nothing depends on this message being delivered.
@shared_task(acks_late=False)
def journal_drain_task(partition: int, later: bool = False) -> int:
    return drain.journal_drain(
        partition,
        batch_size=settings.PERSIST_BATCH_SIZE,
        time_budget_seconds=settings.PERSIST_DRAIN_SECONDS,
        follow_ups=FOLLOW_UPS,
        pause_after_partial_ms=settings.PERSIST_PAUSE_AFTER_PARTIAL_MS,
        later=later,
    )


@shared_task(acks_late=False)
def journal_sweep_task() -> list[int]:
    return journal_sweep()


# The periodic tasks are not retried: the next beat tick runs them again anyway.
@shared_task
def counts_refresh_changed_task() -> tuple[int, int]:
    return counters.counts_refresh_changed()


@shared_task
def counts_refresh_all_task() -> tuple[int, int]:
    return counters.counts_refresh_all()


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
    try:
        for partition in partitions_due(now=float("inf")):
            drain.drain_idle(partition)
            drain_queue(partition, already_marked=True)
        journal_sweep_task.apply_async(countdown=lease_seconds)
    except Exception:
        logger.exception("could not queue the journal drains after connecting; beat will")
        return
    logger.info("connected to the broker: journal drains queued now and in %ss", lease_seconds)


FOLLOW_UPS = drain.FollowUps(
    now=drain_queue,
    later=lambda partition, after_ms: drain_queue_later(partition, after_ms=after_ms),
)
