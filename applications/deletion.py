"""Deleting an application with the rows that depend on it, in bounded steps.

One ``DELETE`` of a million messages holds its locks and its undo log for minutes, and Django's
own deletion first loads every related row into memory. Here rows go in batches of
``DELETE_BATCH``, each its own short transaction, by primary key, so the API and the workers go
on meanwhile and an interrupted run is simply run again. The admin deletes an application this
way when it is small (``ADMIN_DELETE_MAX`` rows at most, so the request stays short); a larger
one is refused there and deleted with ``manage.py application_delete <token>``.

The apps whose rows depend on an application register how to count and delete them
(``dependent_register``, from their ``AppConfig.ready()``: chats, then messages); they are
deleted in the reverse order, the deepest first.

Chats are not deleted on their own: the allocator (pipeline.numbering) answers "chat N exists"
for every number it handed out, so a POST to a deleted chat would be accepted and recreate it.
An application is forgotten by the allocator once its rows are gone: its token answers 404.
Rows that the API accepted for it while it was being deleted are dropped by the drain (it logs
each one: "application … is gone"). Receivers of ``application_deleting`` (search) hear of it
in the transaction that deletes the application's row.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from applications.models import Application
from applications.signals import application_deleting
from core.admin_pagination import COUNT_CAP
from pipeline.numbering import application_forget

logger = logging.getLogger(__name__)

DELETE_BATCH = 5_000
# The most rows (of every dependent together) the admin deletes within one request.
ADMIN_DELETE_MAX = COUNT_CAP

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Dependent:
    """Rows that depend on an application: how to count them (capped at ``COUNT_CAP + 1``) and
    delete them (in transactions of at most ``batch`` rows; how many went)."""

    name: str  # plural, as people read it: "chats"
    count: Callable[[int], int]
    delete: Callable[[int, int, Progress | None], int]


_DEPENDENTS: dict[str, Dependent] = {}


def dependent_register(
    name: str,
    *,
    count: Callable[[int], int],
    delete: Callable[[int, int, Progress | None], int],
) -> None:
    """Register rows that depend on an application; the later registered are deleted first."""
    _DEPENDENTS[name] = Dependent(name=name, count=count, delete=delete)


def _deepest_first() -> list[Dependent]:
    return list(reversed(_DEPENDENTS.values()))


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting an application takes: counts per dependent, capped at ``COUNT_CAP + 1``
    ("more than"), in registration order."""

    counts: dict[str, int]

    @property
    def too_large_for_the_admin(self) -> bool:
        return sum(self.counts.values()) > ADMIN_DELETE_MAX

    @staticmethod
    def describe(count: int) -> str:
        return f"more than {COUNT_CAP:,}" if count > COUNT_CAP else f"{count:,}"

    def described(self) -> dict[str, str]:
        return {name: self.describe(count) for name, count in self.counts.items()}


def application_deletion_summary(*, application: Application) -> DeletionSummary:
    """Bounded: each count reads at most ``COUNT_CAP + 1`` index entries."""
    return DeletionSummary(
        counts={name: dependent.count(application.pk) for name, dependent in _DEPENDENTS.items()}
    )


def application_delete(
    *, application: Application, progress: Progress | None = None
) -> dict[str, int]:
    """Delete the application's dependent rows, deepest first, a batch per transaction; then,
    in one transaction, what the workers persisted meanwhile and the application's row; then
    tell the allocator. How many rows of each dependent went. Safe to run again."""
    deleted = dict.fromkeys(_DEPENDENTS, 0)
    for dependent in _deepest_first():
        deleted[dependent.name] += dependent.delete(application.pk, DELETE_BATCH, progress)
    with transaction.atomic():
        # What the workers persisted since the passes above began: a few rows at most.
        for dependent in _deepest_first():
            deleted[dependent.name] += dependent.delete(application.pk, DELETE_BATCH, None)
        application_deleting.send(
            sender=Application, application_id=application.pk, token=application.token
        )
        Application.objects.filter(pk=application.pk).delete()
    application_forget(token=application.token)
    logger.info(
        "deleted application %s… with %s",
        application.token[:8],
        ", ".join(f"{count} {name}" for name, count in deleted.items()),
    )
    return deleted
