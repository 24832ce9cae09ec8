from django.core.management.base import BaseCommand, CommandParser

from chatapi.pending import pending_count
from messages_app.services import pending_rescue


class Command(BaseCommand):
    help = (
        "Queue again every accepted chat and message that is not persisted yet and is older than "
        "--older-than seconds (beat does this on its own every PENDING_RESCUE_EVERY_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=0.0)

    def handle(self, *args: object, **options: object) -> None:
        total = 0
        while queued := pending_rescue(older_than_seconds=float(options["older_than"])):
            total += queued
            if options["older_than"] == 0.0:
                break
        self.stdout.write(f"Queued {total} rows again; {pending_count()} still pending.")
