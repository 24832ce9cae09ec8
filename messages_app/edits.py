"""Applying an edit to a persisted message: directly (messages_app.services.message_update)
or from the queued edit task (messages_app.tasks), once the message's row exists.

Of two edits, the later one wins (``updated_at``), whichever is applied first; a creation
cannot undo an edit, as it inserts only where no row exists.
"""

from datetime import datetime

from django.db import transaction

from applications.models import Application
from chats.selectors import chat_find
from messages_app.models import Message
from messages_app.records import EditRecord
from messages_app.selectors import message_find
from messages_app.signals import messages_edited


class MessageNotPersistedYet(Exception):
    """An edit arrived before its message's row: the edit task retries until the row lands."""


def message_body_write(*, chat_id: int, number: int, body: str, updated_at: datetime) -> bool:
    """Apply an edit to a persisted message unless a later one already landed; whether it was.

    Receivers of ``messages_edited`` (search) hear of it in the same transaction.
    """
    with transaction.atomic():
        changed = Message.objects.filter(
            chat_id=chat_id, number=number, updated_at__lte=updated_at
        ).update(body=body, updated_at=updated_at)
        if changed:
            messages_edited.send(sender=Message, keys=[(chat_id, number)])
    return bool(changed)


def message_edit_apply(edit: EditRecord) -> None:
    """Apply a queued edit to its row; MessageNotPersistedYet until the row exists."""
    application = Application.objects.filter(token=edit.token).first()
    chat = (
        None if application is None else chat_find(application=application, number=edit.chat_number)
    )
    if chat is not None:
        message_body_write(
            chat_id=chat.pk, number=edit.number, body=edit.body, updated_at=edit.updated_at
        )
        if message_find(chat=chat, number=edit.number) is not None:
            return
    raise MessageNotPersistedYet(
        f"message {edit.number} of chat {edit.chat_number} not persisted yet"
    )
