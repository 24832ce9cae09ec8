"""Indexing through the outbox, against a real engine (osmem behind its proxy, or --es-url).

What the write services record (in their own transaction), what a drain sends and when a row
leaves the outbox: only once the engine acknowledged it. The engine down, hung or refusing
leaves the rows pending; nothing is recorded on the SQL backend.
"""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from applications.deletion import application_delete
from chats.tests.factories import ChatFactory
from messages_app.edits import message_body_write
from messages_app.models import Message
from messages_app.records import MessageRecord
from messages_app.services import message_update, messages_persist
from search.backends.elasticsearch import es_client, index_name
from search.documents import message_document_id, message_version
from search.indexing import messages_index, outbox_drain
from search.models import PendingApplicationRemoval, PendingMessage
from search.outbox import INDEX_LAG_METRIC, index_lag_seconds, outbox_status
from search.selectors import messages_search

pytestmark = pytest.mark.django_db


def _pending() -> list[tuple[int, int]]:
    return sorted(PendingMessage.objects.values_list("chat_id", "number"))


def _records(chat, bodies: dict[int, str]) -> list[MessageRecord]:
    now = timezone.now()
    return [
        MessageRecord(chat.application.token, chat.number, number, body, now, now)
        for number, body in bodies.items()
    ]


def _found(chat, query: str) -> list[tuple[int, str]]:
    es_client().indices.refresh(index=index_name())
    page = messages_search(application=chat.application, chat=chat, query=query, limit=200)
    return sorted((m.number, m.body) for m in page.messages)


def _indexed_body(chat, number: int) -> str | None:
    token = chat.application.token
    document = (
        es_client()
        .options(ignore_status=404)
        .get(
            index=index_name(),
            id=message_document_id(token, chat.number, number),
            routing=f"{token}-{chat.number}",
        )
    )
    return document["_source"]["body"] if document.get("found") else None


# --- what is recorded ------------------------------------------------------------------------


def test_persisting_messages_records_them_in_the_same_transaction(real_es) -> None:
    chat = ChatFactory()

    messages_persist(records=_records(chat, {1: "one", 2: "two"}))

    assert _pending() == [(chat.pk, 1), (chat.pk, 2)]


def test_a_persist_rolled_back_records_nothing(real_es) -> None:
    chat = ChatFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        messages_persist(records=_records(chat, {1: "one"}))
        raise RuntimeError("the batch fails after the rows were written")

    assert Message.objects.count() == 0
    assert _pending() == []


def test_an_edit_of_a_persisted_row_is_recorded(real_es, chat_factory) -> None:
    chat = chat_factory(["before"])

    message_update(application=chat.application, chat_number=chat.number, number=1, body="after")

    assert _pending() == [(chat.pk, 1)]


def test_an_edit_that_a_later_one_beat_records_nothing(real_es, chat_factory) -> None:
    chat = chat_factory(["before"])
    old = Message.objects.get().updated_at - timedelta(days=1)

    assert not message_body_write(chat_id=chat.pk, number=1, body="stale", updated_at=old)
    assert _pending() == []


def test_nothing_is_recorded_on_the_sql_backend(settings, chat_factory) -> None:
    settings.ELASTICSEARCH_URL = ""
    chat = chat_factory(["before"])
    messages_persist(records=_records(ChatFactory(), {1: "one"}))
    message_update(application=chat.application, chat_number=chat.number, number=1, body="after")
    application_delete(application=chat.application)

    assert PendingMessage.objects.count() == PendingApplicationRemoval.objects.count() == 0
    assert outbox_drain().sent == 0
    assert index_lag_seconds() == 0.0


# --- what a drain sends ------------------------------------------------------------------------


def test_a_drain_indexes_the_rows_and_empties_the_outbox(real_es) -> None:
    chat = ChatFactory()
    messages_persist(records=_records(chat, {1: "Hello, World!", 2: "hello", 3: "bye"}))

    done = outbox_drain()

    assert (done.sent, done.failed, done.out_of_time, done.skipped) == (3, False, False, False)
    assert _pending() == []
    assert _found(chat, "hel") == [(1, "Hello, World!"), (2, "hello")]
    for message in Message.objects.all():
        document = es_client().get(
            index=index_name(),
            id=message_document_id(chat.application.token, chat.number, message.number),
            routing=f"{chat.application.token}-{chat.number}",
        )
        assert document["_version"] == message_version(message)


def test_a_drain_sends_the_row_as_it_is_then(real_es, chat_factory) -> None:
    chat = chat_factory(["first text"])
    message_update(application=chat.application, chat_number=chat.number, number=1, body="second")
    message_update(application=chat.application, chat_number=chat.number, number=1, body="third")
    assert _pending() == [(chat.pk, 1), (chat.pk, 1)]

    assert outbox_drain().sent == 1  # one document for both rows

    assert _pending() == []
    assert _indexed_body(chat, 1) == "third"


def test_an_older_snapshot_never_overwrites_a_newer_document(real_es, chat_factory) -> None:
    chat = chat_factory(["old"])
    message = Message.objects.get()
    message_update(application=chat.application, chat_number=chat.number, number=1, body="new")
    outbox_drain()

    # A stale copy of the row (a reindex that read it before the edit) is refused with a 409,
    # which counts as acknowledged: the index already holds newer text.
    from search.indexing import _bulk_send, messages_for_index

    stale = messages_for_index().get(pk=message.pk)
    stale.body, stale.updated_at = "old", message.updated_at
    assert _bulk_send([stale], timeout=5) == {}
    assert _indexed_body(chat, 1) == "new"


def test_rows_without_a_message_leave_the_outbox_with_nothing_sent(real_es) -> None:
    assert messages_index(keys=[(123456, 1)]) == {(123456, 1)}
    PendingMessage.objects.create(chat_id=123456, number=1)

    assert outbox_drain().failed is False
    assert _pending() == []


def test_a_refused_document_stays_pending_and_the_rest_goes(real_es, chat_factory) -> None:
    from search.documents import MessageDocument

    chat = chat_factory(["123", "refused"])
    # The index made with body_folded as a number: "123" fits, "refused" is a 400 for its item.
    mapping = MessageDocument._index.to_dict()
    mapping["mappings"]["properties"]["body_folded"] = {"type": "long"}
    es_client().indices.delete(index=index_name())
    es_client().indices.create(index=index_name(), body=mapping)
    PendingMessage.objects.bulk_create(
        [PendingMessage(chat_id=chat.pk, number=1), PendingMessage(chat_id=chat.pk, number=2)]
    )

    done = outbox_drain()

    assert (done.sent, done.failed) == (1, True)
    assert _pending() == [(chat.pk, 2)]
    assert _indexed_body(chat, 1) == "123"
    assert _indexed_body(chat, 2) is None


def test_a_document_that_fails_the_whole_request_is_refused_alone(real_es, chat_factory) -> None:
    """A version before 1970 is negative: the engine refuses the whole bulk request (400)."""
    chat = chat_factory(["fine", "too old", "fine too"])
    Message.objects.filter(chat=chat, number=2).update(updated_at=timezone.now().replace(year=1969))
    PendingMessage.objects.bulk_create(
        [PendingMessage(chat_id=chat.pk, number=n) for n in (1, 2, 3)]
    )

    done = outbox_drain()

    assert (done.sent, done.failed) == (2, True)
    assert _pending() == [(chat.pk, 2)]
    assert [_indexed_body(chat, n) for n in (1, 2, 3)] == ["fine", None, "fine too"]


def test_one_drain_at_a_time(real_es, redis_clean) -> None:
    from core.redis_client import redis_key

    PendingMessage.objects.create(chat_id=1, number=1)
    lock = redis_clean.lock(redis_key("search", "drain-lock"), timeout=5)
    assert lock.acquire(blocking=False)
    try:
        assert outbox_drain().skipped is True
        assert _pending() == [(1, 1)]
        # The mark the holder goes round once more for (and checks after letting go).
        assert redis_clean.exists(redis_key("search", "drain-again"))
    finally:
        lock.release()
    assert outbox_drain().skipped is False
    assert _pending() == []
    assert not redis_clean.exists(redis_key("search", "drain-again"))


def test_a_drain_stops_when_its_time_runs_out(real_es, settings) -> None:
    settings.SEARCH_DRAIN_BATCH = 2
    PendingMessage.objects.bulk_create([PendingMessage(chat_id=1, number=n) for n in range(1, 6)])

    done = outbox_drain(seconds=0)

    assert done.out_of_time is True
    assert len(_pending()) == 5
    assert outbox_drain().out_of_time is False
    assert _pending() == []


# --- the engine away -----------------------------------------------------------------------------


def test_an_engine_outage_leaves_everything_pending(es_down) -> None:
    chat = ChatFactory()
    messages_persist(records=_records(chat, {1: "one", 2: "two"}))

    done = outbox_drain()

    assert (done.sent, done.failed) == (0, True)
    assert _pending() == [(chat.pk, 1), (chat.pk, 2)]


def test_what_an_outage_left_is_sent_when_the_engine_answers(real_es, es_url) -> None:
    from search.tests.conftest import elasticsearch_settings

    chat = ChatFactory()
    with elasticsearch_settings("http://127.0.0.1:9", request_timeout=1):
        messages_persist(records=_records(chat, {1: "one", 2: "two"}))
        assert outbox_drain().failed is True

    assert outbox_drain().sent == 2
    assert _found(chat, "o") == [(1, "one"), (2, "two")]


def test_a_hung_engine_cannot_hold_a_drain(es_silent) -> None:
    """The engine accepts the connection and never answers: the drain ends, rows kept."""
    chat = ChatFactory()
    messages_persist(records=_records(chat, {1: "one"}))
    started = time.monotonic()

    done = outbox_drain()

    elapsed = time.monotonic() - started
    assert done.failed is True
    assert _pending() == [(chat.pk, 1)]
    # One request timed out (SEARCH_INDEX_TIMEOUT, 1 s here) and the drain gave up; the
    # bound is loose so that a slow machine passes, far below a 60 s bulk timeout.
    assert elapsed < 10


# --- application deletions ----------------------------------------------------------------------


def test_an_application_deletion_drops_its_documents_once_its_rows_are_gone(
    real_es, chat_factory
) -> None:
    kept = chat_factory(["stays"])
    chat = chat_factory(["goes", "goes too"])
    PendingMessage.objects.bulk_create(
        [PendingMessage(chat_id=c.pk, number=n) for c, n in ((kept, 1), (chat, 1), (chat, 2))]
    )
    outbox_drain()
    token = chat.application.token

    # Recorded before the first row goes, and held back while the application still exists.
    PendingApplicationRemoval.objects.create(application_id=chat.application.pk, token=token)
    assert outbox_drain().removed_applications == 0

    application_delete(application=chat.application)
    assert outbox_drain().removed_applications == 1

    assert PendingApplicationRemoval.objects.count() == 0
    es_client().indices.refresh(index=index_name())
    remaining = es_client().search(index=index_name(), query={"match_all": {}}, size=10)
    assert [hit["_source"]["body"] for hit in remaining["hits"]["hits"]] == ["stays"]


def test_an_application_deletion_is_recorded_before_its_rows_go(real_es, chat_factory) -> None:
    chat = chat_factory(["a"])
    application = chat.application

    application_delete(application=application)

    assert list(PendingApplicationRemoval.objects.values_list("application_id", "token")) == [
        (application.pk, application.token)
    ]


# --- what an operator sees ----------------------------------------------------------------------


def test_status_and_lag_say_what_is_pending(real_es, capsys) -> None:
    assert index_lag_seconds() == 0.0
    long_ago = timezone.now() - timedelta(seconds=30)
    PendingMessage.objects.create(chat_id=1, number=1, recorded_at=long_ago)
    PendingMessage.objects.create(chat_id=1, number=2)
    PendingApplicationRemoval.objects.create(application_id=9, token="t" * 64)

    status = outbox_status()
    assert (status.pending_messages, status.pending_application_removals) == (2, 1)
    assert 30 <= index_lag_seconds() < 60

    call_command("search_status")
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["pending messages: 2", "pending application removals: 1"]
    assert out[2].startswith("oldest pending: ")
    assert out[3].startswith(f"{INDEX_LAG_METRIC}: 3")

    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        call_command("search_status", "--max-lag", "5")
    assert refused.value.returncode == 2
    call_command("search_status", "--max-lag", "600")


def test_status_on_the_sql_backend(settings, capsys) -> None:
    settings.ELASTICSEARCH_URL = ""
    call_command("search_status")
    assert "nothing is pending" in capsys.readouterr().out


# --- current results ----------------------------------------------------------------------------


def test_an_edit_not_indexed_yet_never_shows_its_old_text(real_es, chat_factory) -> None:
    chat = chat_factory(["apple one", "apple two", "apple three"])
    PendingMessage.objects.bulk_create(
        [PendingMessage(chat_id=chat.pk, number=n) for n in (1, 2, 3)]
    )
    outbox_drain()
    es_client().indices.refresh(index=index_name())
    message_update(application=chat.application, chat_number=chat.number, number=3, body="pear")
    message_update(application=chat.application, chat_number=chat.number, number=1, body="APPLE!")

    # The index still has "apple three" and "apple one": the first is dropped (it no longer
    # matches) and the page refilled from the next hits; the second shows its current body.
    first = messages_search(application=chat.application, chat=chat, query="apple", limit=2)
    assert sorted((m.number, m.body) for m in first.messages) == [(1, "APPLE!"), (2, "apple two")]
    assert first.next_cursor is None


def test_a_page_is_read_from_the_database_in_one_query(
    real_es, chat_factory, django_assert_num_queries
) -> None:
    chat = chat_factory([f"word {n}" for n in range(1, 31)])
    PendingMessage.objects.bulk_create(
        [PendingMessage(chat_id=chat.pk, number=n) for n in range(1, 31)]
    )
    outbox_drain()
    es_client().indices.refresh(index=index_name())
    from search.backends.base import SearchScope
    from search.backends.elasticsearch import ElasticsearchSearchBackend

    scope = SearchScope(chat_id=chat.pk, token=chat.application.token, chat_number=chat.number)
    with django_assert_num_queries(1):
        found = ElasticsearchSearchBackend().search(scope=scope, terms=["word"], size=20)

    assert len(found.hits) == 20
    assert all(hit.message.pk is not None for hit in found.hits)


def test_the_index_lag_is_exposed_at_scrape_time(settings) -> None:
    """The collector reads the outbox when scraped: 0 with nothing pending, the oldest pending
    write's age otherwise."""
    import re
    from datetime import timedelta

    from django.utils import timezone
    from prometheus_client import CollectorRegistry, generate_latest

    from search.metrics import IndexLagCollector
    from search.models import PendingMessage

    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
    registry = CollectorRegistry()
    registry.register(IndexLagCollector())
    assert b"chatapi_search_index_lag_seconds 0.0" in generate_latest(registry)

    PendingMessage.objects.create(
        chat_id=1, number=1, recorded_at=timezone.now() - timedelta(seconds=42)
    )
    text = generate_latest(registry).decode()
    (lag_text,) = re.findall(r"^chatapi_search_index_lag_seconds (\S+)$", text, re.M)
    lag = float(lag_text)
    assert 42 <= lag < 60
    assert "chatapi_search_outbox_read_ok 1.0" in text
