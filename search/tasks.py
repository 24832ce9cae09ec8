"""Thin Celery tasks over search.indexing, on the queue of their own (settings.SEARCH_QUEUE).

No retries here: the outbox (search.models) is what makes indexing durable. A drain that fails
or is lost leaves its rows in the table, and the next drain (after the next commit, or beat's
sweep every SEARCH_SWEEP_SECONDS) sends them.
"""

import logging

from celery import shared_task
from django.conf import settings

from core.redis_client import redis_connection, redis_key
from search import indexing

logger = logging.getLogger(__name__)

# How long a queued drain's marker lives if the drain never starts (a lost message): after
# that, commits queue drains again. Beat's sweep covers the gap meanwhile.
DRAIN_QUEUED_MARKER_MS = 5_000


def _queued_marker() -> str:
    return redis_key("search", "drain-queued")


def _engine_failed_marker() -> str:
    return redis_key("search", "engine-failed")


def drain_request_once() -> None:
    """Queue a drain unless one is queued and has not started: a burst of commits queues one.

    The drain deletes the marker as it starts, before it reads the outbox, so rows committed
    after that read always find either a queued drain or no marker (and queue one).

    While the engine is failing, commits queue nothing: beat's sweep keeps trying, once per
    SEARCH_SWEEP_SECONDS, instead of a drain per commit that fails at once.
    """
    redis = redis_connection()
    if redis.exists(_engine_failed_marker()):
        return
    if redis.set(_queued_marker(), 1, nx=True, px=DRAIN_QUEUED_MARKER_MS):
        outbox_drain_task.delay()


@shared_task(acks_late=False)
def outbox_drain_task() -> dict[str, int | bool]:
    """Send the search outbox to the engine (search.indexing.outbox_drain).

    Acknowledged on receipt: a drain that dies is not redelivered, the next one picks its rows
    up.
    """
    redis = redis_connection()
    redis.delete(_queued_marker())
    done = indexing.outbox_drain()
    # Out of time: the next drain goes on at once. The engine down or refusing: beat's sweep
    # tries again at its pace, rather than a loop of drains that fail.
    if done.failed:
        redis.set(_engine_failed_marker(), 1, px=int(settings.SEARCH_SWEEP_SECONDS * 1000))
    elif not done.skipped:
        redis.delete(_engine_failed_marker())
    if done.out_of_time:
        drain_request_once()
    return {
        "sent": done.sent,
        "removed_applications": done.removed_applications,
        "out_of_time": done.out_of_time,
        "failed": done.failed,
        "skipped": done.skipped,
    }


def drain_request() -> None:
    """Queue a drain unless one is queued and not started yet; never raises (an on-commit
    hook of search.receivers).

    A failure here costs latency only: the rows are committed, and beat's sweep drains them.
    """
    try:
        drain_request_once()
    except Exception:
        logger.warning("could not queue a search outbox drain; beat's sweep will", exc_info=True)
