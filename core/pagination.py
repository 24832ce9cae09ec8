"""Pagination: ``{"results", "next", "previous"}``, ``?limit=`` (default 50, at most 200).

Chats and messages are paged by their number (keyset pagination on the ``(parent, number)``
unique index), so a page costs the same at number 10 as at number 10 million and the links
carry nothing but numbers the client already knows. Applications, which have no number, are
paged the same way by ``(created_at, token)`` behind an opaque cursor.
"""

import json
from base64 import b64decode, urlsafe_b64encode
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.errors import ApiError

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
    """A page of ``queryset`` (rows with a ``number``) by ``?after``, ``?before`` and ``?limit``.

    ``next`` continues after the last item and ``previous`` goes back before the first, so
    following either until it is null visits every item exactly once. A page read backwards
    (``?before`` alone) holds the items just below ``before``, still in ascending order. With
    both ``after`` and ``before`` the client asked for a range: ``next`` keeps its upper end,
    so following it stops at the end of the range instead of running on past it.
    """
    limit = limit_from_request(request)
    after = _positive_int_param(request, "after")
    before = _positive_int_param(request, "before")
    backwards = before is not None and after is None
    rows = number_page_rows(queryset, after=after, before=before, limit=limit)
    more_in_direction = len(rows) > limit
    items = rows[:limit][::-1] if backwards else rows[:limit]

    next_url = previous_url = None
    if items:
        first, last = items[0].number, items[-1].number
        has_next = queryset.filter(number__gt=last).exists() if backwards else more_in_direction
        has_previous = (
            more_in_direction
            if backwards
            else after is not None and queryset.filter(number__lt=first).exists()
        )
        upper = {} if backwards or before is None else {"before": before}
        next_url = _link(request, after=last, **upper) if has_next else None
        previous_url = _link(request, before=first) if has_previous else None
    return Response({"results": serialize(items), "next": next_url, "previous": previous_url})


def number_page_rows(
    queryset: QuerySet, *, after: int | None, before: int | None, limit: int
) -> list[Any]:
    """Up to ``limit + 1`` rows from where the page starts, in the direction it reads.

    Ascending after ``after``; descending (nearest first) below ``before`` when only ``before``
    is given. One extra row says whether there is more in that direction.
    """
    window = queryset
    if after is not None:
        window = window.filter(number__gt=after)
    if before is not None:
        window = window.filter(number__lt=before)
    backwards = before is not None and after is None
    return list(window.order_by("-number" if backwards else "number")[: limit + 1])


def _link(request: Request, **params: int) -> str:
    url = request.build_absolute_uri()
    for name in ("after", "before"):
        url = remove_query_param(url, name)
    for name, value in params.items():
        url = replace_query_param(url, name, value)
    return url


class CreatedAtCursorPagination:
    """Applications, oldest first, behind an opaque cursor (they have no public number).

    Keyset pagination on ``(created_at, token)``: the token, unique and already public, breaks
    ties between applications created in the same microsecond, so following ``next`` (or
    ``previous``) visits every application exactly once, and no link carries an internal id.
    DRF's CursorPagination pages by one field plus an offset, and its ``previous`` links skip
    and repeat items when that field has ties.
    """

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.request = request
        limit = limit_from_request(request)
        cursor = self._decode(request)
        backwards = cursor is not None and cursor[2]
        window = queryset
        if cursor is not None:
            window = window.filter(_before(*cursor[:2]) if backwards else _after(*cursor[:2]))
        ordering = ("-created_at", "-token") if backwards else ("created_at", "token")
        rows = list(window.order_by(*ordering)[: limit + 1])
        more_in_direction = len(rows) > limit
        items = rows[:limit][::-1] if backwards else rows[:limit]

        self.next_url = self.previous_url = None
        if items:
            first, last = items[0], items[-1]
            has_next = (
                queryset.filter(_after(last.created_at, last.token)).exists()
                if backwards
                else more_in_direction
            )
            has_previous = (
                more_in_direction
                if backwards
                else cursor is not None
                and queryset.filter(_before(first.created_at, first.token)).exists()
            )
            if has_next:
                self.next_url = self._link(last.created_at, last.token, backwards=False)
            if has_previous:
                self.previous_url = self._link(first.created_at, first.token, backwards=True)
        return items

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response({"results": data, "next": self.next_url, "previous": self.previous_url})

    def _link(self, created_at: datetime, token: str, *, backwards: bool) -> str:
        position = json.dumps([created_at.isoformat(), token, backwards]).encode()
        encoded = urlsafe_b64encode(position).decode("ascii")
        return replace_query_param(
            self.request.build_absolute_uri(), self.cursor_query_param, encoded
        )

    def _decode(self, request: Request) -> tuple[datetime, str, bool] | None:
        """Only a cursor this API could have issued; anything else is the client's mistake."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            raw = b64decode(encoded.encode("ascii"), altchars=b"-_", validate=True)
            created_at, token, backwards = json.loads(raw)
            moment = parse_datetime(created_at)
            if moment is None or moment.tzinfo is None:
                raise ValueError("not an aware timestamp")
            if not isinstance(token, str) or not isinstance(backwards, bool):
                raise ValueError("not a cursor")
            # In UTC, as the database compares it: a forged offset at year 1 or 9999 overflows.
            moment = moment.astimezone(UTC)
        # binascii.Error is a ValueError; JSON nested too deep to decode is a RecursionError.
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ApiError(
                "Invalid query parameter: cursor.", fields={"cursor": ["Invalid cursor."]}
            ) from exc
        return moment, token, backwards


def _after(created_at: datetime, token: str) -> Q:
    return Q(created_at__gt=created_at) | Q(created_at=created_at, token__gt=token)


def _before(created_at: datetime, token: str) -> Q:
    return Q(created_at__lt=created_at) | Q(created_at=created_at, token__lt=token)
