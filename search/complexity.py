"""How many Lucene clauses a query costs, and the limit both backends hold every query to.

Elasticsearch refuses a search whose rewritten query holds more leaf clauses than its limit:
``max(1024, heap in MB * 64 / search threads)`` (``SearchUtils.calculateMaxClauseValue`` in
Elasticsearch 9). 1,024 is the floor it never goes below, and what a 512 MB heap (as
docker-compose.yml runs it) gives on a host of 22 or more processors; fewer processors give
more. Holding every query to 1,024 is therefore safe on any deployment, and a query refused here
is never one Elasticsearch would have run on some clusters and not others.

What the query built by search.backends.elasticsearch costs, as an upper bound:

- the chat filter: one ``term`` clause;
- per distinct folded term, the ``wildcard`` filter on ``body_folded``: Elasticsearch's wildcard
  field rewrites ``*term*`` to at most 10 trigram clauses (its
  ``MAX_CLAUSES_IN_APPROXIMATION_QUERY``) plus the clause that verifies the candidate;
- per distinct folded term of at least ``NGRAM_MIN`` characters, its n-grams on ``body``, one
  clause each: the term is cut to ``SCORING_TERM_MAX`` characters, so a term of ``n``
  characters has ``n - g + 1`` grams of each length ``g`` from ``NGRAM_MIN`` to ``NGRAM_MAX``
  (69 for a term of 16 characters or more). Characters that end grams (white space never occurs
  in a term; combining marks and controls may) only lower that count.

The SQL backend has no clause limit of its own, but the contract says a query is refused the
same way whichever backend answers, so the selector (search.selectors) applies this one limit
before either backend runs.
"""

from core.errors import ApiError
from search.documents import NGRAM_MAX, NGRAM_MIN
from search.terms import text_fold

MAX_CLAUSES = 1024
# A longer term is cut to this many characters for scoring; its whole length is still checked by
# the wildcard filter, so matching stays exact.
SCORING_TERM_MAX = 16
CHAT_FILTER_CLAUSES = 1
# Elasticsearch's wildcard field: at most 10 trigram clauses, plus the verifying query.
WILDCARD_CLAUSES = 10 + 1


def term_grams(length: int) -> int:
    """The n-gram clauses of a term of ``length`` characters on the ``body`` field."""
    scored = min(length, SCORING_TERM_MAX)
    return sum(scored - size + 1 for size in range(NGRAM_MIN, min(NGRAM_MAX, scored) + 1))


def term_clauses(term: str) -> int:
    """Every clause one (folded) term adds: its wildcard filter and its n-grams."""
    return WILDCARD_CLAUSES + term_grams(len(term))


def folded_terms(terms: list[str]) -> list[str]:
    """The distinct folded terms the query is built from (two terms may fold to one)."""
    return list(dict.fromkeys(text_fold(term) for term in terms))


def query_clauses(terms: list[str]) -> int:
    return CHAT_FILTER_CLAUSES + sum(term_clauses(term) for term in folded_terms(terms))


class QueryTooComplex(ApiError):
    """400 ``query_too_complex``: the message for people, ``limit`` for programs."""

    code = "query_too_complex"

    def __init__(self, clauses: int) -> None:
        super().__init__(
            f"The query is too complex: it needs {clauses:,} search clauses and the limit is "
            f"{MAX_CLAUSES:,}. Each term costs {WILDCARD_CLAUSES}, plus "
            f"{term_grams(SCORING_TERM_MAX)} more for a term of {SCORING_TERM_MAX} characters "
            "or more: use fewer or shorter terms.",
            extra={"limit": {"max_clauses": MAX_CLAUSES, "clauses": clauses}},
        )
        self.clauses = clauses


def query_check(terms: list[str]) -> None:
    """Raise QueryTooComplex when the query would cost more than ``MAX_CLAUSES``."""
    clauses = query_clauses(terms)
    if clauses > MAX_CLAUSES:
        raise QueryTooComplex(clauses)
