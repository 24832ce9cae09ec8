"""The Celery app, configured from Django settings (``CELERY_*``).

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

app = Celery("chatapi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Options shared by the tasks that write rows: retried with exponential backoff while the
# database (or Redis) is unreachable. A task that runs out of retries is not lost either: its
# journal entry (chatapi.pending) stays, and beat queues it again.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
PERSIST_TASK_OPTIONS = {
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 12,
    "acks_late": True,
    "reject_on_worker_lost": True,
}
