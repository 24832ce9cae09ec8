"""The search outbox: what the index must still be told, written with the rows it is about.

A row here is written in the same transaction as the message rows (or before an application's
deletion) it names, and deleted only once Elasticsearch has acknowledged the write it stands
for (search.indexing.outbox_drain). Tasks, workers, the broker or the engine may fail in
between: the row stays, and the next drain (queued after each commit, and by beat) sends it.
Nothing is recorded on the SQL backend, whose table is its own index.
"""

from django.db import models
from django.utils import timezone


class PendingMessage(models.Model):
    """A message whose current row the index must receive (created or edited).

    Named by (chat id, number), not by the message's primary key: ``bulk_create`` with
    ``ignore_conflicts`` returns no ids on MySQL. No foreign key: an application's deletion
    removes the message, and the row then simply leaves the outbox with nothing to send.
    The same message may be named by several rows (an edit after the create); one bulk action
    covers them all, carrying the row as it is when the drain reads it.
    """

    id = models.BigAutoField(primary_key=True)
    chat_id = models.BigIntegerField()
    number = models.PositiveBigIntegerField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "search_pending_message"

    def __str__(self) -> str:
        return f"message {self.number} of chat {self.chat_id}"


class PendingApplicationRemoval(models.Model):
    """An application being deleted, whose documents the index must drop.

    Sent to the engine only once the application's row is gone (search.indexing): no message
    of it can then be persisted or indexed any more, so nothing of it comes back afterwards.
    """

    id = models.BigAutoField(primary_key=True)
    application_id = models.BigIntegerField()
    token = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "search_pending_application_removal"

    def __str__(self) -> str:
        return f"application {self.token[:8]}…"
