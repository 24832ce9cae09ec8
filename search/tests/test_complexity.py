"""The clause arithmetic of search.complexity, and the 400 it makes on both backends."""

import pytest

from search.backends.elasticsearch import search_body
from search.complexity import (
    MAX_CLAUSES,
    WILDCARD_CLAUSES,
    query_check,
    query_clauses,
    term_clauses,
    term_grams,
)
from search.documents import NGRAM_MAX, NGRAM_MIN
from search.terms import query_terms

LONG_TERMS = [f"{letter * 15}x" for letter in "abcdefghijklmnopqrstuvwxyz"]  # 16 characters


@pytest.mark.parametrize(
    ("length", "grams"),
    [(0, 0), (1, 0), (2, 0), (3, 1), (4, 3), (8, 21), (9, 27), (15, 63), (16, 69), (400, 69)],
)
def test_the_grams_of_a_term(length: int, grams: int) -> None:
    # Lengths 3..8 of the analyzer, each n - g + 1 times, the term cut to 16 characters.
    assert term_grams(length) == grams


def test_the_analyzer_is_the_one_counted() -> None:
    assert (NGRAM_MIN, NGRAM_MAX) == (3, 8)


def test_a_term_costs_its_wildcard_and_its_grams() -> None:
    assert WILDCARD_CLAUSES == 11  # 10 trigram clauses of the approximation + the verification
    assert term_clauses("ab") == 11
    assert term_clauses("abc") == 12
    assert term_clauses("a" * 16) == term_clauses("a" * 500) == 80


def test_a_query_costs_the_chat_filter_and_each_distinct_folded_term() -> None:
    assert query_clauses(["hello"]) == 1 + 11 + 6  # hel ell llo hell ello hello
    assert query_clauses(["Hello", "HELLO", "hello"]) == query_clauses(["hello"])
    assert query_clauses(["ab", "cd"]) == 1 + 2 * 11


def test_the_limit_falls_between_12_and_13_long_terms_and_93_and_94_short_ones() -> None:
    assert MAX_CLAUSES == 1024
    assert query_clauses(LONG_TERMS[:12]) == 961
    assert query_clauses(LONG_TERMS[:13]) == 1041
    short = [f"{a}{b}" for a in "abcdefghij" for b in "abcdefghij"]
    assert query_clauses(short[:93]) == 1024
    assert query_clauses(short[:94]) == 1035
    query_check(LONG_TERMS[:12])
    query_check(short[:93])
    with pytest.raises(Exception) as refused:
        query_check(short[:94])
    assert refused.value.code == "query_too_complex"
    assert refused.value.extra == {"limit": {"max_clauses": 1024, "clauses": 1035}}


def _sent_clauses(body: dict) -> int:
    """The leaf clauses of a search body as Lucene would count them, from the body alone."""
    clauses = 0
    for clause in body["query"]["bool"]["filter"]:
        clauses += WILDCARD_CLAUSES if "wildcard" in clause else 1
    for clause in body["query"]["bool"].get("must", []):
        for word in clause["match"]["body"]["query"].split():
            # The n-gram tokenizer: every substring of NGRAM_MIN..NGRAM_MAX characters.
            clauses += sum(
                len(word) - size + 1 for size in range(NGRAM_MIN, min(NGRAM_MAX, len(word)) + 1)
            )
    return clauses


@pytest.mark.parametrize(
    "query",
    [
        " ".join(LONG_TERMS[:12]),
        " ".join(term * 3 for term in LONG_TERMS[:12]),  # cut to 16 for scoring
        " ".join(f"{a}{b}" for a in "abcdefghij" for b in "abcdefghij")[: 93 * 3],
        "hello wor ld ΟΔΟΣ οδος İstanbul",
    ],
)
def test_what_the_elasticsearch_query_sends_is_what_was_counted(query: str) -> None:
    terms = query_terms(query)
    body = search_body(chat="t-1", terms=terms, size=51)

    assert _sent_clauses(body) == query_clauses(terms) <= MAX_CLAUSES


def _url(chat) -> str:
    return f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search"


TOO_COMPLEX = {
    "error": {
        "code": "query_too_complex",
        "message": (
            "The query is too complex: it needs 1,041 search clauses and the limit is 1,024. "
            "Each term costs 11, plus 69 more for a term of 16 characters or more: use fewer "
            "or shorter terms."
        ),
        "limit": {"max_clauses": 1024, "clauses": 1041},
    }
}


@pytest.mark.django_db
def test_a_query_over_the_limit_is_a_400_on_sql(api_client, chat_factory) -> None:
    chat = chat_factory([" ".join(LONG_TERMS)])

    got = api_client.get(_url(chat), {"q": " ".join(LONG_TERMS[:13])})
    posted = api_client.post(_url(chat), {"query": " ".join(LONG_TERMS[:13])}, format="json")
    within = api_client.get(_url(chat), {"q": " ".join(LONG_TERMS[:12])})

    assert (got.status_code, got.json()) == (400, TOO_COMPLEX)
    assert (posted.status_code, posted.json()) == (400, TOO_COMPLEX)
    assert within.status_code == 200
    assert [item["number"] for item in within.json()["results"]] == [1]


@pytest.mark.django_db
def test_a_query_over_the_limit_never_reaches_elasticsearch(
    fake_es, api_client, chat_factory
) -> None:
    chat = chat_factory(["hello"])

    response = api_client.get(_url(chat), {"q": " ".join(LONG_TERMS[:13])})

    assert (response.status_code, response.json()) == (400, TOO_COMPLEX)
    assert fake_es.sent("POST", f"/{_index()}/_search") == []


@pytest.mark.django_db
def test_a_chat_not_persisted_yet_refuses_the_same_query(api_client) -> None:
    from applications.tests.factories import ApplicationFactory

    application = ApplicationFactory()
    created = api_client.post(f"/api/v1/apps/{application.token}/chats")
    url = f"/api/v1/apps/{application.token}/chats/{created.json()['number']}/messages/search"

    response = api_client.get(url, {"q": " ".join(LONG_TERMS[:13])})

    assert (response.status_code, response.json()) == (400, TOO_COMPLEX)


def _index() -> str:
    from search.backends.elasticsearch import index_name

    return index_name()
