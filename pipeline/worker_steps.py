"""A bootstep of the Celery worker's consumer: journal drains each time it connects.

Celery runs the consumer's steps again after every reconnection to the broker
(``celery/worker/consumer/consumer.py``: ``Consumer.start`` restarts its blueprint), so this
step's ``start`` runs at start-up and after each broker outage, once the task consumer is set
up and before the event loop consumes. Registered in chatapi/celery.py, by name.
"""

from typing import Any

from celery import bootsteps


class JournalDrainOnConnect(bootsteps.StartStopStep):
    """Queue the drains a broker outage may have lost (pipeline.tasks.drain_queue_after_connect)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        from django.conf import settings

        from pipeline.tasks import drain_queue_after_connect

        drain_queue_after_connect(lease_seconds=settings.PERSIST_LEASE_SECONDS)
