"""Parameters shared by several operations: the path's identifiers, paging, idempotency."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter

# Positive 64-bit integers (core.converters); anything else in the path is a 404.
_NUMBER = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}

TOKEN = OpenApiParameter(
    "token",
    str,
    location=OpenApiParameter.PATH,
    pattern="^[0-9a-f]{40}$",
    description=(
        "The application's token, as `POST /api/v1/apps` returned it: 40 lowercase hex "
        "characters. It is the application's only credential: keep it secret."
    ),
    examples=[OpenApiExample("token", value="3f2b8c1d9e0a4b5c6d7e8f90a1b2c3d4e5f60718")],
)
CHAT_NUMBER = OpenApiParameter(
    "chat_number",
    _NUMBER,
    location=OpenApiParameter.PATH,
    description="The chat's number in its application, from 1 (as `POST .../chats` returned).",
    examples=[OpenApiExample("chat 1", value=1)],
)
MESSAGE_NUMBER = OpenApiParameter(
    "number",
    _NUMBER,
    location=OpenApiParameter.PATH,
    description="The message's number in its chat, from 1 (as `POST .../messages` returned).",
    examples=[OpenApiExample("message 1", value=1)],
)
# Query parameters are read as decimal digits, at most 19 (core.pagination).
_COUNT = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}
LIMIT = OpenApiParameter(
    "limit",
    {**_COUNT, "minimum": 1},
    description="Page size, 1 to 200 (default 50); above 200 counts as 200.",
)
AFTER = OpenApiParameter(
    "after",
    _COUNT,
    description="Only items numbered above this (how a client catches up: its last number).",
)
BEFORE = OpenApiParameter("before", _COUNT, description="Only items numbered below this.")
CURSOR = OpenApiParameter(
    "cursor", str, description="Opaque position, copied from a `next` or `previous` link."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # Printable ASCII (core.idempotency); the ends are not spaces, which HTTP would strip.
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 255 printable ASCII characters, e.g. a UUID. A retry with the same key on the "
        "same resource within 24 hours answers the first call's status and body and creates "
        "nothing new; the same key with a different body is a 422."
    ),
    examples=[OpenApiExample("a UUID", value="6f1c1a52-3c1e-4d0e-9d76-2b1c0f5d8a11")],
)
