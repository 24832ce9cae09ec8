"""messages_app's Celery tasks: thin, over its services; they take plain data, never models."""

from typing import Any

from celery import Task, shared_task

from core.errors import UNAVAILABLE_ERRORS, unavailable
from messages_app.edits import MessageNotPersistedYet, message_edit_apply
from messages_app.records import EditRecord
from pipeline.dead_letters import dead_letter_from_record


class DependencyRefused(Exception):
    """A dependency refused for now (a Redis refusal reply): worth retrying, unlike a bug."""


class EditTask(Task):
    """Once out of retries, an edit becomes a dead letter instead of vanishing."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        dead_letter_from_record(EditRecord.from_journal(*args), exc)


# Retried with exponential backoff while the message's row does not exist yet, or a dependency
# is down: for about half an hour (30 retries, a minute apart at most); then a dead letter. Any
# other error is a bug that a retry cannot mend: a dead letter at once. Acknowledged late, so a
# worker killed while running it leaves it to another.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
@shared_task(
    base=EditTask,
    autoretry_for=(MessageNotPersistedYet, DependencyRefused, *UNAVAILABLE_ERRORS),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=30,
    acks_late=True,
    reject_on_worker_lost=True,
)
def message_edit_task(entry: str, payload: dict[str, Any]) -> None:
    try:
        message_edit_apply(EditRecord.from_journal(entry, payload))
    except (MessageNotPersistedYet, *UNAVAILABLE_ERRORS):
        raise
    except Exception as error:
        if unavailable(error):
            raise DependencyRefused(str(error)) from error
        raise
