from django.db.models import Max, QuerySet

from applications.models import Application
from chats.models import Chat
from chats.selectors import chat_find, chat_locate
from core.admin_pagination import capped_count
from core.errors import NotFound
from core.index_hints import index_force
from messages_app.models import MESSAGES_NUMBER_INDEX, Message
from messages_app.records import MessageRecord
from pipeline import keys
from pipeline.journal import pending, persisted_or_pending


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


def message_pending(*, token: str, chat_number: int, number: int) -> MessageRecord | None:
    """A message that was accepted (201) but is not persisted yet, with any edit made since."""
    return pending(MessageRecord, keys.message_entry(token, chat_number, number))


def message_locate(*, application: Application, chat_number: int, number: int) -> Message:
    """A message by number, persisted or accepted a moment ago (read your writes).

    Raises NotFound for its chat when the chat is neither persisted nor pending, else for the
    message. The chat is looked up again for the error text only: a miss pays for it, a hit
    does not. An unsaved instance (``pk`` None) is a row still in the journal.
    """

    def persisted() -> Message | None:
        chat = chat_find(application=application, number=chat_number)
        return None if chat is None else message_find(chat=chat, number=number)

    def journaled() -> Message | None:
        record = message_pending(token=application.token, chat_number=chat_number, number=number)
        return None if record is None else record.to_model()

    message = persisted_or_pending(persisted, journaled)
    if message is None:
        chat_locate(application=application, number=chat_number)  # the chat's 404, if it is
        raise NotFound(f"No message {number} in chat {chat_number}.")
    return message


def messages_of_application_count(application_id: int) -> int:
    """How many messages an application has, capped (core.admin_pagination.capped_count)."""
    return capped_count(Message.objects.filter(chat__application_id=application_id))
