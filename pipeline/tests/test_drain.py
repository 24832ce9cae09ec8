"""The journal's drain on the real database and Redis: batches, pauses, leases, dead letters,
one transaction per batch. Messages and chats are the rows it carries here.
"""

import json
import time
from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from applications.models import Application
from chats.models import Chat
from chats.services import chat_create
from messages_app.models import Message
from messages_app.services import message_create, message_update
from pipeline import keys, registry
from pipeline.dead_letters import dead_letters_list
from pipeline.drain import journal_drain
from pipeline.journal import journal_claim, journal_count, journal_get, journal_make_due
from pipeline.registry import records_persist
from pipeline.tasks import FOLLOW_UPS
from tests.support.tasks import (
    broker_queue_length,
    queued_tasks,
    queued_tasks_with_eta,
)

pytestmark = pytest.mark.django_db


def part(application: Application) -> int:
    """The application's partition of the journal (pipeline.keys)."""
    return keys.partition_of(application.token)


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
    # The chats' and the messages' after-commit work, in that order (search asks for a drain
    # of its outbox only with Elasticsearch configured, which this run is not).
    assert [c.__qualname__.split(".")[0] for c in callbacks] == [
        "chats_persist",
        "messages_persist",
    ]
    for callback in callbacks:
        callback()
    assert journal_count() == 0
    assert Message.objects.get().body == "one"
