"""What the OpenAPI document says of the search operations: descriptions and examples."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample

from messages_app.openapi import MESSAGE, PAGE_URL
from search.complexity import MAX_CLAUSES, SCORING_TERM_MAX, WILDCARD_CLAUSES, term_grams

QUERY = (
    "Terms separated by white space; each must occur in the body, in any case. At most "
    f"{settings.SEARCH_QUERY_MAX_LENGTH} characters, not only white space, and at most "
    f"{MAX_CLAUSES:,} search clauses: each distinct term costs {WILDCARD_CLAUSES}, plus "
    f"{term_grams(SCORING_TERM_MAX)} for a term of {SCORING_TERM_MAX} characters or more "
    "(fewer for shorter terms); more is a 400 `query_too_complex`."
)
# The limits the serializer enforces, stated in the document (``\S``: not only white space).
QUERY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": settings.SEARCH_QUERY_MAX_LENGTH,
    "pattern": r"\S",
}
COMPLETE = (
    "False when the server's time budget ran out before the page was full (SQL backend): the "
    "page may hold fewer matches than asked for, or none, and `next` goes on from where the "
    "search stopped. True otherwise: an empty complete page means no match remains."
)
TOO_COMPLEX = (
    "A query over the clause limit is a 400 `query_too_complex`; `error.limit` holds the "
    "limit (`max_clauses`) and what the query needed (`clauses`)."
)

SEARCH = (
    "The chat's messages whose body holds every white-space-separated term of the query as "
    "a case-insensitive substring: `ell wor` finds `Hello, World!`. Best match first, a page "
    "at a time: follow `next` (always a `GET` link carrying the query) until it is null. "
    "Edits are searchable once persisted. A blank or missing query is a 400."
)
SEARCH_POST = (
    'The same search with the query in a JSON body, `{"query": "..."}`, for queries too '
    "long or too private for a URL. The answer is the same page as `GET`'s; its links are "
    "`GET` links."
)

PAGE = {
    "results": [MESSAGE],
    "next": f"{PAGE_URL}/search?q=ell+wor&cursor=eyJvZmZzZXQiOjUwfQ",
    "previous": None,
    "complete": True,
}
SEARCH_EXAMPLES = [
    OpenApiExample("matches", value=PAGE, response_only=True, status_codes=["200"]),
]
SEARCH_POST_EXAMPLES = [
    OpenApiExample("query", value={"query": "ell wor"}, request_only=True),
    *SEARCH_EXAMPLES,
]
