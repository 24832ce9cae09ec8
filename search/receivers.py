"""What search hears from the apps below it: messages written and applications deleted.

The signals come inside the writer's transaction; the index is told after it commits.
"""

from typing import Any

from django.db import transaction

from search.indexing import application_unindex
from search.tasks import messages_index_later


def messages_written_index(*, keys: list[tuple[int, int]], **kwargs: Any) -> None:
    transaction.on_commit(lambda: messages_index_later(keys=keys), robust=True)


def application_deleted_unindex(*, token: str, **kwargs: Any) -> None:
    transaction.on_commit(lambda: application_unindex(token=token), robust=True)
