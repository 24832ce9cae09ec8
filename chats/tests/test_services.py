"""chats.services on the real database and Redis: creating a chat and persisting it.

The Celery broker is the real Redis too; no worker runs here, so a queued task stays in the
queue, where the tests count it (``tests.support.tasks.broker_queue_length``). Task bodies run
eagerly only where the body is what is tested.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.models import Chat
from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from messages_app.records import MessageRecord
from messages_app.services import messages_persist
from pipeline import counters, keys
from pipeline.journal import journal_count, journal_get
from pipeline.tasks import journal_drain_task
from tests.support.tasks import broker_queue_length, drains_allowed

pytestmark = pytest.mark.django_db


def test_chat_create_touches_redis_only(application, django_assert_num_queries):
    with django_assert_num_queries(0):
        chats = [chat_create(token=application.token) for _ in range(3)]

    assert [chat.number for chat in chats] == [1, 2, 3]
    # The records the journal holds, no model instance: nothing to save by mistake.
    assert all(isinstance(chat, ChatRecord) for chat in chats)
    assert not Chat.objects.exists()
    # Each is in the journal with its own time, and one drain task (per interval) is queued.
    assert journal_get(chats[1].entry) == {"created_at": chats[1].created_at.isoformat()}
    assert journal_count() == 3
    assert 1 <= broker_queue_length() <= drains_allowed(chats[0].created_at, chats[-1].created_at)


def test_chat_create_with_a_seen_idempotency_key_creates_nothing(application):
    first = chat_create(token=application.token, idempotency_key="k-1")
    again = chat_create(token=application.token, idempotency_key="k-1")

    assert (again.number, again.created_at) == (first.number, first.created_at)
    assert journal_count() == 1
    assert broker_queue_length() == 1


def test_chats_persist_is_idempotent(application, django_capture_on_commit_callbacks):
    at = timezone.now() - timedelta(seconds=5)
    record = ChatRecord(token=application.token, number=1, created_at=at)

    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(records=[record])
    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(records=[record])

    chat = Chat.objects.get()
    assert (chat.application_id, chat.number, chat.created_at, chat.updated_at) == (
        application.pk,
        1,
        at,
        at,
    )


def test_journal_entry_is_cleared_only_after_commit(
    application, django_capture_on_commit_callbacks
):
    chat = chat_create(token=application.token)
    record = ChatRecord(token=application.token, number=chat.number, created_at=chat.created_at)

    with django_capture_on_commit_callbacks() as callbacks:
        chats_persist(records=[record])
        # The row is written but not committed: the journal must still hold it.
        assert journal_get(chat.entry) is not None

    assert journal_count() == 1
    for callback in callbacks:
        callback()
    assert journal_count() == 0
    assert counters.changes_take(kind=counters.APPLICATIONS, limit=10) == [application.pk]


def test_a_chat_fixes_the_time_of_a_row_its_message_created_first(
    application, django_capture_on_commit_callbacks
):
    chat_at = timezone.now() - timedelta(seconds=10)
    message_at = chat_at + timedelta(seconds=3)

    with django_capture_on_commit_callbacks(execute=True):
        messages_persist(
            records=[
                MessageRecord(
                    token=application.token,
                    chat_number=1,
                    number=1,
                    body="first",
                    created_at=message_at,
                    updated_at=message_at,
                )
            ]
        )
    assert Chat.objects.get().created_at == message_at

    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(records=[ChatRecord(token=application.token, number=1, created_at=chat_at)])
    chat = Chat.objects.get()
    assert (chat.number, chat.created_at, chat.updated_at) == (1, chat_at, chat_at)

    # A later time (a duplicate delivery of something else) never moves it forward again.
    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(
            records=[ChatRecord(token=application.token, number=1, created_at=message_at)]
        )
    assert Chat.objects.get().created_at == chat_at


def test_chats_of_a_deleted_application_are_dropped_and_leave_the_journal(
    application, django_capture_on_commit_callbacks
):
    chat = chat_create(token=application.token)
    application.delete()

    with django_capture_on_commit_callbacks(execute=True):
        chats_persist(
            records=[
                ChatRecord(token=application.token, number=chat.number, created_at=chat.created_at)
            ]
        )

    assert not Chat.objects.exists()
    assert journal_count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_drain_task_persists_and_clears_the_journal(application):
    """The task body, run eagerly: a real commit, so the on-commit journal clean-up runs."""
    chat = chat_create(token=application.token)

    journal_drain_task.apply(args=(keys.partition_of(application.token),), throw=True)
    journal_drain_task.apply(
        args=(keys.partition_of(application.token),), throw=True
    )  # nothing left to do

    assert list(Chat.objects.values_list("number", "created_at")) == [(1, chat.created_at)]
    assert journal_count() == 0


def test_a_batch_of_chat_times_is_fixed_by_one_update(application):
    """Rows a message created first carry the message's time; the chats' own, earlier, times
    replace it in one UPDATE for the whole batch, and a row already at its time is left be."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    own = timezone.now() - timedelta(minutes=5)
    later = own + timedelta(minutes=1)
    for number in (1, 2, 3):  # created by their first messages, at a later time
        Chat.objects.create(
            application=application, number=number, created_at=later, updated_at=later
        )
    Chat.objects.create(application=application, number=4, created_at=own, updated_at=later)
    records = [
        ChatRecord(token=application.token, number=n, created_at=own + timedelta(seconds=n))
        for n in (1, 2, 3, 5)
    ]
    records.append(ChatRecord(token=application.token, number=4, created_at=later))

    with CaptureQueriesContext(connection) as queries:
        chats_persist(records=records)

    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    rows = Chat.objects.order_by("number").values_list("number", "created_at", "updated_at")
    assert list(rows) == [
        *((n, own + timedelta(seconds=n), own + timedelta(seconds=n)) for n in (1, 2, 3)),
        (4, own, later),  # already earlier than the record: untouched
        (5, own + timedelta(seconds=5), own + timedelta(seconds=5)),
    ]
