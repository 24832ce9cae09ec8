import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from messages_app.seeding import SeedPlan, messages_seed


class Command(BaseCommand):
    help = (
        "Write applications, chats and messages straight to SQL, fast, and tell the Redis "
        "allocator their highest numbers so the API numbers on from there. Adds new "
        "applications on every run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--applications", type=int, default=10, help="default 10")
        parser.add_argument("--chats", type=int, default=1000, help="in all (default 1000)")
        parser.add_argument("--messages", type=int, default=100_000, help="in all")
        parser.add_argument(
            "--largest-chat",
            type=int,
            default=0,
            help="messages of the first chat (the rest are spread evenly over the others)",
        )
        parser.add_argument("--seed", type=int, default=7, help="random seed of the bodies")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self,
        *args: Any,
        applications: int,
        chats: int,
        messages: int,
        largest_chat: int,
        seed: int,
        no_progress: bool,
        **options: Any,
    ) -> None:
        if applications < 1 or chats < applications:
            raise CommandError("--applications must be at least 1 and --chats at least as many.")
        if messages < 0 or largest_chat < 0 or largest_chat > messages:
            raise CommandError("--messages and --largest-chat: 0 ≤ largest chat ≤ messages.")
        plan = SeedPlan(
            applications=applications, chats=chats, messages=messages, largest_chat=largest_chat
        )
        with tqdm(total=messages, unit="msg", disable=no_progress, file=sys.stderr) as bar:
            result = messages_seed(plan=plan, seed=seed, progress=bar.update)
        rate = result.messages / result.seconds if result.seconds else 0
        self.stdout.write(
            f"Seeded {len(result.tokens)} applications, {result.chats} chats and "
            f"{result.messages} messages in {result.seconds:.1f} s ({rate:,.0f} messages/s)."
        )
        for token in result.tokens:
            self.stdout.write(f"token {token}")
