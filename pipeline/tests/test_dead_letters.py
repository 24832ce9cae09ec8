"""Dead letters on the real Redis: what a letter holds, and a replay putting it back.

The path into the dead letters from a drain is tested in pipeline/tests/test_drain.py, and end
to end, with a real worker and a row the database refuses, in tests/drills/test_fault_drills.py.
"""

import json
import time

import pytest

from messages_app.records import EditRecord
from pipeline import keys
from pipeline.dead_letters import dead_letter_from_record, dead_letters_list, dead_letters_replay
from pipeline.journal import journal_count, journal_get
from tests.support.tasks import broker_queue_length

TOKEN = "b" * 40
AT = "2026-12-01T10:00:00+00:00"


def letter(redis_clean, letter_id: str, entry: str, payload: dict, at: float) -> None:
    """A letter as dead_letter_from_journal writes one."""
    stored = {"entry": entry, "payload": json.dumps(payload), "error": "OperationalError: x"}
    redis_clean.hset(
        keys.dead_letters_key(keys.partition_of(TOKEN)),
        letter_id,
        json.dumps({**stored, "at": at}),
    )


def test_letters_are_listed_oldest_first_as_they_were_written(redis_clean):
    letter(redis_clean, "2", keys.message_entry(TOKEN, 4, 9), {"body": "kept"}, 2.0)
    letter(redis_clean, "1", keys.chat_entry(TOKEN, 4), {"created_at": AT}, 1.0)

    letters = dead_letters_list()

    assert list(letters) == ["1", "2"]
    assert letters["2"] == {
        "entry": keys.message_entry(TOKEN, 4, 9),
        "payload": json.dumps({"body": "kept"}),
        "error": "OperationalError: x",
        "at": 2.0,
    }


def test_a_replay_puts_entries_back_in_the_journal_once(redis_clean):
    letter(
        redis_clean,
        "old",
        keys.message_entry(TOKEN, 1, 2),
        {"body": "body", "created_at": AT, "updated_at": AT},
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
    [letter_id] = [dead_letter_from_record(edit, RuntimeError("its message never came"))]
    queued = broker_queue_length()

    assert dead_letters_replay([letter_id]) == 1

    assert journal_count() == 0  # an edit is not a journal entry
    assert broker_queue_length() == queued + 1
