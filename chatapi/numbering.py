"""Race-free chat and message numbers, allocated in Redis.

Every application has one Redis hash, ``<prefix>:app:<token>``:

- field ``chats``: the highest chat number handed out in the application;
- field ``m:<chat number>``: the highest message number handed out in that chat. The field is
  created together with the chat, so "does chat N exist?" is answered from the same hash.

Allocation is one Lua script per request. Redis runs a script atomically, so the existence
check, the increment and the journal entry (chatapi.pending) either all happen or none do, in
one round trip, with no SQL.

If Redis lost the hash (a restart without persistence, FLUSHALL, eviction), the script answers
"seed needed" instead of counting from zero; the caller reads the highest number already
persisted in SQL and calls the script again with it. The script sets the seed only if no other
caller got there first, then increments, so two callers that both saw the hash missing still get
different numbers. The unique constraints in SQL remain the last line of defence.

An ``Idempotency-Key`` is checked and recorded inside the same script: a retry either finds the
first call's number and payload and replays them, or allocates; there is no window in which two
calls with one key can both allocate, and no "in flight" state to clean up after a crash.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatapi.errors import NotFound
from chatapi.pending import (
    DRAIN_REQUEST_INTERVAL_MS,
    drain_requested_key,
    pending_data_key,
    pending_time_key,
)
from chatapi.redis_client import (
    redis_connection,
    redis_epoch_key,
    redis_key,
    redis_unavailable_as_503,
)

# Results below zero are instructions to the caller, never numbers.
_SEED_APPLICATION = -1
_NO_APPLICATION = -2
_NO_CHAT = -3
_SEED_CHAT = -4
_REPLAY = -5

# How long "this token is unknown" is remembered, so that requests for a token that does not
# exist reach SQL at most once per interval instead of on every request.
UNKNOWN_TOKEN_TTL_SECONDS = 60
# How long an Idempotency-Key is remembered (the contract: 24 hours).
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60

# KEYS: application hash, unknown-token marker, journal data, journal clock, idempotency key,
#       restart epoch, drain-requested marker
# ARGV: application seed or '', token, payload, now, idempotency TTL or '' (no key), the gap
#       after a restart, then the chat number and chat seed or '' for messages
#
# After a restart of Redis (a new epoch, chatapi.redis_client) a counter that survived may
# still be behind: AOF ``everysec`` loses up to the last second of increments on a machine
# crash, while the worker may have persisted rows with those numbers. Each counter is therefore
# compared once with SQL after a restart (its ``epoch`` / ``e:<chat>`` field says it was),
# raised to the highest persisted number if it is below (never lowered: rows accepted and not
# persisted yet are above what SQL knows), and then moved on by REDIS_RESTART_NUMBER_GAP: the
# lost second may also have handed out numbers whose rows are not in SQL yet (a task in the
# worker's hands) or never will be (lost with the queue), and none of them may be handed out
# twice. The contract allows gaps that concurrency did not cause; a restart leaves one.
_PROLOGUE = """
local app = KEYS[1]
local epoch = redis.call('GET', KEYS[6]) or '0'
if ARGV[5] ~= '' then
  local seen = redis.call('GET', KEYS[5])
  if seen then return {-5, seen} end
end
if redis.call('EXISTS', app) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {-2, ''} end
  if ARGV[1] == '' then return {-1, ''} end
  redis.call('HSETNX', app, 'chats', ARGV[1])
  if epoch ~= '0' then redis.call('HSET', app, 'epoch', epoch) end
elseif epoch ~= '0' and redis.call('HGET', app, 'epoch') ~= epoch then
  if ARGV[1] == '' then return {-1, ''} end
  local highest = math.max(tonumber(ARGV[1]), tonumber(redis.call('HGET', app, 'chats') or '0'))
  redis.call('HSET', app, 'chats', highest + tonumber(ARGV[6]))
  redis.call('HSET', app, 'epoch', epoch)
end
"""

_EPILOGUE = """
redis.call('HSET', KEYS[3], entry, ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], entry)
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[5], n .. ' ' .. ARGV[3], 'EX', ARGV[5])
end
local drain = redis.call('SET', KEYS[7], '1', 'NX', 'PX', DRAIN_MS) and 1 or 0
return {n, '', drain}
""".replace("DRAIN_MS", str(DRAIN_REQUEST_INTERVAL_MS))

_CHAT_ALLOCATE = (
    _PROLOGUE
    + """
local n = redis.call('HINCRBY', app, 'chats', 1)
redis.call('HSET', app, 'm:' .. n, 0)
if epoch ~= '0' then redis.call('HSET', app, 'e:' .. n, epoch) end
local entry = 'c:' .. ARGV[2] .. ':' .. n
"""
    + _EPILOGUE
)

_MESSAGE_ALLOCATE = (
    _PROLOGUE
    + """
local counter = 'm:' .. ARGV[7]
local checked = 'e:' .. ARGV[7]
if redis.call('HEXISTS', app, counter) == 0 then
  if tonumber(ARGV[7]) > tonumber(redis.call('HGET', app, 'chats')) then return {-3, ''} end
  if ARGV[8] == '' then return {-4, ''} end
  redis.call('HSETNX', app, counter, ARGV[8])
  if epoch ~= '0' then redis.call('HSET', app, checked, epoch) end
elseif epoch ~= '0' and redis.call('HGET', app, checked) ~= epoch then
  if ARGV[8] == '' then return {-4, ''} end
  local highest = math.max(tonumber(ARGV[8]), tonumber(redis.call('HGET', app, counter)))
  redis.call('HSET', app, counter, highest + tonumber(ARGV[6]))
  redis.call('HSET', app, checked, epoch)
end
local n = redis.call('HINCRBY', app, counter, 1)
local entry = 'm:' .. ARGV[2] .. ':' .. ARGV[7] .. ':' .. n
"""
    + _EPILOGUE
)

_scripts: dict[tuple[int, str], Any] = {}


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


def _script(source: str) -> Any:
    client = redis_connection()
    key = (id(client), source)
    if key not in _scripts:
        _scripts[key] = client.register_script(source)
    return _scripts[key]


def application_key(token: str) -> str:
    return redis_key("app", token)


def unknown_token_key(token: str) -> str:
    return redis_key("unknown-app", token)


def idempotency_key(token: str, resource: str, key: str | None) -> str:
    """Scoped by application and resource, so a key means nothing outside its own tenant."""
    if key is None:
        return redis_key("idempotency", "unused")
    return redis_key("idempotency", token, resource, hashlib.sha256(key.encode()).hexdigest())


_REGISTER = """
redis.call('HSETNX', KEYS[1], 'chats', 0)
local epoch = redis.call('GET', KEYS[3])
if epoch then redis.call('HSETNX', KEYS[1], 'epoch', epoch) end
redis.call('DEL', KEYS[2])
return 0
"""


def application_register(*, token: str) -> None:
    """Make a new application known to the allocator, so its first chat needs no SQL.

    Its counter starts in the current epoch: a counter created after the last restart of
    Redis has nothing to compare with SQL.
    """
    _script(_REGISTER)(
        keys=[application_key(token), unknown_token_key(token), redis_epoch_key()], args=[]
    )


def _remember_unknown_token(token: str) -> None:
    redis_connection().set(unknown_token_key(token), 1, ex=UNKNOWN_TOKEN_TTL_SECONDS)


def _application_seed(token: str, highest_chat_number: Callable[[str], int | None]) -> str:
    seed = highest_chat_number(token)
    if seed is None:
        _remember_unknown_token(token)
        raise NotFound("No application with this token.")
    return str(seed)


def _allocate(
    source: str,
    *,
    token: str,
    resource: str,
    payload: dict[str, Any],
    idempotency: str | None,
    highest_chat_number: Callable[[str], int | None],
    chat_number: int | None = None,
    highest_message_number: Callable[[str, int], int] | None = None,
) -> Allocation:
    keys = [
        application_key(token),
        unknown_token_key(token),
        pending_data_key(),
        pending_time_key(),
        idempotency_key(token, resource, idempotency),
        redis_epoch_key(),
        drain_requested_key(),
    ]
    encoded = json.dumps(payload)
    ttl = "" if idempotency is None else str(IDEMPOTENCY_TTL_SECONDS)
    app_seed = chat_seed = ""
    script = _script(source)
    with redis_unavailable_as_503():
        for _ in range(3):
            gap = settings.REDIS_RESTART_NUMBER_GAP
            args: list[Any] = [app_seed, token, encoded, time.time(), ttl, gap]
            if chat_number is not None:
                args += [chat_number, chat_seed]
            code, replay, *drain = script(keys=keys, args=args)
            code = int(code)
            if code > 0:
                return Allocation(
                    number=code, payload=payload, replayed=False, drain_requested=drain == [1]
                )
            if code == _REPLAY:
                number, _, stored = (
                    replay.decode() if isinstance(replay, bytes) else replay
                ).partition(" ")
                return Allocation(number=int(number), payload=json.loads(stored), replayed=True)
            if code == _NO_APPLICATION:
                raise NotFound("No application with this token.")
            if code == _NO_CHAT:
                raise NotFound(f"No chat {chat_number} in this application.")
            if code == _SEED_APPLICATION:
                app_seed = _application_seed(token, highest_chat_number)
            elif code == _SEED_CHAT and highest_message_number and chat_number is not None:
                chat_seed = str(highest_message_number(token, chat_number))
    raise RuntimeError("the allocator asked for a seed three times")  # pragma: no cover


def chat_number_allocate(
    *,
    token: str,
    payload: dict[str, Any],
    highest_chat_number: Callable[[str], int | None],
    idempotency: str | None = None,
) -> Allocation:
    """The next chat number of the application; ``payload`` goes to the journal with it.

    ``highest_chat_number(token)`` is called only when Redis lost the application's counter:
    it returns the highest persisted chat number, or None if there is no such application.
    """
    return _allocate(
        _CHAT_ALLOCATE,
        token=token,
        resource="chats",
        payload=payload,
        idempotency=idempotency,
        highest_chat_number=highest_chat_number,
    )


def message_number_allocate(
    *,
    token: str,
    chat_number: int,
    payload: dict[str, Any],
    highest_chat_number: Callable[[str], int | None],
    highest_message_number: Callable[[str, int], int],
    idempotency: str | None = None,
) -> Allocation:
    """The next message number of the chat; ``payload`` goes to the journal with it.

    The chat may be one that was allocated a moment ago and is not persisted yet: it is known
    to Redis from the moment its number was handed out.
    """
    return _allocate(
        _MESSAGE_ALLOCATE,
        token=token,
        resource=f"chats/{chat_number}/messages",
        payload=payload,
        idempotency=idempotency,
        highest_chat_number=highest_chat_number,
        chat_number=chat_number,
        highest_message_number=highest_message_number,
    )


def counters_restore(*, token: str, chats: int, messages: dict[int, int]) -> None:
    """Tell the allocator the exact highest numbers of an application whose rows were
    written straight to SQL (seeding, imports), so the API goes on from there.

    Sets the application's ``chats`` field to ``chats`` and each ``m:<chat>`` to the highest
    message number of that chat; a chat of the application not named in ``messages`` starts
    at 0. The epoch fields are set to the current epoch, so the counters are trusted as they
    are: they are exact, and nothing needs comparing with SQL. Other fields are replaced.
    """
    client = redis_connection()
    with redis_unavailable_as_503():
        epoch = client.get(redis_epoch_key())
        fields: dict[str, Any] = {"chats": chats}
        for number in range(1, chats + 1):
            fields[f"m:{number}"] = messages.get(number, 0)
        if epoch is not None:
            fields["epoch"] = epoch
            fields.update({f"e:{number}": epoch for number in range(1, chats + 1)})
        pipeline = client.pipeline(transaction=True)
        pipeline.delete(application_key(token), unknown_token_key(token))
        pipeline.hset(application_key(token), mapping=fields)
        pipeline.execute()
