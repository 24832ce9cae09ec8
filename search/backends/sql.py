"""Search served by the SQL database: the embedded default, with no index to keep.

Each term becomes ``FOLD(body) LIKE '%' || FOLD(term) || '%'`` with ``%``, ``_`` and ``\\``
escaped by Django's ``contains`` lookup, inside ``chat_id = ?`` and ordered by ``number``
descending, so the database walks the ``(chat, number)`` unique index backwards within one chat
and stops at the page size. SQL does not score; the newest match comes first.

**Bounded cost.** A term that is rare or absent would make that walk read the whole chat (a
million messages: 3 to 4 s). So one call scans the chat in windows of message numbers (each a
range of the index, one query: a quarter of ``SEARCH_SQL_SCAN_WINDOW`` first, then twice the
last, up to the setting), newest first, window after window, until
the page is full, the chat has no more numbers that way, or ``SEARCH_SQL_TIME_BUDGET_MS`` is
spent. When the budget runs out first it answers what it found and where it stopped
(``SearchHits.stopped_at``), and the selector hands the client a ``next`` cursor from there and
marks the page incomplete. A request then costs about the budget at most, results stay exact,
and a client that follows ``next`` sees every match once; a page holds fewer hits than asked
for, or none, only when the budget ran out (and says so) or no match remains. docs/search.md
says why this design.

``FOLD`` must compare exactly apart from case, which neither database does by default:

- MariaDB/MySQL compare with the column's collation (``utf8mb4_unicode_ci``), under which
  accents are ignored and every emoji equals every other emoji. ``LOWER(x COLLATE
  utf8mb4_bin)`` folds with the Unicode case tables and the ``LIKE BINARY`` of ``contains``
  then compares bytes.
- SQLite's ``LOWER()`` folds ASCII only, so a Python function (search.terms.text_fold) is
  registered on every SQLite connection and used instead; ``LIKE`` then only sees lowercase.
"""

import time
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Func, Max, TextField, Value

from core.index_hints import index_force
from core.pagination import MAX_NUMBER
from messages_app.models import MESSAGES_NUMBER_INDEX, Message
from search.backends.base import SearchHit, SearchHits, SearchScope, SortKey
from search.terms import text_fold

SQLITE_FOLD_FUNCTION = "chatapi_text_fold"


def sqlite_functions_register(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: the fold function on each new SQLite connection."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            SQLITE_FOLD_FUNCTION, 1, _sqlite_fold, deterministic=True
        )


def _sqlite_fold(text: str | None) -> str | None:
    return None if text is None else text_fold(text)


class Fold(Func):
    """Case folding that keeps every other difference (search.terms.text_fold, in SQL)."""

    function = "LOWER"
    output_field = TextField()

    def as_mysql(self, compiler: Any, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        # MariaDB's LOWER already folds İ to i; ς is mapped to σ as text_fold does.
        template = "REPLACE(LOWER(%(expressions)s COLLATE utf8mb4_bin), 'ς', 'σ')"
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function=SQLITE_FOLD_FUNCTION, **extra)


# A request's first window is this fraction of SEARCH_SQL_SCAN_WINDOW, and each next one twice
# the last, up to the setting: a first page stops close to its budget, even on a loaded machine
# where one full window alone would take longer, and a long scan still reads large windows.
FIRST_WINDOW_DIVISOR = 4


def _spent(window_started: float, growth: float, deadline: float) -> bool:
    """Whether the next window (``growth`` times the last one's size) would end past the
    deadline, at the pace of the last one.

    Stopping before the window that would overrun keeps a request within its budget (but for
    its first window, which always runs), rather than up to a whole window over it.
    """
    now = time.monotonic()
    return now + (now - window_started) * growth > deadline


class SqlSearchBackend:
    name = "sql"

    def ping(self) -> None:
        # The database is the index: if it answers, search does. /readyz checks it anyway.
        Message.objects.exists()

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
        if budget_ms is None:
            budget_ms = settings.SEARCH_SQL_TIME_BUDGET_MS
        deadline = time.monotonic() + budget_ms / 1000
        largest = settings.SEARCH_SQL_SCAN_WINDOW
        window = max(1, largest // FIRST_WINDOW_DIVISOR)
        in_chat = index_force(Message.objects.filter(chat_id=scope.chat_id), MESSAGES_NUMBER_INDEX)
        newest = in_chat.aggregate(highest=Max("number"))["highest"] or 0
        hits: list[SearchHit] = []
        if backwards:
            # Oldest first from just above ``after``: windows after+1 .. after+window, and up.
            edge = after[0] if after is not None else 0
            while edge < newest:
                started = time.monotonic()
                high = edge + window + 1
                hits += self._window(in_chat, terms, edge, high, size - len(hits), backwards)
                edge = high - 1
                if len(hits) >= size:
                    return SearchHits(hits=hits)
                grown = min(largest, window * 2)
                if edge < newest and _spent(started, grown / window, deadline):
                    return SearchHits(hits=hits, stopped_at=(edge,))
                window = grown
            return SearchHits(hits=hits)
        # Newest first from just below ``after`` (or the newest message), window after window.
        # (Never above the newest: a forged cursor far past it would only scan empty windows.)
        edge = min(after[0], newest + 1) if after is not None else newest + 1
        while edge > 1:
            started = time.monotonic()
            low = max(0, edge - window - 1)
            hits += self._window(in_chat, terms, low, edge, size - len(hits), backwards)
            edge = low + 1
            if len(hits) >= size:
                return SearchHits(hits=hits)
            grown = min(largest, window * 2)
            if edge > 1 and _spent(started, grown / window, deadline):
                return SearchHits(hits=hits, stopped_at=(edge,))
            window = grown
        return SearchHits(hits=hits)

    @staticmethod
    def _window(
        in_chat: Any, terms: list[str], low: int, high: int, size: int, backwards: bool
    ) -> list[SearchHit]:
        """The matches numbered strictly between ``low`` and ``high``, at most ``size``."""
        rows = in_chat.filter(number__gt=low, number__lt=high).alias(body_folded=Fold("body"))
        for term in terms:
            # The term is folded by the database too, by the very function that folds the
            # body, so the two sides agree even on characters Python folds differently.
            rows = rows.filter(body_folded__contains=Fold(Value(term)))
        found = rows.order_by("number" if backwards else "-number")[:size]
        return [SearchHit(key=(message.number,), message=message) for message in found]

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        if len(values) != 1 or type(values[0]) is not int or not 0 <= values[0] <= MAX_NUMBER:
            raise ValueError("not a message number")
        return (values[0],)
