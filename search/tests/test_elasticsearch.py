"""What the Elasticsearch backend sends and how it reads the answers.

The index definition and the query JSON are pinned as data. Paging, rendering and readiness run
against a real engine (``real_es``: osmem behind its proxy, search/tests/conftest.py). The
error answers a real engine will not give on demand (a 500, a 503) come from a local server
that answers from a script (search/tests/fake_elasticsearch.py); test_semantics.py checks what
matches.
"""

import pytest

from core.errors import ServiceUnavailable
from search.backends import search_backend
from search.backends.base import SearchScope
from search.backends.elasticsearch import ElasticsearchSearchBackend, search_body
from search.documents import MessageDocument, chat_key, message_version
from search.selectors import messages_search
from search.tests.fake_elasticsearch import error_reply

pytestmark = pytest.mark.django_db

INDEX = "chatapi-messages"
SEARCH_PATH = f"/{INDEX}/_search"


def test_the_index_settings_and_mapping() -> None:
    """Not an integration test: the index definition as sent on creation."""
    definition = MessageDocument._index.to_dict()

    assert definition["settings"] == {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "max_ngram_diff": 5,
        "similarity": {
            "message_substring": {
                "type": "scripted",
                "script": {
                    "source": "double tf = doc.freq; "
                    "double norm = 0.25 + 0.75 * doc.length / 256.0; "
                    "return query.boost * tf / (tf + 1.2 * norm);"
                },
            }
        },
        "analysis": {
            "analyzer": {
                "message_ngram": {
                    "type": "custom",
                    "char_filter": ["message_final_sigma"],
                    "tokenizer": "message_ngram",
                    "filter": ["lowercase"],
                }
            },
            "tokenizer": {
                "message_ngram": {
                    "type": "ngram",
                    "min_gram": 3,
                    "max_gram": 8,
                    "token_chars": ["letter", "digit", "punctuation", "symbol"],
                }
            },
            "char_filter": {"message_final_sigma": {"type": "mapping", "mappings": ["ς => σ"]}},
        },
    }
    assert definition["mappings"] == {
        "dynamic": "strict",
        "_routing": {"required": True},
        "properties": {
            "chat": {"type": "keyword"},
            "number": {"type": "long"},
            # The same analyzer at index and at search time (no search_analyzer overrides it).
            "body": {
                "type": "text",
                "analyzer": "message_ngram",
                "similarity": "message_substring",
            },
            "body_folded": {"type": "wildcard"},
            "created_at": {"type": "date", "index": False},
            "updated_at": {"type": "date", "index": False},
        },
    }


def test_the_document_built_from_a_message(chat_factory) -> None:
    """Not an integration test: the source, id, routing and version of one message."""
    chat = chat_factory(["Hello, WORLD! ΟΔΟΣ 😀"])
    message = chat.messages.select_related("chat__application").get()
    token = chat.application.token

    document = MessageDocument()
    action = document._prepare_action(message, "index")

    assert action == {
        "_op_type": "index",
        "_index": INDEX,
        "_id": f"{token}-{chat.number}-1",
        "_routing": f"{token}-{chat.number}",
        "version": message_version(message),
        "version_type": "external_gte",
        "_source": {
            "chat": f"{token}-{chat.number}",
            "number": 1,
            "body": "Hello, WORLD! ΟΔΟΣ 😀",
            "body_folded": "hello, world! οδοσ 😀",
            "created_at": message.created_at,
            "updated_at": message.updated_at,
        },
    }
    assert message_version(message) == int(message.updated_at.timestamp() * 1_000_000)


def _filters(*terms: str) -> list[dict]:
    return [{"term": {"chat": "key"}}] + [
        {"wildcard": {"body_folded": {"value": f"*{term}*"}}} for term in terms
    ]


def test_query_json_for_one_term() -> None:
    """Not an integration test: the request body for ``hel``."""
    assert search_body(chat="key", terms=["Hel"], size=51) == {
        "query": {
            "bool": {
                "filter": _filters("hel"),
                "must": [
                    {
                        "match": {
                            "body": {"query": "hel", "operator": "and", "zero_terms_query": "all"}
                        }
                    }
                ],
            }
        },
        "sort": [{"_score": "desc"}, {"number": "desc"}],
        "size": 51,
        "_source": ["number"],
        "track_total_hits": False,
    }


def test_query_json_for_several_terms() -> None:
    """Not an integration test: every term filtered, all scored in one ``operator: and`` match."""
    body = search_body(chat="key", terms=["ell", "WOR", "wor", "ΟΔΟΣ"], size=3)

    assert body["query"]["bool"] == {
        "filter": _filters("ell", "wor", "οδοσ"),
        "must": [
            {
                "match": {
                    "body": {"query": "ell wor οδοσ", "operator": "and", "zero_terms_query": "all"}
                }
            }
        ],
    }


def test_query_json_for_terms_shorter_than_the_ngrams() -> None:
    """Not an integration test: one- and two-character terms only use the wildcard subfield."""
    only_short = search_body(chat="key", terms=["o", "Zz"], size=3)
    mixed = search_body(chat="key", terms=["o", "world"], size=3)

    assert only_short["query"]["bool"] == {"filter": _filters("o", "zz")}
    assert mixed["query"]["bool"]["filter"] == _filters("o", "world")
    assert mixed["query"]["bool"]["must"][0]["match"]["body"]["query"] == "world"


def test_query_json_escapes_wildcards_and_bounds_long_terms() -> None:
    """Not an integration test: ``* ? \\`` are literal; the score uses 16 characters of a term."""
    long_term = "Internationalization"
    body = search_body(chat="key", terms=["a*b?c\\", long_term], size=3)

    assert body["query"]["bool"]["filter"][1:] == [
        {"wildcard": {"body_folded": {"value": "*a\\*b\\?c\\\\*"}}},
        {"wildcard": {"body_folded": {"value": "*internationalization*"}}},
    ]
    assert body["query"]["bool"]["must"][0]["match"]["body"]["query"] == "a*b?c\\ internationaliza"


def test_query_json_for_the_pages_after_and_before() -> None:
    """Not an integration test: search_after, and a reversed sort to page backwards."""
    forward = search_body(chat="key", terms=["hel"], size=3, after=(1.5, 7))
    backward = search_body(chat="key", terms=["hel"], size=3, after=(1.5, 7), backwards=True)

    assert forward["search_after"] == [1.5, 7]
    assert forward["sort"] == [{"_score": "desc"}, {"number": "desc"}]
    assert backward["search_after"] == [1.5, 7]
    assert backward["sort"] == [{"_score": "asc"}, {"number": "asc"}]


def _indexed(chat_factory, bodies: list[str]):
    from search.backends.elasticsearch import es_client, index_name
    from search.indexing import messages_index

    chat = chat_factory(bodies)
    messages_index(keys=[(chat.pk, n) for n in range(1, len(bodies) + 1)])
    es_client().indices.refresh(index=index_name())
    return chat


def test_pages_follow_the_engine_order_and_read_the_rows(real_es, chat_factory) -> None:
    """osmem scores without our similarity script: the order within a score is the number's."""
    chat = _indexed(chat_factory, ["hello", "Hello", "x", "HELLO!"])

    first = messages_search(application=chat.application, chat=chat, query="HEL", limit=2)
    second = messages_search(
        application=chat.application, chat=chat, query="HEL", limit=2, cursor=first.next_cursor
    )

    numbers = [m.number for m in first.messages] + [m.number for m in second.messages]
    assert sorted(numbers) == [1, 2, 4]
    assert first.previous_cursor is None and second.next_cursor is None
    assert second.previous_cursor is not None
    assert all(m.pk is not None for m in first.messages + second.messages)  # rows, not copies


def test_the_api_never_returns_the_chat_key(real_es, api_client, chat_factory) -> None:
    chat = _indexed(chat_factory, ["hello"])
    message = chat.messages.get()

    response = api_client.get(
        f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search", {"q": "hel"}
    )

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "number": 1,
            "body": "hello",
            "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": message.updated_at.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_a_missing_index_means_nothing_indexed_yet(real_es, chat_factory) -> None:
    """404 index_not_found is an empty page, not an error."""
    from search.backends.elasticsearch import es_client, index_name

    chat = chat_factory(["hello"])
    es_client().indices.delete(index=index_name())

    page = messages_search(application=chat.application, chat=chat, query="hello", limit=5)

    assert page.messages == [] and page.next_cursor is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "internal_server_error"), (503, "no_shard_available_action_exception"), (400, "x")],
)
def test_an_error_answer_is_a_503(fake_es, chat_factory, status: int, kind: str) -> None:
    """Not an integration test: whatever went wrong in the cluster, the client gets a 503."""
    chat = chat_factory(["hello"])
    fake_es.replies[("POST", SEARCH_PATH)] = error_reply(status, kind)

    with pytest.raises(ServiceUnavailable):
        messages_search(application=chat.application, chat=chat, query="hello", limit=5)


def test_a_cluster_refusing_too_many_clauses_is_the_clients_400(
    fake_es, api_client, chat_factory
) -> None:
    """Not an integration test: a cluster whose clause limit is set below the floor our count
    assumes refuses the query; the client gets query_too_complex, not a 503."""
    chat = chat_factory(["hello"])
    fake_es.replies[("POST", SEARCH_PATH)] = error_reply(400, "too_many_nested_clauses")
    url = f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search"

    response = api_client.get(url, {"q": "hello"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "query_too_complex"
    assert error["limit"] == {"max_clauses": 1024, "clauses": 1 + 11 + 6}


def test_elasticsearch_down_is_a_503_with_the_error_envelope(
    es_down, api_client, chat_factory
) -> None:
    """Not an integration test: the client raises a connection error (nothing listens)."""
    chat = chat_factory(["hello"])

    response = api_client.get(
        f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search", {"q": "hello"}
    )

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "Search is unavailable right now; try again shortly.",
        }
    }


def test_readiness_names_search_when_elasticsearch_is_down(es_down, client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["search"] is False
    assert response.json()["checks"]["database"] is True


def test_readiness_pings_elasticsearch(real_es, client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["search"] is True


def test_settings_choose_the_backend(settings) -> None:
    settings.ELASTICSEARCH_URL = ""
    assert search_backend().name == "sql"
    settings.ELASTICSEARCH_URL = "http://elasticsearch:9200"
    assert isinstance(search_backend(), ElasticsearchSearchBackend)


@pytest.mark.parametrize("values", [[1.0], [1.0, -1], ["1", 2], [float("inf"), 2], [1.0, 2.5]])
def test_a_cursor_key_must_be_a_score_and_a_number(values) -> None:
    with pytest.raises(ValueError):
        ElasticsearchSearchBackend().key_from_cursor(values)


def test_a_scope_names_the_chat_by_token_and_number() -> None:
    scope = SearchScope(chat_id=5, token="ab" * 20, chat_number=3)
    assert chat_key(scope.token, scope.chat_number) == f"{'ab' * 20}-3"
