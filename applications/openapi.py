"""What the OpenAPI document says of the application operations: descriptions and examples."""

from drf_spectacular.utils import OpenApiExample

EXAMPLE_TOKEN = "3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718"  # noqa: S105 - made up
APPLICATION = {
    "token": EXAMPLE_TOKEN,
    "name": "Support desk",
    "chats_count": 2,
    "created_at": "2026-12-01T09:30:00.123456Z",
    "updated_at": "2026-12-01T09:30:00.123456Z",
}

CREATE = (
    "Registers a client application and returns it with its `token`: 40 lowercase hex "
    "characters from a cryptographic random source. The token is the application's only "
    "credential and appears in every path under it: store it like a password. No other "
    "endpoint shows it again except to an operator."
)
LIST = (
    "Every application, oldest first, a page at a time (follow `next` until it is null). "
    "**Operators only**: this shows every tenant's token, so it needs the credentials of a "
    "Django staff user, by HTTP Basic or a Django admin session. Without credentials the "
    "answer is 401 with `WWW-Authenticate: Basic`; with a user who is not staff, 403."
)
GET = "The application of this token."
REPLACE = "Sets the application's name; `name` is required."
UPDATE = "Changes the fields given; `{}` changes nothing and answers the application."

CREATE_EXAMPLES = [
    OpenApiExample("create", value={"name": "Support desk"}, request_only=True),
    OpenApiExample(
        "created",
        value={**APPLICATION, "chats_count": 0},
        response_only=True,
        status_codes=["201"],
    ),
]
LIST_EXAMPLES = [
    OpenApiExample(
        "a page",
        value={
            "results": [APPLICATION],
            "next": "http://localhost:8000/api/v1/apps?cursor=WyIyMDI2LTEyLTAxVDA5OjMwOjAw",
            "previous": None,
        },
        response_only=True,
        status_codes=["200"],
    )
]
GET_EXAMPLES = [
    OpenApiExample("application", value=APPLICATION, response_only=True, status_codes=["200"])
]
UPDATE_EXAMPLES = [
    OpenApiExample("rename", value={"name": "Help desk"}, request_only=True),
    OpenApiExample(
        "renamed",
        value={**APPLICATION, "name": "Help desk", "updated_at": "2026-12-01T10:02:41.000001Z"},
        response_only=True,
        status_codes=["200"],
    ),
]
