"""OpenAPI pieces shared by the views: the error envelope and the page envelope."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
        )
    },
)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {status: OpenApiResponse(ErrorSerializer) for status in statuses}


def page_of(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "results": item(many=True),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )


LIMIT = OpenApiParameter("limit", int, description="Page size, 1 to 200 (default 50).")
AFTER = OpenApiParameter("after", int, description="Only items numbered above this.")
BEFORE = OpenApiParameter("before", int, description="Only items numbered below this.")
CURSOR = OpenApiParameter("cursor", str, description="Opaque position from a `next` link.")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 255 printable ASCII characters; a retry with the same key replays the answer."
    ),
)
