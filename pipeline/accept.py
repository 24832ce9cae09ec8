"""Accepting a create: a number from the allocator and the record into the journal, in one
Redis script; no SQL, unless the allocator cannot vouch for a counter (a reseed).

What the API answers is the record as the journal holds it, or, for a retry with an
Idempotency-Key already seen, the first call's record.
"""

from dataclasses import replace
from typing import Any

from django.utils import timezone

from applications.services import application_to_reseed, counter_reseed
from chatapi.errors import IdempotencyKeyReused, NotFound
from chats.selectors import chat_created_with_key, chat_find, chat_highest_number
from core.metrics.instruments import CHATS_ACCEPTED, MESSAGES_ACCEPTED
from messages_app.selectors import message_created_with_key, message_highest_number
from pipeline.drain import drain_queue
from pipeline.numbering import (
    Allocation,
    chat_number_allocate,
    idempotency_hash,
    message_number_allocate,
)
from pipeline.records import ChatRecord, MessageRecord


def _key_hash(idempotency_key: str | None) -> str:
    return "" if idempotency_key is None else idempotency_hash(idempotency_key)


def _accepted(allocation: Allocation) -> None:
    if allocation.drain_requested:
        drain_queue(allocation.partition, already_marked=True)


def chat_counter_reseed(*, token: str, current: int | None) -> int:
    """A safe new value for an application's chat counter that Redis cannot vouch for."""
    application = application_to_reseed(token=token)
    return counter_reseed(
        application=application,
        chat_number=0,
        persisted=chat_highest_number(application=application),
        current=current,
    )


def chat_replay(token: str, key_hash: str, lowest: int) -> tuple[int, dict[str, Any]] | None:
    """The number and journal payload of the persisted chat created with this key, if any."""
    row = chat_created_with_key(token=token, key_hash=key_hash, lowest=lowest)
    if row is None:
        return None
    return row.number, ChatRecord.from_model(row, token=token).to_journal()


def chat_accept(*, token: str, idempotency_key: str | None = None) -> ChatRecord:
    """Allocate the next chat number and journal the chat; touches Redis only, never SQL.

    The chat as created, the record the journal holds. A retry carrying an Idempotency-Key
    already seen gets the first call's chat back.
    """
    draft = ChatRecord(
        token=token, number=0, created_at=timezone.now(), idempotency_key=_key_hash(idempotency_key)
    )
    allocation = chat_number_allocate(
        token=token,
        payload=draft.to_journal(),
        reseed=lambda current, _known: chat_counter_reseed(token=token, current=current),
        replay_lookup=lambda key_hash, lowest: chat_replay(token, key_hash, lowest),
        idempotency=idempotency_key,
    )
    _accepted(allocation)
    if not allocation.replayed:
        CHATS_ACCEPTED.inc()
        return replace(draft, number=allocation.number)
    first = ChatRecord.from_journal(draft.entry, allocation.payload)
    return replace(first, number=allocation.number)


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


def message_accept(
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
        idempotency_key=_key_hash(idempotency_key),
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
    _accepted(allocation)
    if not allocation.replayed:
        MESSAGES_ACCEPTED.inc()
        return replace(draft, number=allocation.number)
    first = MessageRecord.from_journal(draft.entry, allocation.payload)
    # A replay found in SQL is compared with nothing: its row may have been edited since.
    if not allocation.found_in_sql and first.content() != draft.content():
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different body.")
    # A create answers its message as created: a replay too, whatever was edited since.
    return replace(first, number=allocation.number, updated_at=first.created_at)
