"""Numbers under concurrency: exactly 1..N, no duplicate, no gap, whatever the interleaving.

Through the real HTTP stack (gunicorn processes started by ``api_servers``), and straight at the
allocator from many threads, including the re-seed path after Redis lost its counters.
Everything runs against the real database and the real Redis; ``transaction=True`` so that the
server processes see the rows the test writes.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from applications.models import NumberReservation
from applications.tests.factories import ApplicationFactory
from chats.services import chat_counter_reseed
from chats.tests.factories import ChatFactory
from messages_app.services import message_counter_reseed
from messages_app.tests.factories import MessageFactory
from pipeline.journal import journal_count
from pipeline.numbering import application_register, chat_number_allocate, message_number_allocate
from pipeline.tests.test_numbering import chat_lookup, message_lookup
from tests.support.http import HttpApi

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
PER_THREAD = 10
TOTAL = THREADS * PER_THREAD


def run_together(work: Callable[[int], list[Any]], threads: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``threads`` threads released at the same instant; all results."""
    barrier = threading.Barrier(threads)

    def worker(index: int) -> list[Any]:
        barrier.wait()
        try:
            return work(index)
        finally:
            connection.close()  # each thread opened its own database connection, if any

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [item for result in pool.map(worker, range(threads)) for item in result]


def assert_exactly(numbers: list[int], first: int, last: int) -> None:
    assert len(numbers) == len(set(numbers)), "a number was handed out twice"
    assert sorted(numbers) == list(range(first, last + 1))


def assert_follow_each_other_past(numbers: list[int], floor: int) -> None:
    """After a rebuilt counter: no duplicate, no gap, and all beyond ``floor``."""
    assert min(numbers) > floor
    assert_exactly(numbers, min(numbers), min(numbers) + len(numbers) - 1)


def new_application(api: HttpApi) -> str:
    return api.post("/api/v1/apps", {"name": "concurrency"})["token"]


# --- through HTTP ------------------------------------------------------------------------------


def test_chats_created_at_once_by_16_threads_on_one_server(api_servers):
    api = api_servers[0]
    token = new_application(api)

    numbers = run_together(
        lambda _: [api.post(f"/api/v1/apps/{token}/chats")["number"] for _ in range(PER_THREAD)]
    )

    assert_exactly(numbers, 1, TOTAL)
    assert journal_count() == TOTAL  # every one of them is in the journal


def test_chats_and_messages_created_at_once_through_two_servers(api_servers):
    token = new_application(api_servers[0])

    def create_chats(index: int) -> list[int]:
        api = api_servers[index % 2]
        return [api.post(f"/api/v1/apps/{token}/chats")["number"] for _ in range(PER_THREAD)]

    chat_numbers = run_together(create_chats)
    assert_exactly(chat_numbers, 1, TOTAL)

    def create_messages(index: int) -> list[int]:
        api = api_servers[index % 2]
        return [
            api.post(f"/api/v1/apps/{token}/chats/7/messages", {"body": f"{index}-{i}"})["number"]
            for i in range(PER_THREAD)
        ]

    message_numbers = run_together(create_messages)
    assert_exactly(message_numbers, 1, TOTAL)
    # And none went to another chat.
    assert (
        api_servers[1].post(f"/api/v1/apps/{token}/chats/8/messages", {"body": "x"})["number"] == 1
    )


def test_first_chats_of_an_application_redis_does_not_know_yet(api_servers):
    """Every server finds the counter missing at once and rebuilds it from SQL concurrently:
    one rebuild wins, past the reserve, and the numbers follow each other from there."""
    application = ApplicationFactory()  # in SQL only, never registered with Redis
    ChatFactory(application=application, number=1)
    ChatFactory(application=application, number=2)
    token = application.token

    def create_chats(index: int) -> list[int]:
        api = api_servers[index % 2]
        return [api.post(f"/api/v1/apps/{token}/chats")["number"] for _ in range(PER_THREAD)]

    assert_follow_each_other_past(run_together(create_chats), 2 + settings.REDIS_RESTART_NUMBER_GAP)


def test_messages_after_redis_lost_its_counters_through_two_servers(api_servers, redis_clean):
    chat = ChatFactory(number=1)
    for number in range(1, 6):
        MessageFactory(chat=chat, number=number)
    redis_clean.flushdb()
    token = chat.application.token

    def create_messages(index: int) -> list[int]:
        api = api_servers[index % 2]
        return [
            api.post(f"/api/v1/apps/{token}/chats/1/messages", {"body": "after"})["number"]
            for _ in range(PER_THREAD)
        ]

    assert_follow_each_other_past(
        run_together(create_messages), 5 + settings.REDIS_RESTART_NUMBER_GAP
    )


def test_one_idempotency_key_sent_at_once_by_16_threads_creates_one_message(api_servers):
    token = new_application(api_servers[0])
    api_servers[0].post(f"/api/v1/apps/{token}/chats")

    def retry(index: int) -> list[tuple[int, Any]]:
        api = api_servers[index % 2]
        return [
            api.call(
                "POST",
                f"/api/v1/apps/{token}/chats/1/messages",
                {"body": "once"},
                headers={"Idempotency-Key": "the-same-key"},
            )
        ]

    answers = run_together(retry)

    assert {status for status, _ in answers} == {201}
    assert len({repr(sorted(body.items())) for _, body in answers}) == 1
    assert answers[0][1]["number"] == 1
    assert journal_count() == 2  # the chat and one message


# --- straight at the allocator ----------------------------------------------------------------


def allocate_message(token: str, chat_number: int, seed_calls: list[int] | None = None) -> int:
    def reseed(current: int | None, known: bool) -> int:
        if seed_calls is not None:
            seed_calls.append(1)
            time.sleep(0.05)  # a slow reseed: widens the window in which others ask too
        return message_counter_reseed(
            token=token, chat_number=chat_number, current=current, known=known
        )

    return message_number_allocate(
        token=token,
        chat_number=chat_number,
        payload={"body": "b", "created_at": "2024-01-01T00:00:00+00:00"},
        reseed=reseed,
        replay_lookup=message_lookup(token, chat_number),
    ).number


def allocate_chat(token: str, seed_calls: list[int] | None = None) -> int:
    def reseed(current: int | None, _known: bool) -> int:
        if seed_calls is not None:
            seed_calls.append(1)
            time.sleep(0.05)
        return chat_counter_reseed(token=token, current=current)

    return chat_number_allocate(
        token=token,
        payload={"created_at": "2024-01-01T00:00:00+00:00"},
        reseed=reseed,
        replay_lookup=chat_lookup(token),
    ).number


def test_allocator_many_threads_one_chat():
    application = ApplicationFactory()
    application_register(token=application.token)
    assert allocate_chat(application.token) == 1

    numbers = run_together(
        lambda _: [allocate_message(application.token, 1) for _ in range(25)], threads=32
    )

    assert_exactly(numbers, 1, 32 * 25)
    assert journal_count() == 1 + 32 * 25


def test_allocator_reseeds_once_when_many_threads_find_the_counters_gone(redis_clean):
    """Rows persisted up to K, Redis flushed: every thread may load a seed, none may reuse one."""
    chat = ChatFactory(number=1)
    ChatFactory(application=chat.application, number=2)
    persisted = 40
    for number in range(1, persisted + 1):
        MessageFactory(chat=chat, number=number)
    token = chat.application.token
    redis_clean.flushdb()
    seed_calls: list[int] = []

    messages = run_together(
        lambda _: [allocate_message(token, 1, seed_calls) for _ in range(10)], threads=32
    )

    # One reseed wins (the first to reach Redis); the others' seeds are ignored, so the numbers
    # follow each other from there: past the reserve, and never below what SQL reserved.
    first = min(messages)
    assert_exactly(messages, first, first + 32 * 10 - 1)
    assert first > persisted + settings.REDIS_RESTART_NUMBER_GAP
    assert first - 1 in reserved(chat.application, 1)
    # The race this test is about did happen: several threads loaded a seed at the same time.
    assert len(seed_calls) > 1, seed_calls

    redis_clean.flushdb()
    seed_calls.clear()
    chats = run_together(lambda _: [allocate_chat(token, seed_calls) for _ in range(5)], threads=32)

    first = min(chats)
    assert_exactly(chats, first, first + 32 * 5 - 1)
    assert first > 2 + settings.REDIS_RESTART_NUMBER_GAP
    assert len(seed_calls) > 1, seed_calls


def reserved(application, chat_number: int) -> set[int]:
    """Every value a reseed of this counter may have applied is at most the reservation."""
    highest = NumberReservation.objects.get(
        application=application, chat_number=chat_number
    ).highest
    return set(range(highest + 1))
