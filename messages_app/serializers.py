"""The message representations of the API: the input of a create or an edit, and the output."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from chatapi.serializer_fields import StrictTextField
from messages_app.models import Message


@extend_schema_serializer(component_name="Message")
class MessageOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="From 1 in every chat.")
    body = serializers.CharField(help_text="Exactly as sent, any Unicode.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _timestamp(moment: datetime) -> str:
    # What DRF's DateTimeField answers (ISO 8601 in the current zone, "Z" for UTC), without
    # a field object per value: tests pin the two to the same output.
    text = timezone.localtime(moment).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def messages_render(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """A page of messages as MessageOutputSerializer renders them, at a fraction of the cost.

    DRF builds and runs four field objects per message; a page of 200 cost more than the
    query that read it.
    """
    return [
        {
            "number": message.number,
            "body": message.body,
            "created_at": _timestamp(message.created_at),
            "updated_at": _timestamp(message.updated_at),
        }
        for message in messages
    ]


@extend_schema_serializer(component_name="MessageCreate")
class MessageInputSerializer(serializers.Serializer):
    body = StrictTextField(
        max_length=settings.MESSAGE_BODY_MAX_LENGTH,
        help_text="Any text but blank, stored exactly (emoji included).",
    )


@extend_schema_serializer(component_name="MessagePatch")
class MessagePatchSerializer(serializers.Serializer):
    body = StrictTextField(
        max_length=settings.MESSAGE_BODY_MAX_LENGTH,
        required=False,
        help_text="Left out, the body is unchanged.",
    )
