"""Journal entries and dead letters not in their own partition, moved into it.

Two ways an entry ends up elsewhere: it was written before the partitions existed (one hash
``pending``, with ``pending:by_time`` and ``pending:attempts``, held every accepted row, and one
hash ``dead-letters`` every letter), or before ``REDIS_PARTITIONS`` changed (an application's
partition is its token's CRC-32 modulo that count). Both are moved each time a worker connects
to the broker, and by ``manage.py drain_journal`` before it drains. Entry names and payloads
did not change. Each is written to its partition before it is taken out of the old place, so a
move that dies half-way leaves it in both: written twice, which the drain's writes ignore. On a
cluster the two places are in two slots: no transaction spans them, and none is needed.
"""

import json
import logging
from typing import Any

from django.conf import settings

from core.redis_client import redis_connection, redis_is_cluster, redis_key
from pipeline import keys, scripts

logger = logging.getLogger(__name__)

# How many partitions a first look covers when the count in use before is not known.
UNSEEN_PARTITIONS_SCAN = 1024


def misplaced_move() -> int:
    """Move everything that is not in its own partition (both ways above); how many."""
    return legacy_move() + partitions_move()


def legacy_move() -> int:
    """Move the old journal's entries and the old dead letters; how many were moved.

    Standalone Redis only: there was no cluster layout before the partitions."""
    if redis_is_cluster():
        return 0
    old = (redis_key("pending"), redis_key("pending", "by_time"), redis_key("pending", "attempts"))
    moved = _move_out(redis_connection(), *old, redis_key("dead-letters"), stays=None)
    if moved:
        logger.warning("moved %d journal entries and dead letters into their partitions", moved)
    return moved


def partitions_move() -> int:
    """Move entries and letters out of partitions that are not theirs, after REDIS_PARTITIONS
    changed (the count last seen is kept in Redis); how many were moved."""
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
            place = (*keys.journal_keys(partition), keys.dead_letters_key(partition))
            moved += _move_out(client, *place, stays=partition)
    client.set(seen_key, current)
    if moved:
        logger.warning("moved %d journal entries and dead letters to new partitions", moved)
    return moved


def _move_out(
    client: Any, data: str, clock: str, attempts: str, letters: str, *, stays: int | None
) -> int:
    """Move every entry and letter of one place (a journal's three keys and a letters hash)
    into its own partition, but those whose partition is ``stays``; how many were moved."""
    moved = 0
    for name, payload in client.hgetall(data).items():
        entry = scripts.text(name)
        home = keys.entry_partition(entry)
        if home == stays:
            continue
        due = client.zscore(clock, name) or 0
        pipe = client.pipeline(transaction=False)  # in this order: written, then taken out
        pipe.hsetnx(keys.journal_entries_key(home), entry, payload)
        pipe.zadd(keys.journal_clock_key(home), {entry: due}, nx=True)
        pipe.hdel(data, name)
        pipe.zrem(clock, name)
        pipe.hdel(attempts, name)
        pipe.execute()
        moved += 1
    for letter_id, letter in client.hgetall(letters).items():
        home = _letter_partition(letter)
        if home == stays:
            continue
        pipe = client.pipeline(transaction=False)
        pipe.hsetnx(keys.dead_letters_key(home), letter_id, letter)
        pipe.hdel(letters, letter_id)
        pipe.execute()
        moved += 1
    return moved


def _letter_partition(raw: bytes | str) -> int:
    """Old letters name their entry by the task's arguments: token first."""
    letter = json.loads(raw)
    token = keys.EntryName.parse(letter["entry"]).token if "entry" in letter else letter["args"][0]
    return keys.partition_of(token)
