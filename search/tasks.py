"""Thin Celery tasks over search.indexing, and the one place that queues them; they take plain
data, never model instances."""

import logging
from collections.abc import Sequence

from celery import shared_task
from django.conf import settings

from search import indexing

logger = logging.getLogger(__name__)

# Keys per indexing task, and so per bulk request from the task.
INDEX_TASK_BATCH = 500

# Retried with exponential backoff while Elasticsearch is down or refuses writes: writes to the
# API never wait for it. The countdown stays under CELERY_VISIBILITY_TIMEOUT (300 s) so that the
# Redis transport does not hand a waiting retry to a second worker; 40 retries span about two
# and a half hours, after which `manage.py search_reindex` catches the index up.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
INDEX_TASK_OPTIONS = {
    "autoretry_for": (Exception,),
    "retry_backoff": 2,
    "retry_backoff_max": 240,
    "retry_jitter": True,
    "max_retries": 40,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(**INDEX_TASK_OPTIONS)
def messages_index_task(keys: list[list[int]]) -> int:
    """Index the messages named by [chat id, number] pairs; idempotent (search.documents)."""
    return indexing.messages_index(keys=keys)


def messages_index_later(*, keys: Sequence[tuple[int, int]]) -> None:
    """Queue the indexing of these messages; never raises, so the write it follows stands."""
    if not keys or not settings.ELASTICSEARCH_URL:
        return
    for start in range(0, len(keys), INDEX_TASK_BATCH):
        batch = [[chat_id, number] for chat_id, number in keys[start : start + INDEX_TASK_BATCH]]
        try:
            messages_index_task.delay(batch)
        except Exception:
            # The rows are safe in the database; `manage.py search_reindex` restores the index.
            logger.exception("could not queue the indexing of %d messages", len(batch))
