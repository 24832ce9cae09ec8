"""A message, and an edit of one, as the write engine carries them (pipeline.records)."""

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, cast

from messages_app.models import Message
from pipeline import keys
from pipeline.records import Record


@dataclass(frozen=True)
class _OfAMessage(Record):
    """What names a message: its application, its chat and its number."""

    IDENTITY = ("token", "chat_number", "number")
    MODEL = Message

    token: str
    chat_number: int
    number: int


@dataclass(frozen=True)
class MessageRecord(_OfAMessage):
    """A message accepted by the API (or rewritten by an edit before it was persisted)."""

    KIND = keys.MESSAGE

    body: str
    created_at: datetime
    updated_at: datetime
    idempotency_key: str = ""  # the key's hash (pipeline.numbering.idempotency_hash)

    def to_model(self, **links: Any) -> Message:
        return cast(Message, super().to_model(**links))

    def edited(self, edit: "EditRecord") -> "MessageRecord":
        """This message with an edit applied: the edit's fields, the edit's time."""
        changes = {field.name: getattr(edit, field.name) for field in fields(edit)}
        for name in edit.IDENTITY:
            changes.pop(name)
        return replace(self, **changes)


@dataclass(frozen=True)
class EditRecord(_OfAMessage):
    """An edit of a message (PUT, PATCH, the admin): the new content and when it was made."""

    KIND = keys.EDIT

    body: str
    updated_at: datetime
