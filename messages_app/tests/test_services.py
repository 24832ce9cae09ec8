"""messages_app.services on the real database and Redis: create, persist, edit, rescue.

The Celery broker is the real Redis; no worker runs here. Where a test needs the queued tasks
to run, it switches Celery to eager mode for that test only and says so.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.models import Chat
from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from chats.tests.factories import ChatFactory
from core.errors import NotFound
from messages_app import services as edits
from messages_app.edits import MessageNotPersistedYet, message_edit_apply
from messages_app.models import Message
from messages_app.records import EditRecord
from messages_app.selectors import message_locate
from messages_app.services import message_create, message_update, messages_persist
from messages_app.tests.factories import MessageFactory
from pipeline import counters
from pipeline.journal import journal_count, journal_get
from tests.support.records import record  # noqa: E402
from tests.support.tasks import (
    broker_queue_length,
    drains_allowed,
)

pytestmark = pytest.mark.django_db


def test_message_accept_touches_redis_only(application, django_assert_num_queries):
    chat = chat_create(token=application.token)

    with django_assert_num_queries(0):
        messages = [
            message_create(
                token=application.token, chat_number=chat.number, content={"body": f"m{i} 🎉"}
            )
            for i in range(3)
        ]

    assert [(m.number, m.body) for m in messages] == [(1, "m0 🎉"), (2, "m1 🎉"), (3, "m2 🎉")]
    assert not Message.objects.exists()
    assert journal_get(messages[2].entry) == {
        "body": "m2 🎉",
        "created_at": messages[2].created_at.isoformat(),
        "updated_at": messages[2].created_at.isoformat(),
    }
    assert journal_count() == 4
    # Four rows accepted in a burst ask for one drain (per interval), which writes them all.
    assert 1 <= broker_queue_length() <= drains_allowed(chat.created_at, messages[-1].created_at)


def test_messages_persist_is_idempotent(application, django_capture_on_commit_callbacks):
    chat = ChatFactory(application=application, number=1)
    records = [record(application.token, 1, n, f"body {n}") for n in (1, 2)]

    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(records=records)
    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(records=records)

    assert list(Message.objects.filter(chat=chat).values_list("number", "body")) == [
        (1, "body 1"),
        (2, "body 2"),
    ]


def test_a_redelivered_persist_does_not_undo_an_edit(
    application, django_capture_on_commit_callbacks
):
    ChatFactory(application=application, number=1)
    first = record(application.token, 1, 1, "original", at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(records=[first])

    message_update(application=application, chat_number=1, number=1, body="edited")
    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(records=[first])

    assert Message.objects.get().body == "edited"


def test_a_message_whose_chat_row_is_missing_creates_it(
    application, django_capture_on_commit_callbacks
):
    chat_at = timezone.now() - timedelta(seconds=10)
    first_at, second_at = chat_at + timedelta(seconds=2), chat_at + timedelta(seconds=4)

    with django_capture_on_commit_callbacks(execute=True):
        # Out of order on purpose: the chat's row takes the earliest message's time.
        messages_persist(
            records=[
                record(application.token, 1, 2, "second", at=second_at),
                record(application.token, 1, 1, "first", at=first_at),
            ]
        )

    chat = Chat.objects.get()
    assert (chat.application_id, chat.number, chat.created_at) == (application.pk, 1, first_at)
    assert list(chat.messages.values_list("number", "body")) == [(1, "first"), (2, "second")]
    # Both the application (a new chat) and the chat (new messages) are marked for counting.
    assert counters.changes_take(kind=counters.APPLICATIONS, limit=10) == [application.pk]
    assert counters.changes_take(kind=counters.CHATS, limit=10) == [chat.pk]

    # Then the chat's own task arrives and puts its own, earlier, time on the row.
    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(records=[ChatRecord(token=application.token, number=1, created_at=chat_at)])
    chat.refresh_from_db()
    assert (chat.created_at, chat.updated_at) == (chat_at, chat_at)
    assert Chat.objects.count() == 1
    assert Message.objects.filter(chat=chat).count() == 2


def test_journal_entry_is_cleared_only_after_commit(
    application, django_capture_on_commit_callbacks
):
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "hi"}
    )
    field = message.entry

    with django_capture_on_commit_callbacks() as callbacks:
        messages_persist(
            records=[
                record(application.token, chat.number, message.number, "hi", message.created_at)
            ]
        )
        assert journal_get(field) is not None

    assert journal_get(field) is not None
    for callback in callbacks:
        callback()
    assert journal_get(field) is None
    assert journal_count() == 1  # the chat's own entry stays until the chat task commits


def test_messages_of_a_deleted_application_are_dropped_and_leave_the_journal(
    application, django_capture_on_commit_callbacks
):
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "hi"}
    )
    application.delete()

    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(
            records=[
                record(application.token, chat.number, message.number, "hi", message.created_at)
            ]
        )

    assert not Message.objects.exists()
    assert journal_get(message.entry) is None


def test_editing_a_message_not_persisted_yet(application, django_assert_max_num_queries):
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "draft"}
    )
    queued = broker_queue_length()

    edited = message_update(
        application=application, chat_number=chat.number, number=message.number, body="final"
    )

    assert (edited.number, edited.body, edited.created_at) == (1, "final", message.created_at)
    assert edited.updated_at > message.created_at
    payload = journal_get(message.entry)
    assert payload == {
        "body": "final",
        "created_at": message.created_at.isoformat(),
        "updated_at": edited.updated_at.isoformat(),
    }
    # An edit task is queued, for a creation that is already on its way with the old body.
    assert broker_queue_length() == queued + 1
    # Read back before any row exists: the edit, with its own time.
    shown = message_locate(application=application, chat_number=chat.number, number=message.number)
    assert (shown.body, shown.created_at, shown.updated_at) == (
        "final",
        message.created_at,
        edited.updated_at,
    )


def test_message_edit_apply_waits_for_the_row_and_keeps_the_latest_edit(
    application, django_capture_on_commit_callbacks
):
    chat = ChatFactory(application=application, number=1)
    created = timezone.now() - timedelta(seconds=10)
    later, earlier = created + timedelta(seconds=5), created + timedelta(seconds=2)

    def edit(body, at):
        return EditRecord(
            token=application.token, chat_number=1, number=1, body=body, updated_at=at
        )

    with pytest.raises(MessageNotPersistedYet):
        message_edit_apply(edit("too soon", later))

    MessageFactory(chat=chat, number=1, body="original", created_at=created)
    message_edit_apply(edit("new", later))
    # An older edit delivered late does not overwrite the newer one.
    message_edit_apply(edit("old", earlier))

    assert Message.objects.values_list("body", "updated_at").get() == ("new", later)


def test_message_update_says_which_is_unknown(application):
    """The edit service raises the chat's 404 itself; no caller re-queries for the text."""
    ChatFactory(application=application, number=1)

    with pytest.raises(NotFound, match=r"^No message 1 in chat 1\.$"):
        message_update(application=application, chat_number=1, number=1, body="x")
    with pytest.raises(NotFound, match=r"^No chat 2 in this application\.$"):
        message_update(application=application, chat_number=2, number=1, body="x")


def test_an_edit_of_a_message_persisted_since_the_look_lands_on_the_row(
    application, monkeypatch, django_capture_on_commit_callbacks
):
    """message_update racing the worker: the rows commit and the journal entry goes between
    its journal look and its journal write. The persist is injected at exactly that point."""
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "racy"}
    )
    journal_write = edits.journal_replace

    def worker_commits_first(edited):
        with django_capture_on_commit_callbacks(execute=True):
            chats_persist(
                records=[ChatRecord(token=application.token, number=1, created_at=chat.created_at)]
            )
            messages_persist(
                records=[record(application.token, 1, 1, "racy", at=message.created_at)]
            )
        return journal_write(edited)

    monkeypatch.setattr(edits, "journal_replace", worker_commits_first)

    edited = message_update(application=application, chat_number=1, number=1, body="edited")

    row = Message.objects.get()
    assert (edited.pk, edited.body, edited.updated_at) == (row.pk, "edited", row.updated_at)
    assert row.body == "edited"
    assert journal_count() == 0
