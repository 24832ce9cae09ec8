"""A paginator for admin change lists over tables with millions of rows.

The admin counts the rows of a change list on every page; on InnoDB a COUNT(*) over millions of
rows scans an index. This paginator stops counting at a cap, so a page costs the same whatever
the table's size; past the cap the admin shows "more than N" pages' worth and still pages on.
"""

from functools import cached_property

from django.core.paginator import Paginator

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()
