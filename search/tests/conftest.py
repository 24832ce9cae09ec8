"""Search test fixtures: chats with messages, and a real search engine.

``search_engine`` is osmem-server behind the compatibility proxy
(tests/support/harness/search_engine.py),
started once per session; ``real_es`` points search and indexing at it, in an index of its own
that is deleted afterwards. ``pytest search --es-url=http://localhost:9200`` (or ``ES_URL=...``)
runs the same tests against that cluster instead, a real Elasticsearch 9 for instance.
"""

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from messages_app.models import Message
from search.tests.fake_elasticsearch import FakeElasticsearch
from tests.support.harness.search_engine import SearchEngine, SilentEngine


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--es-url",
        default=os.environ.get("ES_URL"),
        help="A real Elasticsearch for the search tests instead of osmem (or ES_URL).",
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


@pytest.fixture(scope="session")
def search_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    """osmem-server and its proxy for the session; tests that stop it start their own."""
    engine = SearchEngine(Path(tmp_path_factory.mktemp("search-engine"))).start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def es_url(request: pytest.FixtureRequest) -> str:
    """The engine of this run: --es-url / ES_URL if given, osmem behind its proxy otherwise."""
    url = request.config.getoption("--es-url", default=None) or os.environ.get("ES_URL")
    if url:
        return url
    return request.getfixturevalue("search_engine").url


@contextmanager
def throwaway_index(url: str) -> Iterator[str]:
    """Search and indexing pointed at ``url``, in an index of their own, deleted afterwards."""
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
                yield index._name
            finally:
                es_client().indices.delete(index=index._name, ignore_unavailable=True)
    finally:
        index._name = original_name


@pytest.fixture
def real_es(es_url: str) -> Iterator[str]:
    """A real engine (osmem, or the one --es-url names), in a throwaway index."""
    with throwaway_index(es_url):
        yield es_url


@pytest.fixture
def es_silent() -> Iterator[str]:
    """Search and indexing pointed at an engine that accepts connections and never answers."""
    silent = SilentEngine()
    try:
        with (
            elasticsearch_settings(silent.url, request_timeout=1),
            override_settings(SEARCH_INDEX_TIMEOUT=1.0),
        ):
            yield silent.url
    finally:
        silent.close()
