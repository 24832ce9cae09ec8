"""The journal's state as the scrape reads it (pipeline.metrics), on the real test Redis (and on
a real Redis Cluster in the cluster pass)."""

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from applications.tests.factories import ApplicationFactory
from chats.services import chat_create
from messages_app.services import message_create
from pipeline import keys
from pipeline.dead_letters import dead_letter_from_journal
from pipeline.drain import journal_drain
from pipeline.journal import journal_claim
from pipeline.metrics import JournalCollector, journal_state
from pipeline.numbering import application_register
from pipeline.tasks import FOLLOW_UPS

pytestmark = pytest.mark.django_db


def registered() -> str:
    application = ApplicationFactory()
    application_register(token=application.token)
    return application.token


def scraped() -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(JournalCollector())
    return {sample.name: sample.value for family in registry.collect() for sample in family.samples}


def test_an_empty_journal():
    assert scraped() == {
        "chatapi_journal_read_ok": 1,
        "chatapi_journal_backlog": 0,
        "chatapi_journal_oldest_age_seconds": 0,
        "chatapi_dead_letters": 0,
    }


def test_the_backlog_and_the_oldest_age_are_summed_over_partitions():
    tokens = [registered() for _ in range(3)]
    assert len({keys.partition_of(token) for token in tokens}) > 1
    first = chat_create(token=tokens[0])
    for token in tokens:
        chat_create(token=token)
        message_create(token=token, chat_number=1, content={"body": "hi"})

    state = journal_state(now=first.created_at.timestamp() + 10)

    assert state.backlog == 7
    assert state.oldest_age == pytest.approx(10, abs=1e-6)
    assert state.dead_letters == 0


def test_a_row_a_drain_holds_still_counts_as_the_oldest():
    token = registered()
    first = chat_create(token=token)
    chat_create(token=token)
    [claim] = journal_claim(keys.partition_of(token), limit=1, lease_seconds=60)
    assert claim.entry == first.entry

    state = journal_state(now=first.created_at.timestamp() + 3)

    assert state.backlog == 2
    assert state.oldest_age == pytest.approx(3, abs=1e-6)


def test_a_dead_letter_leaves_the_backlog_and_is_counted():
    token = registered()
    chat_create(token=token)
    [claim] = journal_claim(keys.partition_of(token), limit=1, lease_seconds=60)

    dead_letter_from_journal(claim, ValueError("cannot be written"))

    assert scraped() == {
        "chatapi_journal_read_ok": 1,
        "chatapi_journal_backlog": 0,
        "chatapi_journal_oldest_age_seconds": 0,
        "chatapi_dead_letters": 1,
    }


def test_an_entry_that_cannot_be_read_counts_in_the_backlog_not_the_age(redis_clean):
    token = registered()
    entry = keys.chat_entry(token, 1)
    partition = keys.partition_of(token)
    redis_clean.hset(keys.journal_entries_key(partition), entry, "not json")
    redis_clean.zadd(keys.journal_clock_key(partition), {entry: 1})

    state = journal_state()

    assert (state.backlog, state.oldest_age) == (1, 0)


def test_a_redis_that_does_not_answer_reads_as_not_ok(settings):
    settings.REDIS_CLUSTER_NODES = ["127.0.0.1:1"]  # nothing listens on port 1

    assert scraped() == {"chatapi_journal_read_ok": 0}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_drain_counts_its_batches_and_the_rows_it_persisted(django_capture_on_commit_callbacks):
    token = registered()
    for _ in range(3):
        chat_create(token=token)
    rows, batches = sample("chatapi_drain_batch_rows_sum"), sample("chatapi_drain_batch_rows_count")
    persisted = sample("chatapi_rows_persisted_total", kind="chat")

    with django_capture_on_commit_callbacks(execute=True):
        written = journal_drain(
            keys.partition_of(token), batch_size=2, follow_ups=FOLLOW_UPS, time_budget_seconds=5
        )

    assert written == 3
    assert sample("chatapi_drain_batch_rows_sum") == rows + 3
    assert sample("chatapi_drain_batch_rows_count") == batches + 2  # a batch of 2, then of 1
    assert sample("chatapi_drain_batch_duration_seconds_count") >= 2
    assert sample("chatapi_rows_persisted_total", kind="chat") == persisted + 3


def test_accepted_creates_and_reseeds_are_counted(redis_clean):
    token = registered()
    chats, reseeds = (
        sample("chatapi_creates_accepted_total", kind="chat"),
        sample("chatapi_allocator_reseeds_total", kind="chat"),
    )
    chat_create(token=token)
    redis_clean.delete(keys.application_key(token))  # the counter lost: the next is reseeded
    chat_create(token=token)

    assert sample("chatapi_creates_accepted_total", kind="chat") == chats + 2
    assert sample("chatapi_allocator_reseeds_total", kind="chat") == reseeds + 1
