"""Search served by the SQL database: the embedded default, with no index to keep.

Each term becomes ``FOLD(body) LIKE '%' || FOLD(term) || '%'`` with ``%``, ``_`` and ``\\``
escaped by Django's ``contains`` lookup, inside ``chat_id = ?`` and ordered by ``number``
descending, so the database walks the ``(chat, number)`` unique index backwards within one chat
and stops at the page size. SQL does not score; the newest match comes first.

**Bounded cost.** A term that is rare or absent would make that walk read the whole chat (a
million messages: 3 to 4 s). So one call reads at most ``SEARCH_SQL_SCAN_WINDOW`` message numbers
(a range of the index, newest first): when the window runs out before the page is full it
answers what it found and where it stopped (``SearchHits.stopped_at``), and the selector hands
the client a ``next`` cursor from there. Every request then costs about the same, results stay
exact, and a client that follows ``next`` sees every match once; a page may hold fewer hits
than asked for, or none, and still have a ``next``. docs/search.md says why this design.

``FOLD`` must compare exactly apart from case, which neither database does by default:

- MariaDB/MySQL compare with the column's collation (``utf8mb4_unicode_ci``), under which
  accents are ignored and every emoji equals every other emoji. ``LOWER(x COLLATE
  utf8mb4_bin)`` folds with the Unicode case tables and the ``LIKE BINARY`` of ``contains``
  then compares bytes.
- SQLite's ``LOWER()`` folds ASCII only, so a Python function (search.terms.text_fold) is
  registered on every SQLite connection and used instead; ``LIKE`` then only sees lowercase.
"""

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
    ) -> SearchHits:
        window = settings.SEARCH_SQL_SCAN_WINDOW
        in_chat = index_force(Message.objects.filter(chat_id=scope.chat_id), MESSAGES_NUMBER_INDEX)
        if backwards:
            # Oldest first from just above ``after``: numbers after+1 .. after+window.
            low = after[0] if after is not None else 0
            high = low + window + 1
            rows = in_chat.filter(number__gt=low, number__lt=high)
        else:
            # Newest first from just below ``after`` (or the newest message).
            if after is not None:
                high = after[0]
            else:
                high = (in_chat.aggregate(highest=Max("number"))["highest"] or 0) + 1
            low = max(0, high - window - 1)
            rows = in_chat.filter(number__lt=high, number__gt=low)
        rows = rows.alias(body_folded=Fold("body"))
        for term in terms:
            # The term is folded by the database too, by the very function that folds the
            # body, so the two sides agree even on characters Python folds differently.
            rows = rows.filter(body_folded__contains=Fold(Value(term)))
        found = list(rows.order_by("number" if backwards else "-number")[:size])
        hits = [SearchHit(key=(message.number,), message=message) for message in found]
        if len(hits) >= size:
            return SearchHits(hits=hits)
        if backwards:
            newest = in_chat.aggregate(highest=Max("number"))["highest"] or 0
            more = high <= newest
            return SearchHits(hits=hits, stopped_at=(high - 1,) if more else None)
        return SearchHits(hits=hits, stopped_at=(low + 1,) if low > 0 else None)

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        if len(values) != 1 or type(values[0]) is not int or not 0 <= values[0] <= MAX_NUMBER:
            raise ValueError("not a message number")
        return (values[0],)
