"""Keeping the search index in step with the messages table.

The write services call ``messages_index_later`` after their transaction commits, naming the
messages by (chat id, number) because ``bulk_create(ignore_conflicts=True)`` returns no ids
on MySQL. With the SQL backend the table is the index and nothing needs doing.
"""

from django.conf import settings


def messages_index_later(*, keys: list[tuple[int, int]]) -> None:
    if not keys or not settings.ELASTICSEARCH_URL:
        return
    from search.tasks import messages_index_task

    messages_index_task.delay([list(key) for key in keys])
