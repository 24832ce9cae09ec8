"""Search served by Elasticsearch (the production backend), through search.documents.

The request for one page, for terms ``t1 … tn`` (folded with search.terms.text_fold):

- ``bool.filter``: ``term`` on the chat key, and one ``wildcard`` ``*ti*`` per term on the folded
  body: the exact substring test, for every term whatever its length.
- ``bool.must``: one ``match`` of the terms that have n-grams (at least ``NGRAM_MIN`` characters)
  on the n-gram field with ``operator: and``: it narrows the candidates through the inverted
  index and gives the score. ``zero_terms_query: all`` keeps a term whose characters all end
  grams (combining marks, say) from matching nothing. Each term is cut to ``SCORING_TERM_MAX``
  characters there, which bounds the clauses of a long query; the filter still checks it whole.
  With only short terms there is no ``must``: every match scores 0, and number decides.
  search.complexity counts the clauses of this request; the selector refuses a query over the
  limit before any backend runs.
- ``sort``: score, then number, both descending; ``search_after`` carries the previous page's
  last ``[score, number]``, and a page backwards sorts ascending from its first. Scores depend on
  the query and the message only (search.documents), so a cursor stays exact between pages.
- ``routing`` by the chat key: one shard answers.

Any failure to get an answer (connection refused, timeout, a 5xx) is a 503 for the client,
never a 500. A missing index means nothing was ever indexed: an empty page.
"""

import logging
import math
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch.dsl.connections import connections

from core.errors import ServiceUnavailable
from core.pagination import MAX_NUMBER
from messages_app.models import Message
from search.backends.base import SearchHit, SearchHits, SearchScope, SortKey
from search.complexity import SCORING_TERM_MAX, folded_terms
from search.documents import NGRAM_MIN, MessageDocument, chat_key

logger = logging.getLogger(__name__)

RETURNED_FIELDS = ["number", "body", "created_at", "updated_at"]
PING_TIMEOUT_SECONDS = 2.0


def es_client() -> Elasticsearch:
    """The client django_elasticsearch_dsl configured from ELASTICSEARCH_DSL."""
    return connections.get_connection(MessageDocument._get_using())


def index_name() -> str:
    return MessageDocument._index._name


def wildcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def search_body(
    *,
    chat: str,
    terms: list[str],
    size: int,
    after: SortKey | None = None,
    backwards: bool = False,
) -> dict[str, Any]:
    """The body of ``POST /<index>/_search`` for one page (see the module docstring)."""
    folded = folded_terms(terms)
    filters: list[dict[str, Any]] = [{"term": {"chat": chat}}]
    filters += [
        {"wildcard": {"body_folded": {"value": f"*{wildcard_escape(term)}*"}}} for term in folded
    ]
    query: dict[str, Any] = {"filter": filters}
    scoring = [term[:SCORING_TERM_MAX] for term in folded if len(term) >= NGRAM_MIN]
    if scoring:
        query["must"] = [
            {
                "match": {
                    "body": {
                        "query": " ".join(scoring),
                        "operator": "and",
                        "zero_terms_query": "all",
                    }
                }
            }
        ]
    order = "asc" if backwards else "desc"
    body: dict[str, Any] = {
        "query": {"bool": query},
        "sort": [{"_score": order}, {"number": order}],
        "size": size,
        "_source": RETURNED_FIELDS,
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = list(after)
    return body


def _message(source: dict[str, Any]) -> Message:
    return Message(
        number=source["number"],
        body=source["body"],
        created_at=datetime.fromisoformat(source["created_at"]),
        updated_at=datetime.fromisoformat(source["updated_at"]),
    )


class ElasticsearchSearchBackend:
    name = "elasticsearch"

    def ping(self) -> None:
        es_client().options(request_timeout=PING_TIMEOUT_SECONDS).info()

    def search(
        self,
        *,
        scope: SearchScope,
        terms: list[str],
        size: int,
        after: SortKey | None = None,
        backwards: bool = False,
        budget_ms: float | None = None,  # Elasticsearch is bounded by its clause limit instead
    ) -> SearchHits:
        key = chat_key(scope.token, scope.chat_number)
        body = search_body(chat=key, terms=terms, size=size, after=after, backwards=backwards)
        try:
            response = es_client().search(index=index_name(), routing=key, body=body)
        except NotFoundError as exc:
            if exc.error != "index_not_found_exception":
                raise _unavailable(exc) from exc
            logger.warning("search index %s does not exist yet: nothing is indexed", index_name())
            return SearchHits(hits=[])
        except (ApiError, TransportError) as exc:
            raise _unavailable(exc) from exc
        return SearchHits(
            hits=[
                SearchHit(key=(hit["sort"][0], hit["sort"][1]), message=_message(hit["_source"]))
                for hit in response["hits"]["hits"]
            ]
        )

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        if len(values) != 2:
            raise ValueError("not a [score, number] pair")
        score, number = values
        if type(score) not in (int, float) or not math.isfinite(score):
            raise ValueError("not a score")
        if type(number) is not int or not 0 <= number <= MAX_NUMBER:
            raise ValueError("not a message number")
        return (score, number)


def _unavailable(exc: Exception) -> ServiceUnavailable:
    logger.warning("search failed: %r", exc)
    return ServiceUnavailable("Search is unavailable right now; try again shortly.")
