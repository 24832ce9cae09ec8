"""Every error response of the document: the one envelope, and the codes each status carries.

``ERRORS`` is the catalogue a client developer reads: for each status, the ``code`` values it
can carry and a real example of each (the messages are the ones the API writes). The views
list which statuses they answer; ``error_responses`` turns those into documented responses
whose schema is ``Error`` and whose examples are these.
"""

from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers


@dataclass(frozen=True)
class ErrorCase:
    code: str
    message: str
    fields: dict[str, list[str]] | None = None

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        return {"error": error}


@dataclass(frozen=True)
class ErrorStatus:
    description: str
    cases: tuple[ErrorCase, ...]


ERRORS: dict[int, ErrorStatus] = {
    400: ErrorStatus(
        "The request is malformed: a field or a query parameter is invalid, or the body is "
        "not JSON.",
        (
            ErrorCase(
                "validation_error",
                "Invalid input: body.",
                {"body": ["This field may not be blank."]},
            ),
            ErrorCase("malformed_json", "The request body is not valid JSON."),
            ErrorCase("bad_request", "Invalid Content-Length."),
        ),
    ),
    401: ErrorStatus(
        "No credentials, or wrong ones. The response carries `WWW-Authenticate: Basic`.",
        (
            ErrorCase("not_authenticated", "Authentication credentials were not provided."),
            ErrorCase("authentication_failed", "Invalid username/password."),
        ),
    ),
    403: ErrorStatus(
        "The credentials are valid but are not those of a staff user.",
        (ErrorCase("permission_denied", "You do not have permission to perform this action."),),
    ),
    404: ErrorStatus(
        "No such application, chat or message (a malformed token or number is a 404 too).",
        (
            ErrorCase("not_found", "No application with this token."),
            ErrorCase("not_found", "No chat 7 in this application."),
            ErrorCase("not_found", "No message 3 in chat 1."),
        ),
    ),
    406: ErrorStatus(
        "The `Accept` header excludes JSON, the only format served (`*/*`, as browsers "
        "send, is fine).",
        (ErrorCase("not_acceptable", "Could not satisfy the request Accept header."),),
    ),
    413: ErrorStatus(
        "The request body is larger than 1 MiB.",
        (ErrorCase("payload_too_large", "The request body is larger than 1 MiB."),),
    ),
    415: ErrorStatus(
        "The body is not `application/json`.",
        (
            ErrorCase(
                "unsupported_media_type",
                'Unsupported media type "text/plain" in request.',
            ),
        ),
    ),
    422: ErrorStatus(
        "The `Idempotency-Key` was already used, on this resource, for a different body.",
        (
            ErrorCase(
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different body.",
            ),
        ),
    ),
    429: ErrorStatus(
        "Too many creates for this application; retry after `Retry-After` seconds.",
        (ErrorCase("rate_limited", "Request was throttled. Expected available in 12 seconds."),),
    ),
    503: ErrorStatus(
        "A dependency (database, Redis or the search backend) is down; retry after "
        "`Retry-After` seconds.",
        (ErrorCase("service_unavailable", "Redis is unavailable; retry."),),
    ),
}

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(
                    help_text="A stable snake_case word for programs, e.g. `not_found`."
                ),
                "message": serializers.CharField(help_text="For people; may change."),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="Validation errors only: each bad field and its messages.",
                ),
                "limit": inline_serializer(
                    name="ErrorLimit",
                    fields={
                        "max_clauses": serializers.IntegerField(
                            help_text="The most search clauses a query may need."
                        ),
                        "clauses": serializers.IntegerField(
                            help_text="The search clauses this query needs."
                        ),
                    },
                    required=False,
                    help_text="`query_too_complex` only: the limit the query went over.",
                ),
            },
        )
    },
)


def _description(status: ErrorStatus, extra: str) -> str:
    codes = ", ".join(f"`{code}`" for code in dict.fromkeys(c.code for c in status.cases))
    text = f"{status.description} Error code: {codes}."
    return f"{text} {extra}" if extra else text


def error_responses(*statuses: int, **notes: str) -> dict[int, OpenApiResponse]:
    """Documented error responses; ``notes`` (``e503="..."``) add a sentence to one status."""
    responses = {}
    for status in statuses:
        entry = ERRORS[status]
        examples = [
            OpenApiExample(
                # Spectacular keys examples by name: one per case, even of the same code.
                case.message,
                summary=case.code,
                value=case.body(),
                status_codes=[str(status)],
                response_only=True,
            )
            for case in entry.cases
        ]
        responses[status] = OpenApiResponse(
            ErrorSerializer,
            description=_description(entry, notes.get(f"e{status}", "")),
            examples=examples,
        )
    return responses
