"""Editing a message, persisted or still in the journal (PUT, PATCH, the admin).

For a message still in the journal, the edit is written into its journal entry, so the drain
writes the edited row, and also queued as a task that applies it once the row exists, which
covers a drain that claimed the entry with the old body a moment before. Neither path can be
undone by the creation: that inserts only where no row exists; and of two edits, the later
one wins (``updated_at``).
"""

from django.utils import timezone

from applications.models import Application
from chatapi.errors import NotFound
from chats.selectors import chat_find
from messages_app.models import Message
from messages_app.selectors import message_find
from pipeline.events import message_updated_append
from pipeline.journal import journal_replace
from pipeline.persist import message_body_write
from pipeline.records import EditRecord, MessageRecord
from pipeline.selectors import message_locate


class MessageNotPersistedYet(Exception):
    """An edit arrived before its message's row: the edit task retries until the row lands."""


def message_update(
    *, application: Application, chat_number: int, number: int, body: str
) -> Message:
    """Edit a message, persisted or only accepted so far; NotFound as message_locate says."""
    edit = EditRecord(
        token=application.token,
        chat_number=chat_number,
        number=number,
        body=body,
        updated_at=timezone.now(),
    )
    message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is None:
        pending = MessageRecord.from_model(
            message, token=application.token, chat_number=chat_number
        ).edited(edit)
        if journal_replace(pending):
            # Imported here: the task module imports this one (as in HackSoft's styleguide).
            from pipeline.tasks import message_edit_task

            message_edit_task.delay(edit.entry, edit.to_journal())
            return pending.to_model()
        # Persisted since the look: the journal entry goes only after the row is committed.
        message = message_locate(application=application, chat_number=chat_number, number=number)
    if message.pk is not None:
        if message_body_write(
            chat_id=message.chat_id, number=number, body=body, updated_at=edit.updated_at
        ):
            message.body, message.updated_at = edit.body, edit.updated_at
            message_updated_append(
                MessageRecord.from_model(message, token=application.token, chat_number=chat_number)
            )
            return message
        # A later edit landed first: the row as it now is.
        current = Message.objects.filter(chat_id=message.chat_id, number=number).first()
        if current is not None:
            return current
    raise NotFound(f"No message {number} in chat {chat_number}.")


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
