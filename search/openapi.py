"""What the OpenAPI document says of the search operations: descriptions and examples."""

from drf_spectacular.utils import OpenApiExample

from messages_app.openapi import MESSAGE, PAGE_URL

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
}
SEARCH_EXAMPLES = [
    OpenApiExample("matches", value=PAGE, response_only=True, status_codes=["200"]),
]
SEARCH_POST_EXAMPLES = [
    OpenApiExample("query", value={"query": "ell wor"}, request_only=True),
    *SEARCH_EXAMPLES,
]
