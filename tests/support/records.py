"""Records as the API would have accepted them, for tests that write batches directly."""

from datetime import datetime

from django.utils import timezone

from messages_app.records import MessageRecord


def record(
    token: str, chat_number: int, number: int, body: str, at: datetime | None = None
) -> MessageRecord:
    """A message accepted at ``at`` (now by default) and never edited."""
    at = at or timezone.now()
    return MessageRecord(
        token=token,
        chat_number=chat_number,
        number=number,
        body=body,
        created_at=at,
        updated_at=at,
    )
