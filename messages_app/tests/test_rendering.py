"""A page of messages is rendered without DRF's per-field machinery, to the very same JSON."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from messages_app.apis import MessageOutputSerializer, messages_render
from messages_app.models import Message


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC),  # no microseconds: isoformat omits them
        datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 1, 9, 30, 0, 1, tzinfo=timezone(timedelta(hours=1, minutes=30))),
    ],
)
def test_messages_render_answers_what_the_serializer_answers(moment):
    messages = [
        Message(number=7, body="héllo 😀", created_at=moment, updated_at=moment),
        Message(number=8, body="x", created_at=moment, updated_at=moment + timedelta(days=1)),
    ]

    assert messages_render(messages) == MessageOutputSerializer(messages, many=True).data
