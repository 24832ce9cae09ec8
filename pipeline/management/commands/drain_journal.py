from django.conf import settings
from django.core.management.base import BaseCommand

from pipeline.drain import journal_drain
from pipeline.journal import journal_count, journal_make_due, partitions_due
from pipeline.tasks import FOLLOW_UPS


class Command(BaseCommand):
    help = (
        "Write every accepted chat and message that is not persisted yet, from this process, "
        "now: leases of drains that died are broken first. Workers and beat do this on their own."
    )

    def handle(self, *args: object, **options: object) -> None:
        due = journal_make_due()
        written = sum(
            journal_drain(
                partition,
                batch_size=settings.PERSIST_BATCH_SIZE,
                time_budget_seconds=float("inf"),
                follow_ups=FOLLOW_UPS,
            )
            for partition in partitions_due()
        )
        self.stdout.write(f"{due} rows were pending; wrote {written}; {journal_count()} left.")
