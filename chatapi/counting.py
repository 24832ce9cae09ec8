"""Recomputing a denormalised child count (``chats_count``, ``messages_count``) from SQL."""

from django.db.models import Count, Model, OuterRef, Subquery
from django.db.models.functions import Coalesce


def children_count_refresh(
    *,
    parent: type[Model],
    child: type[Model],
    link: str,
    field: str,
    parent_ids: list[int] | None,
) -> int:
    """Set ``parent.field`` to its number of ``child`` rows (``child.link`` points at parent).

    One UPDATE with a correlated subquery, so the count and the write see the same rows; for
    some parents (``parent_ids``) or all of them. Returns how many parents were updated.
    """
    counted = (
        child.objects.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(total=Count("pk"))
        .values("total")
    )
    parents = parent.objects.all()
    if parent_ids is not None:
        parents = parents.filter(pk__in=parent_ids)
    return parents.update(**{field: Coalesce(Subquery(counted), 0)})
