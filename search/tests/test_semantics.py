"""The contract's search semantics (search/tests/cases.py), run on every backend available.

The SQL backend runs here on whichever database DATABASE_URL names (MariaDB and SQLite in CI).
The Elasticsearch backend runs against osmem-server behind its proxy (search/tests/conftest.py),
or the cluster ``--es-url`` / ``ES_URL`` names: a real engine's analyzers decide what matches.
"""

import pytest

from search.selectors import messages_search
from search.tests.cases import CASES, CORPUS

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["sql", "elasticsearch"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "elasticsearch":
        request.getfixturevalue("real_es")
    return request.param


def _index_everything() -> None:
    """Elasticsearch only: index the corpus through the indexing path, then make it visible."""
    from messages_app.models import Message
    from search.backends.elasticsearch import es_client, index_name
    from search.indexing import messages_index

    messages_index(keys=Message.objects.values_list("chat_id", "number"))
    es_client().indices.refresh(index=index_name())


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[query for query, _ in CASES])
def test_query_finds_exactly(backend, chat_factory, query: str, expected: list[str]) -> None:
    chat = chat_factory(CORPUS)
    # The same corpus in another chat of the same application must never leak in.
    chat_factory(CORPUS, application=chat.application)
    if backend == "elasticsearch":
        _index_everything()

    page = messages_search(
        application=chat.application, chat=chat, query=query, limit=200, cursor=None
    )

    assert sorted(m.body for m in page.messages) == sorted(expected)
    assert page.next_cursor is None
    assert page.previous_cursor is None
