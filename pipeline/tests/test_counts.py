"""chats_count and messages_count: exact after ``refresh_counts``, and converging through beat.

The last test runs a real worker and a real ``celery beat`` (with COUNTS_REFRESH_SECONDS=1), the
fixtures of tests/__init__.py; the others run the services in this process on the real
database and Redis.
"""

import time

import pytest
from django.core.management import call_command

from applications.models import Application
from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from chats.tests.factories import ChatFactory
from messages_app.models import Message
from messages_app.records import MessageRecord
from messages_app.services import message_create, messages_persist
from messages_app.tests.factories import MessageFactory
from pipeline import counters as counts
from pipeline.counters import counts_refresh_all, counts_refresh_changed
from pipeline.journal import journal_count
from pipeline.numbering import application_register
from pipeline.tasks import counts_refresh_changed_task
from tests.support.processes import broker_url, celery_beat, celery_workers, service_env  # noqa: F401
from tests.support.terminal import say  # noqa: F401
from tests.support.waiting import wait_until  # noqa: F401

pytestmark = pytest.mark.django_db


def counters() -> dict[str, tuple[int, dict[int, int]]]:
    """Each application's name -> (chats_count, {chat number: messages_count})."""
    return {
        application.name: (
            application.chats_count,
            dict(application.chats.order_by("number").values_list("number", "messages_count")),
        )
        for application in Application.objects.order_by("name")
    }


def test_refresh_counts_makes_every_counter_exact():
    busy = ApplicationFactory(name="busy", chats_count=99)
    for number, messages in ((1, 4), (2, 0), (3, 2)):
        chat = ChatFactory(application=busy, number=number, messages_count=7)
        for message_number in range(1, messages + 1):
            MessageFactory(chat=chat, number=message_number)
    ApplicationFactory(name="empty", chats_count=5)

    call_command("refresh_counts")

    assert counters() == {"busy": (3, {1: 4, 2: 0, 3: 2}), "empty": (0, {})}


def persist_everything_accepted(
    application: Application, chats: list[Chat], messages: dict[int, list[Message]], capture
) -> None:
    """What the worker does with what was accepted: one persist per row, committed."""
    for chat in chats:
        with capture(execute=True):
            chats_persist(
                records=[
                    ChatRecord(
                        token=application.token, number=chat.number, created_at=chat.created_at
                    )
                ]
            )
    for chat_number, accepted in messages.items():
        for message in accepted:
            with capture(execute=True):
                messages_persist(
                    records=[
                        MessageRecord(
                            token=application.token,
                            chat_number=chat_number,
                            number=message.number,
                            body=message.body,
                            created_at=message.created_at,
                            updated_at=message.updated_at,
                        )
                    ]
                )


def test_persisted_rows_mark_changes_and_the_refresh_converges(
    django_capture_on_commit_callbacks,
):
    application = ApplicationFactory(name="live")
    application_register(token=application.token)
    ApplicationFactory(name="stale", chats_count=3)  # wrong, and nothing marks it

    chats = [chat_create(token=application.token) for _ in range(2)]
    messages = {
        1: [
            message_create(token=application.token, chat_number=1, content={"body": f"{i}"})
            for i in range(3)
        ],
        2: [message_create(token=application.token, chat_number=2, content={"body": "only"})],
    }
    persist_everything_accepted(application, chats, messages, django_capture_on_commit_callbacks)
    assert journal_count() == 0

    assert counts_refresh_changed() == (1, 2)
    assert counters()["live"] == (2, {1: 3, 2: 1})
    # Only what changed was recomputed; the full sweep is refresh_counts' job.
    assert counters()["stale"] == (3, {})
    assert counts_refresh_changed() == (0, 0)

    # More rows later, counted by the beat task's body.
    more = {1: [message_create(token=application.token, chat_number=1, content={"body": "late"})]}
    persist_everything_accepted(application, [], more, django_capture_on_commit_callbacks)
    assert tuple(counts_refresh_changed_task.apply(throw=True).get()) == (0, 1)
    assert counters()["live"] == (2, {1: 4, 2: 1})

    call_command("refresh_counts")
    assert counters()["stale"] == (0, {})


def test_a_chat_created_by_its_first_message_is_counted(django_capture_on_commit_callbacks):
    application = ApplicationFactory(name="app")
    application_register(token=application.token)
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "first"}
    )

    # The message lands before the chat's own task: its application is marked all the same.
    persist_everything_accepted(
        application, [], {chat.number: [message]}, django_capture_on_commit_callbacks
    )
    counts_refresh_changed()

    assert counters() == {"app": (1, {1: 1})}
    assert counts.changes_take(kind=counts.APPLICATIONS, limit=10) == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_counters_converge_with_a_real_worker_and_beat(celery_workers, celery_beat, say):  # noqa: F811
    application = ApplicationFactory(name="beat")
    application_register(token=application.token)
    celery_workers()
    celery_beat(COUNTS_REFRESH_SECONDS="1")

    for _ in range(3):
        chat_create(token=application.token)
    for chat_number, total in ((1, 5), (3, 2)):
        for index in range(total):
            message_create(
                token=application.token, chat_number=chat_number, content={"body": f"{index}"}
            )
    wait_until(
        lambda: Message.objects.count() == 7 and Chat.objects.count() == 3,
        timeout=10,
        what="the rows to be persisted",
    )
    persisted_at = time.monotonic()

    wait_until(
        lambda: counters() == {"beat": (3, {1: 5, 2: 0, 3: 2})},
        timeout=10,
        interval=0.05,
        what="the counters to converge",
    )
    say(f"counters converged {time.monotonic() - persisted_at:.2f}s after the rows were persisted")
    # Beat ticks every second; convergence must not take more than a couple of ticks.
    assert time.monotonic() - persisted_at < 5


def _chat_with(messages: int, **fields) -> Chat:
    chat = ChatFactory(**fields)
    for number in range(1, messages + 1):
        MessageFactory(chat=chat, number=number)
    return chat


def test_the_sweep_counts_in_bounded_chunks_and_writes_without_counting(monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pipeline import counters as counting

    monkeypatch.setattr(counting, "CHUNK_ROWS", 3)
    chats = [_chat_with(n, messages_count=n) for n in (4, 1, 1, 1, 2)]
    Chat.objects.filter(pk=chats[1].pk).update(messages_count=0)

    with CaptureQueriesContext(connection) as queries:
        counts_refresh_all()

    assert [c.messages_count for c in Chat.objects.filter(pk__in=[c.pk for c in chats])] == [
        4,
        1,
        1,
        1,
        2,
    ]
    counting_queries = [
        q["sql"] for q in queries if "COUNT(" in q["sql"] and "messages" in q["sql"]
    ]
    # 4 | 1+1+1 | 2: a chunk stops before it would count more than CHUNK_ROWS rows (a stale
    # count of 0 is sized by the chat's highest number).
    assert len(counting_queries) == 3, counting_queries
    for sql in (q["sql"] for q in queries if q["sql"].startswith("UPDATE")):
        assert "COUNT(" not in sql and "SELECT" not in sql, sql  # no lock held while counting


def test_a_refresh_never_undoes_a_fresher_higher_count():
    from pipeline.counters import _refresh_chunk

    chat = _chat_with(3, messages_count=5)  # another refresh wrote 5 after this one read 2

    _refresh_chunk(Chat, Message, "chat", "messages_count", [(chat.pk, 2)])

    chat.refresh_from_db()
    assert chat.messages_count == 5


def test_a_count_that_was_too_high_is_repaired_unless_changed_meanwhile():
    from pipeline.counters import _refresh_chunk

    repaired = _chat_with(3, messages_count=9)
    moved = _chat_with(3, messages_count=4)  # read as 9, then changed by another refresh

    _refresh_chunk(Chat, Message, "chat", "messages_count", [(repaired.pk, 9), (moved.pk, 9)])

    repaired.refresh_from_db()
    moved.refresh_from_db()
    assert (repaired.messages_count, moved.messages_count) == (3, 4)


def test_zeroed_counts_still_make_bounded_chunks(monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pipeline import counters as counting

    monkeypatch.setattr(counting, "CHUNK_ROWS", 4)
    chats = [_chat_with(3, messages_count=0) for _ in range(4)]

    with CaptureQueriesContext(connection) as queries:
        counts_refresh_all()

    counted = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "messages" in q["sql"]]
    assert len(counted) == 4, counted  # one chat (3 rows) per chunk, not all four at once
    assert {c.messages_count for c in Chat.objects.filter(pk__in=[c.pk for c in chats])} == {3}
