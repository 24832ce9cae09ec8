from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from applications.models import Application
from chatapi.errors import NotFound
from chatapi.index_hints import index_force
from chatapi.pending import chat_field, pending_get, persisted_or_pending
from chats.models import CHATS_NUMBER_INDEX, Chat


def chat_list(*, application: Application) -> QuerySet[Chat]:
    """The application's chats, read through the (application, number) index."""
    return index_force(Chat.objects.filter(application_id=application.pk), CHATS_NUMBER_INDEX)


def chat_find(*, application: Application, number: int) -> Chat | None:
    return Chat.objects.filter(application=application, number=number).first()


def chat_pending(*, application: Application, number: int) -> Chat | None:
    """A chat that was accepted (201) but is not persisted yet, as an unsaved instance."""
    payload = pending_get(chat_field(application.token, number))
    if payload is None:
        return None
    created_at = datetime.fromisoformat(payload["created_at"])
    return Chat(number=number, messages_count=0, created_at=created_at, updated_at=created_at)


def chat_locate(*, application: Application, number: int) -> Chat:
    """A chat by number, persisted or accepted a moment ago (then an unsaved instance).

    Raises NotFound when it is neither (chatapi.pending.persisted_or_pending).
    """
    chat = persisted_or_pending(
        lambda: chat_find(application=application, number=number),
        lambda: chat_pending(application=application, number=number),
    )
    if chat is None:
        raise NotFound(f"No chat {number} in this application.")
    return chat


def chat_created_with_key(*, token: str, key_hash: str, lowest: int) -> dict[str, Any] | None:
    """The persisted chat created with this Idempotency-Key (its hash), as the journal had it.

    Only numbers from ``lowest`` up: the ones a lost window can have used (chatapi.numbering).
    """
    row = (
        Chat.objects.filter(application__token=token, number__gte=lowest, idempotency_key=key_hash)
        .values("number", "created_at")
        .first()
    )
    if row is None:
        return None
    return {"number": row["number"], "created_at": row["created_at"].isoformat(), "key": key_hash}
