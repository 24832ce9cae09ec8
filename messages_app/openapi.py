"""What the OpenAPI document says of the message operations: descriptions and examples."""

from drf_spectacular.utils import OpenApiExample

MESSAGE = {
    "number": 1,
    "body": "Hello, World! 👋",
    "created_at": "2026-12-01T09:32:05.250000Z",
    "updated_at": "2026-12-01T09:32:05.250000Z",
}
PAGE_URL = (
    "http://localhost:8000/api/v1/apps/3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718/chats/1/messages"
)

CREATE = (
    "Posts a message to a chat and answers its `number`: 1 for the chat's first message, "
    "then 2, 3, ... with no gaps caused by concurrency and never a number twice. The number "
    "is allocated atomically in Redis and the message is written to the database by a "
    "background worker a moment later (within a second at nominal load); `GET` finds it at "
    "once all the same. A chat created a moment ago can be posted to at once.\n\n"
    "Send an `Idempotency-Key` to make retries safe: a retry with the same key and body "
    "answers the first call's message and creates nothing; the same key with another body "
    "is a 422.\n\n"
    "**A 503 means the outcome is unknown**: the message may or may not have been created; "
    "retry with the same `Idempotency-Key` to get exactly one."
)
LIST = (
    "The chat's messages in number order, a page at a time: follow `next` until it is null. "
    "`after=N` lists only the messages after N (how a client catches up), `before=N` those "
    "below N. Lists show persisted messages: one posted a moment ago may appear a second "
    "later."
)
GET = "One message, also one posted a moment ago and not yet persisted."
REPLACE = "Sets the message's body; `body` is required."
UPDATE = "Changes the fields given; `{}` changes nothing and answers the message."

CREATE_EXAMPLES = [
    OpenApiExample("post", value={"body": "Hello, World! 👋"}, request_only=True),
    OpenApiExample("created", value=MESSAGE, response_only=True, status_codes=["201"]),
]
LIST_EXAMPLES = [
    OpenApiExample(
        "a page",
        value={
            "results": [MESSAGE, {**MESSAGE, "number": 2, "body": "How can I help?"}],
            "next": f"{PAGE_URL}?limit=2&after=2",
            "previous": None,
        },
        response_only=True,
        status_codes=["200"],
    )
]
GET_EXAMPLES = [OpenApiExample("message", value=MESSAGE, response_only=True, status_codes=["200"])]
UPDATE_EXAMPLES = [
    OpenApiExample("edit", value={"body": "Hello again, World!"}, request_only=True),
    OpenApiExample(
        "edited",
        value={
            **MESSAGE,
            "body": "Hello again, World!",
            "updated_at": "2026-12-01T09:40:00.000001Z",
        },
        response_only=True,
        status_codes=["200"],
    ),
]
