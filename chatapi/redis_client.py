"""The one Redis connection pool of the process and the names of the keys we write."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings
from django_redis import get_redis_connection
from django_redis.pool import ConnectionFactory

from chatapi.errors import ServiceUnavailable


def redis_connection() -> redis.Redis:
    """The raw redis-py client behind Django's cache, sharing its connection pool."""
    return get_redis_connection("default")


def redis_key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(part) for part in parts)])


@contextmanager
def redis_unavailable_as_503() -> Iterator[None]:
    """Turn a Redis outage into the contract's 503 instead of a 500 or a hang.

    The socket timeouts in settings bound how long a dead Redis can hold a request.
    """
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable("The number allocator (Redis) is unavailable; retry.") from exc


# Run on every new connection. Redis gives itself a new ``run_id`` at every start; the first
# connection to see a run_id other than the recorded one counts the restart in ``epoch``.
_RECORD_RUN = """
local seen = redis.call('GET', KEYS[1])
if seen ~= ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  if seen then redis.call('INCR', KEYS[2]) end
end
return 0
"""


def redis_epoch_key() -> str:
    """How many restarts of Redis were seen; chatapi.numbering re-checks counters after one."""
    return redis_key("epoch")


def _connection_made(connection: Any) -> None:
    """Initialise a new connection as redis-py does, then record a restart of Redis if any.

    With AOF ``everysec`` a machine crash loses up to a second of writes, counters included,
    while the worker may already have persisted the rows they numbered. The allocator must
    then not trust a counter before comparing it with SQL once (chatapi.numbering); this is
    how it learns that it must. A connection is new after every restart, so the check runs
    before any command of a process reaches the restarted server, at no cost per request.
    """
    connection.on_connect()
    connection.send_command("INFO", "server")
    info = connection.read_response()
    text = info.decode() if isinstance(info, bytes) else str(info)
    run_id = next(
        (line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("run_id:")),
        "",
    )
    connection.send_command("EVAL", _RECORD_RUN, 2, redis_key("run-id"), redis_epoch_key(), run_id)
    connection.read_response()


class RestartAwareConnectionFactory(ConnectionFactory):
    """django-redis's connection factory, with ``_connection_made`` on every connection."""

    def get_connection_pool(self, params: dict[str, Any]) -> Any:
        return super().get_connection_pool({**params, "redis_connect_func": _connection_made})
