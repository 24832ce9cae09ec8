"""The tasks the API queued, read off the real broker (the test Redis) as a worker would.

In-process tests take them off with ``queued_tasks`` and run them with ``run_task`` or
``run_queued_tasks``; tests with a real worker count what waits (``broker_queue_length``) or
what a worker took and has not acknowledged (``unacked_in_broker``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.test import TestCase
from django_redis import get_redis_connection

from chatapi.celery import app as celery_app


def queued_tasks() -> list[tuple[str, list[Any], dict[str, Any]]]:
    """Take every task the API queued off the real broker (the test Redis), oldest first.

    Read with kombu, Celery's own transport library, as a worker would; each message is
    acknowledged, so the tasks are the caller's to run (``run_task``) in any order it likes.
    """
    return [(name, args, kwargs) for name, args, kwargs, _eta in queued_tasks_with_eta()]


def queued_tasks_with_eta() -> list[tuple[str, list[Any], dict[str, Any], datetime | None]]:
    """``queued_tasks``, each with the time it may run from (a countdown's), or None."""
    tasks = []
    with celery_app.connection_for_write() as broker:
        queue = broker.SimpleQueue(celery_app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, kwargs, _embed = message.decode()
                eta = message.headers.get("eta")
                when = None if eta is None else datetime.fromisoformat(eta)
                tasks.append((message.headers["task"], args, kwargs, when))
                message.ack()
        finally:
            queue.close()
    return tasks


def run_task(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Run one task body in this process, committing as a worker would (on-commit hooks run)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        celery_app.tasks[name](*args, **kwargs)


def run_queued_tasks() -> list[str]:
    """Run what the API queued, as a worker would: in order, until the queue is empty.

    A task that raises stops the run and the exception propagates to the test. Returns the
    names of the tasks run.
    """
    names = []
    while tasks := queued_tasks():
        for name, args, kwargs in tasks:
            run_task(name, args, kwargs)
            names.append(name)
    return names


def broker_queue_length() -> int:
    """How many task messages wait in the default queue of the real broker."""
    with celery_app.connection_for_write() as broker:
        declared = broker.default_channel.queue_declare(queue=celery_app.conf.task_default_queue)
        return declared.message_count


def unacked_in_broker() -> int:
    """Task messages a worker took but has not acknowledged (kombu's Redis ack emulation)."""
    return int(get_redis_connection("default").hlen(f"{settings.REDIS_KEY_PREFIX}:celery:unacked"))


def drains_allowed(first: datetime, last: datetime) -> int:
    """At most one drain per DRAIN_REQUEST_INTERVAL_MS of accepted rows: the bound for a burst
    accepted from ``first`` to ``last`` (a slow machine stretches a burst over intervals)."""
    from pipeline.numbering import DRAIN_REQUEST_INTERVAL_MS

    elapsed_ms = (last - first).total_seconds() * 1000
    return 1 + math.ceil(elapsed_ms / DRAIN_REQUEST_INTERVAL_MS)
