"""The Celery app, configured from Django settings (``CELERY_*``).

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import logging
import os
from pathlib import Path
from typing import Any

from celery import Celery, signals

# The worker's and beat's metrics ports, and the prefork pool's multiprocess mode (signals).
import core.metrics.celery  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

app = Celery("chatapi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# After each (re)connection to the broker the worker queues the journal drains an outage may
# have lost (pipeline/worker_steps.py). By name: importing it here would import Django's code.
app.steps["consumer"].add("pipeline.worker_steps:JournalDrainOnConnect")


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _logging_prepare(logger: logging.Logger, **kwargs: Any) -> None:
    """Celery's handlers get our filters (request id, tokens redacted) and LOG_FORMAT.

    Celery replaces the root logger's handlers with its own (worker_hijack_root_logger), so
    Django's LOGGING no longer formats the worker's and beat's lines; this gives the handlers
    Celery made what Django's had.
    """
    from django.conf import settings

    from core.logs import handler_prepare

    for handler in logger.handlers:
        handler_prepare(handler, settings.LOG_FORMAT)


@signals.worker_ready.connect
@signals.beat_init.connect
def _touch_ready_file(**_: Any) -> None:
    """Say "ready" to a supervisor: touch the file PROCESS_READY_FILE names, if it is set.

    scripts/supervise.py (run.sh) waits for it before printing its banner: the worker once it
    consumes, beat once its scheduler starts. A process variable, not a setting: each process
    gets its own file.
    """
    path = os.environ.get("PROCESS_READY_FILE")
    if path:
        Path(path).touch()
