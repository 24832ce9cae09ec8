"""The journal of accepted-but-unpersisted chats and messages, kept in Redis.

Allocating a number writes the row's payload here in the same Lua script (chatapi.numbering),
so a 201 is never answered for something the journal does not hold. The persist tasks remove
entries after their transaction commits. Beat re-queues entries that stayed too long (a lost
broker message, a task that failed for good), so the journal, not the broker, is what keeps
the promise of the contract. It also lets a client read or edit a row that is not persisted yet.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from chatapi.redis_client import redis_connection, redis_key


def pending_data_key() -> str:
    return redis_key("pending")


def pending_time_key() -> str:
    return redis_key("pending", "by_time")


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


def pending_clear(fields: list[str]) -> None:
    if not fields:
        return
    pipe = redis_connection().pipeline(transaction=True)
    pipe.hdel(pending_data_key(), *fields)
    pipe.zrem(pending_time_key(), *fields)
    pipe.execute()


def pending_due(*, older_than_seconds: float, limit: int) -> list[PendingEntry]:
    """Entries accepted more than ``older_than_seconds`` ago, oldest first.

    Their clock is pushed forward as they are returned, so an entry whose task is merely slow
    is queued again at most once per interval instead of on every beat tick.
    """
    client = redis_connection()
    now = time.time()
    fields = [
        f.decode() if isinstance(f, bytes) else f
        for f in client.zrangebyscore(
            pending_time_key(), "-inf", now - older_than_seconds, start=0, num=limit
        )
    ]
    if not fields:
        return []
    payloads = client.hmget(pending_data_key(), fields)
    pipe = client.pipeline(transaction=False)
    entries = []
    for field, raw in zip(fields, payloads, strict=True):
        if raw is None:  # persisted between the two reads
            pipe.zrem(pending_time_key(), field)
            continue
        pipe.zadd(pending_time_key(), {field: now}, xx=True)
        entries.append(entry_parse(field, raw))
    pipe.execute()
    return entries


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
