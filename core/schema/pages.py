"""The page envelope of every list: ``{"results": [...], "next", "previous"}``."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers


def page_of(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    return inline_serializer(
        name=name,
        fields={
            "results": item(many=True),
            "next": serializers.URLField(
                allow_null=True, help_text="The next page; null on the last one."
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page; null on the first one."
            ),
        },
    )
