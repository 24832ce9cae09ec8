"""The kinds of rows the engine carries, and who writes them: the apps register here.

The engine journals, drains and dead-letters records without knowing any app: each app that
owns a kind of row registers, from its ``AppConfig.ready()``, the record class that decodes its
journal entries and the function that writes a batch of them. Kinds are written in the order
they were registered, which is ``INSTALLED_APPS`` order: a chat's row before its messages'.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core.metrics.instruments import ROWS_PERSISTED
from pipeline import keys
from pipeline.records import Record


@dataclass(frozen=True)
class Kind:
    """A kind of journal entry: how to read it, and what to do with a batch or a dead letter."""

    record: type[Record]
    # Writes a batch in the drain's transaction; idempotent (run again, it changes nothing).
    persist: Callable[[list[Any]], None] | None = None
    # Replays a dead letter that is not a journal row (an edit): queues what applies it.
    replay: Callable[[Any], None] | None = None


_KINDS: dict[str, Kind] = {}


def kind_register(
    record: type[Record],
    *,
    persist: Callable[[list[Any]], None] | None = None,
    replay: Callable[[Any], None] | None = None,
) -> None:
    """Register a record class as its kind's; registering again replaces it (a reloaded app)."""
    _KINDS[record.KIND] = Kind(record=record, persist=persist, replay=replay)


def kind_of(entry: str) -> Kind:
    return _KINDS[keys.EntryName.parse(entry).kind]


def record_decode(entry: str, payload: str | dict[str, Any]) -> Record:
    """The record a journal entry holds; raises if the entry cannot be read."""
    data = json.loads(payload) if isinstance(payload, str) else payload
    return kind_of(entry).record.from_journal(entry, data)


def records_persist(records: Sequence[Record]) -> None:
    """Write a drained batch in one transaction, kind by kind in registration order.

    Each kind's writer queues its own after-commit work; none of it runs if the batch rolls
    back.
    """
    written: dict[str, int] = {}
    with transaction.atomic():
        for kind_name, kind in _KINDS.items():
            batch = [record for record in records if record.KIND == kind_name]
            if batch and kind.persist is not None:
                kind.persist(batch)
                written[kind.record.__name__.removesuffix("Record").lower()] = len(batch)
    for label, count in written.items():
        ROWS_PERSISTED.labels(kind=label).inc(count)
