"""What a stream reads besides the event stream: whether what it follows exists, and the
messages of a chat above a number (a stream started with ``?after=``)."""

import json

from applications.selectors import application_get
from chats.selectors import chat_find, chat_locate
from core.redis_client import redis_connection
from messages_app.models import Message
from messages_app.records import MessageRecord
from pipeline import keys


def followed_exists(*, token: str, chat_number: int | None) -> None:
    """NotFound (404) for an unknown application, or chat, persisted or pending."""
    application = application_get(token=token)
    if chat_number is not None:
        chat_locate(application=application, number=chat_number)


def _pending_above(token: str, chat_number: int, after: int) -> dict[int, MessageRecord]:
    client = redis_connection()
    journal = keys.journal_entries_key(keys.partition_of(token))
    found: dict[int, MessageRecord] = {}
    pattern = keys.message_entry(token, chat_number, "*")
    for name, payload in client.hscan_iter(journal, match=pattern, count=1000):
        entry = name.decode() if isinstance(name, bytes) else name
        record = MessageRecord.from_journal(entry, json.loads(payload))
        if record.number > after:
            found[record.number] = record
    return found


def messages_above(*, token: str, chat_number: int, after: int) -> list[MessageRecord]:
    """Every message of the chat numbered above ``after`` that exists now, persisted or
    pending, by number.

    The journal is read before SQL: an entry is cleared only after its row is committed, so a
    message drained in between is in one of the two reads (as pipeline.journal's
    persisted_or_pending reads one row). A message in both (persisted a moment ago) is taken
    from the journal, which holds any edit made since its row was written.
    """
    found = _pending_above(token, chat_number, after)
    application = application_get(token=token)
    chat = chat_find(application=application, number=chat_number)
    if chat is not None:
        rows = Message.objects.filter(chat=chat, number__gt=after).order_by("number")
        for row in rows.iterator(chunk_size=1000):
            if row.number not in found:
                found[row.number] = MessageRecord.from_model(
                    row, token=token, chat_number=chat_number
                )
    return [found[number] for number in sorted(found)]
