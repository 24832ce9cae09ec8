"""Would Elasticsearch 9 accept our index and our queries? Two limits osmem does not enforce.

- ``index.max_ngram_diff`` (default 1): an n-gram tokenizer whose max_gram - min_gram exceeds
  it is refused when the index is created.
- The clause limit (``indices.query.bool.max_clause_count``): Elasticsearch 9 derives it from the
  heap and the search threads, and keeps Lucene's 1,024 under a 1 GB heap (docker-compose runs
  it with 512 MB). Lucene counts every leaf clause of the rewritten query, nested ones included.
  A query over it is refused (a 503 for the client, retried forever).

Counted here from the index definition and the query JSON, no engine needed. The clause counts
are upper bounds of what Lucene builds (see ``_clauses``): safe for a check that must fail when
a query could be refused.
"""

import pytest
from django.conf import settings

from search.backends.elasticsearch import SCORING_TERM_MAX, search_body
from search.complexity import query_clauses
from search.documents import MessageDocument
from search.terms import query_terms, text_fold

CLAUSE_LIMIT = 1024
# What Elasticsearch takes when the index does not set it.
DEFAULT_MAX_NGRAM_DIFF = 1
# The wildcard field's own n-grams (Elasticsearch's WildcardFieldMapper.NGRAM_SIZE).
WILDCARD_NGRAM = 3
# Elasticsearch's WildcardFieldMapper.MAX_CLAUSES_IN_APPROXIMATION_QUERY.
WILDCARD_APPROXIMATION_MAX = 10


def _ngram_tokenizers(definition: dict) -> list[dict]:
    tokenizers = definition["settings"].get("analysis", {}).get("tokenizer", {})
    return [spec for spec in tokenizers.values() if spec.get("type") in ("ngram", "edge_ngram")]


def test_every_ngram_tokenizer_fits_max_ngram_diff() -> None:
    definition = MessageDocument._index.to_dict()
    allowed = int(definition["settings"].get("max_ngram_diff", DEFAULT_MAX_NGRAM_DIFF))
    tokenizers = _ngram_tokenizers(definition)

    assert tokenizers, "the body's analyzer lost its n-gram tokenizer"
    for spec in tokenizers:
        assert spec["max_gram"] - spec["min_gram"] <= allowed, spec


def _grams(term: str, low: int, high: int) -> int:
    return sum(max(0, len(term) - size + 1) for size in range(low, high + 1))


def _clauses(body: dict) -> int:
    """An upper bound of the leaf clauses Lucene builds for one search request.

    - ``term``: one.
    - ``wildcard`` on the wildcard field: its approximation is a conjunction of the pattern's
      3-grams (one per position of its literal text, at most
      ``MAX_CLAUSES_IN_APPROXIMATION_QUERY``, 10, in Elasticsearch's WildcardFieldMapper), and
      one more clause verifies each candidate.
    - ``match`` with the n-gram analyzer: one term query per gram of the text (every size from
      min_gram to max_gram at every position), all of them required.
    """
    (tokenizer,) = _ngram_tokenizers(MessageDocument._index.to_dict())
    low, high = tokenizer["min_gram"], tokenizer["max_gram"]
    count = 0
    query = body["query"]["bool"]
    for clause in query.get("filter", []) + query.get("must", []):
        if "term" in clause:
            count += 1
        elif "wildcard" in clause:
            pattern = clause["wildcard"]["body_folded"]["value"].strip("*").replace("\\", "")
            count += min(WILDCARD_APPROXIMATION_MAX, max(1, len(pattern) - WILDCARD_NGRAM + 1)) + 1
        elif "match" in clause:
            text = clause["match"]["body"]["query"]
            count += sum(_grams(term, low, high) for term in text.split())
        else:
            raise AssertionError(f"a clause this count does not know: {clause}")
    return count


def _distinct_terms(length: int, count: int) -> list[str]:
    """``count`` different terms of ``length`` letters (a-z, as digits of a number)."""
    terms = []
    for index in range(count):
        letters, value = [], index
        for _ in range(length):
            value, digit = divmod(value, 26)
            letters.append(chr(ord("a") + digit))
        terms.append("".join(letters))
    return terms


def _worst_queries() -> list[str]:
    """The longest queries the length limit lets through, for each term length that matters."""
    longest = settings.SEARCH_QUERY_MAX_LENGTH
    queries = []
    for length in (1, 2, 3, 8, SCORING_TERM_MAX, SCORING_TERM_MAX + 1, 100):
        count = (longest + 1) // (length + 1)
        if count:
            queries.append(" ".join(_distinct_terms(length, count)))
    return queries


@pytest.mark.django_db
@pytest.mark.parametrize("query", _worst_queries(), ids=lambda q: f"{len(q.split()[0])}-char")
def test_every_query_the_api_accepts_fits_the_clause_limit(api_client, chat_factory, query) -> None:
    """A query the API lets through must stay under the limit; a larger one must be a 400."""
    chat = chat_factory(["x"])
    url = f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search"

    response = api_client.post(url, {"query": query}, format="json")

    if response.status_code == 400:
        assert response.json()["error"]["code"] == "query_too_complex", response.json()
        return
    assert response.status_code == 200, response.content
    body = search_body(chat="key", terms=query_terms(query), size=51)
    clauses = _clauses(body)
    assert clauses <= CLAUSE_LIMIT, f"{len(query_terms(query))} terms make {clauses} clauses"


def test_the_clause_count_of_one_long_term() -> None:
    """The count itself, on the issue's example: a 16-character term is 69 n-gram clauses."""
    term = text_fold("Internationalize")
    body = search_body(chat="key", terms=[term], size=1)

    assert _grams(term, 3, 8) == 69
    # The chat's term, the wildcard's 10 trigrams and its check, the 69 n-grams: as
    # search.complexity counts it.
    assert _clauses(body) == 1 + (10 + 1) + 69 == query_clauses([term])
