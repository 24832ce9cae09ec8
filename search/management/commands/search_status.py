"""How far behind the search index is: what the outbox (search.models) still holds.

Prints the pending messages, the pending application removals and the age of the oldest
pending write (``chatapi_search_index_lag_seconds``, search.outbox.index_lag_seconds). With
``--max-lag SECONDS`` it exits 2 when the index is further behind than that, for a cron job or
a health check. With no ELASTICSEARCH_URL it says there is no index to be behind.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from search.outbox import INDEX_LAG_METRIC, outbox_status


class Command(BaseCommand):
    help = "Show what the search index still lacks: pending writes and the oldest one's age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-lag",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Exit 2 when the oldest pending write is older than this.",
        )

    def handle(self, *args: Any, max_lag: float | None, **options: Any) -> None:
        if not settings.ELASTICSEARCH_URL:
            self.stdout.write(
                "ELASTICSEARCH_URL is not set: search is served by the SQL database, which is "
                "always current; nothing is pending."
            )
            return
        status = outbox_status()
        oldest = (
            status.oldest_recorded_at.isoformat(timespec="seconds")
            if status.oldest_recorded_at
            else "-"
        )
        self.stdout.write(f"pending messages: {status.pending_messages}")
        self.stdout.write(f"pending application removals: {status.pending_application_removals}")
        self.stdout.write(f"oldest pending: {oldest}")
        self.stdout.write(f"{INDEX_LAG_METRIC}: {status.lag_seconds:.1f}")
        if max_lag is not None and status.lag_seconds > max_lag:
            raise CommandError(
                f"the search index is {status.lag_seconds:.1f} s behind (more than {max_lag} s)",
                returncode=2,
            )
