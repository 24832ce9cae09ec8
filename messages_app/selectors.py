from datetime import datetime
from typing import Any

from django.db.models import Max, QuerySet

from applications.models import Application
from chatapi.errors import NotFound
from chatapi.index_hints import index_force
from chatapi.pending import message_field, pending_get, persisted_or_pending
from chats.models import Chat
from chats.selectors import chat_find, chat_locate
from messages_app.models import MESSAGES_NUMBER_INDEX, Message


def message_list(*, chat: Chat) -> QuerySet[Message]:
    """The chat's messages, read through the (chat, number) index (chatapi.index_hints)."""
    if chat.pk is None:  # accepted a moment ago, not persisted yet: no message is either
        return Message.objects.none()
    return index_force(Message.objects.filter(chat_id=chat.pk), MESSAGES_NUMBER_INDEX)


def message_find(*, chat: Chat, number: int) -> Message | None:
    return Message.objects.filter(chat=chat, number=number).first()


def message_highest_number(*, chat: Chat) -> int:
    """The highest persisted message number of a chat, 0 if none (the allocator's reseed)."""
    return Message.objects.filter(chat=chat).aggregate(highest=Max("number"))["highest"] or 0


def message_pending(*, application: Application, chat_number: int, number: int) -> Message | None:
    """A message that was accepted (201) but is not persisted yet, as an unsaved instance."""
    payload = pending_get(message_field(application.token, chat_number, number))
    if payload is None:
        return None
    created_at = datetime.fromisoformat(payload["created_at"])
    # An edit made before the row landed rewrote the entry's body and updated_at (see
    # messages_app.services.message_update); show both, as the row will once it is persisted.
    updated_at = datetime.fromisoformat(payload.get("updated_at", payload["created_at"]))
    return Message(
        number=number,
        body=payload["body"],
        created_at=created_at,
        updated_at=updated_at,
        idempotency_key=payload.get("key", ""),
    )


def message_locate(*, application: Application, chat_number: int, number: int) -> Message:
    """A message by number, persisted or accepted a moment ago (then an unsaved instance).

    Raises NotFound for its chat when the chat is neither persisted nor pending, else for the
    message (chatapi.pending.persisted_or_pending). The chat is looked up again for the error
    text only: a miss pays for it, a hit does not.
    """

    def persisted() -> Message | None:
        chat = chat_find(application=application, number=chat_number)
        return None if chat is None else message_find(chat=chat, number=number)

    message = persisted_or_pending(
        persisted,
        lambda: message_pending(application=application, chat_number=chat_number, number=number),
    )
    if message is None:
        chat_locate(application=application, number=chat_number)  # the chat's 404, if it is
        raise NotFound(f"No message {number} in chat {chat_number}.")
    return message


def message_created_with_key(
    *, token: str, chat_number: int, key_hash: str, lowest: int
) -> dict[str, Any] | None:
    """The persisted message created with this Idempotency-Key (its hash), as first answered.

    Only numbers from ``lowest`` up: the ones a lost window can have used (chatapi.numbering).
    """
    row = (
        Message.objects.filter(
            chat__application__token=token,
            chat__number=chat_number,
            number__gte=lowest,
            idempotency_key=key_hash,
        )
        .values("number", "body", "created_at")
        .first()
    )
    if row is None:
        return None
    created_at = row["created_at"].isoformat()
    return {
        "number": row["number"],
        "body": row["body"],
        "created_at": created_at,
        "updated_at": created_at,
        "key": key_hash,
    }
