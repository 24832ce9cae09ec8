"""Writes of chats: accepting a new chat (Redis only) and persisting it (the worker)."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from applications.models import Application
from applications.services import application_to_reseed, chats_count_refresh, counter_reseed
from chatapi import changes
from chatapi.counting import children_count_refresh
from chatapi.numbering import (
    chat_number_allocate,
    idempotency_hash,
    numbers_persisted,
)
from chatapi.pending import chat_field, drain_queue, pending_clear
from chats.models import Chat
from chats.selectors import chat_created_with_key
from messages_app.models import Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRecord:
    """A chat accepted by the API: everything needed to persist it, as plain data."""

    token: str
    number: int
    created_at: datetime
    idempotency_key: str | None = None  # the key's hash (chatapi.numbering.idempotency_hash)


def chat_counter_reseed(*, token: str, current: int | None) -> int:
    """A safe new value for an application's chat counter that Redis cannot vouch for."""
    application = application_to_reseed(token=token)
    persisted = application.chats.aggregate(highest=Max("number"))["highest"] or 0
    return counter_reseed(
        application=application, chat_number=0, persisted=persisted, current=current
    )


def chat_create(*, token: str, idempotency_key: str | None = None) -> Chat:
    """Allocate the next chat number and queue the row; touches Redis only, never SQL.

    The same Lua script that allocates the number writes the journal entry, which is also the
    persistence queue (chatapi.pending); at most one request per interval queues a drain.
    A retry carrying an Idempotency-Key already seen gets the first call's chat back.
    """
    now = timezone.now()
    payload = {"created_at": now.isoformat()}
    if idempotency_key is not None:
        payload["key"] = idempotency_hash(idempotency_key)
    allocation = chat_number_allocate(
        token=token,
        payload=payload,
        reseed=lambda current, _known: chat_counter_reseed(token=token, current=current),
        replay_lookup=lambda key_hash, lowest: chat_created_with_key(
            token=token, key_hash=key_hash, lowest=lowest
        ),
        idempotency=idempotency_key,
    )
    created_at = datetime.fromisoformat(allocation.payload["created_at"])
    if allocation.drain_requested:
        drain_queue(already_marked=True)
    return Chat(
        number=allocation.number, messages_count=0, created_at=created_at, updated_at=created_at
    )


def _application_ids(tokens: set[str]) -> dict[str, int]:
    return dict(Application.objects.filter(token__in=tokens).values_list("token", "id"))


def chats_persist(*, records: list[ChatRecord]) -> None:
    """Write accepted chats; running it again for the same records changes nothing.

    A message may already have created a chat's row (messages_app.services), stamped with the
    message's time; the chat's own, earlier, time replaces it here.
    """
    application_ids = _application_ids({record.token for record in records})
    orphans = [record for record in records if record.token not in application_ids]
    for record in orphans:
        logger.warning("dropping chat %s: application %s… is gone", record.number, record.token[:8])
    records = [record for record in records if record.token in application_ids]
    with transaction.atomic():
        Chat.objects.bulk_create(
            [
                Chat(
                    application_id=application_ids[record.token],
                    number=record.number,
                    created_at=record.created_at,
                    updated_at=record.created_at,
                    idempotency_key=record.idempotency_key or "",
                )
                for record in records
            ],
            ignore_conflicts=True,
        )
        earliest: dict[tuple[int, int], datetime] = {}
        for record in records:
            key = (application_ids[record.token], record.number)
            earliest[key] = min(earliest.get(key, record.created_at), record.created_at)
        _created_at_lower(earliest)
    fields = [chat_field(record.token, record.number) for record in [*records, *orphans]]
    touched = {application_ids[record.token] for record in records}
    persisted = [(record.token, record.number) for record in records]
    transaction.on_commit(lambda: _after_persist(fields, touched, persisted), robust=True)


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


def _after_persist(
    fields: list[str], application_ids: set[int], persisted: list[tuple[str, int]]
) -> None:
    numbers_persisted(chats=persisted)
    pending_clear(fields)
    changes.changes_mark(application_ids=application_ids, chat_ids=set())


def messages_count_refresh(*, chat_ids: list[int] | None = None) -> int:
    """Recompute ``messages_count`` from the messages table, for some chats or all of them."""
    return children_count_refresh(
        parent=Chat, child=Message, link="chat", field="messages_count", parent_ids=chat_ids
    )


COUNTS_BATCH = 1000


def counts_refresh_changed() -> tuple[int, int]:
    """Recompute the counters of what gained rows since the last run (see chatapi.changes).

    Returns how many applications and chats were recomputed.
    """
    done = {changes.APPLICATIONS: 0, changes.CHATS: 0}
    refreshers = {
        changes.APPLICATIONS: lambda ids: chats_count_refresh(application_ids=ids),
        changes.CHATS: lambda ids: messages_count_refresh(chat_ids=ids),
    }
    for kind, refresh in refreshers.items():
        while ids := changes.changes_take(kind=kind, limit=COUNTS_BATCH):
            try:
                refresh(ids)
            except Exception:
                changes.changes_return(kind=kind, ids=ids)
                raise
            done[kind] += len(ids)
    return done[changes.APPLICATIONS], done[changes.CHATS]


def counts_refresh_all() -> tuple[int, int]:
    """Recompute every counter, in batches of ids so no statement locks a whole table."""
    totals = []
    for model, refresh in (
        (Application, lambda ids: chats_count_refresh(application_ids=ids)),
        (Chat, lambda ids: messages_count_refresh(chat_ids=ids)),
    ):
        total, last_id = 0, 0
        while ids := list(
            model.objects.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:COUNTS_BATCH]
        ):
            refresh(ids)
            total, last_id = total + len(ids), ids[-1]
        totals.append(total)
    return totals[0], totals[1]
