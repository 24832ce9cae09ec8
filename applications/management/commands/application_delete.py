import sys
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from applications.deletion import application_delete, application_deletion_summary
from applications.models import Application


class Command(BaseCommand):
    help = (
        "Delete an application with its chats and messages, in short batches (the API and the "
        "workers go on meanwhile; safe to run again if interrupted). Its token then answers 404."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token", help="the application's token")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, token: str, yes: bool, no_progress: bool, **options: Any) -> None:
        application = Application.objects.filter(token=token).first()
        if application is None:
            raise CommandError("No application with this token.")
        summary = application_deletion_summary(application=application)
        self.stdout.write(f"{application.name!r} has {_listed(summary.described())}.")
        if not yes and input("Delete them all? Type 'yes': ") != "yes":
            raise CommandError("Nothing deleted.")
        with tqdm(unit="msg", disable=no_progress, file=sys.stderr) as bar:
            deleted = application_delete(application=application, progress=bar.update)
        self.stdout.write(f"Deleted the application, {_listed(deleted)}.")


def _listed(counts: Mapping[str, object]) -> str:
    """``{"chats": 3, "messages": 5}`` as "3 chats and 5 messages"."""
    parts = [f"{count} {name}" for name, count in counts.items()]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
