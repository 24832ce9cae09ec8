"""Reading search results: one chat, one page, whichever backend answers."""

from dataclasses import dataclass

from applications.models import Application
from chats.models import Chat
from core.metrics.instruments import SEARCH_SECONDS
from messages_app.models import Message
from search.backends import search_backend
from search.backends.base import (
    Position,
    SearchBackend,
    SearchHits,
    SearchScope,
    SortKey,
    cursor_decode,
    cursor_encode,
)
from search.terms import query_terms


@dataclass(frozen=True)
class SearchPage:
    messages: list[Message]
    next_cursor: str | None
    previous_cursor: str | None


def messages_search(
    *, application: Application, chat: Chat, query: str, limit: int, cursor: str | None = None
) -> SearchPage:
    """A page of the messages of ``chat`` that match every term of ``query``, best first.

    Keyset pagination over the backend's order: ``next`` continues after the last hit and
    ``previous`` goes back before the first, so following either until it is null visits every
    match once. A cursor names a position, not an offset, so a page costs the same deep in the
    results as at the start. The query must hold a term (the API answers 400 otherwise).
    """
    backend = search_backend()
    position = cursor_decode(cursor, backend=backend) if cursor else None
    if chat.pk is None:  # accepted a moment ago, not persisted yet: no message is either
        return SearchPage(messages=[], next_cursor=None, previous_cursor=None)
    terms = query_terms(query)
    if not terms:
        raise ValueError("a search needs at least one term")
    scope = SearchScope(chat_id=chat.pk, token=application.token, chat_number=chat.number)

    def fetch(size: int, after: SortKey | None, backwards: bool) -> SearchHits:
        with SEARCH_SECONDS.labels(backend=backend.name).time():
            return backend.search(
                scope=scope, terms=terms, size=size, after=after, backwards=backwards
            )

    def any_before(key: SortKey) -> bool:
        # A backend that stopped looking could not rule a hit out: say there may be one.
        probe = fetch(1, key, True)
        return bool(probe.hits) or probe.stopped_at is not None

    def any_after(key: SortKey) -> bool:
        probe = fetch(1, key, False)
        return bool(probe.hits) or probe.stopped_at is not None

    # A page continues from its last hit when the backend found more than a page, and from
    # where the backend stopped looking when it stopped early (SearchHits.stopped_at): the
    # next page then starts past the part already scanned, which held no further hit.
    if position is None or position.forward:
        found = fetch(limit + 1, position.key if position else None, False)
        page = found.hits[:limit]
        if len(found.hits) > limit:
            forward_from: SortKey | None = page[-1].key
        else:
            forward_from = found.stopped_at
        # The first page has nothing before it; a later one asks for one hit before its start.
        back_from = (page[0].key if page else position.key) if position else None
        has_previous = back_from is not None and any_before(back_from)
        has_next = forward_from is not None
    else:
        found = fetch(limit + 1, position.key, True)
        page = found.hits[:limit][::-1]
        back_from = page[0].key if len(found.hits) > limit else found.stopped_at
        has_previous = back_from is not None
        forward_from = page[-1].key if page else position.key
        has_next = any_after(forward_from)

    return SearchPage(
        messages=[hit.message for hit in page],
        next_cursor=(
            _cursor(backend, forward_from, forward=True)
            if has_next and forward_from is not None
            else None
        ),
        previous_cursor=(
            _cursor(backend, back_from, forward=False)
            if has_previous and back_from is not None
            else None
        ),
    )


def _cursor(backend: SearchBackend, key: SortKey, *, forward: bool) -> str:
    return cursor_encode(backend=backend.name, position=Position(key=key, forward=forward))
