"""The chat API project package.

Importing the Celery app here makes ``@shared_task`` bind to it whenever Django starts,
as Celery's Django guide recommends.
"""

from chatapi.celery import app as celery_app

__all__ = ("celery_app",)
