"""Every Redis key the pipeline writes, and the names of the journal's entries: one layout.

The Lua scripts get every key and every entry name from here (as KEYS and ARGV); none builds
one of its own, so this module is the whole layout.

It is laid out for Redis Cluster, where a script or a transaction may touch keys of one hash
slot only. Applications are spread over ``REDIS_PARTITIONS`` partitions (``partition_of``: the
token's CRC-32, modulo); every key one script touches carries its partition's hash tag
``{pN}``, so it lands in one slot of a cluster (and on one Redis anyway):

- ``{pN}:app:<token>`` (hash): an application's counters (pipeline.numbering has the fields).
- ``{pN}:unknown-app:<token>``: "SQL has no application with this token", for a while.
- ``{pN}:idempotency:<token>:<resource>:<key hash>``: the number and payload a key first got.
- ``{pN}:pending`` (hash), ``{pN}:pending:by_time`` (sorted set), ``{pN}:pending:attempts``
  (hash): the partition's journal: entries, when each is due, how often each was claimed
  (pipeline.journal). A drain claims from one partition.
- ``{pN}:drain-requested``: set while a drain of the partition is queued, so one request per
  interval queues one.
- ``{pN}:drain-later``: set while a drain queued for after a pause is waiting, so drains that
  each end on a partial batch queue one between them (pipeline.tasks.drain_queue_later).
- ``{pN}:dead-letters`` (hash): entries that kept failing (pipeline.dead_letters).
- ``{pN}:events`` (stream), ``{pN}:events:seq``: the partition's live events and the counter
  that numbers them without a gap (pipeline.events).
- ``changed:applications``, ``changed:chats`` (sets, one key per command, no tag): parents
  whose counts are stale (pipeline.counters).

Every key starts with ``REDIS_KEY_PREFIX``, so deployments (and test runs) can share a Redis.

A journal entry is named by its kind and its numbers: ``c:<token>:<chat>`` for a chat,
``m:<token>:<chat>:<message>`` for a message; a dead letter of an edit, ``e:`` likewise.
"""

import zlib
from dataclasses import dataclass

from django.conf import settings

from core.redis_client import redis_key

CHAT = "c"
MESSAGE = "m"
EDIT = "e"


def partitions() -> range:
    return range(settings.REDIS_PARTITIONS)


def partition_of(token: str) -> int:
    """The application's partition: fixed by its token (and REDIS_PARTITIONS)."""
    return zlib.crc32(token.encode()) % settings.REDIS_PARTITIONS


def _tag(partition: int) -> str:
    return f"{{p{partition}}}"


def application_key(token: str) -> str:
    return redis_key(_tag(partition_of(token)), "app", token)


def unknown_token_key(token: str) -> str:
    return redis_key(_tag(partition_of(token)), "unknown-app", token)


def idempotency_key(token: str, resource: str, key_hash: str | None) -> str:
    """Scoped by application and resource, so a key means nothing outside its own tenant.

    Without a key, a placeholder in the same slot (scripts take a fixed list of keys)."""
    tag = _tag(partition_of(token))
    if key_hash is None:
        return redis_key(tag, "idempotency", "unused")
    return redis_key(tag, "idempotency", token, resource, key_hash)


def journal_entries_key(partition: int) -> str:
    return redis_key(_tag(partition), "pending")


def journal_clock_key(partition: int) -> str:
    return redis_key(_tag(partition), "pending", "by_time")


def journal_attempts_key(partition: int) -> str:
    return redis_key(_tag(partition), "pending", "attempts")


def journal_keys(partition: int) -> list[str]:
    """The partition's journal: entries, clock, attempts (the order the scripts take them)."""
    return [
        journal_entries_key(partition),
        journal_clock_key(partition),
        journal_attempts_key(partition),
    ]


def drain_requested_key(partition: int) -> str:
    return redis_key(_tag(partition), "drain-requested")


def drain_later_key(partition: int) -> str:
    return redis_key(_tag(partition), "drain-later")


def dead_letters_key(partition: int) -> str:
    return redis_key(_tag(partition), "dead-letters")


def events_stream_key(partition: int) -> str:
    return redis_key(_tag(partition), "events")


def events_sequence_key(partition: int) -> str:
    return redis_key(_tag(partition), "events", "seq")


def changed_key(kind: str) -> str:
    return redis_key("changed", kind)


def entry_name(kind: str, token: str, *numbers: int | str) -> str:
    """``<kind>:<token>:<numbers>``; with an empty last number, the prefix the allocating
    script completes with the number it hands out."""
    return ":".join([kind, token, *(str(number) for number in numbers)])


def chat_entry(token: str, number: int | str) -> str:
    return entry_name(CHAT, token, number)


def message_entry(token: str, chat_number: int | str, number: int | str) -> str:
    return entry_name(MESSAGE, token, chat_number, number)


@dataclass(frozen=True)
class EntryName:
    """A journal entry's name, parsed: its kind, its application, its numbers."""

    kind: str
    token: str
    numbers: tuple[int, ...]  # (chat,) or (chat, message)

    @classmethod
    def parse(cls, name: str) -> "EntryName":
        kind, token, *numbers = name.split(":")
        return cls(kind, token, tuple(int(number) for number in numbers))

    @property
    def partition(self) -> int:
        return partition_of(self.token)


def entry_partition(name: str) -> int:
    """The partition of a journal entry (its application's)."""
    return EntryName.parse(name).partition
