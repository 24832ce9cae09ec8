"""The ``Idempotency-Key`` request header of the create endpoints.

The key itself is recorded by the allocator's Lua script (pipeline.numbering), atomically with
the number it answers, so concurrent retries with one key all get the first call's answer.
"""

import re

from rest_framework.request import Request

from core.errors import ApiError

HEADER = "Idempotency-Key"
META_KEY = "HTTP_IDEMPOTENCY_KEY"
_VALID = re.compile(r"[\x20-\x7e]{1,255}")


def idempotency_key_from(request: Request) -> str | None:
    key = request.META.get(META_KEY)  # not request.headers: it copies every header
    if key is None:
        return None
    if not _VALID.fullmatch(key):
        raise ApiError(
            f"Invalid {HEADER} header.",
            fields={HEADER: ["Must be 1 to 255 printable ASCII characters."]},
        )
    return key
