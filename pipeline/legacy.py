"""The journal and dead letters of the layout before partitions, moved into their partitions.

Before the partitions (pipeline.keys), one hash ``pending`` (with ``pending:by_time`` and
``pending:attempts``) held every accepted row, and one hash ``dead-letters`` every letter.
After an upgrade, a worker moves what they still hold into the partitions each time it
connects to the broker, and ``manage.py drain_journal`` does too, before the drains. Entry
names and payloads did not change. Each entry is written to its partition before it is taken
out of the old hash, so a move that dies half-way leaves a row in both places: written twice,
which the drain's writes ignore. Standalone Redis only: there was no cluster layout before.
"""

import json
import logging

from chatapi.redis_client import redis_connection, redis_is_cluster, redis_key
from pipeline import keys, scripts

logger = logging.getLogger(__name__)


def legacy_move() -> int:
    """Move the old journal's entries and the old dead letters; how many were moved."""
    if redis_is_cluster():
        return 0
    client = redis_connection()
    old_entries, old_clock = redis_key("pending"), redis_key("pending", "by_time")
    old_attempts, old_letters = redis_key("pending", "attempts"), redis_key("dead-letters")
    moved = 0
    for name, payload in client.hgetall(old_entries).items():
        entry = scripts.text(name)
        partition = keys.entry_partition(entry)
        due = client.zscore(old_clock, name) or 0
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(keys.journal_entries_key(partition), entry, payload)
        pipe.zadd(keys.journal_clock_key(partition), {entry: due}, nx=True)
        pipe.hdel(old_entries, name)
        pipe.zrem(old_clock, name)
        pipe.hdel(old_attempts, name)
        pipe.execute()
        moved += 1
    for letter_id, letter in client.hgetall(old_letters).items():
        # Old letters name their entry by the task's arguments: token first.
        partition = _letter_partition(letter)
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(keys.dead_letters_key(partition), letter_id, letter)
        pipe.hdel(old_letters, letter_id)
        pipe.execute()
        moved += 1
    if moved:
        logger.warning("moved %d journal entries and dead letters into their partitions", moved)
    return moved


def _letter_partition(raw: bytes | str) -> int:
    letter = json.loads(raw)
    token = keys.EntryName.parse(letter["entry"]).token if "entry" in letter else letter["args"][0]
    return keys.partition_of(token)
