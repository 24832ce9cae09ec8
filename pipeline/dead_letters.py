"""Rows that failed for good, kept in Redis to be listed and replayed by an operator.

A journal entry that keeps failing to be written (``PERSIST_MAX_ATTEMPTS`` claims) moves here,
as it was, in the same transaction that takes it out of the journal, and is logged at ERROR:
never an endless loop, never silent, and its data is still held. Replaying a letter puts the
entry back into the journal, due now, for the next drain (``manage.py dead_letters replay``).
An edit whose message never arrived (its task out of retries) lands here too, as an edit
record; replaying it queues the edit again.

A letter is ``{"entry": name, "payload": JSON text, "error": text, "at": epoch seconds}``.
"""

import json
import logging
import time
import uuid
from typing import Any

from core.redis_client import redis_connection
from pipeline import keys, scripts
from pipeline.journal import Claim, journal_move
from pipeline.records import Record
from pipeline.registry import kind_of

logger = logging.getLogger(__name__)


def _letter(entry: str, payload: str, error: BaseException) -> tuple[str, str]:
    letter_id = uuid.uuid4().hex
    text = f"{type(error).__name__}: {error}"
    letter = {"entry": entry, "payload": payload, "error": text, "at": time.time()}
    logger.error("%s failed for good, dead letter %s: %s", entry, letter_id, text)
    return letter_id, json.dumps(letter)


def dead_letter_from_journal(claim: Claim, error: BaseException) -> str:
    """Move a claimed entry that keeps failing out of the journal, into a letter."""
    letter_id, letter = _letter(claim.entry, claim.payload, error)
    journal_move(
        claim.entry,
        into=lambda pipe, partition: pipe.hset(keys.dead_letters_key(partition), letter_id, letter),
    )
    return letter_id


def dead_letter_from_record(record: Record, error: BaseException) -> str:
    """Keep a record that is not in the journal and could not be applied (an edit whose message
    never arrived); its kind's ``replay`` queues it again."""
    letter_id, letter = _letter(record.entry, json.dumps(record.to_journal()), error)
    partition = keys.entry_partition(record.entry)
    redis_connection().hset(keys.dead_letters_key(partition), letter_id, letter)
    return letter_id


def dead_letters_list() -> dict[str, dict[str, Any]]:
    """Every letter by id, oldest first, over every partition."""
    pipe = redis_connection().pipeline(transaction=False)
    for partition in keys.partitions():
        pipe.hgetall(keys.dead_letters_key(partition))
    letters = {
        scripts.text(letter_id): json.loads(raw)
        for stored in pipe.execute()
        for letter_id, raw in stored.items()
    }
    return dict(sorted(letters.items(), key=lambda item: item[1]["at"]))


def dead_letters_replay(letter_ids: list[str]) -> int:
    """Put these letters' entries back into the journal (a kind with a ``replay``, such as an
    edit: queue it); how many.

    A letter another replay took first is skipped, so no row is requeued twice. The entries are
    due at once: the next drain writes them (the command queues one). An edit's task is queued
    before its letter is taken: if the broker refuses, the letter stays to be replayed again
    (an edit applied twice changes nothing: the later ``updated_at`` wins).
    """
    letters = dead_letters_list()
    by_partition: dict[int, list[Any]] = {}
    for letter_id in letter_ids:
        letter = letters.get(letter_id)
        if letter is None:
            continue
        name = keys.EntryName.parse(letter["entry"])
        kind = kind_of(letter["entry"])
        if kind.replay is not None:
            kind.replay(kind.record.from_journal(letter["entry"], json.loads(letter["payload"])))
        journaled = "" if kind.replay is not None else letter["entry"]
        args = by_partition.setdefault(name.partition, [time.time()])
        args += [letter_id, journaled, letter["payload"]]
    taken = [
        letter_id
        for partition, args in by_partition.items()
        for letter_id in scripts.run(
            "requeue",
            keys=[keys.dead_letters_key(partition), *keys.journal_keys(partition)],
            args=args,
        )
    ]
    return len(taken)
