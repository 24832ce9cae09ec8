"""The process fixtures of ``tests`` (see tests/__init__.py), visible to every test here."""

from tests import (  # noqa: F401 - fixtures are found by name
    api_servers,
    broker_url,
    celery_beat,
    celery_worker,
    celery_workers,
    rabbitmq_vhost,
    say,
    service_env,
)
from tests.redis_cluster import redis_cluster, redis_cluster_replicated  # noqa: F401
