"""Race-free chat and message numbers, allocated in Redis, that hold under every Redis fault.

The invariants (the README's failure table says the same, fault by fault):

- **I1, unique numbers.** A chat number is handed out at most once per application, a message
  number at most once per chat, across every Redis fault: clean restart, SIGKILL, loss of the
  AOF's last second, ``FLUSHALL``, eviction, failover to a replica.
- **I2, explicit existence.** A chat or message exists for the API only if its creation was
  answered 201 (and not lost in a documented loss window); a number never handed out is a 404,
  forever. A chat's existence is an explicit fact: its counter in Redis (written by the script
  that created it), its row in SQL, or its journal entry; never "number <= the chat counter".
- **I3, exactly once.** Every 201 is persisted exactly once, with its body (pipeline.journal and
  pipeline.drain), except that with ``appendfsync everysec`` the rows accepted in the last second
  before a machine crash may be lost, and a ``FLUSHALL`` or an eviction loses the journal it
  wipes; the numbers of lost rows are still never handed out again (I1).

How I1 is kept. Each application has one Redis hash, ``<prefix>:app:<token>``, holding for
its chat counter and for each chat's message counter three fields: the last number handed out
(``chats``, ``m:<chat>``), the highest number SQL is known to cover (``chats:covered``,
``c:<chat>``: a persisted row, or a reservation in
``applications.models.NumberReservation``), and the replication ID of the Redis run that last
checked the counter against SQL (``chats:run``, ``r:<chat>``). The allocating script
(``lua/allocate.lua``) refuses to run a counter more than ``REDIS_RESTART_NUMBER_GAP`` (the
reserve, R) ahead of what SQL covers, so at every moment:

    every number handed out  <=  covered + R  <=  max(highest row in SQL, reservation) + R

A counter is trusted only if it exists and was checked in this run of Redis. The replication
ID (``master_replid``) changes whenever Redis restarts, from any AOF, and whenever a replica is
promoted, which are exactly the events after which a surviving counter may be behind what it
answered. An untrusted counter makes the script answer "reseed" instead of a number; the
caller (a service, which owns the SQL) computes ``max(highest row, reservation, the counter if
any) + R``, records it as the new reservation in SQL *before* using it, and calls again with
it as the seed. By the inequality above the seed is beyond every number ever handed out, so
none is handed out twice, however many faults come in a row and whatever Redis kept. The
price: numbers jump by R after a fault (the contract allows gaps that concurrency did not
cause), and one counter cannot hold more than R rows that are not persisted yet: past that,
creates answer 503 ``backlog_full`` (nothing allocated) until the worker catches up. The
drain raises ``covered`` after each commit (``numbers_persisted``).

How I2 is kept. Creating a chat writes its message counter in the same script, so a message
is accepted only for a chat whose counter exists, or, when the counter was lost, whose
journal entry exists (the script says so) or whose row SQL has (the caller looks). A chat
number above everything handed out has none of these: 404.

An ``Idempotency-Key`` is checked and recorded inside the same script: a retry either finds
the first call's number and payload and replays them, or allocates; there is no window in which
two calls with one key can both allocate. A 503 from a create means the outcome is unknown
(Redis may have run the script and died before answering): a retry with the same key settles it.
The key's hash is also persisted with its row, because a loss that takes a key's record (the
AOF's last second) may leave its row in SQL: for a key's lifetime after a counter was reseeded,
a key that Redis does not know is looked up in SQL, among the numbers the lost window can have
used, before anything is allocated.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.errors import BacklogFull, NotFound
from core.metrics.instruments import ALLOCATOR_RESEEDS
from core.redis_client import redis_connection, redis_unavailable_as_503
from pipeline import keys, scripts
from pipeline.scripts import Status

# How long "this token is unknown" is remembered, so that requests for a token that does not
# exist reach SQL at most once per interval instead of on every request.
UNKNOWN_TOKEN_TTL_SECONDS = 60
# How long an Idempotency-Key is remembered (the contract: 24 hours).
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
# At most one drain is queued per this many milliseconds (pipeline.tasks.drain_queue); the
# allocating script sets the same marker, so a burst of creates queues one drain per interval.
DRAIN_REQUEST_INTERVAL_MS = 200

# reseed(the counter as Redis has it or None, whether Redis has a record of the chat: its
# counter or its journal entry) -> the seed, already reserved in SQL; raises NotFound when there
# is nothing to number.
Reseed = Callable[[int | None, bool], int]
# replay_lookup(the Idempotency-Key's hash, the lowest number it can have) -> the number and
# the journal payload of the persisted row created with that key, or None.
ReplayLookup = Callable[[str, int], tuple[int, dict[str, Any]] | None]


@dataclass(frozen=True)
class Allocation:
    """A number handed out, with the payload that was journaled with it.

    ``replayed`` is True when an earlier call with the same Idempotency-Key allocated it: the
    payload is then that call's, so the caller answers exactly what it answered then.
    ``drain_requested`` is True when this caller should queue a drain of the journal.
    """

    number: int
    payload: dict[str, Any]
    replayed: bool
    drain_requested: bool = False
    partition: int = 0  # the application's (pipeline.keys), whose journal holds the row
    # A replay found in SQL (its key's record was lost with Redis): the row as it is now,
    # edits included, not as the first call answered it.
    found_in_sql: bool = False


def idempotency_hash(key: str) -> str:
    """What is kept of an Idempotency-Key, in Redis and with its row in SQL."""
    return hashlib.sha256(key.encode()).hexdigest()


def application_register(*, token: str) -> None:
    """Make a new application known to the allocator, so its first chat needs no SQL."""
    scripts.run(
        "register", keys=[keys.application_key(token), keys.unknown_token_key(token)], args=[]
    )


@dataclass(frozen=True)
class Counter:
    """What the allocator holds of one counter (an application's chats, or a chat's messages):
    the last number handed out, and the highest number SQL is known to cover."""

    last: int
    covered: int


def counter_read(*, token: str, chat_number: int | None = None) -> Counter | None:
    """An application's chat counter (or, with ``chat_number``, a chat's message counter) as
    Redis holds it; None when Redis does not know it. For operators and tests: the allocator
    itself reads its counters inside its scripts."""
    last_field, covered_field = (
        ("chats", "chats:covered")
        if chat_number is None
        else (f"m:{chat_number}", f"c:{chat_number}")
    )
    last, covered = redis_connection().hmget(keys.application_key(token), last_field, covered_field)
    if last is None:
        return None
    return Counter(last=int(last), covered=int(covered or 0))


def application_known(*, token: str) -> bool:
    """Whether the allocator holds this application (registered, and not deleted since)."""
    return bool(redis_connection().exists(keys.application_key(token)))


def application_forget(*, token: str) -> None:
    """Forget a deleted application. Without its hash the allocator asks SQL for the
    application, finds none, and answers 404 (and remembers the token as unknown for a while)."""
    redis_connection().delete(keys.application_key(token))


def token_unknown_remember(token: str) -> None:
    """Remember for a while that no application has this token (a reseed found none)."""
    redis_connection().set(keys.unknown_token_key(token), 1, ex=UNKNOWN_TOKEN_TTL_SECONDS)


def reserve() -> int:
    """R: how far a counter may run ahead of SQL, and how far it jumps after a fault."""
    return int(settings.REDIS_RESTART_NUMBER_GAP)


def allocation_keys(token: str, resource: str, key_hash: str | None) -> list[str]:
    """The KEYS of ``lua/allocate.lua`` for a create (all in the application's partition)."""
    partition = keys.partition_of(token)
    return [
        keys.application_key(token),
        keys.unknown_token_key(token),
        keys.journal_entries_key(partition),
        keys.journal_clock_key(partition),
        keys.idempotency_key(token, resource, key_hash),
        keys.drain_requested_key(partition),
        keys.events_stream_key(partition),
        keys.events_sequence_key(partition),
    ]


def _allocate(
    *,
    token: str,
    chat_number: int | None,
    payload: dict[str, Any],
    idempotency: str | None,
    reseed: Reseed,
    replay_lookup: ReplayLookup,
) -> Allocation:
    if chat_number is None:
        resource, chat, entry_prefix, chat_entry = "chats", "", keys.chat_entry(token, ""), ""
        event = "chat.created"
    else:
        event = "message.created"
        resource, chat = f"chats/{chat_number}/messages", str(chat_number)
        entry_prefix = keys.message_entry(token, chat_number, "")
        chat_entry = keys.chat_entry(token, chat_number)
    key_hash = None if idempotency is None else idempotency_hash(idempotency)
    partition = keys.partition_of(token)
    script_keys = allocation_keys(token, resource, key_hash)
    encoded = json.dumps(payload)
    ttl = "" if key_hash is None else str(IDEMPOTENCY_TTL_SECONDS)
    seed = key_checked = ""
    with redis_unavailable_as_503():
        # At most a reseed, then a key check, then the number: four calls leave room for one
        # more reseed if Redis restarts between two of them.
        for _ in range(4):
            result = scripts.run(
                "allocate",
                keys=script_keys,
                args=[
                    *(chat, entry_prefix, chat_entry, encoded, time.time(), ttl, reserve()),
                    *(DRAIN_REQUEST_INTERVAL_MS, seed, key_checked),
                    *(settings.EVENTS_STREAM_MAXLEN, event),
                ],
            )
            status = scripts.text(result[0])
            if status == Status.OK:
                return Allocation(
                    number=int(result[1]),
                    payload=payload,
                    replayed=False,
                    drain_requested=int(result[2]) == 1,
                    partition=partition,
                )
            if status == Status.REPLAY:
                first, _, stored = scripts.text(result[1]).partition(" ")
                return Allocation(number=int(first), payload=json.loads(stored), replayed=True)
            if status == Status.NO_APPLICATION:
                raise NotFound("No application with this token.")
            if status == Status.NO_CHAT:
                raise NotFound(f"No chat {chat_number} in this application.")
            if status == Status.BACKLOG:
                raise BacklogFull(
                    "Too many rows of this chat or application are waiting to be persisted; "
                    "nothing was created. Retry shortly."
                )
            if status == Status.CHECK_KEY and key_hash is not None:
                found = replay_lookup(key_hash, max(int(result[1]) - 3 * reserve(), 0))
                if found is not None:
                    return Allocation(
                        number=found[0], payload=found[1], replayed=True, found_in_sql=True
                    )
                key_checked = "1"
                continue
            current = scripts.text(result[1])
            ALLOCATOR_RESEEDS.labels(kind="chat" if chat_number is None else "message").inc()
            seed = str(reseed(int(current) if current else None, int(result[2]) == 1))
    raise RuntimeError("the allocator kept asking for a reseed or a key check")  # pragma: no cover


def chat_number_allocate(
    *,
    token: str,
    payload: dict[str, Any],
    reseed: Reseed,
    replay_lookup: ReplayLookup,
    idempotency: str | None = None,
) -> Allocation:
    """The next chat number of the application; ``payload`` goes to the journal with it.

    ``reseed`` is called only when the application's counter cannot be trusted (see the module
    docstring); it raises NotFound if there is no such application. ``replay_lookup`` only for
    an Idempotency-Key Redis does not know, within a key's lifetime after a reseed.
    """
    return _allocate(
        token=token,
        chat_number=None,
        payload=payload,
        idempotency=idempotency,
        reseed=reseed,
        replay_lookup=replay_lookup,
    )


def message_number_allocate(
    *,
    token: str,
    chat_number: int,
    payload: dict[str, Any],
    reseed: Reseed,
    replay_lookup: ReplayLookup,
    idempotency: str | None = None,
) -> Allocation:
    """The next message number of the chat; ``payload`` goes to the journal with it.

    The chat may be one that was allocated a moment ago and is not persisted yet: it is known
    to Redis from the moment its number was handed out. ``reseed`` is called only when the
    chat's counter cannot be trusted; it raises NotFound if the chat does not exist.
    """
    return _allocate(
        token=token,
        chat_number=chat_number,
        payload=payload,
        idempotency=idempotency,
        reseed=reseed,
        replay_lookup=replay_lookup,
    )


def numbers_persisted(
    *, chats: Iterable[tuple[str, int]] = (), messages: Iterable[tuple[str, int, int]] = ()
) -> None:
    """Tell the allocator that SQL now holds these rows (after their transaction committed).

    ``chats`` are (token, chat number), ``messages`` (token, chat number, message number).
    Each counter may then run the reserve ahead of the highest of them. Only ever raises what
    the allocator knows as covered, so a late or repeated call is harmless.
    """
    highest: dict[str, dict[str, int]] = {}  # token -> chat number ('' for chats) -> highest
    for token, number in chats:
        counters = highest.setdefault(token, {})
        counters[""] = max(counters.get("", 0), number)
    for token, chat_number, number in messages:
        counters = highest.setdefault(token, {})
        counters[str(chat_number)] = max(counters.get(str(chat_number), 0), number)
    if not highest:
        return
    pipe = redis_connection().pipeline(transaction=False)
    for token, counters in highest.items():
        args = [part for chat, number in counters.items() for part in (chat, number)]
        scripts.queue(pipe, "cover", keys=[keys.application_key(token)], args=args)
    pipe.execute()


def counters_restore(*, token: str, chats: int, messages: dict[int, int]) -> None:
    """Tell the allocator the exact highest numbers of an application whose rows were
    written straight to SQL (seeding, imports), so the API goes on from there.

    Chats 1 to ``chats`` exist, each at the highest message number ``messages`` gives it (0 if
    absent). The counters are set as exact, covered by SQL and checked in this run of Redis,
    so the next create needs no SQL and numbers on from them with no gap. Replaces the hash.
    """
    args: list[Any] = [chats]
    for number in range(1, chats + 1):
        args += [number, messages.get(number, 0)]
    with redis_unavailable_as_503():
        scripts.run(
            "restore",
            keys=[keys.application_key(token), keys.unknown_token_key(token)],
            args=args,
        )
