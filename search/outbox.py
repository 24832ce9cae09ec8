"""Writing the search outbox (search.models) and reading how far behind the index is.

The receivers (search.receivers) write here when the write services' signals arrive inside
their transactions (messages_app.signals, applications.signals): the outbox rows commit or roll
back with the rows they name. After the commit they request a drain (search.tasks); if that
request is lost, beat's sweep finds the rows anyway. With no ELASTICSEARCH_URL nothing is
recorded: the SQL backend searches the table itself.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from search.models import PendingApplicationRemoval, PendingMessage

logger = logging.getLogger(__name__)

# The metric the operators' dashboards read (search.outbox.index_lag_seconds).
INDEX_LAG_METRIC = "chatapi_search_index_lag_seconds"


def messages_record(*, keys: Sequence[tuple[int, int]]) -> bool:
    """Record that the index must receive these messages, in the caller's transaction; whether
    anything was recorded."""
    if not keys or not settings.ELASTICSEARCH_URL:
        return False
    now = timezone.now()
    PendingMessage.objects.bulk_create(
        [
            PendingMessage(chat_id=chat_id, number=number, recorded_at=now)
            for chat_id, number in keys
        ]
    )
    return True


def application_removal_record(*, application_id: int, token: str) -> bool:
    """Record that the index must drop this application's documents once its rows are gone."""
    if not settings.ELASTICSEARCH_URL:
        return False
    PendingApplicationRemoval.objects.create(application_id=application_id, token=token)
    return True


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
