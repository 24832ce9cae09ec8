"""Pagination: ``{"results", "next", "previous"}``, ``?limit=`` (default 50, at most 200).

Chats and messages are paged by their number (keyset pagination on the ``(parent, number)``
unique index), so a page costs the same at number 10 as at number 10 million and the links
carry nothing but numbers the client already knows. Applications, which have no number, use
DRF's opaque cursor over ``created_at``.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from chatapi.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Numbers are stored as unsigned 64-bit integers; larger values cannot name anything.
MAX_NUMBER = 2**63 - 1


def _positive_int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ApiError(
            f"Invalid query parameter: {name}.",
            fields={name: ["Must be a non-negative integer."]},
        )
    return int(raw)


def limit_from_request(request: Request) -> int:
    limit = _positive_int_param(request, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise ApiError("Invalid query parameter: limit.", fields={"limit": ["Must be at least 1."]})
    return min(limit, MAX_LIMIT)


def number_page(
    queryset: QuerySet, request: Request, serialize: Callable[[Sequence[Any]], list[Any]]
) -> Response:
    """A page of ``queryset`` (rows with a ``number``) selected by ``?after``, ``?before``, ``?limit``.

    ``next`` continues after the last item and ``previous`` goes back before the first, so
    following either until it is null visits every item exactly once. A page read backwards
    (``?before`` alone) holds the items just below ``before``, still in ascending order.
    """
    limit = limit_from_request(request)
    after = _positive_int_param(request, "after")
    before = _positive_int_param(request, "before")
    window = queryset
    if after is not None:
        window = window.filter(number__gt=after)
    if before is not None:
        window = window.filter(number__lt=before)
    backwards = before is not None and after is None
    rows = list(window.order_by("-number" if backwards else "number")[: limit + 1])
    more_in_direction = len(rows) > limit
    items = rows[:limit][::-1] if backwards else rows[:limit]

    next_url = previous_url = None
    if items:
        first, last = items[0].number, items[-1].number
        has_next = (
            queryset.filter(number__gt=last).exists() if backwards else more_in_direction
        )
        has_previous = (
            more_in_direction
            if backwards
            else after is not None and queryset.filter(number__lt=first).exists()
        )
        next_url = _link(request, after=last) if has_next else None
        previous_url = _link(request, before=first) if has_previous else None
    return Response({"results": serialize(items), "next": next_url, "previous": previous_url})


def _link(request: Request, **params: int) -> str:
    url = request.build_absolute_uri()
    for name in ("after", "before"):
        url = remove_query_param(url, name)
    for name, value in params.items():
        url = replace_query_param(url, name, value)
    return url


class CreatedAtCursorPagination(CursorPagination):
    """Applications, oldest first, behind an opaque cursor (they have no public number)."""

    ordering = "created_at"
    page_size = DEFAULT_LIMIT
    cursor_query_param = "cursor"

    def get_page_size(self, request: Request) -> int:
        return limit_from_request(request)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except Exception as exc:  # DRF raises NotFound; a bad cursor is the client's mistake
            raise ApiError(
                "Invalid query parameter: cursor.", fields={"cursor": ["Invalid cursor."]}
            ) from exc
