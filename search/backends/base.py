"""The interface both search backends implement, and the cursor that pages through either.

A backend answers one question: the matching messages of one chat, in its order (best match
first where it scores, newest first otherwise), strictly after or strictly before a position in
that order. Paging, links and the empty answer for a chat that is not persisted yet are the
selector's (search.selectors), so they behave the same whichever backend answers.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import ApiError
from messages_app.models import Message

# A position in a backend's order: the sort values of one hit. (number,) for SQL, and
# (score, number) for Elasticsearch.
SortKey = tuple[Any, ...]


@dataclass(frozen=True)
class SearchScope:
    """One chat, named both ways: by its row (SQL) and by its public identity (the index)."""

    chat_id: int
    token: str
    chat_number: int


@dataclass(frozen=True)
class SearchHit:
    key: SortKey
    message: Message


@dataclass(frozen=True)
class SearchHits:
    """What a backend found, and where it stopped looking if it stopped early.

    ``stopped_at`` is set when the backend bounds the work of one request (the SQL backend
    scans windows of messages within a time budget) and ran out of it before finding ``size``
    hits: the search goes on strictly after that key, in the same order. None means it looked
    through everything that way.
    """

    hits: list[SearchHit]
    stopped_at: SortKey | None = None


class SearchBackend(Protocol):
    name: str

    def ping(self) -> None:
        """Raise if the backend cannot answer (used by /readyz)."""

    def search(
        self,
        *,
        scope: SearchScope,
        terms: list[str],
        size: int,
        after: SortKey | None = None,
        backwards: bool = False,
        budget_ms: float | None = None,
    ) -> SearchHits:
        """At most ``size`` hits following ``after`` in the backend's order.

        With ``backwards`` the order is reversed: the hits that come just before ``after``,
        nearest first. A backend may stop early (``SearchHits.stopped_at``) once it has spent
        ``budget_ms`` looking (the SQL backend; its default budget when None).
        """

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        """The sort key a cursor carries, checked; raise ValueError if it is not one."""


@dataclass(frozen=True)
class Position:
    """Where a page starts: just after ``key`` (``forward``), or just before it.

    ``behind``: whether a match may lie on the side the page does not read (at or before
    ``key`` in the order it reads): the pages that led here saw one, or did not look. It
    decides whether the page links back, without searching that side again. A cursor made
    before it was carried says yes.
    """

    key: SortKey
    forward: bool
    behind: bool = True
    # How many pages in a row, up to this one, the backend's time budget cut short.
    cuts: int = 0


def cursor_encode(*, backend: str, position: Position) -> str:
    payload = {
        "b": backend,
        "d": "n" if position.forward else "p",
        "k": list(position.key),
        "m": int(position.behind),
        "c": position.cuts,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cursor_decode(cursor: str, *, backend: SearchBackend) -> Position:
    """The position a ``cursor`` query parameter names, or a 400 naming the parameter.

    A cursor made by the other backend (the deployment switched backends between two pages)
    is refused the same way: the client starts the search again.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("b") != backend.name:
            raise ValueError("cursor of another backend")
        if payload.get("d") not in ("n", "p") or not isinstance(payload.get("k"), list):
            raise ValueError("malformed cursor")
        cuts = payload.get("c", 0)
        if payload.get("m", 1) not in (0, 1) or type(cuts) is not int or not 0 <= cuts <= 64:
            raise ValueError("malformed cursor")
        return Position(
            key=backend.key_from_cursor(payload["k"]),
            forward=payload["d"] == "n",
            behind=payload.get("m", 1) == 1,
            cuts=cuts,
        )
    # JSON nested too deep to decode (a forged cursor) raises RecursionError, not ValueError.
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(
            "Invalid query parameter: cursor.",
            fields={"cursor": ["Invalid or expired cursor; start the search again."]},
        ) from exc
