"""Celery's side: the worker's and beat's own exposition ports, and the multiprocess mode of
the worker's prefork pool (chatapi/celery.py imports this module to connect the signals).

A worker's pool processes count in files of the worker's ``PROMETHEUS_MULTIPROC_DIR``; the
worker's main process, which does no task of its own, serves their sum on
``METRICS_WORKER_PORT`` (prometheus_client's HTTP server, a thread of that process). Beat is one
process and serves its own on ``METRICS_BEAT_PORT``. A port of 0 (the default) serves nothing.
https://docs.celeryq.dev/en/stable/userguide/signals.html

prometheus_client is imported in the handlers, not here: chatapi/__init__.py imports the Celery
app, so every process of the project (a gunicorn master too) imports this module, and the
library must not be imported before ``PROMETHEUS_MULTIPROC_DIR`` is set
(core.metrics.multiprocess).
"""

import logging
import os
from typing import Any

from celery import signals
from django.conf import settings

logger = logging.getLogger(__name__)


def _serve(port: int, what: str) -> None:
    if not port:
        return
    from prometheus_client import start_http_server

    from core.metrics import multiprocess

    try:
        start_http_server(port, addr=settings.METRICS_ADDR, registry=multiprocess.registry())
    except OSError as error:  # the port taken: the worker still works, unobserved
        logger.error(
            "%s metrics: cannot listen on %s:%d: %s", what, settings.METRICS_ADDR, port, error
        )
        return
    # DEBUG: a worker started at WARNING prints no INFO line (run.sh's banner names the ports).
    logger.debug("%s metrics on http://%s:%d/metrics", what, settings.METRICS_ADDR, port)


@signals.worker_init.connect
def _worker_metrics(**_: Any) -> None:
    """In the worker's main process, before the pool forks."""
    from core.metrics import multiprocess

    port = settings.METRICS_WORKER_PORT
    if port and multiprocess.directory() is None:
        # Without the directory each pool process would count in its own memory, and the main
        # process would serve only its own (zero) values: wrong figures are worse than none.
        logger.error("METRICS_WORKER_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: no metrics")
        return
    multiprocess.directory_reset(keep_pid=os.getpid())
    _serve(port, "worker")


@signals.worker_process_shutdown.connect
def _pool_process_exit(**_: Any) -> None:
    from core.metrics import multiprocess

    multiprocess.process_dead(os.getpid())


@signals.beat_init.connect
def _beat_metrics(**_: Any) -> None:
    from core.metrics import multiprocess

    multiprocess.directory_reset(keep_pid=os.getpid())
    _serve(settings.METRICS_BEAT_PORT, "beat")
    signals.before_task_publish.connect(_beat_task_sent, weak=False)


def _beat_task_sent(sender: str | None = None, **_: Any) -> None:
    # sender: the task's name, one of the beat schedule's (a fixed set).
    from core.metrics.instruments import BEAT_TASKS_SENT

    BEAT_TASKS_SENT.labels(task=sender or "unknown").inc()
