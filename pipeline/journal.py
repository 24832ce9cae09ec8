"""The journal of accepted-but-unpersisted chats and messages, kept in Redis; also their queue.

Allocating a number writes the row's record here in the same Lua script (pipeline.numbering),
so a 201 is never answered for something the journal does not hold. It also lets a client read
or edit a row the moment it was accepted (``persisted_or_pending``).

The journal is the persistence queue too, one per partition (pipeline.keys): an application's
rows are in its partition's. Its clock (a sorted set) says when each entry may be taken next:
at first the moment it was accepted. A drain (pipeline.drain) claims up to a batch of due
entries of one partition in one Lua call, pushing their clock a lease into the future, writes
them in one transaction and clears them after the commit. A drain that dies (SIGKILL, lost
connection) simply lets its lease run out, and the next drain claims the entries again: the
visibility-timeout pattern, with nothing held only by a broker message. Writing is
idempotent, so an entry written twice (a lease that ran out on a slow drain) is harmless.
"""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import REDIS_UNAVAILABLE
from core.redis_client import redis_connection
from pipeline import keys, scripts
from pipeline.events import events_keys, events_maxlen
from pipeline.records import Record
from pipeline.registry import record_decode

AnyRecord = TypeVar("AnyRecord", bound=Record)


@dataclass(frozen=True)
class Claim:
    """A journal entry taken by a drain, for a lease."""

    entry: str  # its name (pipeline.keys)
    payload: str  # as stored: decoding it is one of the ways an entry can fail
    attempts: int  # how many times this entry has been claimed, this time included

    def record(self) -> Record:
        """The record the entry holds; raises if the entry cannot be read."""
        return record_decode(self.entry, self.payload)


def journal_get(entry: str) -> dict[str, Any] | None:
    """An entry's payload, or None once it is persisted (or was never accepted)."""
    raw = redis_connection().hget(keys.journal_entries_key(keys.entry_partition(entry)), entry)
    return None if raw is None else json.loads(raw)


def pending(record_type: type[AnyRecord], entry: str) -> AnyRecord | None:
    """The record of an entry accepted (201) but not persisted yet, with any edit made since."""
    payload = journal_get(entry)
    return None if payload is None else record_type.from_journal(entry, payload)


Row = TypeVar("Row")


def persisted_or_pending(
    persisted: Callable[[], Row | None], pending: Callable[[], Row | None]
) -> Row | None:
    """A row read your-writes style: from SQL, else from the journal, else from SQL again.

    The drain clears a journal entry only after its row is committed, so a row missing from
    the first SQL look and then from the journal was persisted in between: SQL is asked once
    more (without it, a read racing the drain would miss a row that exists). The one place
    this order is written; the locate selectors (chats.selectors, messages_app.selectors) use it.
    """
    found = persisted()
    if found is None:
        found = pending()
    if found is None:
        found = persisted()
    return found


def journal_replace(record: Record) -> bool:
    """Replace a pending entry with ``record`` (an edit); False if it was persisted meanwhile.

    Atomic, so an entry cleared by a drain a moment earlier is not brought back; the edit's
    event is appended in the same step (pipeline.events).
    """
    partition = keys.entry_partition(record.entry)
    return bool(
        scripts.run(
            "replace",
            keys=[keys.journal_entries_key(partition), *events_keys(partition)],
            args=[record.entry, json.dumps(record.to_journal()), events_maxlen()],
        )
    )


def journal_claim(partition: int, *, limit: int, lease_seconds: float) -> list[Claim]:
    """Take up to ``limit`` due entries of a partition, oldest first, for ``lease_seconds``."""
    now = time.time()
    raw = scripts.run(
        "claim", keys=keys.journal_keys(partition), args=[now, now + lease_seconds, limit]
    )
    return [
        Claim(scripts.text(raw[index]), scripts.text(raw[index + 1]), int(raw[index + 2]))
        for index in range(0, len(raw), 3)
    ]


def by_partition(entries: Iterable[str]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for entry in entries:
        grouped[keys.entry_partition(entry)].append(entry)
    return grouped


def journal_clear(entries: list[str]) -> None:
    """Forget persisted entries (after their transaction committed): one script per partition
    (a drained batch is of one), which runs even when Redis is full."""
    for partition, names in by_partition(entries).items():
        scripts.run("clear", keys=keys.journal_keys(partition), args=names)


def _clear(pipe: Any, partition: int, entries: list[str]) -> None:
    data, clock, attempts = keys.journal_keys(partition)
    pipe.hdel(data, *entries)
    pipe.zrem(clock, *entries)
    pipe.hdel(attempts, *entries)


def journal_release(entries: list[str], *, after_seconds: float) -> None:
    """Give claimed entries back, due again in ``after_seconds``, the claim not counted.

    For a drain that could not write because a dependency was down: an outage is nobody's
    attempt, so it must not push entries toward the dead letters.
    """
    due = time.time() + after_seconds
    for partition, names in by_partition(entries).items():
        _, clock, attempts = keys.journal_keys(partition)
        scripts.run("release", keys=[clock, attempts], args=[due, *names])


def journal_move(entry: str, *, into: Callable[[Any, int], None]) -> None:
    """Clear an entry and, in the same transaction, do ``into(pipe, partition)`` (a dead
    letter's write, in the same partition)."""
    partition = keys.entry_partition(entry)
    pipe = redis_connection().pipeline(transaction=True)
    into(pipe, partition)
    _clear(pipe, partition, [entry])
    pipe.execute()


def _each_partition(
    command: Callable[[Any, int], Any], *, skip_unavailable: bool = False
) -> list[Any]:
    """Run ``command(pipe, partition)`` for every partition, in one pipeline (on a cluster,
    one per node); the replies in partition order.

    ``skip_unavailable``: when a node cannot answer (a cluster master down, before its replica
    takes over), the partitions of the others still answer, and the dead node's are None.
    """
    pipe = redis_connection().pipeline(transaction=False)
    for partition in keys.partitions():
        command(pipe, partition)
    try:
        return pipe.execute()
    except REDIS_UNAVAILABLE:
        if not skip_unavailable:
            raise
    replies = []
    for partition in keys.partitions():
        one = redis_connection().pipeline(transaction=False)
        command(one, partition)
        try:
            replies.append(one.execute()[0])
        except REDIS_UNAVAILABLE:
            replies.append(None)
    return replies


def partitions_due(now: float | None = None) -> list[int]:
    """The partitions with an entry due now (for beat's sweep)."""
    moment = time.time() if now is None else now
    replies = _each_partition(
        lambda pipe, p: pipe.zrangebyscore(keys.journal_clock_key(p), "-inf", moment, 0, 1),
        skip_unavailable=True,
    )
    return [partition for partition, due in zip(keys.partitions(), replies, strict=True) if due]


def journal_make_due() -> int:
    """Make every entry due now, leases included; how many there are."""
    client = redis_connection()
    total = 0
    clocks = _each_partition(lambda pipe, p: pipe.zrange(keys.journal_clock_key(p), 0, -1))
    for partition, entries in zip(keys.partitions(), clocks, strict=True):
        if entries:
            client.zadd(keys.journal_clock_key(partition), dict.fromkeys(entries, 0), xx=True)
            total += len(entries)
    return total


def journal_count() -> int:
    """How many entries the journal holds, over every partition."""
    return sum(_each_partition(lambda pipe, p: pipe.zcard(keys.journal_clock_key(p))))
