"""The denormalised counts, ``chats_count`` and ``messages_count``: which are stale, and
recomputing them from SQL (Celery beat runs ``counts_refresh_changed`` and, rarely,
``counts_refresh_all``; ``manage.py refresh_counts`` does it by hand).

Which are stale: the persist services add the ids of the parents that gained rows to a Redis
set after their transaction commits (``changes_mark``); a refresh takes them out with SPOP,
which removes and returns members atomically, so an id added while a refresh runs is simply
picked up by the next one: no change is missed and none is counted twice for nothing.

Recomputing, in bounded chunks and without long locks, at any table size:

- The counting is a plain ``SELECT parent_id, COUNT(*) … GROUP BY parent_id`` over a chunk of
  parents: a range of the child's ``(parent, number)`` index, read without taking a row lock
  (InnoDB's consistent read; Django runs MySQL at READ COMMITTED). A chunk holds as many parents
  as add up to about ``CHUNK_ROWS`` children (by their counts or their highest child numbers,
  whichever is larger; at most ``CHUNK_PARENTS``), so one statement reads a bounded part of the
  table; a single parent larger than that is counted alone.
- The write is one short ``UPDATE`` of the parents whose count changed, by primary key, not an
  ``UPDATE … = (SELECT COUNT(*) …)``, which would hold the lock on up to a thousand parent
  rows while it counted their children (seconds at ten million messages), and every INSERT of
  a message into those chats would wait for it (its foreign key locks the chat row).

The apps own their counts: each registers its parent model and its refresh
(``counter_register``, from chats/apps.py and messages_app/apps.py); this module knows none.

Counting and writing are two statements, so rows persisted in between may be missed by the count:
counts only grow (chats and messages are deleted only with their application), so a count that
went up is written as ``GREATEST(current, counted)`` and never undoes a fresher, higher one;
a count that must go down (a repair) is written only if no other refresh changed it since it was
read. A row persisted meanwhile marks its parent changed, so the next refresh counts it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Case, Count, F, IntegerField, Max, Model, Value, When
from django.db.models.functions import Greatest

from core.metrics.instruments import COUNTS_REFRESHED
from core.redis_client import redis_connection
from pipeline import keys

APPLICATIONS = "applications"
CHATS = "chats"
# Parents recomputed per statement by the refreshes.
COUNTS_BATCH = 1000

CHUNK_ROWS = 200_000
CHUNK_PARENTS = 1_000


def _chunks(
    parents: list[tuple[int, int]], sizes: dict[int, int]
) -> Iterator[list[tuple[int, int]]]:
    """Parents (pk, current count) grouped so that a chunk counts about CHUNK_ROWS children."""
    chunk: list[tuple[int, int]] = []
    rows = 0
    for pk, current in parents:
        size = sizes.get(pk, current)
        if chunk and (rows + size > CHUNK_ROWS or len(chunk) >= CHUNK_PARENTS):
            yield chunk
            chunk, rows = [], 0
        chunk.append((pk, current))
        rows += size
    if chunk:
        yield chunk


def _sizes(child: type[Model], link: str, parents: list[tuple[int, int]]) -> dict[int, int]:
    """How many children each parent may have: its current count, or its highest child number
    if that is larger (a count that is stale, or zero after a repair, must not make a chunk of
    ten million rows). ``MAX(number)`` per parent is one step into the ``(parent, number)``
    index each (MariaDB: "Using index for group-by")."""
    highest = dict(
        child._default_manager.filter(**{f"{link}_id__in": [pk for pk, _ in parents]})
        .order_by()
        .values_list(f"{link}_id")
        .annotate(highest=Max("number"))
        .values_list(f"{link}_id", "highest")
    )
    return {pk: max(current, highest.get(pk) or 0) for pk, current in parents}


def _refresh_chunk(
    parent: type[Model], child: type[Model], link: str, field: str, chunk: list[tuple[int, int]]
) -> None:
    ids = [pk for pk, _ in chunk]
    counted = dict(
        child._default_manager.filter(**{f"{link}_id__in": ids})
        .order_by()
        .values_list(f"{link}_id")
        .annotate(total=Count("pk"))
        .values_list(f"{link}_id", "total")
    )
    grown = {pk: counted.get(pk, 0) for pk, current in chunk if counted.get(pk, 0) > current}
    shrunk = [
        (pk, current, counted.get(pk, 0)) for pk, current in chunk if counted.get(pk, 0) < current
    ]
    if grown:
        new = Case(
            *[When(pk=pk, then=Value(total)) for pk, total in grown.items()],
            output_field=IntegerField(),
        )
        parent._default_manager.filter(pk__in=list(grown)).update(
            **{field: Greatest(F(field), new)}
        )
    for pk, current, total in shrunk:
        parent._default_manager.filter(pk=pk, **{field: current}).update(**{field: total})


def children_count_refresh(
    *,
    parent: type[Model],
    child: type[Model],
    link: str,
    field: str,
    parent_ids: list[int] | None,
) -> int:
    """Set ``parent.field`` to its number of ``child`` rows (``child.link`` points at parent).

    For some parents (``parent_ids``) or all of them, walked by primary key. Returns how many
    parents were looked at.
    """
    seen = 0
    if parent_ids is not None:
        parents = list(
            parent._default_manager.filter(pk__in=parent_ids)
            .order_by("pk")
            .values_list("pk", field)
        )
        for chunk in _chunks(parents, _sizes(child, link, parents)):
            _refresh_chunk(parent, child, link, field, chunk)
        return len(parents)
    last = 0
    while parents := list(
        parent._default_manager.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", field)[:CHUNK_PARENTS]
    ):
        for chunk in _chunks(parents, _sizes(child, link, parents)):
            _refresh_chunk(parent, child, link, field, chunk)
        seen, last = seen + len(parents), parents[-1][0]
    return seen


def changes_mark(*, application_ids: set[int], chat_ids: set[int]) -> None:
    """These parents gained rows (called after the commit that wrote them)."""
    pipe = redis_connection().pipeline(transaction=False)
    if application_ids:
        pipe.sadd(keys.changed_key(APPLICATIONS), *application_ids)
    if chat_ids:
        pipe.sadd(keys.changed_key(CHATS), *chat_ids)
    pipe.execute()


def changes_take(*, kind: str, limit: int) -> list[int]:
    return [int(member) for member in redis_connection().spop(keys.changed_key(kind), limit) or []]


def changes_return(*, kind: str, ids: list[int]) -> None:
    """Put ids back after a refresh failed, so that the next run counts them."""
    if ids:
        redis_connection().sadd(keys.changed_key(kind), *ids)


@dataclass(frozen=True)
class Counter:
    """A denormalised count an app owns: its parent model and how to recompute some parents."""

    parent: type[Model]
    refresh: Callable[[list[int]], int]


_COUNTERS: dict[str, Counter] = {}


def counter_register(
    kind: str, *, parent: type[Model], refresh: Callable[[list[int]], int]
) -> None:
    """Register the count of ``kind`` (APPLICATIONS: chats_count, CHATS: messages_count)."""
    _COUNTERS[kind] = Counter(parent=parent, refresh=refresh)


def counts_refresh_changed() -> tuple[int, int]:
    """Recompute the counts of what gained rows since the last run.

    Returns how many applications and chats were recomputed.
    """
    done = dict.fromkeys((APPLICATIONS, CHATS), 0)
    for kind, counter in _COUNTERS.items():
        while ids := changes_take(kind=kind, limit=COUNTS_BATCH):
            try:
                counter.refresh(ids)
            except Exception:
                changes_return(kind=kind, ids=ids)
                raise
            done[kind] += len(ids)
    COUNTS_REFRESHED.set_to_current_time()
    return done[APPLICATIONS], done[CHATS]


def counts_refresh_all() -> tuple[int, int]:
    """Recompute every count, in batches of ids so no statement locks a whole table."""
    totals = dict.fromkeys((APPLICATIONS, CHATS), 0)
    for kind, counter in _COUNTERS.items():
        last_id = 0
        while ids := list(
            counter.parent._default_manager.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:COUNTS_BATCH]
        ):
            counter.refresh(ids)
            totals[kind], last_id = totals[kind] + len(ids), ids[-1]
    return totals[APPLICATIONS], totals[CHATS]
