"""Pages and creates are rendered without DRF's per-field machinery, to the very same JSON."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chats.apis import ChatOutputSerializer, chat_created_render
from chats.records import ChatRecord
from messages_app.apis import MessageOutputSerializer, messages_render
from messages_app.models import Message
from messages_app.records import MessageRecord


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


def test_a_message_just_accepted_renders_as_its_row_would():
    """A create answers the record it journaled, with no model instance: the same JSON."""
    moment = datetime(2026, 12, 1, 8, 0, 0, 5, tzinfo=UTC)
    record = MessageRecord(
        token="t", chat_number=3, number=9, body="hi", created_at=moment, updated_at=moment
    )

    assert messages_render([record]) == MessageOutputSerializer([record.to_model()], many=True).data


def test_a_chat_just_accepted_renders_as_its_row_would():
    moment = datetime(2026, 12, 1, 8, 0, 0, 5, tzinfo=UTC)
    record = ChatRecord(token="t", number=4, created_at=moment)

    assert chat_created_render(record) == ChatOutputSerializer(record.to_model()).data
