"""Dead letters on the real Redis: what a letter holds, and a replay putting it back.

The path into the dead letters from a drain is tested in test_messages.py, and end to end,
with a real worker and a row the database refuses, in tests/drills/test_fault_drills.py.
"""

import json
import time

import pytest

from pipeline import keys
from pipeline.dead_letters import dead_letter_from_edit, dead_letters_list, dead_letters_replay
from pipeline.journal import journal_count, journal_get
from pipeline.records import EditRecord
from tests.support.tasks import broker_queue_length

TOKEN = "b" * 40
AT = "2026-12-01T10:00:00+00:00"


def legacy_letter(redis_clean, letter_id: str, task: str, args: list, at: float) -> None:
    """A letter as the per-row tasks wrote them before the pipeline package."""
    letter = {"task": task, "args": args, "kwargs": {}, "error": "OperationalError: x", "at": at}
    redis_clean.hset(keys.dead_letters_key(keys.partition_of(TOKEN)), letter_id, json.dumps(letter))


def test_letters_of_the_old_per_row_tasks_read_as_the_entries_they_describe(redis_clean):
    legacy_letter(redis_clean, "1", "chats.tasks.chat_persist_task", [TOKEN, 4, AT], 1.0)
    legacy_letter(
        redis_clean,
        "2",
        "messages_app.tasks.message_persist_task",
        [TOKEN, 4, 9, "kept", AT, AT],
        2.0,
    )

    letters = dead_letters_list()

    assert letters == {
        "1": {
            "entry": keys.chat_entry(TOKEN, 4),
            "payload": json.dumps({"created_at": AT}),
            "error": "OperationalError: x",
            "at": 1.0,
        },
        "2": {
            "entry": keys.message_entry(TOKEN, 4, 9),
            "payload": json.dumps({"body": "kept", "created_at": AT, "updated_at": AT}),
            "error": "OperationalError: x",
            "at": 2.0,
        },
    }


def test_a_replay_puts_entries_back_in_the_journal_once(redis_clean):
    legacy_letter(
        redis_clean,
        "old",
        "messages_app.tasks.message_persist_task",
        [TOKEN, 1, 2, "body", AT, AT],
        time.time(),
    )

    assert dead_letters_replay(["old"]) == 1
    assert dead_letters_replay(["old"]) == 0  # taken by the first replay

    assert journal_get(keys.message_entry(TOKEN, 1, 2)) == {
        "body": "body",
        "created_at": AT,
        "updated_at": AT,
    }
    assert journal_count() == 1  # due now, for the next drain
    assert dead_letters_list() == {}


@pytest.mark.django_db
def test_an_edit_letter_is_replayed_as_the_edit_task(redis_clean):
    from datetime import datetime

    edit = EditRecord(
        token=TOKEN, chat_number=1, number=2, body="late", updated_at=datetime.fromisoformat(AT)
    )
    [letter_id] = [dead_letter_from_edit(edit, RuntimeError("its message never came"))]
    queued = broker_queue_length()

    assert dead_letters_replay([letter_id]) == 1

    assert journal_count() == 0  # an edit is not a journal entry
    assert broker_queue_length() == queued + 1
