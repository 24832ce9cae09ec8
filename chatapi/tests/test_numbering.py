"""The Redis allocator (chatapi.numbering) on a real Redis, seeded from the real database.

The concurrent cases (many threads, several server processes) are in tests/test_concurrency.py.
"""

import pytest

from applications.selectors import application_highest_chat_number
from applications.tests.factories import ApplicationFactory
from chatapi.errors import NotFound
from chatapi.numbering import (
    application_register,
    chat_number_allocate,
    message_number_allocate,
    unknown_token_key,
)
from chatapi.pending import chat_field, message_field, pending_count, pending_get
from chats.models import Chat
from chats.selectors import chat_highest_message_number
from chats.tests.factories import ChatFactory
from messages_app.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

UNKNOWN_TOKEN = "0" * 40
CREATED_AT = "2024-01-01T00:00:00+00:00"


def chat_allocate(token: str, idempotency: str | None = None) -> int:
    return chat_number_allocate(
        token=token,
        payload={"created_at": CREATED_AT},
        highest_chat_number=application_highest_chat_number,
        idempotency=idempotency,
    ).number


def message_allocate(token: str, chat_number: int, body: str = "hi") -> int:
    return message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload={"body": body, "created_at": CREATED_AT},
        highest_chat_number=application_highest_chat_number,
        highest_message_number=chat_highest_message_number,
    ).number


def test_chat_numbers_start_at_one_in_every_application(django_assert_num_queries):
    first, second = ApplicationFactory(), ApplicationFactory()
    application_register(token=first.token)
    application_register(token=second.token)

    with django_assert_num_queries(0):
        numbers = [chat_allocate(first.token) for _ in range(3)]
        other = chat_allocate(second.token)

    assert numbers == [1, 2, 3]
    assert other == 1


def test_message_numbers_start_at_one_in_every_chat(django_assert_num_queries):
    application = ApplicationFactory()
    application_register(token=application.token)
    chat_allocate(application.token)
    chat_allocate(application.token)

    with django_assert_num_queries(0):
        in_first = [message_allocate(application.token, 1) for _ in range(3)]
        in_second = [message_allocate(application.token, 2) for _ in range(2)]

    assert in_first == [1, 2, 3]
    assert in_second == [1, 2]


def test_a_chat_takes_messages_from_the_moment_its_number_is_handed_out(
    django_assert_num_queries,
):
    application = ApplicationFactory()
    application_register(token=application.token)

    with django_assert_num_queries(0):
        chat_allocate(application.token)
        # No row exists yet, and a message may already be posted to the chat.
        assert message_allocate(application.token, 1) == 1
    assert not Chat.objects.exists()


def test_an_idempotency_key_replays_the_first_allocation():
    application = ApplicationFactory()
    application_register(token=application.token)

    first = chat_number_allocate(
        token=application.token,
        payload={"created_at": CREATED_AT},
        highest_chat_number=application_highest_chat_number,
        idempotency="retry-1",
    )
    again = chat_number_allocate(
        token=application.token,
        payload={"created_at": "2030-01-01T00:00:00+00:00"},
        highest_chat_number=application_highest_chat_number,
        idempotency="retry-1",
    )

    assert (first.number, first.replayed) == (1, False)
    assert (again.number, again.replayed, again.payload) == (1, True, {"created_at": CREATED_AT})
    assert chat_allocate(application.token, idempotency="retry-2") == 2
    assert pending_count() == 2


def test_the_journal_entry_is_written_with_the_number():
    application = ApplicationFactory()
    application_register(token=application.token)

    chat_number = chat_allocate(application.token)
    number = message_allocate(application.token, chat_number, body="hello 👋")

    assert pending_get(chat_field(application.token, chat_number)) == {"created_at": CREATED_AT}
    assert pending_get(message_field(application.token, chat_number, number)) == {
        "body": "hello 👋",
        "created_at": CREATED_AT,
    }
    assert pending_count() == 2


def test_unknown_token_is_not_found_and_remembered(django_assert_num_queries, redis_clean):
    with pytest.raises(NotFound, match="No application"):
        chat_allocate(UNKNOWN_TOKEN)
    assert redis_clean.exists(unknown_token_key(UNKNOWN_TOKEN))

    # The second time Redis answers alone: no SQL for a token already known to be unknown.
    with django_assert_num_queries(0):
        with pytest.raises(NotFound, match="No application"):
            chat_allocate(UNKNOWN_TOKEN)
        with pytest.raises(NotFound, match="No application"):
            message_allocate(UNKNOWN_TOKEN, 1)
    assert pending_count() == 0


def test_unknown_token_for_a_message_is_not_found_and_remembered(django_assert_num_queries):
    with pytest.raises(NotFound, match="No application"):
        message_allocate(UNKNOWN_TOKEN, 1)

    with django_assert_num_queries(0), pytest.raises(NotFound, match="No application"):
        message_allocate(UNKNOWN_TOKEN, 1)


def test_registering_an_application_forgets_that_its_token_was_unknown():
    application = ApplicationFactory.build()  # not saved: its token is unknown for now
    with pytest.raises(NotFound):
        chat_allocate(application.token)

    application.save()
    application_register(token=application.token)

    assert chat_allocate(application.token) == 1


def test_unknown_chat_number_is_not_found(django_assert_num_queries):
    application = ApplicationFactory()
    application_register(token=application.token)
    chat_allocate(application.token)

    with django_assert_num_queries(0), pytest.raises(NotFound, match="No chat 2 in"):
        message_allocate(application.token, 2)
    assert pending_count() == 1  # the chat's entry only


def test_unknown_chat_number_is_not_found_after_redis_lost_its_counters(redis_clean):
    chat = ChatFactory(number=1)
    redis_clean.flushdb()

    with pytest.raises(NotFound, match="No chat 2 in"):
        message_allocate(chat.application.token, 2)
    assert pending_count() == 0


def test_counters_are_seeded_from_sql_after_redis_lost_them(redis_clean):
    chat = ChatFactory(number=4)
    ChatFactory(application=chat.application, number=5)
    for number in (1, 2, 3):
        MessageFactory(chat=chat, number=number)
    redis_clean.flushdb()

    assert message_allocate(chat.application.token, 4) == 4
    assert message_allocate(chat.application.token, 5) == 1
    assert chat_allocate(chat.application.token) == 6
    assert message_allocate(chat.application.token, 4) == 5


def test_a_seeded_counter_is_not_seeded_again(django_assert_num_queries, redis_clean):
    application = ApplicationFactory()
    ChatFactory(application=application, number=1)
    redis_clean.flushdb()

    assert chat_allocate(application.token) == 2
    with django_assert_num_queries(0):
        assert chat_allocate(application.token) == 3
