"""Writing messages: creating one (a number and a journal entry, no SQL), editing one, and
persisting a drained batch (the engine calls ``messages_persist``, registered in
messages_app/apps.py).

An edit of a message still in the journal is written into its journal entry, so the drain
writes the edited row, and also queued as a task that applies it once the row exists, which
covers a drain that claimed the entry with the old body a moment before (messages_app.edits).
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from applications.models import Application
from applications.selectors import application_ids_by_token
from applications.services import application_to_reseed, counter_reseed
from chats.models import Chat
from chats.selectors import chat_find, chat_ids_by_number, chat_ids_of_application
from core.errors import IdempotencyKeyReused, NotFound
from core.metrics.instruments import MESSAGES_ACCEPTED
from messages_app.edits import message_body_write
from messages_app.models import Message
from messages_app.records import EditRecord, MessageRecord
from messages_app.selectors import (
    message_created_with_key,
    message_highest_number,
    message_locate,
)
from messages_app.signals import messages_persisted
from messages_app.tasks import message_edit_task
from pipeline import counters
from pipeline.accept import allocation_settle, idempotency_key_hash
from pipeline.events import message_updated_append
from pipeline.journal import journal_clear, journal_replace
from pipeline.numbering import message_number_allocate, numbers_persisted
from pipeline.records import records_of_known_applications


def message_counter_reseed(
    *, token: str, chat_number: int, current: int | None, known: bool
) -> int:
    """A safe new value for a chat's message counter that Redis cannot vouch for.

    Only for a chat that exists: Redis has a record of it (``known``: its counter, or its
    journal entry when the counter was lost), or SQL has its row. A chat number never handed
    out has neither, and stays a 404 (pipeline.numbering, I2). The value is beyond every
    message number that can have been handed out, and reserved in SQL before it is returned.
    """
    application = application_to_reseed(token=token)
    chat = chat_find(application=application, number=chat_number)
    if chat is None and not known:
        raise NotFound(f"No chat {chat_number} in this application.")
    persisted = 0 if chat is None else message_highest_number(chat=chat)
    return counter_reseed(
        application=application, chat_number=chat_number, persisted=persisted, current=current
    )


def message_replay(
    token: str, chat_number: int, key_hash: str, lowest: int
) -> tuple[int, dict[str, Any]] | None:
    """The number and journal payload of the persisted message created with this key, as the
    first call answered it, if any."""
    row = message_created_with_key(
        token=token, chat_number=chat_number, key_hash=key_hash, lowest=lowest
    )
    if row is None:
        return None
    first = MessageRecord.from_model(row, token=token, chat_number=chat_number)
    # As the first call answered it: before any edit.
    return row.number, replace(first, updated_at=first.created_at).to_journal()


def message_create(
    *, token: str, chat_number: int, content: dict[str, Any], idempotency_key: str | None = None
) -> MessageRecord:
    """Allocate the next message number and journal the message; Redis only, never SQL.

    The message as created, the record the journal holds (the view renders it as it is: no
    model instance is built on the hot path).

    ``content`` is what the client sent (the input serializer's validated data). The chat may
    have been accepted a moment ago and not be persisted yet: the allocator knows it. A retry
    carrying an Idempotency-Key already seen gets the first call's message back; the same key
    with other content is a client bug, answered 422 rather than silently ignored.
    """
    now = timezone.now()
    draft = MessageRecord(
        token=token,
        chat_number=chat_number,
        number=0,
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key_hash(idempotency_key),
        **content,
    )
    allocation = message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload=draft.to_journal(),
        reseed=lambda current, known: message_counter_reseed(
            token=token, chat_number=chat_number, current=current, known=known
        ),
        replay_lookup=lambda key_hash, lowest: message_replay(token, chat_number, key_hash, lowest),
        idempotency=idempotency_key,
    )
    allocation_settle(allocation)
    if not allocation.replayed:
        MESSAGES_ACCEPTED.inc()
        return replace(draft, number=allocation.number)
    first = MessageRecord.from_journal(draft.entry, allocation.payload)
    # A replay found in SQL is compared with nothing: its row may have been edited since.
    if not allocation.found_in_sql and first.content() != draft.content():
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different body.")
    # A create answers its message as created: a replay too, whatever was edited since.
    return replace(first, number=allocation.number, updated_at=first.created_at)


def message_update(
    *, application: Application, chat_number: int, number: int, body: str
) -> Message:
    """Edit a message, persisted or only accepted so far (PUT, PATCH, the admin); NotFound as
    message_locate says."""
    edit = EditRecord(
        token=application.token,
        chat_number=chat_number,
        number=number,
        body=body,
        updated_at=timezone.now(),
    )
    message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is None:
        pending = MessageRecord.from_model(
            message, token=application.token, chat_number=chat_number
        ).edited(edit)
        if journal_replace(pending):
            message_edit_task.delay(edit.entry, edit.to_journal())
            return pending.to_model()
        # Persisted since the look: the journal entry goes only after the row is committed.
        message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is not None:
        if message_body_write(
            chat_id=message.chat_id, number=number, body=body, updated_at=edit.updated_at
        ):
            message.body, message.updated_at = edit.body, edit.updated_at
            message_updated_append(
                MessageRecord.from_model(message, token=application.token, chat_number=chat_number)
            )
            return message
        # A later edit landed first: the row as it now is.
        current = Message.objects.filter(chat_id=message.chat_id, number=number).first()
        if current is not None:
            return current
    raise NotFound(f"No message {number} in chat {chat_number}.")


def message_edit_replay(edit: EditRecord) -> None:
    """Queue a dead-lettered edit again (``manage.py dead_letters replay``)."""
    message_edit_task.delay(edit.entry, edit.to_journal())


def messages_persist(records: list[MessageRecord]) -> None:
    """Write accepted messages (a drained batch) in one transaction; running it again changes
    nothing.

    A message can reach SQL before its chat's row does (the chat was accepted a moment
    earlier, in a later batch). Rather than wait, the chat's row is created here with the time
    of its first message; the chat's own record then corrects the time. Either way the unique
    constraints keep exactly one row of each. Receivers of ``messages_persisted`` (search) hear
    of the rows in the same transaction. After the commit, and only then: the allocator learns
    what SQL now covers, the journal entries are cleared and the counts are marked stale.
    """
    application_ids = application_ids_by_token(tokens={r.token for r in records})
    kept = records_of_known_applications(records, application_ids)
    wanted = {(application_ids[r.token], r.chat_number) for r in kept}
    with transaction.atomic():
        chat_ids = chat_ids_by_number(wanted)
        missing = wanted - chat_ids.keys()
        if missing:
            first_seen: dict[tuple[int, int], datetime] = {}
            for r in kept:
                key = (application_ids[r.token], r.chat_number)
                if key in missing:
                    first_seen[key] = min(first_seen.get(key, r.created_at), r.created_at)
            Chat.objects.bulk_create(
                [
                    Chat(application_id=app_id, number=number, created_at=at, updated_at=at)
                    for (app_id, number), at in first_seen.items()
                ],
                ignore_conflicts=True,
            )
            chat_ids.update(chat_ids_by_number(missing))
        # ignore_conflicts: a batch written again finds its rows there and leaves them alone,
        # so it can neither duplicate a message nor overwrite an edit made since.
        Message.objects.bulk_create(
            [r.to_model(chat_id=chat_ids[(application_ids[r.token], r.chat_number)]) for r in kept],
            ignore_conflicts=True,
        )
        written = [(chat_ids[(application_ids[r.token], r.chat_number)], r.number) for r in kept]
        if written:
            messages_persisted.send(sender=Message, keys=written)
    entries = [r.entry for r in records]
    changed_applications = {app_id for app_id, _ in missing}
    persisted = [(r.token, r.chat_number, r.number) for r in kept]

    def after_commit() -> None:
        numbers_persisted(messages=persisted)
        journal_clear(entries)
        counters.changes_mark(
            application_ids=changed_applications, chat_ids={chat_id for chat_id, _ in written}
        )

    transaction.on_commit(after_commit, robust=True)


def messages_count_refresh(*, chat_ids: list[int] | None = None) -> int:
    """Recompute ``messages_count`` from the messages table, for some chats or all of them."""
    return counters.children_count_refresh(
        parent=Chat, child=Message, link="chat", field="messages_count", parent_ids=chat_ids
    )


def messages_of_application_delete(
    application_id: int, batch: int, progress: Callable[[int], None] | None
) -> int:
    """Delete an application's messages, chat by chat, a transaction per ``batch`` read from the
    (chat, number) index; how many. Chats that the drain creates meanwhile are found by
    applications.deletion's final pass."""
    deleted, last_chat_id = 0, 0
    while chat_ids := chat_ids_of_application(
        application_id=application_id, after=last_chat_id, limit=batch
    ):
        for chat_id in chat_ids:
            while ids := list(
                Message.objects.filter(chat_id=chat_id)
                .order_by("number")
                .values_list("pk", flat=True)[:batch]
            ):
                # No signal receivers and no relations point at messages: one DELETE ... IN.
                Message.objects.filter(pk__in=ids).delete()
                deleted += len(ids)
                if progress is not None:
                    progress(len(ids))
        last_chat_id = chat_ids[-1]
    return deleted
