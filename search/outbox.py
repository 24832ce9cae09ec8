"""Writing the search outbox (search.models) and reading how far behind the index is.

The receivers here are connected in search.apps to the signals the write services send inside
their transactions (messages_app.signals, applications.signals): the outbox rows commit or roll
back with the rows they name. After the commit a drain is requested (search.tasks); if that
request is lost, beat's sweep finds the rows anyway. With no ELASTICSEARCH_URL nothing is
recorded: the SQL backend searches the table itself.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from search.models import PendingApplicationRemoval, PendingMessage

logger = logging.getLogger(__name__)

# The metric the operators' dashboards read (search.outbox.index_lag_seconds).
INDEX_LAG_METRIC = "chatapi_search_index_lag_seconds"


def messages_record(*, keys: Sequence[tuple[int, int]]) -> None:
    """Record that the index must receive these messages, in the caller's transaction."""
    if not keys or not settings.ELASTICSEARCH_URL:
        return
    now = timezone.now()
    PendingMessage.objects.bulk_create(
        [
            PendingMessage(chat_id=chat_id, number=number, recorded_at=now)
            for chat_id, number in keys
        ]
    )
    transaction.on_commit(drain_request, robust=True)


def application_removal_record(*, application_id: int, token: str) -> None:
    """Record that the index must drop this application's documents once its rows are gone."""
    if not settings.ELASTICSEARCH_URL:
        return
    PendingApplicationRemoval.objects.create(application_id=application_id, token=token)
    transaction.on_commit(drain_request, robust=True)


def drain_request() -> None:
    """Queue a drain unless one is queued and not started yet; never raises.

    A failure here costs latency only: the rows are committed, and beat's sweep drains them.
    """
    from search.tasks import drain_request_once

    try:
        drain_request_once()
    except Exception:
        logger.warning("could not queue a search outbox drain; beat's sweep will", exc_info=True)


# --- receivers (connected in search.apps) -------------------------------------------------------


def on_messages_written(*, keys: Sequence[tuple[int, int]], **_: Any) -> None:
    messages_record(keys=keys)


def on_application_deleting(*, application_id: int, token: str, **_: Any) -> None:
    application_removal_record(application_id=application_id, token=token)


# --- what an operator (and the metrics) see -----------------------------------------------------


@dataclass(frozen=True)
class OutboxStatus:
    pending_messages: int
    pending_application_removals: int
    oldest_recorded_at: datetime | None

    @property
    def lag_seconds(self) -> float:
        """How long the oldest pending write has waited; 0 when nothing is pending."""
        if self.oldest_recorded_at is None:
            return 0.0
        return max(0.0, (timezone.now() - self.oldest_recorded_at).total_seconds())


def _oldest_recorded_at() -> datetime | None:
    """The oldest pending row's time, found by primary key (no index on the time column):
    ids grow with time, give or take the transactions in flight."""
    oldest = [
        model.objects.order_by("pk").values_list("recorded_at", flat=True).first()
        for model in (PendingMessage, PendingApplicationRemoval)
    ]
    known = [at for at in oldest if at is not None]
    return min(known) if known else None


def outbox_status() -> OutboxStatus:
    return OutboxStatus(
        pending_messages=PendingMessage.objects.count(),
        pending_application_removals=PendingApplicationRemoval.objects.count(),
        oldest_recorded_at=_oldest_recorded_at(),
    )


def index_lag_seconds() -> float:
    """``chatapi_search_index_lag_seconds``: the age of the oldest write the index lacks.

    0 when the index has everything (and always on the SQL backend). Two indexed reads, no
    count: cheap enough for every scrape.
    """
    if not settings.ELASTICSEARCH_URL:
        return 0.0
    return OutboxStatus(0, 0, _oldest_recorded_at()).lag_seconds
