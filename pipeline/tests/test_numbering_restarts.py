"""The allocator's invariants (pipeline.numbering) when Redis lost, or may have lost, writes.

A restart is simulated the way the script sees one: the counter was last checked in another run
of Redis (another replication ID). Losses are simulated by what they leave: a flushed database,
a counter rolled back as an AOF cut would roll it back. The real restarts, kills, AOF cuts and
failovers are in tests/drills and in the history checker (tests/history).
"""

import pytest
from django.conf import settings

from applications.models import Application, NumberReservation
from applications.tests.factories import ApplicationFactory
from chats.tests.factories import ChatFactory
from core.errors import BacklogFull, NotFound
from core.redis_client import redis_connection
from messages_app.tests.factories import MessageFactory
from pipeline import keys
from pipeline.numbering import (
    application_register,
    idempotency_hash,
    message_number_allocate,
    numbers_persisted,
)
from pipeline.tests.test_numbering import (
    chat_allocate,
    message_allocate,
    message_lookup,
    message_reseed,
)

pytestmark = pytest.mark.django_db

R = settings.REDIS_RESTART_NUMBER_GAP


def restart_seen(token: str) -> None:
    """What a restart of Redis leaves: every counter was checked in a run that is over."""
    key = keys.application_key(token)
    client = redis_connection()
    runs = [field for field in client.hkeys(key) if field in (b"chats:run",) or field[:2] == b"r:"]
    if runs:
        client.hset(key, mapping=dict.fromkeys(runs, "a-run-before-the-restart"))


def registered() -> str:
    application = ApplicationFactory()
    application_register(token=application.token)
    return application.token


def test_without_a_restart_counters_are_trusted_and_no_sql_runs(django_assert_num_queries):
    token = registered()
    with django_assert_num_queries(0):
        first = chat_allocate(token)
        numbers = [message_allocate(token, first) for _ in range(3)]
    assert numbers == [1, 2, 3]


def test_after_a_restart_each_counter_moves_past_sql_and_the_reserve_once(
    django_assert_max_num_queries,
):
    """The lost second: Redis says 2 chats and 1 message, the worker had persisted more."""
    application = ApplicationFactory()
    persisted = ChatFactory(application=application, number=5)
    MessageFactory(chat=persisted, number=8)
    application_register(token=application.token)
    redis_connection().hset(keys.application_key(application.token), "chats", 2)
    redis_connection().hset(keys.application_key(application.token), mapping={"m:5": 1, "c:5": 0})
    restart_seen(application.token)

    assert chat_allocate(application.token) == 5 + R + 1
    assert message_allocate(application.token, 5) == 8 + R + 1
    # Checked once: from now on the counters are trusted again, no SQL.
    with django_assert_max_num_queries(0):
        assert chat_allocate(application.token) == 5 + R + 2
        assert message_allocate(application.token, 5) == 8 + R + 2
    # Reserved in SQL before they were used.
    reserved = dict(
        NumberReservation.objects.filter(application=application).values_list(
            "chat_number", "highest"
        )
    )
    assert reserved == {0: 5 + R, 5: 8 + R}


def test_counters_ahead_of_sql_are_never_lowered():
    """Rows accepted and not persisted yet are above what SQL holds: Redis is right there."""
    token = registered()
    for _ in range(10):
        chat_allocate(token)
    for _ in range(40):
        message_allocate(token, 1)
    restart_seen(token)

    assert chat_allocate(token) == 10 + R + 1
    assert message_allocate(token, 1) == 40 + R + 1


def test_a_chat_never_handed_out_stays_a_404_after_a_restart():
    """The ghost chat: after a restart the chat counter jumped by the reserve; the numbers it
    skipped are not chats, and a message to one is a 404 that creates nothing."""
    token = registered()
    assert chat_allocate(token) == 1
    restart_seen(token)
    assert chat_allocate(token) == 1 + R + 1

    for ghost in (2, 500, R, R + 1):
        with pytest.raises(NotFound, match=f"No chat {ghost} in"):
            message_allocate(token, ghost)
    assert message_allocate(token, 1) == 1 + R  # chat 1 is real; its counter was re-checked too


def test_a_chat_above_a_trusted_counter_is_a_404_without_sql(django_assert_num_queries):
    token = registered()
    chat_allocate(token)
    with django_assert_num_queries(0), pytest.raises(NotFound, match="No chat 2 in"):
        message_allocate(token, 2)


def test_a_chat_lost_with_its_counter_is_found_in_sql_or_in_the_journal(redis_clean):
    """Redis lost the application's hash but kept the journal (an eviction): a chat accepted
    and not persisted yet still exists, one persisted exists, anything else is a 404."""
    token = registered()
    chat_allocate(token)  # chat 1, journaled only
    redis_clean.delete(keys.application_key(token))

    assert message_allocate(token, 1) == R + 1
    with pytest.raises(NotFound, match="No chat 2 in"):
        message_allocate(token, 2)


def test_losses_in_a_row_never_hand_a_number_out_twice(redis_clean):
    """Flushed twice with nothing persisted in between: only the SQL reservation remembers
    that the first rebuild handed numbers out, and the second rebuild starts beyond them."""
    token = registered()
    handed_out = [chat_allocate(token) for _ in range(3)]
    redis_clean.flushdb()
    handed_out += [chat_allocate(token) for _ in range(5)]
    redis_clean.flushdb()
    handed_out += [chat_allocate(token) for _ in range(2)]

    assert handed_out == [1, 2, 3, R + 1, R + 2, R + 3, R + 4, R + 5, 2 * R + 1, 2 * R + 2]


def test_a_counter_never_runs_more_than_the_reserve_ahead_of_sql(settings):
    """Past the reserve, creates are refused (nothing allocated) until rows are persisted."""
    settings.REDIS_RESTART_NUMBER_GAP = 3
    token = registered()
    assert [chat_allocate(token) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(BacklogFull):
        chat_allocate(token)

    numbers_persisted(chats=[(token, 2)])
    assert [chat_allocate(token) for _ in range(2)] == [4, 5]
    with pytest.raises(BacklogFull):
        chat_allocate(token)

    assert [message_allocate(token, 5) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(BacklogFull):
        message_allocate(token, 5)
    numbers_persisted(messages=[(token, 5, 3)])
    assert message_allocate(token, 5) == 4


def test_persisted_numbers_only_raise_what_is_covered():
    token = registered()
    chat_allocate(token)
    key = keys.application_key(token)
    numbers_persisted(chats=[(token, 1)])
    numbers_persisted(chats=[(token, 0)])  # late and out of order: no effect
    numbers_persisted(messages=[(token, 9, 4)])  # a counter Redis does not have: not created

    assert redis_connection().hget(key, "chats:covered") == b"1"
    assert not redis_connection().hexists(key, "m:9")
    assert not redis_connection().hexists(key, "c:9")


def test_what_is_created_after_a_restart_starts_at_1():
    token = registered()
    restart_seen(token)  # nothing to re-check for an application registered in this run
    other = registered()

    first = chat_allocate(other)

    assert first == 1
    assert [message_allocate(other, first) for _ in range(2)] == [1, 2]
    assert chat_allocate(token) == R + 1


def test_a_key_lost_with_redis_finds_its_persisted_row_instead_of_creating_another(redis_clean):
    """The AOF's last second held the key's record; the worker had persisted its row."""
    token = registered()
    assert chat_allocate(token, idempotency="k1") == 1
    application = Application.objects.get(token=token)
    ChatFactory(application=application, number=1, idempotency_key=idempotency_hash("k1"))
    MessageFactory(
        chat=application.chats.get(number=1),
        number=1,
        body="once",
        idempotency_key=idempotency_hash("m1"),
    )
    redis_clean.flushdb()  # the record, the counters and the journal: all gone

    assert chat_allocate(token, idempotency="k1") == 1  # replayed from SQL
    assert message_allocate_keyed(token, 1, "m1", "once") == (1, True)
    assert chat_allocate(token, idempotency="k2") == 1 + R + 1  # a new key allocates
    assert message_allocate_keyed(token, 1, "m2", "new") == (1 + R + 1, False)
    assert chat_allocate(token, idempotency="k1") == 1  # and again


def message_allocate_keyed(token: str, chat: int, key: str, body: str) -> tuple[int, bool]:
    allocation = message_number_allocate(
        token=token,
        chat_number=chat,
        payload={"body": body, "created_at": "2024-01-01T00:00:00+00:00"},
        reseed=message_reseed(token, chat),
        replay_lookup=message_lookup(token, chat),
        idempotency=key,
    )
    return allocation.number, allocation.replayed
