"""Search test fixtures: chats with messages, a recording fake Elasticsearch, a real one if given.

``pytest search --es-url=http://localhost:9200`` (or ``ES_URL=...``) also runs the shared
semantic cases against that real cluster, in an index of its own that is deleted afterwards.
Without it those cases are skipped: no Elasticsearch runs where this suite was written.
"""

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from messages_app.models import Message
from search.tests.fake_elasticsearch import FakeElasticsearch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--es-url",
        default=os.environ.get("ES_URL"),
        help="A real Elasticsearch to run the shared search cases against (or ES_URL).",
    )


def elasticsearch_settings(url: str, **client: object) -> override_settings:
    options = {"hosts": [url], "request_timeout": 5, "max_retries": 0, **client}
    return override_settings(ELASTICSEARCH_URL=url, ELASTICSEARCH_DSL={"default": options})


@pytest.fixture
def chat_factory(db: None) -> Callable[..., Chat]:
    """A persisted chat holding ``bodies`` as messages 1, 2, …, one second apart."""

    def make(bodies: list[str], *, application=None) -> Chat:
        chat = ChatFactory(application=application or ApplicationFactory())
        start = timezone.now() - timedelta(hours=1)
        Message.objects.bulk_create(
            Message(
                chat=chat,
                number=number,
                body=body,
                created_at=start + timedelta(seconds=number),
                updated_at=start + timedelta(seconds=number),
            )
            for number, body in enumerate(bodies, start=1)
        )
        return chat

    return make


@pytest.fixture
def fake_es() -> Iterator[FakeElasticsearch]:
    """Search and indexing pointed at a recording fake (search/tests/fake_elasticsearch.py)."""
    fake = FakeElasticsearch()
    fake.start()
    try:
        with elasticsearch_settings(fake.url):
            yield fake
    finally:
        fake.stop()


@pytest.fixture
def es_down() -> Iterator[str]:
    """Search and indexing pointed at a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with elasticsearch_settings(url, request_timeout=1):
        yield url


@pytest.fixture
def real_es(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real cluster from --es-url / ES_URL, in a throwaway index; skipped without one."""
    url = request.config.getoption("--es-url", default=None) or os.environ.get("ES_URL")
    if not url:
        pytest.skip("no real Elasticsearch: pass --es-url=http://... or set ES_URL")
    from search.backends.elasticsearch import es_client
    from search.documents import MessageDocument
    from search.indexing import index_ensure

    index = MessageDocument._index
    original_name = index._name
    index._name = f"chatapi-test-{uuid.uuid4().hex[:12]}"
    try:
        with elasticsearch_settings(url):
            index_ensure()
            try:
                yield url
            finally:
                es_client().indices.delete(index=index._name, ignore_unavailable=True)
    finally:
        index._name = original_name
