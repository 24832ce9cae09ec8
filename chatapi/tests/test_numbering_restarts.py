"""The allocator after Redis restarted (chatapi.redis_client, chatapi.numbering).

A restart is simulated the way the code sees one: the recorded ``run_id`` is not the server's
any more when a connection is made. The real restarts, clean, killed and with the last second
of the AOF lost, are the fault drills' (tests/drills).
"""

import pytest
from django.conf import settings

from applications.selectors import application_highest_chat_number
from applications.tests.factories import ApplicationFactory
from chatapi.numbering import (
    application_key,
    application_register,
    chat_number_allocate,
    message_number_allocate,
)
from chatapi.redis_client import redis_connection, redis_epoch_key, redis_key
from chats.selectors import chat_highest_message_number
from chats.tests.factories import ChatFactory
from messages_app.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

GAP = settings.REDIS_RESTART_NUMBER_GAP


def reconnect() -> None:
    """Drop every pooled connection, so that the next command makes a new one."""
    client = redis_connection()
    client.connection_pool.disconnect()
    client.ping()


def restart_seen() -> None:
    """What a restart looks like to the next new connection: another ``run_id``."""
    redis_connection().set(redis_key("run-id"), "the-run-before-the-restart")
    reconnect()


def epoch() -> int:
    return int(redis_connection().get(redis_epoch_key()) or 0)


def chat(token: str) -> int:
    return chat_number_allocate(
        token=token, payload={}, highest_chat_number=application_highest_chat_number
    ).number


def message(token: str, chat_number: int) -> int:
    return message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload={"body": "x"},
        highest_chat_number=application_highest_chat_number,
        highest_message_number=chat_highest_message_number,
    ).number


def test_a_new_connection_records_the_run_and_counts_a_restart_once():
    reconnect()
    assert redis_connection().get(redis_key("run-id"))
    assert epoch() == 0  # the first run seen is not a restart

    restart_seen()
    assert epoch() == 1
    for _ in range(3):  # every process reconnects after a restart: still one restart
        reconnect()
    assert epoch() == 1


def test_without_a_restart_counters_are_trusted_and_no_sql_runs(django_assert_num_queries):
    application = ApplicationFactory()
    application_register(token=application.token)
    first = chat(application.token)
    reconnect()  # a new connection to the same run of Redis is no restart

    with django_assert_num_queries(0):
        numbers = [message(application.token, first) for _ in range(3)]

    assert numbers == [1, 2, 3]


def test_counters_behind_sql_after_a_restart_move_past_it_with_the_gap(
    django_assert_max_num_queries,
):
    """The lost second: Redis says 2 chats and 1 message, the worker had persisted more."""
    application = ApplicationFactory()
    persisted = ChatFactory(application=application, number=5)
    MessageFactory(chat=persisted, number=8)
    redis_connection().hset(application_key(application.token), mapping={"chats": 2, "m:5": 1})
    restart_seen()

    assert chat(application.token) == 5 + GAP + 1
    assert message(application.token, 5) == 8 + GAP + 1
    # Compared once: from now on the counters are trusted again, no SQL.
    with django_assert_max_num_queries(0):
        assert chat(application.token) == 5 + GAP + 2
        assert message(application.token, 5) == 8 + GAP + 2


def test_counters_ahead_of_sql_are_never_lowered():
    """Rows accepted and not persisted yet are above what SQL holds: Redis is right there."""
    application = ApplicationFactory()
    ChatFactory(application=application, number=1)
    redis_connection().hset(application_key(application.token), mapping={"chats": 10, "m:1": 40})
    restart_seen()

    assert chat(application.token) == 10 + GAP + 1
    assert message(application.token, 1) == 40 + GAP + 1


def test_every_chat_is_compared_once_after_each_restart():
    application = ApplicationFactory()
    application_register(token=application.token)
    first, second = chat(application.token), chat(application.token)
    assert [message(application.token, first), message(application.token, second)] == [1, 1]

    restart_seen()
    assert message(application.token, first) == 1 + GAP + 1
    assert message(application.token, second) == 1 + GAP + 1
    assert message(application.token, first) == 1 + GAP + 2

    restart_seen()
    assert epoch() == 2
    assert message(application.token, first) == 1 + 2 * GAP + 3


def test_what_is_created_after_a_restart_starts_at_1():
    restart_seen()
    application = ApplicationFactory()
    application_register(token=application.token)

    first = chat(application.token)

    assert first == 1
    assert [message(application.token, first) for _ in range(2)] == [1, 2]
