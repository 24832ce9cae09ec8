"""Index sync: what the write services queue, and the bulk requests the indexing task makes.

The bulk tests are NOT integration tests: requests go to a local recording server
(search/tests/fake_elasticsearch.py), not to Elasticsearch. The queueing tests use the real
Redis broker of the test settings and read the queued task messages back from it.
"""

import base64
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from elasticsearch.helpers import BulkIndexError

from chats.tests.factories import ChatFactory
from messages_app.models import Message
from messages_app.records import MessageRecord
from messages_app.services import message_update, messages_persist
from search.documents import MessageDocument, message_version
from search.indexing import messages_index
from search.tasks import INDEX_TASK_BATCH, messages_index_later, messages_index_task
from search.tests.fake_elasticsearch import error_reply

pytestmark = pytest.mark.django_db

INDEX = "chatapi-messages"


def _queued_index_tasks(redis) -> list[list[list[int]]]:
    """The keys argument of every messages_index_task message waiting in the broker."""
    queued = []
    for key in redis.keys(f"{settings.REDIS_KEY_PREFIX}:celery:*"):
        if redis.type(key) != b"list":
            continue
        for raw in redis.lrange(key, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == "search.tasks.messages_index_task":
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                queued.append(args[0])
    return queued


def test_index_later_queues_one_task_per_batch(redis_clean, settings) -> None:
    settings.ELASTICSEARCH_URL = "http://elasticsearch:9200"
    keys = [(7, n) for n in range(1, INDEX_TASK_BATCH + 3)]

    messages_index_later(keys=keys)

    queued = _queued_index_tasks(redis_clean)
    assert sorted(len(batch) for batch in queued) == [2, INDEX_TASK_BATCH]
    assert sorted(tuple(k) for batch in queued for k in batch) == keys


def test_index_later_does_nothing_on_the_sql_backend(redis_clean, settings) -> None:
    settings.ELASTICSEARCH_URL = ""

    messages_index_later(keys=[(7, 1)])

    assert _queued_index_tasks(redis_clean) == []


def test_persisting_messages_queues_them_in_one_task_after_commit(
    redis_clean, settings, django_capture_on_commit_callbacks
) -> None:
    settings.ELASTICSEARCH_URL = "http://elasticsearch:9200"
    chat = ChatFactory()
    now = timezone.now()
    records = [
        MessageRecord(chat.application.token, chat.number, n, f"body {n}", now, now) for n in (1, 2)
    ]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        messages_persist(records=records)
    assert _queued_index_tasks(redis_clean) == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert _queued_index_tasks(redis_clean) == [[[chat.pk, 1], [chat.pk, 2]]]


def test_an_edit_queues_the_message_after_commit(
    redis_clean, settings, chat_factory, django_capture_on_commit_callbacks
) -> None:
    settings.ELASTICSEARCH_URL = "http://elasticsearch:9200"
    chat = chat_factory(["before"])

    with django_capture_on_commit_callbacks(execute=True):
        message_update(
            application=chat.application, chat_number=chat.number, number=1, body="after"
        )

    assert _queued_index_tasks(redis_clean) == [[[chat.pk, 1]]]


def test_the_task_sends_one_bulk_request_for_its_batch(fake_es, chat_factory) -> None:
    """Not an integration test: the exact bulk actions, with ids, routing and versions."""
    chat = chat_factory(["Hello", "World"])
    other = chat_factory(["Again"], application=chat.application)
    token = chat.application.token

    sent = messages_index_task([[chat.pk, 1], [chat.pk, 2], [other.pk, 1], [other.pk, 99]])

    assert sent == 3
    assert [(r.method, r.path) for r in fake_es.requests] == [
        ("HEAD", f"/{INDEX}"),
        ("PUT", "/_bulk"),
    ]
    bulk = fake_es.requests[-1]
    assert "refresh" not in bulk.params
    assert bulk.headers["content-type"].startswith("application/vnd.elasticsearch+x-ndjson")
    lines = bulk.ndjson()
    actions, sources = lines[0::2], lines[1::2]
    expected = {}
    for message in Message.objects.select_related("chat"):
        key = f"{token}-{message.chat.number}"
        expected[f"{key}-{message.number}"] = (
            {
                "index": {
                    "_index": INDEX,
                    "_id": f"{key}-{message.number}",
                    "routing": key,
                    "version": message_version(message),
                    "version_type": "external_gte",
                }
            },
            {
                "chat": key,
                "number": message.number,
                "body": message.body,
                "body_folded": message.body.lower(),
                "created_at": message.created_at.isoformat(),
                "updated_at": message.updated_at.isoformat(),
            },
        )
    assert {a["index"]["_id"]: (a, s) for a, s in zip(actions, sources, strict=True)} == expected


def test_an_outdated_document_is_not_a_failure(fake_es, chat_factory) -> None:
    """Not an integration test: a 409 (the index holds a newer version) is accepted."""
    chat = chat_factory(["a", "b"])
    fake_es.bulk_status[f"{chat.application.token}-{chat.number}-1"] = 409

    assert messages_index(keys=[(chat.pk, 1), (chat.pk, 2)]) == 2


def test_a_refused_document_fails_the_task_so_it_retries(fake_es, chat_factory) -> None:
    """Not an integration test: any other per-document error raises."""
    chat = chat_factory(["a", "b"])
    fake_es.bulk_status[f"{chat.application.token}-{chat.number}-2"] = 400

    with pytest.raises(BulkIndexError):
        messages_index(keys=[(chat.pk, 1), (chat.pk, 2)])


def test_the_task_retries_while_elasticsearch_fails(fake_es, chat_factory) -> None:
    """Not an integration test: run eagerly, every retry happens at once; 1 + max_retries tries."""
    chat = chat_factory(["a"])
    fake_es.replies[("HEAD", f"/{INDEX}")] = error_reply(503, "unavailable")

    result = messages_index_task.apply(args=[[[chat.pk, 1]]], throw=False)

    assert result.state == "FAILURE"
    assert len(fake_es.sent("HEAD")) == 1 + messages_index_task.max_retries
    assert fake_es.sent("PUT", "/_bulk") == []


def test_a_missing_index_is_created_with_its_mapping_first(fake_es, chat_factory) -> None:
    """Not an integration test: HEAD 404, then PUT with the settings and mapping, then bulk."""
    chat = chat_factory(["a"])
    fake_es.replies[("HEAD", f"/{INDEX}")] = error_reply(404, "index_not_found_exception")

    messages_index(keys=[(chat.pk, 1)])

    assert [(r.method, r.path) for r in fake_es.requests] == [
        ("HEAD", f"/{INDEX}"),
        ("PUT", f"/{INDEX}"),
        ("PUT", "/_bulk"),
    ]
    assert fake_es.requests[1].json() == json.loads(json.dumps(MessageDocument._index.to_dict()))


def test_an_index_created_meanwhile_by_another_worker_is_fine(fake_es, chat_factory) -> None:
    chat = chat_factory(["a"])
    fake_es.replies[("HEAD", f"/{INDEX}")] = error_reply(404, "index_not_found_exception")
    fake_es.replies[("PUT", f"/{INDEX}")] = error_reply(400, "resource_already_exists_exception")

    assert messages_index(keys=[(chat.pk, 1)]) == 1


def test_nothing_to_index_sends_nothing(fake_es) -> None:
    assert messages_index(keys=[]) == 0
    assert messages_index(keys=[(123456, 1)]) == 0
    assert fake_es.requests == []


def test_the_version_is_updated_at_in_microseconds(chat_factory) -> None:
    message = chat_factory(["a"]).messages.get()
    version = message_version(message)

    message.updated_at += timedelta(microseconds=1)

    assert message_version(message) == version + 1


def test_a_deleted_application_is_removed_from_the_index(
    fake_es, chat_factory, django_capture_on_commit_callbacks
) -> None:
    """Not an integration test: one delete-by-query on the chat keys of its token."""
    from applications.deletion import application_delete

    chat = chat_factory(["a", "b"])
    token = chat.application.token
    fake_es.reply("POST", "/chatapi-messages/_delete_by_query", body={"task": "node:1"})

    with django_capture_on_commit_callbacks(execute=True):
        application_delete(application=chat.application)

    (request,) = fake_es.sent("POST", "/chatapi-messages/_delete_by_query")
    assert request.json() == {"query": {"prefix": {"chat": f"{token}-"}}}
    assert request.params["conflicts"] == "proceed"
    assert request.params["wait_for_completion"] == "false"
