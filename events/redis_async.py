"""The stream process's asyncio Redis client: standalone (REDIS_URL) or Redis Cluster
(REDIS_CLUSTER_NODES), like core.redis_client's, one per process and event loop.

Its socket timeout outlasts a blocking read (EVENTS_READ_BLOCK_MS), which the pipeline's
short timeout would cut.
"""

from typing import Any

from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

_clients: dict[int, Any] = {}


def async_redis(loop_id: int) -> Any:
    """The client of the running event loop (``id`` of it): a pool is bound to its loop."""
    client = _clients.get(loop_id)
    if client is None:
        timeout = settings.EVENTS_READ_BLOCK_MS / 1000 + settings.REDIS_SOCKET_TIMEOUT
        if settings.REDIS_CLUSTER_NODES:
            nodes = [ClusterNode(*node.rsplit(":", 1)) for node in settings.REDIS_CLUSTER_NODES]
            client = RedisCluster(
                startup_nodes=nodes,
                socket_timeout=timeout,
                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                require_full_coverage=False,
                max_connections=2**16,
            )
        else:
            client = Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=timeout,
                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
            )
        _clients[loop_id] = client
    return client
