"""Thin Celery tasks over messages_app.services; they take plain data, never model instances."""

from datetime import datetime

from celery import shared_task
from django.conf import settings

from chatapi.celery import PERSIST_TASK_OPTIONS
from chatapi.pending import message_field
from messages_app import services


@shared_task(
    **PERSIST_TASK_OPTIONS, journal_field=staticmethod(lambda args: message_field(*args[:3]))
)
def message_persist_task(
    token: str, chat_number: int, number: int, body: str, created_at: str, updated_at: str
) -> None:
    services.messages_persist(
        records=[
            services.MessageRecord(
                token=token,
                chat_number=chat_number,
                number=number,
                body=body,
                created_at=datetime.fromisoformat(created_at),
                updated_at=datetime.fromisoformat(updated_at),
            )
        ]
    )


@shared_task(**{**PERSIST_TASK_OPTIONS, "max_retries": 30})
def message_edit_task(
    token: str, chat_number: int, number: int, body: str, updated_at: str
) -> None:
    services.message_edit_apply(
        token=token,
        chat_number=chat_number,
        number=number,
        body=body,
        updated_at=datetime.fromisoformat(updated_at),
    )


# Not retried: when the database is down the drain gives its batch back and beat runs a new
# drain every JOURNAL_DRAIN_EVERY_SECONDS; nothing depends on this message being delivered.
@shared_task(acks_late=False)
def journal_drain_task() -> int:
    return services.journal_drain(
        batch_size=settings.PERSIST_BATCH_SIZE,
        time_budget_seconds=settings.PERSIST_DRAIN_SECONDS,
    )
