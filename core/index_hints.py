"""``FORCE INDEX`` for a queryset on MariaDB/MySQL, which Django's ORM cannot say.

Why it is needed: for ``WHERE chat_id = ? AND number > ? ORDER BY number LIMIT 51`` MariaDB
10.11 weighs ``ref`` access on ``chat_id`` (the first column of the ``(chat_id, number)`` unique
index) against ``range`` access on both columns, and when its row estimates make the range look
as large as the chat it picks ``ref``: it then reads the chat from one end and filters, so a page
deep in a chat of a million messages reads up to a million index entries (without the hint,
``before=`` pages take 500 ms at p99). ``FORCE INDEX`` makes it cost the range, which starts at
the page. messages_app/tests/test_query_plans.py pins the plan with EXPLAIN. Other databases
ignore the hint (SQLite already searches the index on both columns).

The hint is carried by the base table of the query, so every clone (``filter()``, ``exists()``,
slices) keeps it.
"""

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.sql.datastructures import BaseTable

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType

M = TypeVar("M", bound=Model)


class _IndexHintedTable(BaseTable):
    def __init__(self, table_name: str, alias: str | None, index: str) -> None:
        super().__init__(table_name, alias)
        self.index = index

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> "_AsSqlType":
        sql, params = super().as_sql(compiler, connection)
        if connection.vendor == "mysql":
            sql = f"{sql} FORCE INDEX ({connection.ops.quote_name(self.index)})"
        return sql, params

    def relabeled_clone(self, change_map: dict[str | None, str]) -> "_IndexHintedTable":
        alias = change_map.get(self.table_alias) or self.table_alias
        return self.__class__(self.table_name, alias, self.index)

    @property
    def identity(self) -> tuple:
        return self.__class__, self.table_name, self.table_alias, self.index


def index_force(queryset: QuerySet[M], index: str) -> QuerySet[M]:
    """``queryset`` reading its model's table through ``index`` only (MariaDB/MySQL)."""
    hinted = queryset.all()
    query = hinted.query
    alias = query.get_initial_alias()
    table = query.alias_map[alias]
    query.alias_map[alias] = _IndexHintedTable(table.table_name, alias, index)
    return hinted
