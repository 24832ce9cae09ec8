"""Every Redis key the pipeline writes, and the names of the journal's entries: one layout.

The Lua scripts get every key and every entry name from here (as KEYS and ARGV); none builds
one of its own, so this module is the whole layout.

- ``app:<token>`` (hash): an application's counters (pipeline.numbering documents the fields).
- ``unknown-app:<token>``: "SQL has no application with this token", remembered for a while.
- ``idempotency:<token>:<resource>:<key hash>``: the number and payload a key first got.
- ``pending`` (hash), ``pending:by_time`` (sorted set), ``pending:attempts`` (hash): the
  journal's entries, when each is due, and how often each was claimed (pipeline.journal).
- ``drain-requested``: set while a drain is queued, so one request per interval queues one.
- ``dead-letters`` (hash): entries that kept failing (pipeline.dead_letters).
- ``changed:applications``, ``changed:chats`` (sets): parents whose counts are stale
  (pipeline.counters).

A journal entry is named by its kind and its numbers: ``c:<token>:<chat>`` for a chat,
``m:<token>:<chat>:<message>`` for a message; a dead letter of an edit, ``e:`` likewise.
"""

from dataclasses import dataclass

from chatapi.redis_client import redis_key

CHAT = "c"
MESSAGE = "m"
EDIT = "e"


def application_key(token: str) -> str:
    return redis_key("app", token)


def unknown_token_key(token: str) -> str:
    return redis_key("unknown-app", token)


def idempotency_key(token: str, resource: str, key_hash: str | None) -> str:
    """Scoped by application and resource, so a key means nothing outside its own tenant."""
    if key_hash is None:
        return redis_key("idempotency", "unused")
    return redis_key("idempotency", token, resource, key_hash)


def journal_entries_key() -> str:
    return redis_key("pending")


def journal_clock_key() -> str:
    return redis_key("pending", "by_time")


def journal_attempts_key() -> str:
    return redis_key("pending", "attempts")


def drain_requested_key() -> str:
    return redis_key("drain-requested")


def dead_letters_key() -> str:
    return redis_key("dead-letters")


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
