"""Writing accepted records to SQL: a drained batch, chats and messages, in one transaction.

Writing is idempotent: rows are inserted only where none exists, so a batch written twice (a
lease that ran out on a slow drain) changes nothing, and can never undo an edit made since.
Inside the transaction, ``messages_persisted`` / ``messages_edited`` tell search what to index
(it records it in its outbox, which commits with the rows). After the commit, and only then:
the allocator learns what SQL now covers, the journal entries are cleared and the counts are
marked stale.
"""

import logging
from datetime import datetime

from django.db import connection, transaction

from applications.models import Application
from chats.models import Chat
from messages_app.models import Message
from messages_app.signals import messages_edited, messages_persisted
from pipeline import counters
from pipeline.journal import journal_clear
from pipeline.numbering import numbers_persisted
from pipeline.records import ChatRecord, MessageRecord

logger = logging.getLogger(__name__)


def records_persist(records: list[ChatRecord | MessageRecord]) -> None:
    """Write a drained batch, chats and messages, in one transaction.

    The after-commit work (numbers_persisted, journal_clear, counters) runs after
    that one commit, the chats' first; none of it runs if the batch rolls back.
    """
    chats = [r for r in records if isinstance(r, ChatRecord)]
    messages = [r for r in records if isinstance(r, MessageRecord)]
    with transaction.atomic():
        if chats:
            chats_persist(records=chats)
        if messages:
            messages_persist(records=messages)


def _application_ids(tokens: set[str]) -> dict[str, int]:
    return dict(Application.objects.filter(token__in=tokens).values_list("token", "id"))


def _orphans_drop(
    records: list[ChatRecord] | list[MessageRecord], application_ids: dict[str, int]
) -> None:
    for record in records:
        if record.token not in application_ids:
            what = type(record).__name__.removesuffix("Record").lower()
            numbers = record.entry.split(":", 2)[2]
            logger.warning(
                "dropping %s %s: application %s… is gone", what, numbers, record.token[:8]
            )


def chats_persist(*, records: list[ChatRecord]) -> None:
    """Write accepted chats; running it again for the same records changes nothing.

    A message may already have created a chat's row (``messages_persist``), stamped with the
    message's time; the chat's own, earlier, time replaces it here.
    """
    application_ids = _application_ids({record.token for record in records})
    _orphans_drop(records, application_ids)
    kept = [record for record in records if record.token in application_ids]
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

    A message can reach SQL before its chat's row does (the chat was accepted a moment
    earlier, in a later batch). Rather than wait, the chat's row is created here with the time
    of its first message; the chat's own record then corrects the time. Either way the unique
    constraints keep exactly one row of each.
    """
    application_ids = _application_ids({r.token for r in records})
    _orphans_drop(records, application_ids)
    kept = [r for r in records if r.token in application_ids]
    wanted = {(application_ids[r.token], r.chat_number) for r in kept}
    with transaction.atomic():
        chat_ids = _chat_ids(wanted)
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
            chat_ids.update(_chat_ids(missing))
        # ignore_conflicts: a batch written again finds its rows there and leaves them alone,
        # so it can neither duplicate a message nor overwrite an edit made since.
        Message.objects.bulk_create(
            [r.to_model(chat_id=chat_ids[(application_ids[r.token], r.chat_number)]) for r in kept],
            ignore_conflicts=True,
        )
        index_keys = [(chat_ids[(application_ids[r.token], r.chat_number)], r.number) for r in kept]
        # A batch written again names its rows again: indexing them twice changes nothing.
        messages_persisted.send(sender=Message, keys=index_keys)
    entries = [r.entry for r in records]
    changed_applications = {app_id for app_id, _ in missing}
    persisted = [(r.token, r.chat_number, r.number) for r in kept]

    def after_commit() -> None:
        numbers_persisted(messages=persisted)
        journal_clear(entries)
        counters.changes_mark(
            application_ids=changed_applications, chat_ids={chat_id for chat_id, _ in index_keys}
        )

    transaction.on_commit(after_commit, robust=True)


def message_body_write(*, chat_id: int, number: int, body: str, updated_at: datetime) -> bool:
    """Apply an edit to a persisted message unless a later one already landed; whether it was.

    ``messages_edited`` goes out in the same transaction as the UPDATE.
    """
    with transaction.atomic():
        changed = Message.objects.filter(
            chat_id=chat_id, number=number, updated_at__lte=updated_at
        ).update(body=body, updated_at=updated_at)
        if changed:
            messages_edited.send(sender=Message, keys=[(chat_id, number)])
    return bool(changed)
