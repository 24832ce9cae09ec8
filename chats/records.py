"""A chat as the write engine carries it, from its 201 to its row (pipeline.records)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from chats.models import Chat
from pipeline import keys
from pipeline.records import Record


@dataclass(frozen=True)
class ChatRecord(Record):
    """A chat accepted by the API."""

    KIND = keys.CHAT
    IDENTITY = ("token", "number")
    MODEL = Chat

    token: str
    number: int
    created_at: datetime
    idempotency_key: str = ""  # the key's hash (pipeline.numbering.idempotency_hash)

    def to_model(self, **links: Any) -> Chat:
        chat = cast(Chat, super().to_model(**links))
        chat.updated_at = self.created_at  # a chat changes only when it is created
        return chat
