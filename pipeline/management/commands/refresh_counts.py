from django.core.management.base import BaseCommand

from pipeline.counters import counts_refresh_all, counts_refresh_changed


class Command(BaseCommand):
    help = "Recompute chats_count and messages_count now, for every application and chat."

    def handle(self, *args: object, **options: object) -> None:
        # Drain the change sets first so that beat does not redo what this run covers.
        counts_refresh_changed()
        applications, chats = counts_refresh_all()
        self.stdout.write(
            f"Recomputed the counters of {applications} applications and {chats} chats."
        )
