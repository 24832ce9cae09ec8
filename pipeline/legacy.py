"""Journal entries and dead letters not in their own partition, moved into it.

Two ways an entry ends up elsewhere: it was written before the partitions existed, or before
``REDIS_PARTITIONS`` changed (an application's partition is its token's CRC-32 modulo that
count). Both are moved each time a worker connects to the broker, and by
``manage.py drain_journal`` before it drains.

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
from typing import Any

from django.conf import settings

from chatapi.redis_client import redis_connection, redis_is_cluster, redis_key
from pipeline import keys, scripts

logger = logging.getLogger(__name__)

# How many partitions a first look covers when the count in use before is not known.
UNSEEN_PARTITIONS_SCAN = 1024


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


def partitions_move() -> int:
    """Move entries and letters out of partitions that are not theirs, after REDIS_PARTITIONS
    changed (the count last seen is kept in Redis); how many were moved.

    Each is written to its partition before it is taken out of the old one, so a move that
    dies half-way leaves it in both: written twice, which the drain's writes ignore. On a
    cluster the two partitions are in two slots: no transaction spans them, none is needed.
    """
    client = redis_connection()
    seen_key = redis_key("partitions")
    seen = client.get(seen_key)
    current = settings.REDIS_PARTITIONS
    if seen is not None and int(seen) == current:
        return 0
    # Not seen yet (the first start of this version): look as far as any count in use.
    scan = range(max(current, int(seen or 0), UNSEEN_PARTITIONS_SCAN))
    pipe = client.pipeline(transaction=False)
    for partition in scan:
        pipe.hlen(keys.journal_entries_key(partition))
        pipe.hlen(keys.dead_letters_key(partition))
    sizes = pipe.execute()
    moved = 0
    for partition in scan:
        if sizes[2 * partition] or sizes[2 * partition + 1]:
            moved += _partition_move(client, partition)
    client.set(seen_key, current)
    if moved:
        logger.warning("moved %d journal entries and dead letters to new partitions", moved)
    return moved


def _partition_move(client: Any, partition: int) -> int:
    data, clock, attempts = keys.journal_keys(partition)
    letters = keys.dead_letters_key(partition)
    moved = 0
    for name, payload in client.hgetall(data).items():
        entry = scripts.text(name)
        home = keys.entry_partition(entry)
        if home == partition:
            continue
        due = client.zscore(clock, name) or 0
        client.hsetnx(keys.journal_entries_key(home), entry, payload)
        client.zadd(keys.journal_clock_key(home), {entry: due}, nx=True)
        client.hdel(data, name)
        client.zrem(clock, name)
        client.hdel(attempts, name)
        moved += 1
    for letter_id, letter in client.hgetall(letters).items():
        home = _letter_partition(letter)
        if home != partition:
            client.hsetnx(keys.dead_letters_key(home), letter_id, letter)
            client.hdel(letters, letter_id)
            moved += 1
    return moved


def _letter_partition(raw: bytes | str) -> int:
    letter = json.loads(raw)
    token = keys.EntryName.parse(letter["entry"]).token if "entry" in letter else letter["args"][0]
    return keys.partition_of(token)
