"""The Celery app, configured from Django settings (``CELERY_*``).

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

app = Celery("chatapi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# After each (re)connection to the broker the worker queues the journal drains an outage may
# have lost (chatapi/worker_steps.py). By name: importing it here would import Django's code.
app.steps["consumer"].add("chatapi.worker_steps:JournalDrainOnConnect")


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _logging_prepare(logger: logging.Logger, **kwargs: Any) -> None:
    """Celery's handlers get our filters (request id, tokens redacted) and LOG_FORMAT.

    Celery replaces the root logger's handlers with its own (worker_hijack_root_logger), so
    Django's LOGGING no longer formats the worker's and beat's lines; this gives the handlers
    Celery made what Django's had.
    """
    from django.conf import settings

    from chatapi.logs import handler_prepare

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


class ReliableTask(Task):
    """A task that, once out of retries, becomes a dead letter instead of vanishing.

    A task may set ``journal_field(args) -> str`` to name the journal entry of the row it
    persists; that entry moves into the dead letter with it (chatapi.dead_letters).
    """

    journal_field: Callable[[tuple], str] | None = None

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any
    ) -> None:
        from chatapi.dead_letters import dead_letter_add

        dead_letter_add(
            task=self.name,
            args=list(args),
            kwargs=dict(kwargs),
            error=f"{type(exc).__name__}: {exc}",
            journal_field=self.journal_field(args) if self.journal_field else None,
        )


# Options shared by the tasks that write rows: retried with exponential backoff while the
# database (or Redis) is unreachable, for about ten minutes; then a dead letter.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
PERSIST_TASK_OPTIONS: dict[str, Any] = {
    "base": ReliableTask,
    "autoretry_for": (Exception,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 12,
    "acks_late": True,
    "reject_on_worker_lost": True,
}
