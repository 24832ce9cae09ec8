"""The journal of accepted-but-unpersisted chats and messages, kept in Redis; also their queue.

Allocating a number writes the row's payload here in the same Lua script (chatapi.numbering),
so a 201 is never answered for something the journal does not hold. It also lets a client read
or edit a row the moment it was accepted.

The journal is the persistence queue too. Its clock (a sorted set) says when each entry may be
taken next: at first the moment it was accepted. A drain (messages_app.services.journal_drain)
claims up to a batch of due entries in one Lua call, pushing their clock a lease into the future,
writes them in one transaction and clears them after the commit. A drain that dies (SIGKILL,
lost connection) simply lets its lease run out, and the next drain claims the entries again:
the visibility-timeout pattern, with nothing held only by a broker message. Writing is
idempotent, so an entry written twice (a lease that ran out on a slow drain) is harmless.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chatapi.redis_client import redis_connection, redis_key

logger = logging.getLogger(__name__)

JOURNAL_DRAIN_TASK = "messages_app.tasks.journal_drain_task"
# At most one drain is queued per this many milliseconds: a drain takes everything due while
# it runs, so one per interval keeps up, and under load a new one each interval recruits the
# idle workers. The accepting Lua script (chatapi.numbering) sets the same marker.
DRAIN_REQUEST_INTERVAL_MS = 200


def pending_data_key() -> str:
    return redis_key("pending")


def pending_time_key() -> str:
    return redis_key("pending", "by_time")


def pending_attempts_key() -> str:
    return redis_key("pending", "attempts")


def drain_requested_key() -> str:
    return redis_key("drain-requested")


def drain_queue(*, already_marked: bool = False) -> None:
    """Queue a drain task, unless one was queued less than an interval ago.

    ``already_marked``: the caller's Lua script set the marker and asks to queue the task.
    A failure to queue is logged and forgiven: beat queues a drain every few seconds anyway.
    """
    client = redis_connection()
    if not already_marked and not client.set(
        drain_requested_key(), 1, nx=True, px=DRAIN_REQUEST_INTERVAL_MS
    ):
        return
    from chatapi.celery import app

    try:
        app.send_task(JOURNAL_DRAIN_TASK)
    except Exception:
        logger.exception("could not queue a journal drain; beat will")


def drain_idle() -> None:
    """An idle drain clears the marker, so the next accepted row queues a drain at once."""
    redis_connection().delete(drain_requested_key())


def drain_queue_after_connect(*, lease_seconds: float) -> None:
    """Queue the drains a worker owes the journal each time it (re)connects to the broker.

    Losing the broker can lose the drain a row asked for: the worker had it (a drain is not
    retried), or the ``BRPOP`` that popped it lost its reply with the connection. After a
    clean Redis restart the row's drain-requested marker comes back from the AOF and, for the
    rest of its interval, tells the rows accepted next that a drain is on its way, so none
    would be queued before beat's. Hence: the marker is cleared, a drain queued now, and one
    more once the leases of a drain that died with the connection have run out.
    Failures are logged and forgiven, as in ``drain_queue``.
    """
    from chatapi.celery import app

    try:
        drain_idle()
        app.send_task(JOURNAL_DRAIN_TASK)
        app.send_task(JOURNAL_DRAIN_TASK, countdown=lease_seconds)
    except Exception:
        logger.exception("could not queue the journal drains after connecting; beat will")
        return
    logger.info("connected to the broker: journal drains queued now and in %ss", lease_seconds)


def chat_field(token: str, number: int) -> str:
    return f"c:{token}:{number}"


def message_field(token: str, chat_number: int, number: int) -> str:
    return f"m:{token}:{chat_number}:{number}"


@dataclass(frozen=True)
class PendingEntry:
    kind: str  # "c" for a chat, "m" for a message
    token: str
    numbers: tuple[int, ...]  # (chat,) or (chat, message)
    payload: dict[str, Any]


def entry_parse(field: str, raw: str | bytes) -> PendingEntry:
    kind, token, *numbers = field.split(":")
    return PendingEntry(kind, token, tuple(int(n) for n in numbers), json.loads(raw))


def pending_get(field: str) -> dict[str, Any] | None:
    raw = redis_connection().hget(pending_data_key(), field)
    return None if raw is None else json.loads(raw)


Row = TypeVar("Row")


def persisted_or_pending(
    persisted: Callable[[], Row | None], pending: Callable[[], Row | None]
) -> Row | None:
    """A row read your-writes style: from SQL, else from the journal, else from SQL again.

    The worker clears a journal entry only after its row is committed, so a row missing from
    the first SQL look and then from the journal was persisted in between: SQL is asked once
    more (without it, a read racing the worker would miss a row that exists). The one place
    this order is written; the entities' locate selectors use it.
    """
    found = persisted()
    if found is None:
        found = pending()
    if found is None:
        found = persisted()
    return found


def pending_clear(fields: list[str]) -> None:
    if not fields:
        return
    pipe = redis_connection().pipeline(transaction=True)
    pipe.hdel(pending_data_key(), *fields)
    pipe.zrem(pending_time_key(), *fields)
    pipe.hdel(pending_attempts_key(), *fields)
    pipe.execute()


_CLAIM = """
-- KEYS: journal data, journal clock, attempts; ARGV: now, lease until, limit
local fields = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, field in ipairs(fields) do
  local payload = redis.call('HGET', KEYS[1], field)
  if payload then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[2], field)
    local attempts = redis.call('HINCRBY', KEYS[3], field, 1)
    table.insert(claimed, field)
    table.insert(claimed, payload)
    table.insert(claimed, attempts)
  else
    redis.call('ZREM', KEYS[2], field)
  end
end
return claimed
"""


@dataclass(frozen=True)
class Claim:
    entry: PendingEntry
    field: str
    attempts: int  # how many times this entry has been claimed, this time included


def pending_claim(*, limit: int, lease_seconds: float) -> list[Claim]:
    """Take up to ``limit`` due entries, oldest first, for ``lease_seconds``."""
    client = redis_connection()
    now = time.time()
    raw = client.register_script(_CLAIM)(
        keys=[pending_data_key(), pending_time_key(), pending_attempts_key()],
        args=[now, now + lease_seconds, limit],
    )
    claims = []
    for index in range(0, len(raw), 3):
        field = raw[index].decode() if isinstance(raw[index], bytes) else raw[index]
        claims.append(Claim(entry_parse(field, raw[index + 1]), field, int(raw[index + 2])))
    return claims


def pending_release(fields: list[str], *, after_seconds: float) -> None:
    """Give claimed entries back, due again in ``after_seconds``, the claim not counted.

    For a drain that could not write because a dependency was down: an outage is nobody's
    attempt, so it must not push entries toward the dead letters.
    """
    if not fields:
        return
    pipe = redis_connection().pipeline(transaction=True)
    pipe.zadd(pending_time_key(), dict.fromkeys(fields, time.time() + after_seconds), xx=True)
    for field in fields:
        pipe.hincrby(pending_attempts_key(), field, -1)
    pipe.execute()


def pending_make_due() -> int:
    """Make every entry due now, leases included; how many there are."""
    client = redis_connection()
    fields = client.zrange(pending_time_key(), 0, -1)
    if fields:
        # zrange without scores answers members only; redis-py types it with the scored pairs.
        client.zadd(pending_time_key(), dict.fromkeys(fields, 0), xx=True)  # type: ignore[type-var]
    return len(fields)


def pending_count() -> int:
    return int(redis_connection().zcard(pending_time_key()))


_REPLACE_IF_PRESENT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def pending_replace(field: str, payload: dict[str, Any]) -> bool:
    """Replace an entry's payload if the entry is still pending; False if it was persisted.

    Atomic, so an entry cleared by a persist task a moment earlier is not brought back.
    """
    client = redis_connection()
    script = client.register_script(_REPLACE_IF_PRESENT)
    return bool(script(keys=[pending_data_key()], args=[field, json.dumps(payload)]))
