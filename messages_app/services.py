"""Writes of messages: accepting (Redis only), persisting (the worker), editing, and rescuing."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications.models import Application
from applications.services import application_to_reseed, counter_reseed
from chatapi import changes
from chatapi.dead_letters import dead_letter_add
from chatapi.errors import UNAVAILABLE_ERRORS, IdempotencyKeyReused, NotFound
from chatapi.numbering import (
    idempotency_hash,
    message_number_allocate,
    numbers_persisted,
)
from chatapi.pending import (
    Claim,
    drain_idle,
    drain_queue,
    message_field,
    pending_claim,
    pending_clear,
    pending_release,
    pending_replace,
)
from chats.models import Chat
from chats.selectors import chat_find
from chats.services import ChatRecord, chats_persist
from messages_app import tasks
from messages_app.models import Message
from messages_app.selectors import (
    message_created_with_key,
    message_highest_number,
    message_locate,
)
from search.indexing import messages_index_later

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageRecord:
    """A message accepted by the API: everything needed to persist it, as plain data."""

    token: str
    chat_number: int
    number: int
    body: str
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None  # the key's hash (chatapi.numbering.idempotency_hash)

    def as_task_args(self) -> tuple:
        return (
            self.token,
            self.chat_number,
            self.number,
            self.body,
            self.created_at.isoformat(),
            self.updated_at.isoformat(),
        )


class MessageNotPersistedYet(Exception):
    """An edit arrived before its message's row: the edit task retries until the row lands."""


def _journal_payload(
    body: str, created_at: datetime, updated_at: datetime, key: str | None = None
) -> dict:
    payload = {
        "body": body,
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
    }
    if key is not None:
        payload["key"] = key
    return payload


def message_counter_reseed(
    *, token: str, chat_number: int, current: int | None, known: bool
) -> int:
    """A safe new value for a chat's message counter that Redis cannot vouch for.

    Only for a chat that exists: Redis has a record of it (``known``: its counter, or its
    journal entry when the counter was lost), or SQL has its row. A chat number never handed
    out has neither, and stays a 404 (chatapi.numbering, I2). The value is beyond every
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


def message_create(
    *, token: str, chat_number: int, body: str, idempotency_key: str | None = None
) -> Message:
    """Allocate the next message number and queue the row; touches Redis only, never SQL.

    The chat may have been accepted a moment ago and not be persisted yet: the allocator knows
    it, and the persist service creates its row if the chat's own task has not run yet. A retry
    carrying an Idempotency-Key already seen gets the first call's message back; the same key
    with another body is a client bug, answered 422 rather than silently ignored.
    """
    now = timezone.now()
    allocation = message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload=_journal_payload(
            body, now, now, None if idempotency_key is None else idempotency_hash(idempotency_key)
        ),
        reseed=lambda current, known: message_counter_reseed(
            token=token, chat_number=chat_number, current=current, known=known
        ),
        replay_lookup=lambda key_hash, lowest: message_created_with_key(
            token=token, chat_number=chat_number, key_hash=key_hash, lowest=lowest
        ),
        idempotency=idempotency_key,
    )
    first = allocation.payload
    if allocation.replayed and first["body"] != body:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different body.")
    record = MessageRecord(
        token=token,
        chat_number=chat_number,
        number=allocation.number,
        body=first["body"],
        created_at=datetime.fromisoformat(first["created_at"]),
        updated_at=datetime.fromisoformat(first["created_at"]),
    )
    if allocation.drain_requested:
        drain_queue(already_marked=True)
    return Message(
        number=record.number,
        body=record.body,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _chat_ids(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    if not pairs:
        return {}
    rows = Chat.objects.filter(
        application_id__in={app_id for app_id, _ in pairs},
        number__in={number for _, number in pairs},
    ).values_list("application_id", "number", "id")
    return {
        (app_id, number): chat_id for app_id, number, chat_id in rows if (app_id, number) in pairs
    }


def messages_persist(*, records: list[MessageRecord]) -> None:
    """Write accepted messages in one transaction; running it again changes nothing.

    A message can reach the worker before its chat's row does (the chat was accepted a moment
    earlier and its task is still queued). Rather than wait, the chat's row is created here
    with the time of its first message; the chat's own task then corrects the time. Either way
    the unique constraints keep exactly one row of each.
    """
    application_ids = dict(
        Application.objects.filter(token__in={r.token for r in records}).values_list("token", "id")
    )
    orphans = [r for r in records if r.token not in application_ids]
    for record in orphans:
        logger.warning(
            "dropping message %s: application %s… is gone", record.number, record.token[:8]
        )
    records = [r for r in records if r.token in application_ids]

    wanted = {(application_ids[r.token], r.chat_number) for r in records}
    with transaction.atomic():
        chat_ids = _chat_ids(wanted)
        missing = wanted - chat_ids.keys()
        if missing:
            first_seen: dict[tuple[int, int], datetime] = {}
            for r in records:
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
            chat_ids.update(_chat_ids(missing))
        # ignore_conflicts: a redelivered task finds its rows there and leaves them alone, so
        # it can neither duplicate a message nor overwrite an edit made since.
        Message.objects.bulk_create(
            [
                Message(
                    chat_id=chat_ids[(application_ids[r.token], r.chat_number)],
                    number=r.number,
                    body=r.body,
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                    idempotency_key=r.idempotency_key or "",
                )
                for r in records
            ],
            ignore_conflicts=True,
        )
    fields = [message_field(r.token, r.chat_number, r.number) for r in [*records, *orphans]]
    changed_applications = {app_id for app_id, _ in missing}
    index_keys = [(chat_ids[(application_ids[r.token], r.chat_number)], r.number) for r in records]
    persisted = [(r.token, r.chat_number, r.number) for r in records]
    transaction.on_commit(
        lambda: _after_persist(fields, changed_applications, index_keys, persisted), robust=True
    )


def _after_persist(
    fields: list[str],
    application_ids: set[int],
    index_keys: list[tuple[int, int]],
    persisted: list[tuple[str, int, int]],
) -> None:
    numbers_persisted(messages=persisted)
    pending_clear(fields)
    changes.changes_mark(
        application_ids=application_ids, chat_ids={chat_id for chat_id, _ in index_keys}
    )
    messages_index_later(keys=index_keys)


def _body_write(*, chat_id: int, number: int, body: str, updated_at: datetime) -> bool:
    """Apply an edit unless a later one already landed; whether it was applied."""
    changed = Message.objects.filter(
        chat_id=chat_id, number=number, updated_at__lte=updated_at
    ).update(body=body, updated_at=updated_at)
    if changed:
        transaction.on_commit(lambda: messages_index_later(keys=[(chat_id, number)]), robust=True)
    return bool(changed)


def _body_apply(*, chat_id: int, number: int, body: str, updated_at: datetime) -> Message | None:
    """Apply an edit unless a later one already landed; the row as it now is, or None."""
    _body_write(chat_id=chat_id, number=number, body=body, updated_at=updated_at)
    return Message.objects.filter(chat_id=chat_id, number=number).first()


def message_update(
    *, application: Application, chat_number: int, number: int, body: str
) -> Message:
    """Edit a message, persisted or only accepted so far; NotFound as message_locate says.

    For a message still in the journal, the edit is written into the journal entry (so a
    re-queued creation carries it) and queued as a task that applies it once the row exists,
    which covers a creation task already running with the old body. Neither path can be undone
    by the creation: that inserts only where no row exists.
    """
    now = timezone.now()
    message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is None:
        field = message_field(application.token, chat_number, number)
        payload = _journal_payload(body, message.created_at, now, message.idempotency_key or None)
        if pending_replace(field, payload):
            tasks.message_edit_task.apply_async(
                args=(application.token, chat_number, number, body, now.isoformat())
            )
            message.body, message.updated_at = body, now
            return message
        # Persisted since the look: the journal entry goes only after the row is committed.
        message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is not None:
        if _body_write(chat_id=message.chat_id, number=number, body=body, updated_at=now):
            message.body, message.updated_at = body, now
            return message
        # A later edit landed first: the row as it now is.
        current = Message.objects.filter(chat_id=message.chat_id, number=number).first()
        if current is not None:
            return current
    raise NotFound(f"No message {number} in chat {chat_number}.")


def message_edit_apply(
    *, token: str, chat_number: int, number: int, body: str, updated_at: datetime
) -> None:
    chat = Chat.objects.filter(application__token=token, number=chat_number).first()
    message = None
    if chat is not None:
        message = _body_apply(chat_id=chat.pk, number=number, body=body, updated_at=updated_at)
    if message is None:
        raise MessageNotPersistedYet(f"message {number} of chat {chat_number} not persisted yet")


def _record_from(claim: Claim) -> ChatRecord | MessageRecord:
    entry = claim.entry
    created_at = datetime.fromisoformat(entry.payload["created_at"])
    if entry.kind == "c":
        return ChatRecord(
            token=entry.token,
            number=entry.numbers[0],
            created_at=created_at,
            idempotency_key=entry.payload.get("key"),
        )
    return MessageRecord(
        token=entry.token,
        chat_number=entry.numbers[0],
        number=entry.numbers[1],
        body=entry.payload["body"],
        created_at=created_at,
        updated_at=datetime.fromisoformat(entry.payload["updated_at"]),
        idempotency_key=entry.payload.get("key"),
    )


def _records_persist(records: list[ChatRecord | MessageRecord]) -> None:
    """Write a drained batch, chats and messages, in one transaction.

    The services' after-commit work (numbers_persisted, pending_clear, changes_mark, indexing)
    runs after that one commit, the chats' first; none of it runs if the batch rolls back.
    """
    chats = [r for r in records if isinstance(r, ChatRecord)]
    messages = [r for r in records if isinstance(r, MessageRecord)]
    with transaction.atomic():
        if chats:
            chats_persist(records=chats)
        if messages:
            messages_persist(records=messages)


def _dead_letter(claim: Claim, error: Exception) -> None:
    """Move a claim that keeps failing to the dead letters, as the per-row task that replays it.

    Built from the raw payload, since a payload that cannot be parsed is one way to fail.
    """
    entry, payload = claim.entry, claim.entry.payload
    if entry.kind == "c":
        task, args = "chats.tasks.chat_persist_task", [*entry.numbers, payload.get("created_at")]
        args = [entry.token, *args]
    else:
        task = "messages_app.tasks.message_persist_task"
        args = [entry.token, *entry.numbers]
        args += [payload.get(key) for key in ("body", "created_at", "updated_at")]
    dead_letter_add(
        task=task,
        args=args,
        kwargs={},
        error=f"{type(error).__name__}: {error}",
        journal_field=claim.field,
    )


def _claims_persist(claims: list[Claim]) -> None:
    """Write claimed entries in one go; isolate a bad one rather than fail the batch for good.

    An outage (database or Redis unreachable) gives the batch back uncounted and re-raises, so
    the drain stops and beat tries again later. Any other error means some entry cannot be
    written: the entries are then written one by one, and one that has failed
    ``PERSIST_MAX_ATTEMPTS`` claims becomes a dead letter instead of blocking the queue forever.
    """
    try:
        _records_persist([_record_from(claim) for claim in claims])
        return
    except UNAVAILABLE_ERRORS:
        pending_release([c.field for c in claims], after_seconds=settings.PERSIST_RETRY_SECONDS)
        raise
    except Exception:
        logger.exception("a batch of %d rows failed; writing them one by one", len(claims))
    for claim in claims:
        try:
            _records_persist([_record_from(claim)])
        except UNAVAILABLE_ERRORS:
            pending_release([claim.field], after_seconds=settings.PERSIST_RETRY_SECONDS)
            raise
        except Exception as error:
            if claim.attempts >= settings.PERSIST_MAX_ATTEMPTS:
                _dead_letter(claim, error)
            else:
                logger.exception("could not write %s (attempt %d)", claim.field, claim.attempts)


def journal_drain(*, batch_size: int, time_budget_seconds: float) -> int:
    """Write what the journal holds, a batch per transaction, until it is empty; how many rows.

    A full batch means more is waiting, so another drain is queued to put an idle worker to
    work too. When the journal looks empty the drain clears the drain-requested marker and
    looks once more: a row accepted while the marker was still set is either taken by that
    last look or asks for a drain of its own, never left waiting for beat.
    """
    deadline = time.monotonic() + time_budget_seconds
    written = 0
    while True:
        claims = pending_claim(limit=batch_size, lease_seconds=settings.PERSIST_LEASE_SECONDS)
        if not claims:
            drain_idle()
            claims = pending_claim(limit=batch_size, lease_seconds=settings.PERSIST_LEASE_SECONDS)
            if not claims:
                return written
        if len(claims) == batch_size:
            drain_queue()
        _claims_persist(claims)
        written += len(claims)
        if time.monotonic() > deadline:
            drain_queue()  # hand over rather than hold one worker for ever
            return written
