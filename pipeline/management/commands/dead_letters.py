import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.dead_letters import dead_letters_list, dead_letters_replay
from pipeline.tasks import journal_sweep


class Command(BaseCommand):
    help = (
        "List the rows that failed for good, or replay them (all, or by id): their journal "
        "entries go back into the journal, due now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("ids", nargs="*", help="dead letter ids to replay (default: all)")

    def handle(self, *args: object, **options: object) -> None:
        letters = dead_letters_list()
        if options["action"] == "list":
            for letter_id, letter in letters.items():
                self.stdout.write(f"{letter_id} {json.dumps(letter, ensure_ascii=False)}")
            self.stdout.write(f"{len(letters)} dead letters.")
            return
        wanted = list(options["ids"]) or list(letters)  # type: ignore[call-overload]
        unknown = [letter_id for letter_id in wanted if letter_id not in letters]
        if unknown:
            raise CommandError(f"No such dead letter: {', '.join(unknown)}")
        replayed = dead_letters_replay(wanted)
        journal_sweep()
        self.stdout.write(f"Replayed {replayed} dead letters.")
