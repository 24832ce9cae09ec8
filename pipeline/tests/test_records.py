"""The records' one codec: journal payload, entry name, model, and a field added to a record.

No database or Redis: a record is plain data, and its codec is written once, from its fields.
"""

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from django.db import models
from django.test.utils import isolate_apps

from chats.models import Chat
from chats.records import ChatRecord
from messages_app.models import Message
from messages_app.records import EditRecord, MessageRecord
from pipeline import keys

TOKEN = "a" * 40
AT = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_a_message_goes_to_the_journal_and_back_and_into_its_model():
    record = MessageRecord(
        token=TOKEN,
        chat_number=3,
        number=7,
        body="héllo 👋",
        created_at=AT,
        updated_at=AT + timedelta(seconds=1),
        idempotency_key="f" * 64,
    )

    assert record.entry == keys.message_entry(TOKEN, 3, 7) == f"m:{TOKEN}:3:7"
    # As journals already in Redis have it: times in ISO 8601, the key's hash under "key".
    assert record.to_journal() == {
        "body": "héllo 👋",
        "created_at": AT.isoformat(),
        "updated_at": (AT + timedelta(seconds=1)).isoformat(),
        "key": "f" * 64,
    }
    assert MessageRecord.from_journal(record.entry, record.to_journal()) == record
    message = record.to_model(chat_id=12)
    assert isinstance(message, Message) and message.pk is None
    assert (message.chat_id, message.number, message.body) == (12, 7, "héllo 👋")
    assert (message.created_at, message.updated_at) == (AT, AT + timedelta(seconds=1))
    assert message.idempotency_key == "f" * 64


def test_a_chat_goes_to_the_journal_and_back_and_into_its_model():
    record = ChatRecord(token=TOKEN, number=4, created_at=AT)

    assert record.entry == f"c:{TOKEN}:4"
    assert record.to_journal() == {"created_at": AT.isoformat()}  # no key: left out
    assert ChatRecord.from_journal(record.entry, record.to_journal()) == record
    chat = record.to_model(application_id=5)
    assert isinstance(chat, Chat)
    assert (chat.application_id, chat.number, chat.messages_count) == (5, 4, 0)
    assert chat.created_at == chat.updated_at == AT
    assert chat.idempotency_key == ""


def test_an_edit_rewrites_the_content_and_the_time_of_its_message():
    message = MessageRecord(
        token=TOKEN, chat_number=1, number=2, body="draft", created_at=AT, updated_at=AT
    )
    edit = EditRecord(
        token=TOKEN, chat_number=1, number=2, body="final", updated_at=AT + timedelta(1)
    )

    assert EditRecord.from_journal(edit.entry, edit.to_journal()) == edit
    assert message.edited(edit) == MessageRecord(
        token=TOKEN,
        chat_number=1,
        number=2,
        body="final",
        created_at=AT,
        updated_at=AT + timedelta(1),
    )
    assert message.content() == {"body": "draft"}


def test_a_record_is_read_back_from_its_persisted_row():
    row = Message(number=9, body="b", created_at=AT, updated_at=AT, idempotency_key="k" * 64)

    record = MessageRecord.from_model(row, token=TOKEN, chat_number=2)

    assert record == MessageRecord(
        token=TOKEN,
        chat_number=2,
        number=9,
        body="b",
        created_at=AT,
        updated_at=AT,
        idempotency_key="k" * 64,
    )


@isolate_apps("messages_app")
def _message_with_mood() -> type[models.Model]:
    """Message as it would be with one more column: in a registry of its own, never migrated,
    only instantiated (the rest of the suite never sees it)."""

    class MessageWithMood(models.Model):
        chat_id = models.PositiveBigIntegerField()  # no relation: Chat never learns of it
        number = models.PositiveBigIntegerField()
        body = models.TextField()
        mood = models.CharField(max_length=20, default="calm")
        created_at = models.DateTimeField()
        updated_at = models.DateTimeField()
        idempotency_key = models.CharField(max_length=64, default="")

        class Meta:
            app_label = "messages_app"
            managed = False

        def __str__(self) -> str:
            return f"message {self.number}"

    return MessageWithMood


def test_a_field_added_to_the_record_and_the_model_travels_with_no_other_change():
    """Adding a field to messages: the model, its migration, the record, the serializers and
    the search document. Everything between them (the journal, the drain, the reads of rows
    not persisted yet) goes through this codec, which needs no change for a new field."""
    MessageWithMood = _message_with_mood()

    @dataclass(frozen=True)
    class MessageWithMoodRecord(MessageRecord):
        MODEL = MessageWithMood

        mood: str = "calm"

    record = MessageWithMoodRecord(
        token=TOKEN, chat_number=1, number=1, body="hi", created_at=AT, updated_at=AT, mood="glad"
    )

    payload = record.to_journal()
    assert payload["mood"] == "glad"
    read = MessageWithMoodRecord.from_journal(record.entry, payload)
    assert read == record
    assert read.content() == {"body": "hi", "mood": "glad"}  # an Idempotency-Key replay compares it
    row = read.to_model(chat_id=1)
    assert (row.body, row.mood) == ("hi", "glad")
    # A journal entry written before the field existed reads as its default.
    older = {name: value for name, value in payload.items() if name != "mood"}
    assert MessageWithMoodRecord.from_journal(record.entry, older).mood == "calm"
    assert {f.name for f in fields(MessageWithMoodRecord)} - {
        f.name for f in fields(MessageRecord)
    } == {"mood"}
