"""What the OpenAPI document says of the chat operations: descriptions and examples."""

from drf_spectacular.utils import OpenApiExample

CHAT = {
    "number": 1,
    "messages_count": 0,
    "created_at": "2026-12-01T09:31:12.000042Z",
    "updated_at": "2026-12-01T09:31:12.000042Z",
}
PAGE_URL = "http://localhost:8000/api/v1/apps/3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718/chats"

CREATE = (
    "Opens a chat and answers its `number`: 1 for the application's first chat, then 2, 3, "
    "... with no gaps caused by concurrency and never a number twice. The number is "
    "allocated atomically in Redis and the chat is written to the database by a background "
    "worker a moment later (within a second at nominal load); `GET` finds it at once all "
    "the same. No body is needed (`{}` is accepted too).\n\n"
    "Send an `Idempotency-Key` to make retries safe: a retry with the same key answers the "
    "first call's chat and creates nothing.\n\n"
    "**A 503 means the outcome is unknown**: the chat may or may not have been created; "
    "retry with the same `Idempotency-Key` to get exactly one."
)
LIST = (
    "The application's chats in number order, a page at a time: follow `next` until it is "
    "null. `after` and `before` start from a number. Lists show persisted chats: one created "
    "a moment ago may appear a second later."
)
GET = "One chat. `messages_count` is recomputed in the background and may lag."

CREATE_EXAMPLES = [
    OpenApiExample("created", value=CHAT, response_only=True, status_codes=["201"]),
]
LIST_EXAMPLES = [
    OpenApiExample(
        "a page",
        value={
            "results": [CHAT, {**CHAT, "number": 2, "messages_count": 14}],
            "next": f"{PAGE_URL}?limit=2&after=2",
            "previous": None,
        },
        response_only=True,
        status_codes=["200"],
    )
]
GET_EXAMPLES = [
    OpenApiExample(
        "chat", value={**CHAT, "messages_count": 14}, response_only=True, status_codes=["200"]
    )
]
