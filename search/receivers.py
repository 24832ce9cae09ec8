"""What search hears from the apps below it (connected in search.apps): messages written and
applications deleted, inside the writer's transaction.

The outbox rows (search.outbox) commit or roll back with the rows they name; after the commit a
drain is requested (search.tasks). Not Celery's ``delay_on_commit``: that hook would raise into
the writer's commit if the broker refused, before the writer's own after-commit work ran; this
one is robust and never raises.
"""

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from search.outbox import application_removal_record, messages_record
from search.tasks import drain_request


def on_messages_written(*, keys: Sequence[tuple[int, int]], **_: Any) -> None:
    if messages_record(keys=keys):
        transaction.on_commit(drain_request, robust=True)


def on_application_deleting(*, application_id: int, token: str, **_: Any) -> None:
    if application_removal_record(application_id=application_id, token=token):
        transaction.on_commit(drain_request, robust=True)
