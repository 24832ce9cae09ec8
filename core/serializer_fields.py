"""Serializer fields stricter than DRF's defaults, as the contract needs."""

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def timestamp_render(moment: datetime) -> str:
    """What DRF's DateTimeField answers (ISO 8601 in the current zone, "Z" for UTC), without a
    field object per value: the hot paths render by hand, and tests pin both to one output."""
    text = timezone.localtime(moment).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# What the document says of every such field: not empty and not only white space (``\S``: a
# character other than white space somewhere). Spectacular adds ``maxLength`` from the field.
@extend_schema_field({"type": "string", "minLength": 1, "pattern": r"\S"})
class StrictTextField(serializers.CharField):
    """A string that is really a string, stored exactly as sent.

    DRF's CharField turns numbers into strings and trims white space; the contract wants a
    non-string rejected with a 400 and any text (emoji included) returned exactly. Text that
    is only white space counts as blank. Lone surrogates, which JSON can carry but UTF-8
    cannot store, are rejected here rather than failing in the database.
    """

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "invalid_unicode": "Must be valid Unicode text (no lone surrogates).",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not data.strip():
            self.fail("blank")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("invalid_unicode")
        return super().to_internal_value(data)
