"""Reading a chat or a message by number, persisted or accepted a moment ago (read your writes).

The views and the edit service use these; an unsaved instance (``pk`` None) is a row still in
the journal.
"""

from applications.models import Application
from chats.models import Chat
from chats.selectors import chat_find
from core.errors import NotFound
from messages_app.models import Message
from messages_app.selectors import message_find
from pipeline.journal import chat_pending, message_pending, persisted_or_pending


def chat_locate(*, application: Application, number: int) -> Chat:
    """A chat by number, persisted or pending; NotFound when it is neither."""

    def pending() -> Chat | None:
        record = chat_pending(token=application.token, number=number)
        return None if record is None else record.to_model()

    chat = persisted_or_pending(lambda: chat_find(application=application, number=number), pending)
    if chat is None:
        raise NotFound(f"No chat {number} in this application.")
    return chat


def message_locate(*, application: Application, chat_number: int, number: int) -> Message:
    """A message by number, persisted or pending.

    Raises NotFound for its chat when the chat is neither persisted nor pending, else for the
    message. The chat is looked up again for the error text only: a miss pays for it, a hit
    does not.
    """

    def persisted() -> Message | None:
        chat = chat_find(application=application, number=chat_number)
        return None if chat is None else message_find(chat=chat, number=number)

    def pending() -> Message | None:
        record = message_pending(token=application.token, chat_number=chat_number, number=number)
        return None if record is None else record.to_model()

    message = persisted_or_pending(persisted, pending)
    if message is None:
        chat_locate(application=application, number=chat_number)  # the chat's 404, if it is
        raise NotFound(f"No message {number} in chat {chat_number}.")
    return message
