"""Reading search results: one chat, one page, whichever backend answers."""

from dataclasses import dataclass

from django.conf import settings

from applications.models import Application
from chats.models import Chat
from core.metrics.instruments import SEARCH_SECONDS
from core.pagination import MAX_NUMBER
from messages_app.models import Message
from search.backends import search_backend
from search.backends.base import (
    Position,
    SearchBackend,
    SearchScope,
    SortKey,
    cursor_decode,
    cursor_encode,
)
from search.complexity import query_check
from search.terms import query_terms

BUDGET_GROWTH = 8


@dataclass(frozen=True)
class SearchPage:
    messages: list[Message]
    next_cursor: str | None
    previous_cursor: str | None
    # False when the backend's time budget ran out before the page was full (SQL only): the
    # page may hold fewer hits than asked for, even none, and ``next`` goes on from there.
    complete: bool = True


def messages_search(
    *, application: Application, chat: Chat, query: str, limit: int, cursor: str | None = None
) -> SearchPage:
    """A page of the messages of ``chat`` that match every term of ``query``, best first.

    Keyset pagination over the backend's order: ``next`` continues after the last hit and
    ``previous`` goes back before the first, so following either until it is null visits every
    match once. A cursor names a position, not an offset, so a page costs the same deep in the
    results as at the start. The query must hold a term (the API answers 400 otherwise) and stay
    within the clause limit (search.complexity; 400 ``query_too_complex`` otherwise), checked
    before any backend runs.

    One backend call per page: whether a page links back is carried by the cursor
    (``Position.behind``), never found by searching the other way again. A backend that stops
    early (the SQL time budget) makes the page incomplete; its ``next`` goes on from where it
    stopped, and an empty page links back from there too, so no position is skipped.
    """
    backend = search_backend()
    position = cursor_decode(cursor, backend=backend) if cursor else None
    terms = query_terms(query)
    if not terms:
        raise ValueError("a search needs at least one term")
    query_check(terms)
    if chat.pk is None:  # accepted a moment ago, not persisted yet: no message is either
        return SearchPage(messages=[], next_cursor=None, previous_cursor=None)
    scope = SearchScope(chat_id=chat.pk, token=application.token, chat_number=chat.number)
    forward = position is None or position.forward
    behind = position is not None and position.behind
    cuts = position.cuts if position else 0
    with SEARCH_SECONDS.labels(backend=backend.name).time():
        found = backend.search(
            scope=scope,
            terms=terms,
            size=limit + 1,
            after=position.key if position else None,
            backwards=not forward,
            budget_ms=search_budget_ms(cuts),
        )
    hits = found.hits[:limit]
    more = len(found.hits) > limit
    # Onwards (the way this page reads): after its last hit when there are more, else from
    # where the backend stopped looking; no link when it looked through everything.
    onward_from = hits[-1].key if more else found.stopped_at
    # Back (the other way): before its first hit; an empty page that stopped early links back
    # from where it stopped, which covers the numbers it scanned (no hit) and its own start;
    # an empty page that did not links back from its own start, that position included.
    if hits:
        back_from: SortKey | None = hits[0].key
    elif found.stopped_at is not None:
        back_from = found.stopped_at
    else:
        back_from = _including(position.key, forward=not forward) if position else None
    onward = (
        Position(
            key=onward_from,
            forward=forward,
            behind=behind or bool(hits),
            cuts=0 if len(hits) >= limit else cuts + 1,
        )
        if onward_from is not None
        else None
    )
    # Past the start of this page lies a match when this page holds one (its first), and may
    # when the backend did not get to the end that way.
    back = (
        Position(key=back_from, forward=not forward, behind=bool(hits) or onward is not None)
        if behind and back_from is not None
        else None
    )
    if not forward:
        hits = hits[::-1]
        onward, back = back, onward
    return SearchPage(
        messages=[hit.message for hit in hits],
        next_cursor=_cursor(backend, onward) if onward else None,
        previous_cursor=_cursor(backend, back) if back else None,
        complete=len(hits) >= limit or found.stopped_at is None,
    )


def search_budget_ms(cuts: int) -> float:
    """The time budget of a page that follows ``cuts`` pages the budget cut short in a row.

    The first page of a search costs no more than ``SEARCH_SQL_TIME_BUDGET_MS``, so most
    searches answer quickly; a client that follows ``next`` past pages cut short is looking for
    something rare, and each such page gets ``BUDGET_GROWTH`` times the last one's budget, up
    to ``SEARCH_SQL_TIME_BUDGET_MAX_MS``: the scan reaches the end of a large chat in a few
    requests instead of dozens.
    """
    first = settings.SEARCH_SQL_TIME_BUDGET_MS
    return float(
        min(settings.SEARCH_SQL_TIME_BUDGET_MAX_MS, first * BUDGET_GROWTH ** min(cuts, 16))
    )


def _including(key: SortKey, *, forward: bool) -> SortKey:
    """A position from which reading ``forward`` (or back) also finds the hit at ``key``.

    Both backends' keys end with the message number, unique in a chat and the last tie-break of
    their order (newest first), so the neighbouring number is the position just beside it.
    """
    number = key[-1]
    return (*key[:-1], max(0, number - 1) if not forward else min(MAX_NUMBER, number + 1))


def _cursor(backend: SearchBackend, position: Position) -> str:
    return cursor_encode(backend=backend.name, position=position)
