"""The Redis client of the process, for standalone Redis or Redis Cluster, and our key names.

Standalone (the default): the raw redis-py client behind Django's cache, sharing its pool.
With ``REDIS_CLUSTER_NODES`` set: one ``RedisCluster`` client per process, made on first use
(after the fork of a gunicorn or Celery worker), with the same timeouts; Django's cache stays
on ``REDIS_URL``. Every key the pipeline writes is laid out for either (pipeline.keys).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings
from django_redis import get_redis_connection
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from core.errors import REDIS_UNAVAILABLE, ServiceUnavailable, redis_refuses


@cache
def _cluster(nodes: tuple[str, ...]) -> RedisCluster:
    startup = [ClusterNode(*node.rsplit(":", 1)) for node in nodes]
    return RedisCluster(
        startup_nodes=startup,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        # No command is sent twice: a script whose reply timed out may have run, and running
        # the allocator again would hand out a second number for one create. A connection
        # error or a timeout is the contract's 503 (outcome unknown), and the client refreshes
        # its slot table for the next call. Redirections (MOVED, ASK) are still followed.
        retry=Retry(NoBackoff(), 0),
        # Slots of a failed master are refused until its replica takes over; the others work
        # (the servers need cluster-require-full-coverage no, as docker-compose sets).
        require_full_coverage=False,
    )


def redis_connection() -> redis.Redis:
    """The client the pipeline uses: the cluster's when REDIS_CLUSTER_NODES is set.

    Typed as ``redis.Redis``: RedisCluster offers the same commands, scripts and pipelines
    for keys of one slot, which is all the pipeline sends (pipeline.keys).
    """
    if settings.REDIS_CLUSTER_NODES:
        return _cluster(tuple(settings.REDIS_CLUSTER_NODES))  # type: ignore[return-value]
    return get_redis_connection("default")


def redis_is_cluster() -> bool:
    return bool(settings.REDIS_CLUSTER_NODES)


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
    except redis.ResponseError as exc:
        if not redis_refuses(exc):
            raise
        raise ServiceUnavailable(
            "Redis refused the write for now (full, or without a replica), so nothing was "
            "written; retry."
        ) from exc
    except REDIS_UNAVAILABLE as exc:
        raise ServiceUnavailable(
            "The number allocator (Redis) failed during the request, so the outcome is unknown: "
            "retry with the same Idempotency-Key to get exactly one."
        ) from exc
