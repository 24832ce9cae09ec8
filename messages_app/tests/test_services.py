"""messages_app.services on the real database and Redis: create, persist, edit, rescue.

The Celery broker is the real Redis; no worker runs here. Where a test needs the queued tasks
to run, it switches Celery to eager mode for that test only and says so.
"""

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from applications.models import Application
from chatapi.celery import app as celery_app
from chats.models import Chat
from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from chats.tests.factories import ChatFactory
from core.errors import NotFound
from messages_app import selectors
from messages_app import services as edits
from messages_app.edits import MessageNotPersistedYet, message_edit_apply
from messages_app.models import Message
from messages_app.records import EditRecord, MessageRecord
from messages_app.selectors import message_locate
from messages_app.services import message_create, message_update, messages_persist
from messages_app.tests.factories import MessageFactory
from pipeline import counters, keys, registry
from pipeline.dead_letters import dead_letters_list
from pipeline.drain import journal_drain
from pipeline.journal import journal_claim, journal_count, journal_get, journal_make_due
from pipeline.registry import records_persist
from pipeline.tasks import FOLLOW_UPS
from tests.support.tasks import (
    broker_queue_length,
    drains_allowed,
    queued_tasks,
    queued_tasks_with_eta,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to run queued tasks in-process, for tests of what a task body does."""

    def switch_on() -> None:
        monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
        monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    return switch_on


def part(application: Application) -> int:
    """The application's partition of the journal (pipeline.keys)."""
    return keys.partition_of(application.token)


def record(token: str, chat_number: int, number: int, body: str, at=None) -> MessageRecord:
    at = at or timezone.now()
    return MessageRecord(
        token=token,
        chat_number=chat_number,
        number=number,
        body=body,
        created_at=at,
        updated_at=at,
    )


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
    assert journal_get(keys.message_entry(application.token, 1, 3)) == {
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
    field = keys.message_entry(application.token, chat.number, message.number)

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
    assert journal_get(keys.message_entry(application.token, chat.number, message.number)) is None


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
    payload = journal_get(keys.message_entry(application.token, chat.number, message.number))
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


@pytest.mark.parametrize("pause_ms", [0, 250])
def test_journal_drain_writes_everything_a_batch_per_transaction(
    application, django_capture_on_commit_callbacks, pause_ms
):
    """Full batches go on at once, with a pause after a partial batch or without one."""
    chat = chat_create(token=application.token)
    bodies = [f"message {n}" for n in range(1, 8)]
    for body in bodies:
        message_create(token=application.token, chat_number=chat.number, content={"body": body})
    edited = message_update(application=application, chat_number=1, number=7, body="seventh")

    with django_capture_on_commit_callbacks(execute=True):
        written = journal_drain(
            part(application),
            batch_size=3,
            follow_ups=FOLLOW_UPS,
            time_budget_seconds=60,
            pause_after_partial_ms=pause_ms,
        )
        assert written == 8

    persisted = Chat.objects.get()
    assert (persisted.number, persisted.created_at) == (1, chat.created_at)
    assert list(persisted.messages.values_list("number", "body")) == [
        *((n, body) for n, body in enumerate(bodies[:6], start=1)),
        (7, "seventh"),
    ]
    assert Message.objects.get(number=7).updated_at == edited.updated_at
    assert journal_count() == 0
    # A full batch asked for a second drain, to put another worker to work.
    assert broker_queue_length() >= 1


def test_a_partial_batch_is_the_last_and_the_next_drain_comes_after_the_pause(
    application, django_capture_on_commit_callbacks
):
    """Under load a drain looping at once finds a few rows per pass; with the pause, the rows
    accepted after a partial batch wait for one drain, queued for later, and queue none."""
    chat_create(token=application.token)
    for n in range(3):
        message_create(token=application.token, chat_number=1, content={"body": f"{n}"})
    queued_tasks()  # the drain the first row asked for: this test runs it by hand

    with django_capture_on_commit_callbacks(execute=True):
        drained_at = timezone.now()
        written = journal_drain(
            part(application),
            batch_size=10,
            follow_ups=FOLLOW_UPS,
            time_budget_seconds=60,
            pause_after_partial_ms=250,
        )
    assert written == 4
    for n in range(3, 6):
        message_create(token=application.token, chat_number=1, content={"body": f"{n}"})

    # One drain queued, by the drain, to run a pause later; the three rows asked for none.
    [(name, args, _kwargs, eta)] = queued_tasks_with_eta()
    assert (name, args) == ("pipeline.tasks.journal_drain_task", [part(application)])
    assert eta is not None
    assert drained_at + timedelta(milliseconds=250) <= eta < timezone.now() + timedelta(seconds=1)
    assert journal_count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            journal_drain(
                part(application), batch_size=10, follow_ups=FOLLOW_UPS, time_budget_seconds=60
            )
            == 3
        )
    assert Message.objects.count() == 6


def test_drains_that_each_end_on_a_partial_batch_queue_one_later_drain(
    application, django_capture_on_commit_callbacks
):
    """The extra drains full batches queued end on partial batches together: one later drain
    between them, or they would go on as that many chains."""
    chat_create(token=application.token)
    queued_tasks()
    for n in range(3):
        message_create(token=application.token, chat_number=1, content={"body": f"{n}"})
        with django_capture_on_commit_callbacks(execute=True):
            journal_drain(
                part(application),
                batch_size=10,
                follow_ups=FOLLOW_UPS,
                time_budget_seconds=60,
                pause_after_partial_ms=500,
            )

    assert [name for name, *_ in queued_tasks_with_eta()] == ["pipeline.tasks.journal_drain_task"]
    assert Message.objects.count() == 3


def test_a_later_drain_started_early_still_queues_the_next(
    application, django_capture_on_commit_callbacks
):
    """Found by an outside review: the later drain's ETA is a time the queuing worker's clock
    computed, the ``{pN}:drain-later`` key's life was Redis's own ``PX``. A worker whose clock
    is ahead (another host), or a broker that rounds the countdown down (Celery's native
    delayed delivery on quorum queues takes ``int(countdown)`` seconds: 0), runs the later
    drain while the key still lives; ending on a partial batch, it was deduped by the key it
    was queued under and re-armed the drain-requested marker, so the rows accepted next had
    no drain coming, only beat's sweep. The later drain now deletes the key when it starts."""
    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "0"})
    queued_tasks()  # the drain the first row asked for: run by hand below
    with django_capture_on_commit_callbacks(execute=True):
        journal_drain(
            part(application),
            batch_size=10,
            follow_ups=FOLLOW_UPS,
            time_budget_seconds=60,
            pause_after_partial_ms=500,
        )
    message_create(token=application.token, chat_number=1, content={"body": "1"})
    [(name, args, kwargs, _eta)] = queued_tasks_with_eta()  # the later drain
    assert kwargs == {"later": True}

    # Run now, as a worker whose clock is ahead of the queuing one's (by more than this
    # drain's own run) would, or quorum queues' delayed delivery: the key still lives.
    with django_capture_on_commit_callbacks(execute=True):
        written = journal_drain(
            *args,
            **kwargs,
            batch_size=10,
            follow_ups=FOLLOW_UPS,
            time_budget_seconds=60,
            pause_after_partial_ms=500,
        )
    assert written == 1
    message_create(token=application.token, chat_number=1, content={"body": "2"})

    assert journal_count() == 1
    # Something must be on its way for row 3 (a drain queued, now or later); nothing is.
    assert [n for n, *_ in queued_tasks_with_eta()] == ["pipeline.tasks.journal_drain_task"]


def test_a_claim_whose_lease_ran_out_is_claimed_again(application):
    """A drain killed mid-batch never gives its claim back; the lease running out does."""
    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "one"})

    first = journal_claim(part(application), limit=10, lease_seconds=0.3)
    assert [c.entry for c in first] == [
        keys.chat_entry(application.token, 1),
        keys.message_entry(application.token, 1, 1),
    ]
    assert (
        journal_claim(part(application), limit=10, lease_seconds=30) == []
    )  # leased to the first drain
    time.sleep(0.4)
    again = journal_claim(part(application), limit=10, lease_seconds=30)
    assert [(c.entry, c.attempts) for c in again] == [(c.entry, 2) for c in first]


def test_a_row_that_keeps_failing_becomes_a_dead_letter_and_the_rest_are_written(
    application, settings, redis_clean, django_capture_on_commit_callbacks
):
    settings.PERSIST_MAX_ATTEMPTS = 2
    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "fine"})
    message_create(token=application.token, chat_number=1, content={"body": "poison"})
    poison = keys.message_entry(application.token, 1, 2)
    payload = journal_get(poison)
    redis_clean.hset(
        keys.journal_entries_key(part(application)),
        poison,
        json.dumps({**payload, "created_at": "x"}),
    )

    for _ in range(2):
        journal_make_due()
        with django_capture_on_commit_callbacks(execute=True):
            journal_drain(
                part(application), batch_size=10, follow_ups=FOLLOW_UPS, time_budget_seconds=60
            )

    assert list(Message.objects.values_list("number", "body")) == [(1, "fine")]
    assert journal_count() == 0
    [letter] = dead_letters_list().values()
    assert letter["entry"] == poison
    assert json.loads(letter["payload"]) == {**payload, "created_at": "x"}
    assert "'x'" in letter["error"]


def test_drain_journal_command_breaks_leases_and_writes_from_this_process(
    application, django_capture_on_commit_callbacks
):
    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "one"})
    journal_claim(part(application), limit=10, lease_seconds=3600)  # a drain that died holding them
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("drain_journal", stdout=out)

    assert Message.objects.get().body == "one"
    assert journal_count() == 0
    assert out.getvalue().startswith("2 rows were pending; wrote 2;")


def test_a_message_persisted_between_the_two_looks_is_found(
    application, monkeypatch, django_capture_on_commit_callbacks
):
    """message_locate racing the worker: chat and message rows commit and their journal entries go
    between the SQL look and the journal look. The persist is injected at exactly that point."""
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "racy"}
    )
    journal_look = selectors.message_pending

    def worker_commits_first(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            chats_persist(
                records=[ChatRecord(token=application.token, number=1, created_at=chat.created_at)]
            )
            messages_persist(
                records=[record(application.token, 1, 1, "racy", at=message.created_at)]
            )
        return journal_look(**kwargs)

    monkeypatch.setattr(selectors, "message_pending", worker_commits_first)

    found = message_locate(application=application, chat_number=1, number=1)

    assert (found.pk, found.body) == (Message.objects.get().pk, "racy")


def test_message_locate_says_which_is_unknown(application):
    chat_create(token=application.token)  # chat 1, pending: no message 1 in it yet

    with pytest.raises(NotFound, match=r"^No message 1 in chat 1\.$"):
        message_locate(application=application, chat_number=1, number=1)
    with pytest.raises(NotFound, match=r"^No chat 2 in this application\.$"):
        message_locate(application=application, chat_number=2, number=1)


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


def test_a_mixed_batch_is_one_transaction(application, monkeypatch):
    """A drained batch of chats and messages commits or rolls back as one: when its messages
    fail, its chats are not written either, and nothing after-commit runs."""

    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "one"})
    claims = journal_claim(part(application), limit=10, lease_seconds=60)
    assert len(claims) == 2

    def messages_fail(records):
        raise ValueError("a message that cannot be written")

    kind = registry._KINDS[keys.MESSAGE]
    monkeypatch.setitem(registry._KINDS, keys.MESSAGE, replace(kind, persist=messages_fail))

    with pytest.raises(ValueError):
        records_persist([claim.record() for claim in claims])

    assert not Chat.objects.exists()
    assert journal_count() == 2


def test_a_mixed_batch_runs_its_after_commit_work_after_the_one_commit(
    application, django_capture_on_commit_callbacks
):
    chat_create(token=application.token)
    message_create(token=application.token, chat_number=1, content={"body": "one"})
    claims = journal_claim(part(application), limit=10, lease_seconds=60)

    with django_capture_on_commit_callbacks() as callbacks:
        records_persist([claim.record() for claim in claims])
        assert journal_count() == 2  # nothing cleared before the commit
    # The chats' and the messages' after-commit work, in that order (and search's, told by
    # the messages_persisted signal inside the transaction).
    assert [c.__qualname__.split(".")[0] for c in callbacks] == [
        "chats_persist",
        "messages_written_index",
        "messages_persist",
    ]
    for callback in callbacks:
        callback()
    assert journal_count() == 0
    assert Message.objects.get().body == "one"
