"""A paginator for admin change lists over tables with millions of rows.

The admin counts the rows of a change list on every page; on InnoDB a COUNT(*) over millions of
rows scans an index. This paginator stops counting at a cap, so a page costs the same whatever
the table's size. Past the cap the change list says "more than 10,000" (the ``pagination.html``
templates of each app) and pages through the first 10,000 rows of its order: a page is an
``OFFSET`` into an index, which stays cheap that far and no further. To see rows beyond them,
narrow the list (a search, a filter, a chat's messages), which the templates say.
"""

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect

COUNT_CAP = 10_000


def capped_count(queryset: QuerySet) -> int:
    """How many rows, counting no further than ``COUNT_CAP + 1``: one index range at most."""
    return queryset.order_by()[: COUNT_CAP + 1].count()


class CappedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            return capped_count(self.object_list)
        return len(self.object_list)

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def cap(self) -> str:
        return f"{COUNT_CAP:,}"


class CappedChangeListMixin:
    """A page past the ones the capped count pages says why, instead of Django's "Database
    error" page: it goes to the last page it pages, with a message saying how to reach more."""

    list_per_page: int

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        page = request.GET.get(PAGE_VAR, "")
        last = (COUNT_CAP + self.list_per_page) // self.list_per_page
        if page.isdigit() and int(page) > last:
            messages.warning(
                request,
                f"Only the first {COUNT_CAP:,} rows of this list are paged (page {last} is the "
                "last): a search or a filter reaches the others, in pages of their own.",
            )
            query = request.GET.copy()
            query[PAGE_VAR] = str(last)
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)  # type: ignore[misc]
