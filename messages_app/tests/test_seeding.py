"""``manage.py seed``: rows straight into SQL, consistent, and the allocator goes on from them."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min

from applications.models import Application
from chats.models import Chat
from core.redis_client import redis_connection
from messages_app.models import Message
from messages_app.seeding import ABSENT_TERM, RARE_TERM, SeedPlan, messages_seed
from pipeline import keys
from pipeline.numbering import counter_read, counters_restore
from tests.support.contract import API

pytestmark = pytest.mark.django_db


def test_the_plan_spreads_messages_and_puts_the_largest_chat_first():
    plan = SeedPlan(applications=2, chats=5, messages=50, largest_chat=20)

    assert [plan.chats_of(i) for i in range(2)] == [3, 2]
    assert [plan.messages_of(i) for i in range(5)] == [20, 8, 8, 7, 7]
    assert sum(plan.messages_of(i) for i in range(5)) == 50


def test_seeded_rows_are_numbered_and_counted_exactly(settings):
    result = messages_seed(plan=SeedPlan(applications=2, chats=5, messages=50, largest_chat=20))

    assert len(result.tokens) == 2 and result.chats == 5 and result.messages == 50
    per_chat = (
        Message.objects.values("chat")
        .annotate(n=Count("pk"), low=Min("number"), high=Max("number"))
        .order_by("chat")
    )
    assert [(row["n"], row["low"], row["high"]) for row in per_chat] == [
        (20, 1, 20),
        (8, 1, 8),
        (8, 1, 8),
        (7, 1, 7),
        (7, 1, 7),
    ]
    for application in Application.objects.all():
        chats = list(application.chats.order_by("number"))
        assert application.chats_count == len(chats)
        assert [chat.number for chat in chats] == list(range(1, len(chats) + 1))
        for chat in chats:
            assert chat.messages_count == chat.messages.count()


def test_the_api_numbers_on_from_the_seeded_rows(api, django_assert_num_queries):
    result = messages_seed(plan=SeedPlan(applications=1, chats=2, messages=30, largest_chat=20))
    (token,) = result.tokens

    with django_assert_num_queries(0):  # the allocator knows the numbers: no seed from SQL
        chat = api.post(f"{API}/apps/{token}/chats")
        first = api.post(f"{API}/apps/{token}/chats/1/messages", {"body": "hi"}, format="json")
        second = api.post(f"{API}/apps/{token}/chats/2/messages", {"body": "hi"}, format="json")

    assert chat.json()["number"] == 3
    assert first.json()["number"] == 21
    assert second.json()["number"] == 11


def test_the_search_terms_have_the_selectivity_the_benchmark_expects(monkeypatch):
    from messages_app import seeding

    monkeypatch.setattr(seeding, "RARE_EVERY", 100)  # 1 in 100,000 for real; 1 in 100 here
    messages_seed(plan=SeedPlan(applications=1, chats=1, messages=250))

    assert Message.objects.filter(body__contains=RARE_TERM).count() == 3  # 50, 150 and 250
    assert not Message.objects.filter(body__contains=ABSENT_TERM).exists()


def test_restored_counters_are_trusted_as_exact(api, django_assert_num_queries):
    """Restored counters are exact, covered by SQL and checked in this run of Redis: the next
    create needs no SQL and numbers on with no gap, even where Redis held stale counters."""
    redis = redis_connection()
    result = messages_seed(plan=SeedPlan(applications=1, chats=1, messages=5))
    (token,) = result.tokens
    redis.hset(keys.application_key(token), mapping={"m:1": 2, "r:1": "a-run-before-this-one"})

    counters_restore(token=token, chats=1, messages={1: 5})

    assert counter_read(token=token, chat_number=1).covered == 5  # type: ignore[union-attr]
    with django_assert_num_queries(0):
        created = api.post(f"{API}/apps/{token}/chats/1/messages", {"body": "x"}, format="json")
    assert created.json()["number"] == 6


def test_the_command_seeds_and_prints_the_tokens():
    out = StringIO()

    call_command(
        "seed", "--applications=1", "--chats=2", "--messages=10", "--no-progress", stdout=out
    )

    assert "Seeded 1 applications, 2 chats and 10 messages" in out.getvalue()
    assert Chat.objects.count() == 2 and Message.objects.count() == 10


def test_the_command_refuses_an_impossible_plan():
    with pytest.raises(CommandError):
        call_command("seed", "--applications=3", "--chats=2", "--no-progress")
