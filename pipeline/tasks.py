"""The pipeline's Celery tasks: thin, over its services; they take plain data, never models."""

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from pipeline import counters, dead_letters, drain, edits
from pipeline.records import EditRecord


class EditTask(Task):
    """Once out of retries, an edit becomes a dead letter instead of vanishing."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        dead_letters.dead_letter_from_edit(EditRecord.from_journal(*args), exc)


# Retried with exponential backoff until the message's row exists: for about half an hour
# (30 retries, a minute apart at most); then a dead letter. Acknowledged late, so a worker
# killed while running it leaves it to another.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
@shared_task(
    base=EditTask,
    autoretry_for=(Exception,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=30,
    acks_late=True,
    reject_on_worker_lost=True,
)
def message_edit_task(entry: str, payload: dict[str, Any]) -> None:
    edits.message_edit_apply(EditRecord.from_journal(entry, payload))


# Not retried: when the database is down the drain gives its batch back and beat runs a new
# drain every JOURNAL_DRAIN_EVERY_SECONDS; nothing depends on this message being delivered.
@shared_task(acks_late=False)
def journal_drain_task(partition: int, later: bool = False) -> int:
    return drain.journal_drain(
        partition,
        batch_size=settings.PERSIST_BATCH_SIZE,
        time_budget_seconds=settings.PERSIST_DRAIN_SECONDS,
        pause_after_partial_ms=settings.PERSIST_PAUSE_AFTER_PARTIAL_MS,
        later=later,
    )


@shared_task(acks_late=False)
def journal_sweep_task() -> list[int]:
    return drain.journal_sweep()


# The periodic tasks are not retried: the next beat tick runs them again anyway.
@shared_task
def counts_refresh_changed_task() -> tuple[int, int]:
    return counters.counts_refresh_changed()


@shared_task
def counts_refresh_all_task() -> tuple[int, int]:
    return counters.counts_refresh_all()
