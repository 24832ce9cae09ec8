"""Thin Celery tasks over chats.services; they take plain data, never model instances."""

from datetime import datetime

from celery import shared_task

from chatapi.celery import PERSIST_TASK_OPTIONS
from chatapi.pending import chat_field
from chats import services


@shared_task(**PERSIST_TASK_OPTIONS, journal_field=staticmethod(lambda args: chat_field(*args[:2])))
def chat_persist_task(token: str, number: int, created_at: str) -> None:
    services.chats_persist(
        records=[
            services.ChatRecord(
                token=token, number=number, created_at=datetime.fromisoformat(created_at)
            )
        ]
    )


# The periodic tasks are not retried: the next beat tick runs them again anyway.
@shared_task
def counts_refresh_changed_task() -> tuple[int, int]:
    return services.counts_refresh_changed()


@shared_task
def counts_refresh_all_task() -> tuple[int, int]:
    return services.counts_refresh_all()
