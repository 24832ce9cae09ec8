"""Deleting an application with its chats and messages, in bounded steps.

One ``DELETE`` of a million messages holds its locks and its undo log for minutes, and Django's
own deletion first loads every related row into memory. Here rows go in batches of
``DELETE_BATCH``, each its own short transaction, by primary key, so the API and the workers go
on meanwhile and an interrupted run is simply run again. The admin deletes an application this
way when it is small (``ADMIN_DELETE_MAX`` rows at most, so the request stays short); a larger
one is refused there and deleted with ``manage.py application_delete <token>``.

Chats are not deleted on their own: the allocator (pipeline.numbering) answers "chat N exists"
for every number it handed out, so a POST to a deleted chat would be accepted and recreate it.
An application is forgotten by the allocator once its rows are gone: its token answers 404.
Rows that the API accepted for it while it was being deleted are dropped by the drain (it logs
each one: "application … is gone"). ``application_deleting`` goes out before the first row:
search records it and removes the application's documents once its rows are all gone.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from applications.models import Application
from applications.signals import application_deleting
from chatapi.admin_pagination import COUNT_CAP, capped_count
from chatapi.redis_client import redis_connection
from chats.models import Chat
from messages_app.models import Message
from pipeline.keys import application_key

logger = logging.getLogger(__name__)

DELETE_BATCH = 5_000
# The most rows (chats and messages together) the admin deletes within one request.
ADMIN_DELETE_MAX = COUNT_CAP


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting an application takes: counts capped at ``COUNT_CAP + 1`` ("more than")."""

    chats: int
    messages: int

    @property
    def too_large_for_the_admin(self) -> bool:
        return self.chats + self.messages > ADMIN_DELETE_MAX

    def describe(self, count: int) -> str:
        return f"more than {COUNT_CAP:,}" if count > COUNT_CAP else f"{count:,}"


def application_deletion_summary(*, application: Application) -> DeletionSummary:
    """Bounded: each count reads at most ``COUNT_CAP + 1`` index entries."""
    chats = capped_count(Chat.objects.filter(application_id=application.pk))
    messages = capped_count(Message.objects.filter(chat__application_id=application.pk))
    return DeletionSummary(chats=chats, messages=messages)


def _messages_delete_batch(chat_id: int) -> int:
    ids = list(
        Message.objects.filter(chat_id=chat_id)
        .order_by("number")
        .values_list("pk", flat=True)[:DELETE_BATCH]
    )
    if ids:
        # No signal receivers and no relations point at messages: one DELETE ... WHERE id IN.
        Message.objects.filter(pk__in=ids).delete()
    return len(ids)


def application_delete(
    *, application: Application, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Delete the application's messages, chats and row, a batch per transaction; then tell
    the allocator. Returns how many chats and messages were deleted. Safe to run again."""
    with transaction.atomic():
        application_deleting.send(
            sender=Application, application_id=application.pk, token=application.token
        )
    chats = messages = 0
    last_chat_id = 0
    while True:
        # Chats that the drain creates meanwhile are found by the final pass below.
        chat_ids = list(
            Chat.objects.filter(application_id=application.pk, pk__gt=last_chat_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:DELETE_BATCH]
        )
        if not chat_ids:
            break
        for chat_id in chat_ids:
            while deleted := _messages_delete_batch(chat_id):
                messages += deleted
                if progress is not None:
                    progress(deleted)
        with transaction.atomic():
            chats += Chat.objects.filter(pk__in=chat_ids).delete()[0]
        last_chat_id = chat_ids[-1]
    with transaction.atomic():
        # What the workers persisted since the pass above began: a few rows at most.
        late = list(Chat.objects.filter(application_id=application.pk).values_list("pk", flat=True))
        messages += Message.objects.filter(chat_id__in=late).delete()[0]
        chats += Chat.objects.filter(pk__in=late).delete()[0]
        Application.objects.filter(pk=application.pk).delete()
    _allocator_forget(application.token)
    logger.info(
        "deleted application %s… with %d chats and %d messages",
        application.token[:8],
        chats,
        messages,
    )
    return chats, messages


def _allocator_forget(token: str) -> None:
    # Without its hash the allocator asks SQL for the application, finds none, and answers 404
    # (and remembers the token as unknown for a while).
    redis_connection().delete(application_key(token))
