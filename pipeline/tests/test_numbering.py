"""The Redis allocator (pipeline.numbering) on a real Redis, seeded from the real database.

The concurrent cases (many threads, several server processes) are in tests/test_concurrency.py.
"""

import pytest
from django.conf import settings

from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.services import chat_counter_reseed, chat_replay
from chats.tests.factories import ChatFactory
from core.errors import NotFound
from messages_app.services import message_counter_reseed, message_replay
from messages_app.tests.factories import MessageFactory
from pipeline import keys
from pipeline.journal import journal_count, journal_get
from pipeline.numbering import (
    application_register,
    chat_number_allocate,
    message_number_allocate,
)

pytestmark = pytest.mark.django_db

UNKNOWN_TOKEN = "0" * 40
CREATED_AT = "2024-01-01T00:00:00+00:00"
R = settings.REDIS_RESTART_NUMBER_GAP


def chat_reseed(token: str):
    return lambda current, _known: chat_counter_reseed(token=token, current=current)


def message_reseed(token: str, chat_number: int):
    return lambda current, known: message_counter_reseed(
        token=token, chat_number=chat_number, current=current, known=known
    )


def chat_lookup(token: str):
    return lambda key_hash, lowest: chat_replay(token, key_hash, lowest)


def message_lookup(token: str, chat_number: int):
    return lambda key_hash, lowest: message_replay(token, chat_number, key_hash, lowest)


def chat_allocate(token: str, idempotency: str | None = None) -> int:
    return chat_number_allocate(
        token=token,
        payload={"created_at": CREATED_AT},
        reseed=chat_reseed(token),
        replay_lookup=chat_lookup(token),
        idempotency=idempotency,
    ).number


def message_allocate(token: str, chat_number: int, body: str = "hi") -> int:
    return message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload={"body": body, "created_at": CREATED_AT},
        reseed=message_reseed(token, chat_number),
        replay_lookup=message_lookup(token, chat_number),
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
        reseed=chat_reseed(application.token),
        replay_lookup=chat_lookup(application.token),
        idempotency="retry-1",
    )
    again = chat_number_allocate(
        token=application.token,
        payload={"created_at": "2030-01-01T00:00:00+00:00"},
        reseed=chat_reseed(application.token),
        replay_lookup=chat_lookup(application.token),
        idempotency="retry-1",
    )

    assert (first.number, first.replayed) == (1, False)
    assert (again.number, again.replayed, again.payload) == (1, True, {"created_at": CREATED_AT})
    assert chat_allocate(application.token, idempotency="retry-2") == 2
    assert journal_count() == 2


def test_the_journal_entry_is_written_with_the_number():
    application = ApplicationFactory()
    application_register(token=application.token)

    chat_number = chat_allocate(application.token)
    number = message_allocate(application.token, chat_number, body="hello 👋")

    assert journal_get(keys.chat_entry(application.token, chat_number)) == {
        "created_at": CREATED_AT
    }
    assert journal_get(keys.message_entry(application.token, chat_number, number)) == {
        "body": "hello 👋",
        "created_at": CREATED_AT,
    }
    assert journal_count() == 2


def test_unknown_token_is_not_found_and_remembered(django_assert_num_queries, redis_clean):
    with pytest.raises(NotFound, match="No application"):
        chat_allocate(UNKNOWN_TOKEN)
    assert redis_clean.exists(keys.unknown_token_key(UNKNOWN_TOKEN))

    # The second time Redis answers alone: no SQL for a token already known to be unknown.
    with django_assert_num_queries(0):
        with pytest.raises(NotFound, match="No application"):
            chat_allocate(UNKNOWN_TOKEN)
        with pytest.raises(NotFound, match="No application"):
            message_allocate(UNKNOWN_TOKEN, 1)
    assert journal_count() == 0


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
    assert journal_count() == 1  # the chat's entry only


def test_unknown_chat_number_is_not_found_after_redis_lost_its_counters(redis_clean):
    chat = ChatFactory(number=1)
    redis_clean.flushdb()

    with pytest.raises(NotFound, match="No chat 2 in"):
        message_allocate(chat.application.token, 2)
    assert journal_count() == 0


def test_counters_lost_by_redis_are_rebuilt_from_sql_past_the_reserve(redis_clean):
    """Numbers above what SQL holds may have been handed out and lost with Redis: skip them."""
    chat = ChatFactory(number=4)
    ChatFactory(application=chat.application, number=5)
    for number in (1, 2, 3):
        MessageFactory(chat=chat, number=number)
    redis_clean.flushdb()

    assert message_allocate(chat.application.token, 4) == 3 + R + 1
    assert message_allocate(chat.application.token, 5) == R + 1
    assert chat_allocate(chat.application.token) == 5 + R + 1
    assert message_allocate(chat.application.token, 4) == 3 + R + 2


def test_a_rebuilt_counter_is_not_rebuilt_again(django_assert_num_queries, redis_clean):
    application = ApplicationFactory()
    ChatFactory(application=application, number=1)
    redis_clean.flushdb()

    assert chat_allocate(application.token) == 1 + R + 1
    with django_assert_num_queries(0):
        assert chat_allocate(application.token) == 1 + R + 2
