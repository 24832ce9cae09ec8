"""Search served by the SQL database: the embedded default, with no index to keep.

Each term becomes ``FOLD(body) LIKE '%' || FOLD(term) || '%'`` with ``%``, ``_`` and ``\\``
escaped by Django's ``contains`` lookup, inside ``chat_id = ?`` and ordered by ``number``
descending, so the database walks the ``(chat, number)`` unique index backwards within one chat
and stops at the page size. SQL does not score; the newest match comes first.

``FOLD`` must compare exactly apart from case, which neither database does by default:

- MariaDB/MySQL compare with the column's collation (``utf8mb4_unicode_ci``), under which
  accents are ignored and every emoji equals every other emoji. ``LOWER(x COLLATE
  utf8mb4_bin)`` folds with the Unicode case tables and the ``LIKE BINARY`` of ``contains``
  then compares bytes.
- SQLite's ``LOWER()`` folds ASCII only, so a Python function (search.terms.text_fold) is
  registered on every SQLite connection and used instead; ``LIKE`` then only sees lowercase.
"""

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Func, TextField, Value

from chatapi.pagination import MAX_NUMBER
from messages_app.models import Message
from search.backends.base import SearchHit, SearchScope, SortKey
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
    ) -> list[SearchHit]:
        rows = Message.objects.filter(chat_id=scope.chat_id).alias(body_folded=Fold("body"))
        for term in terms:
            # The term is folded by the database too, by the very function that folds the
            # body, so the two sides agree even on characters Python folds differently.
            rows = rows.filter(body_folded__contains=Fold(Value(term)))
        if after is not None:
            (number,) = after
            rows = rows.filter(number__gt=number) if backwards else rows.filter(number__lt=number)
        rows = rows.order_by("number" if backwards else "-number")[:size]
        return [SearchHit(key=(message.number,), message=message) for message in rows]

    def key_from_cursor(self, values: list[Any]) -> SortKey:
        if len(values) != 1 or type(values[0]) is not int or not 0 <= values[0] <= MAX_NUMBER:
            raise ValueError("not a message number")
        return (values[0],)
