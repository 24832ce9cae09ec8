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
"""

import time
from collections.abc import Callable
from typing import Any

import redis

from chatapi.errors import NotFound
from chatapi.pending import pending_data_key, pending_time_key
from chatapi.redis_client import redis_connection, redis_key, redis_unavailable_as_503

# Results below zero are instructions to the caller, never numbers.
_SEED_APPLICATION = -1
_NO_APPLICATION = -2
_NO_CHAT = -3
_SEED_CHAT = -4

# How long "this token is unknown" is remembered, so that requests for a token that does not
# exist reach SQL at most once per interval instead of on every request.
UNKNOWN_TOKEN_TTL_SECONDS = 60

_ENSURE_APPLICATION = """
local app = KEYS[1]
if redis.call('EXISTS', app) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
  if ARGV[1] == '' then return -1 end
  redis.call('HSETNX', app, 'chats', ARGV[1])
end
"""

_CHAT_ALLOCATE = (
    """
-- KEYS: application hash, unknown-token marker, journal data, journal clock
-- ARGV: application seed or '', token, payload, now
"""
    + _ENSURE_APPLICATION
    + """
local n = redis.call('HINCRBY', app, 'chats', 1)
redis.call('HSET', app, 'm:' .. n, 0)
local entry = 'c:' .. ARGV[2] .. ':' .. n
redis.call('HSET', KEYS[3], entry, ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], entry)
return n
"""
)

_MESSAGE_ALLOCATE = (
    """
-- KEYS: application hash, unknown-token marker, journal data, journal clock
-- ARGV: application seed or '', token, payload, now, chat number, chat seed or ''
"""
    + _ENSURE_APPLICATION
    + """
local counter = 'm:' .. ARGV[5]
if redis.call('HEXISTS', app, counter) == 0 then
  if tonumber(ARGV[5]) > tonumber(redis.call('HGET', app, 'chats')) then return -3 end
  if ARGV[6] == '' then return -4 end
  redis.call('HSETNX', app, counter, ARGV[6])
end
local n = redis.call('HINCRBY', app, counter, 1)
local entry = 'm:' .. ARGV[2] .. ':' .. ARGV[5] .. ':' .. n
redis.call('HSET', KEYS[3], entry, ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], entry)
return n
"""
)

_scripts: dict[tuple[int, str], Any] = {}


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


def application_register(*, token: str) -> None:
    """Make a new application known to the allocator, so its first chat needs no SQL."""
    client = redis_connection()
    pipe = client.pipeline(transaction=True)
    pipe.hsetnx(application_key(token), "chats", 0)
    pipe.delete(unknown_token_key(token))
    pipe.execute()


def _remember_unknown_token(token: str) -> None:
    redis_connection().set(unknown_token_key(token), 1, ex=UNKNOWN_TOKEN_TTL_SECONDS)


def _application_seed(token: str, highest_chat_number: Callable[[str], int | None]) -> str:
    seed = highest_chat_number(token)
    if seed is None:
        _remember_unknown_token(token)
        raise NotFound("No application with this token.")
    return str(seed)


def chat_number_allocate(
    *, token: str, payload: str, highest_chat_number: Callable[[str], int | None]
) -> int:
    """The next chat number of the application; ``payload`` goes to the journal with it.

    ``highest_chat_number(token)`` is called only when Redis lost the application's counter:
    it returns the highest persisted chat number, or None if there is no such application.
    """
    keys = [application_key(token), unknown_token_key(token), pending_data_key(), pending_time_key()]
    script = _script(_CHAT_ALLOCATE)
    app_seed = ""
    with redis_unavailable_as_503():
        for _ in range(2):
            result = int(script(keys=keys, args=[app_seed, token, payload, time.time()]))
            if result == _NO_APPLICATION:
                break
            if result != _SEED_APPLICATION:
                return result
            app_seed = _application_seed(token, highest_chat_number)
    raise NotFound("No application with this token.")


def message_number_allocate(
    *,
    token: str,
    chat_number: int,
    payload: str,
    highest_chat_number: Callable[[str], int | None],
    highest_message_number: Callable[[str, int], int],
) -> int:
    """The next message number of the chat; ``payload`` goes to the journal with it.

    The chat may be one that was allocated a moment ago and is not persisted yet: it is known
    to Redis from the moment its number was handed out.
    """
    keys = [application_key(token), unknown_token_key(token), pending_data_key(), pending_time_key()]
    script = _script(_MESSAGE_ALLOCATE)
    app_seed = chat_seed = ""
    with redis_unavailable_as_503():
        for _ in range(3):
            result = int(
                script(
                    keys=keys,
                    args=[app_seed, token, payload, time.time(), chat_number, chat_seed],
                )
            )
            if result == _NO_APPLICATION:
                raise NotFound("No application with this token.")
            if result == _NO_CHAT:
                raise NotFound(f"No chat {chat_number} in this application.")
            if result == _SEED_APPLICATION:
                app_seed = _application_seed(token, highest_chat_number)
            elif result == _SEED_CHAT:
                chat_seed = str(highest_message_number(token, chat_number))
            else:
                return result
    raise RuntimeError("the allocator asked for a seed three times")  # pragma: no cover


def chat_number_known(*, token: str, chat_number: int) -> bool:
    """Whether Redis has handed out this chat number (False when it does not know)."""
    try:
        return bool(redis_connection().hexists(application_key(token), f"m:{chat_number}"))
    except (redis.ConnectionError, redis.TimeoutError):
        return False

