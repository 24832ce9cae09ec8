"""Thin Celery tasks over chats.services; they take plain data, never model instances."""

from datetime import datetime

from celery import shared_task

from chatapi.celery import PERSIST_TASK_OPTIONS
from chats import services


@shared_task(**PERSIST_TASK_OPTIONS)
def chat_persist_task(token: str, number: int, created_at: str) -> None:
    services.chats_persist(
        records=[
            services.ChatRecord(
                token=token, number=number, created_at=datetime.fromisoformat(created_at)
            )
        ]
    )


@shared_task(**PERSIST_TASK_OPTIONS)
def counts_refresh_changed_task() -> tuple[int, int]:
    return services.counts_refresh_changed()


@shared_task(**PERSIST_TASK_OPTIONS)
def counts_refresh_all_task() -> tuple[int, int]:
    return services.counts_refresh_all()
