"""Thin Celery tasks over search.indexing; they take plain data, never model instances."""

from celery import shared_task

from search import indexing

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
