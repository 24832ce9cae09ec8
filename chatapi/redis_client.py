"""The one Redis connection pool of the process and the names of the keys we write."""

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings
from django_redis import get_redis_connection

from chatapi.errors import ServiceUnavailable


def redis_connection() -> redis.Redis:
    """The raw redis-py client behind Django's cache, sharing its connection pool."""
    return get_redis_connection("default")


def redis_key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(part) for part in parts)])


@contextmanager
def redis_unavailable_as_503() -> Iterator[None]:
    """Turn a Redis outage into the contract's 503 instead of a 500 or a hang.

    The socket timeouts in settings bound how long a dead Redis can hold a request. Redis may
    have run the script and died before it answered, so a 503 says the outcome is unknown.
    """
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable(
            "The number allocator (Redis) failed during the request, so the outcome is unknown: "
            "retry with the same Idempotency-Key to get exactly one."
        ) from exc
