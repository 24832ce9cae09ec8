"""Writing chats: creating one (a number and a journal entry, no SQL) and persisting a drained
batch (the engine calls ``chats_persist``, registered in chats/apps.py)."""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from applications.models import Application
from applications.selectors import application_ids_by_token
from applications.services import application_to_reseed, counter_reseed
from chats.models import Chat
from chats.records import ChatRecord
from chats.selectors import chat_created_with_key, chat_highest_number, chat_ids_of_application
from core.metrics.instruments import CHATS_ACCEPTED
from pipeline import counters
from pipeline.accept import allocation_settle, idempotency_key_hash
from pipeline.journal import journal_clear
from pipeline.numbering import chat_number_allocate, numbers_persisted
from pipeline.records import records_of_known_applications


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


def chat_create(*, token: str, idempotency_key: str | None = None) -> ChatRecord:
    """Allocate the next chat number and journal the chat; touches Redis only, never SQL
    (unless the allocator cannot vouch for a counter: a reseed).

    The chat as created, the record the journal holds. A retry carrying an Idempotency-Key
    already seen gets the first call's chat back.
    """
    draft = ChatRecord(
        token=token,
        number=0,
        created_at=timezone.now(),
        idempotency_key=idempotency_key_hash(idempotency_key),
    )
    allocation = chat_number_allocate(
        token=token,
        payload=draft.to_journal(),
        reseed=lambda current, _known: chat_counter_reseed(token=token, current=current),
        replay_lookup=lambda key_hash, lowest: chat_replay(token, key_hash, lowest),
        idempotency=idempotency_key,
    )
    allocation_settle(allocation)
    if not allocation.replayed:
        CHATS_ACCEPTED.inc()
        return replace(draft, number=allocation.number)
    first = ChatRecord.from_journal(draft.entry, allocation.payload)
    return replace(first, number=allocation.number)


def chats_persist(records: list[ChatRecord]) -> None:
    """Write accepted chats (a drained batch); running it again for the same records changes
    nothing.

    A message may already have created a chat's row (messages_app.services.messages_persist),
    stamped with the message's time; the chat's own, earlier, time replaces it here. After the
    commit, and only then: the allocator learns what SQL now covers, the journal entries are
    cleared and the applications' counts are marked stale.
    """
    application_ids = application_ids_by_token(tokens={record.token for record in records})
    kept = records_of_known_applications(records, application_ids)
    with transaction.atomic():
        Chat.objects.bulk_create(
            [r.to_model(application_id=application_ids[r.token]) for r in kept],
            ignore_conflicts=True,
        )
        earliest: dict[tuple[int, int], datetime] = {}
        for record in kept:
            key = (application_ids[record.token], record.number)
            earliest[key] = min(earliest.get(key, record.created_at), record.created_at)
        _created_at_lower(earliest)
    entries = [record.entry for record in records]
    touched = {application_ids[record.token] for record in kept}
    persisted = [(record.token, record.number) for record in kept]

    def after_commit() -> None:
        numbers_persisted(chats=persisted)
        journal_clear(entries)
        counters.changes_mark(application_ids=touched, chat_ids=set())

    transaction.on_commit(after_commit, robust=True)


def _created_at_lower(earliest: dict[tuple[int, int], datetime]) -> None:
    """Move chats' created_at (and updated_at) back to the given times, in one UPDATE.

    Only rows stamped later are touched (a chat row a message created, with the message's
    time); a row already at its own time, or earlier, is left alone. Written in SQL: the ORM's
    ``Case(When(...))`` for a full batch took ~200 ms to compile, more than the 500 one-row
    UPDATEs it replaces; this statement takes a few ms. Identifiers come from the model and
    every value is a parameter.
    """
    if not earliest:
        return
    ops = connection.ops
    table = ops.quote_name(Chat._meta.db_table)
    columns = {field.name: field.column for field in Chat._meta.concrete_fields if field.column}
    app, number, created, updated = (
        ops.quote_name(columns[name])
        for name in ("application", "number", "created_at", "updated_at")
    )
    rows = [(a, n, ops.adapt_datetimefield_value(at)) for (a, n), at in earliest.items()]
    whens = " ".join([f"WHEN {app} = %s AND {number} = %s THEN %s"] * len(rows))
    later = " OR ".join([f"({app} = %s AND {number} = %s AND {created} > %s)"] * len(rows))
    params = [value for row in rows for value in row]
    sql = (
        f"UPDATE {table} SET {created} = CASE {whens} ELSE {created} END, "  # noqa: S608
        f"{updated} = CASE {whens} ELSE {updated} END WHERE {later}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 3)


def chats_count_refresh(*, application_ids: list[int] | None = None) -> int:
    """Recompute ``chats_count`` from the chats table, for some applications or all of them."""
    return counters.children_count_refresh(
        parent=Application,
        child=Chat,
        link="application",
        field="chats_count",
        parent_ids=application_ids,
    )


def chats_of_application_delete(
    application_id: int, batch: int, progress: Callable[[int], None] | None
) -> int:
    """Delete an application's chats (their messages are gone: applications.deletion deletes
    the deepest rows first), a transaction per ``batch``; how many."""
    deleted = 0
    while ids := chat_ids_of_application(application_id=application_id, after=0, limit=batch):
        with transaction.atomic():
            deleted += Chat.objects.filter(pk__in=ids).delete()[1].get(Chat._meta.label, 0)
    return deleted
