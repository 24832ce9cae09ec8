"""Search served by Elasticsearch (the production backend), through search.documents.

The request for one page, for terms ``t1 … tn`` (folded with search.terms.text_fold):

- ``bool.filter``: ``term`` on the chat key, and one ``wildcard`` ``*ti*`` per term on the folded
  body: the exact substring test, for every term whatever its length.
- ``bool.must``: one ``match`` of the terms that have n-grams (at least ``NGRAM_MIN`` characters)
  on the n-gram field with ``operator: and``: it narrows the candidates through the inverted
  index and gives the score. ``zero_terms_query: all`` keeps a term whose characters all end
  grams (combining marks, say) from matching nothing. Each term is cut to ``SCORING_TERM_MAX``
  characters there, which bounds the clauses of a long query; the filter still checks it whole.
  search.complexity counts the clauses of this request; the selector refuses a query over the
  limit before any backend runs.
  With only short terms there is no ``must``: every match scores 0, and number decides.
- ``sort``: score, then number, both descending; ``search_after`` carries the previous page's
  last ``[score, number]``, and a page backwards sorts ascending from its first. Scores depend on
  the query and the message only (search.documents), so a cursor stays exact between pages.
- ``routing`` by the chat key: one shard answers.
- ``_source``: the number only. The page is rendered from the database, in one query for all
  the hits of a request: the index may hold an older copy of a message (an edit not indexed
  yet). A hit whose current body no longer has every term is dropped, and the page is filled
  from the hits after it (more requests, rarely), so a page never shows text a message no
  longer has, nor a message that no longer matches. After ``REFILL_ROUNDS`` requests the
  page ends where it stopped (``SearchHits.stopped_at``) and ``next`` goes on from there.

Any failure to get an answer (connection refused, timeout, a 5xx) is a 503 for the client,
never a 500. A missing index means nothing was ever indexed: an empty page.
"""

import logging
import math
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch.dsl.connections import connections

from core.errors import ServiceUnavailable
from core.pagination import MAX_NUMBER
from messages_app.models import Message
from search.backends.base import SearchHit, SearchHits, SearchScope, SortKey
from search.complexity import SCORING_TERM_MAX, QueryTooComplex, folded_terms, query_clauses
from search.documents import NGRAM_MIN, MessageDocument, chat_key
from search.terms import text_fold

logger = logging.getLogger(__name__)

RETURNED_FIELDS = ["number"]
# Engine requests per backend call while hits are dropped as stale (see the module docstring).
REFILL_ROUNDS = 5
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


def body_matches(body: str, folded_terms: list[str]) -> bool:
    """The contract's test, on the current body: every term occurs in it, ignoring case."""
    folded = text_fold(body)
    return all(term in folded for term in folded_terms)


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
        folded = [text_fold(term) for term in terms]
        hits: list[SearchHit] = []
        position = after
        for _ in range(REFILL_ROUNDS):
            wanted = size - len(hits)
            body = search_body(
                chat=key, terms=terms, size=wanted, after=position, backwards=backwards
            )
            found = self._request(key, body)
            if not found:
                return SearchHits(hits=hits)
            position = (found[-1]["sort"][0], found[-1]["sort"][1])
            hits += _current_hits(scope, found, folded)
            if len(found) < wanted:  # the engine has no more
                return SearchHits(hits=hits)
            if len(hits) >= size:
                return SearchHits(hits=hits[:size])
        return SearchHits(hits=hits, stopped_at=position)

    def _request(self, key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = es_client().search(index=index_name(), routing=key, body=body)
        except NotFoundError as exc:
            if exc.error != "index_not_found_exception":
                raise _unavailable(exc) from exc
            logger.warning("search index %s does not exist yet: nothing is indexed", index_name())
            return []
        except ApiError as exc:
            if _too_many_clauses(exc):
                # Our count (search.complexity) keeps queries under the floor of the limit; a
                # cluster configured below it refuses more: still the client's 400, not a 503.
                raise QueryTooComplex(_clauses_of(body)) from exc
            raise _unavailable(exc) from exc
        except TransportError as exc:
            raise _unavailable(exc) from exc
        return list(response["hits"]["hits"])

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        if len(values) != 2:
            raise ValueError("not a [score, number] pair")
        score, number = values
        if type(score) not in (int, float) or not math.isfinite(score):
            raise ValueError("not a score")
        if type(number) is not int or not 0 <= number <= MAX_NUMBER:
            raise ValueError("not a message number")
        return (score, number)


def _current_hits(
    scope: SearchScope, found: list[dict[str, Any]], folded_terms: list[str]
) -> list[SearchHit]:
    """The engine's hits as the database has them now, in the engine's order; one query.

    A hit whose row is gone (its application being deleted) or whose current body lacks a
    term (edited since it was indexed) is left out.
    """
    numbers = [hit["_source"]["number"] for hit in found]
    rows = {
        message.number: message
        for message in Message.objects.filter(chat_id=scope.chat_id, number__in=numbers)
    }
    current = []
    for hit in found:
        message = rows.get(hit["_source"]["number"])
        if message is not None and body_matches(message.body, folded_terms):
            current.append(SearchHit(key=(hit["sort"][0], hit["sort"][1]), message=message))
    return current


def _too_many_clauses(exc: ApiError) -> bool:
    """Elasticsearch's refusal of a query over ``indices.query.bool.max_clause_count``
    (``too_many_nested_clauses``, or Lucene's ``too_many_clauses`` in older clusters)."""
    return exc.meta.status == 400 and "too_many" in str(exc.body) and "clauses" in str(exc.body)


def _clauses_of(body: dict[str, Any]) -> int:
    """The clauses of a request, as search.complexity counts its terms."""
    filters = body["query"]["bool"].get("filter", [])
    terms = [
        clause["wildcard"]["body_folded"]["value"].strip("*").replace("\\", "")
        for clause in filters
        if "wildcard" in clause
    ]
    return query_clauses(terms)


def _unavailable(exc: Exception) -> ServiceUnavailable:
    logger.warning("search failed: %r", exc)
    return ServiceUnavailable("Search is unavailable right now; try again shortly.")
