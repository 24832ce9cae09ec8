from django.db.models import Max, QuerySet

from chats.models import Chat
from core.index_hints import index_force
from messages_app.models import MESSAGES_NUMBER_INDEX, Message


def message_list(*, chat: Chat) -> QuerySet[Message]:
    """The chat's messages, read through the (chat, number) index (core.index_hints)."""
    if chat.pk is None:  # accepted a moment ago, not persisted yet: no message is either
        return Message.objects.none()
    return index_force(Message.objects.filter(chat_id=chat.pk), MESSAGES_NUMBER_INDEX)


def message_find(*, chat: Chat, number: int) -> Message | None:
    return Message.objects.filter(chat=chat, number=number).first()


def message_highest_number(*, chat: Chat) -> int:
    """The highest persisted message number of a chat, 0 if none (the allocator's reseed)."""
    return Message.objects.filter(chat=chat).aggregate(highest=Max("number"))["highest"] or 0


def message_created_with_key(
    *, token: str, chat_number: int, key_hash: str, lowest: int
) -> Message | None:
    """The persisted message created with this Idempotency-Key (its hash), if any.

    Only numbers from ``lowest`` up: the ones a lost window can have used (pipeline.numbering).
    """
    return Message.objects.filter(
        chat__application__token=token,
        chat__number=chat_number,
        number__gte=lowest,
        idempotency_key=key_hash,
    ).first()
