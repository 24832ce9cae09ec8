"""Rebuild the search index from the database, in batches, with a progress bar.

Safe to run again, and while the API and the workers run: document ids are derived from the
message's public identity and every write is versioned by ``updated_at`` (search.documents), so
a second run rewrites the same documents and a message edited meanwhile keeps its newer text.
"""

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from search.indexing import (
    index_ensure,
    index_recreate,
    messages_bulk_index,
    messages_for_index,
)


class Command(BaseCommand):
    help = "Index every message into Elasticsearch, in batches (re-runnable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="Messages read and sent per bulk request (default 1000).",
        )
        parser.add_argument(
            "--recreate",
            action="store_true",
            help=(
                "Delete the index and create it with the current mapping first (needed after a "
                "mapping change; searches miss messages until the run completes)."
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self, *args: Any, batch_size: int, recreate: bool, no_progress: bool, **options: Any
    ) -> None:
        if not settings.ELASTICSEARCH_URL:
            raise CommandError(
                "ELASTICSEARCH_URL is not set: the SQL backend searches the messages table "
                "itself and has no index to rebuild."
            )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if recreate:
            index_recreate()
        else:
            index_ensure()

        rows = messages_for_index().order_by("pk")
        indexed = 0
        last_pk = 0
        with tqdm(total=rows.count(), unit="msg", disable=no_progress, file=sys.stderr) as progress:
            # Keyset batches on the primary key: each batch is one indexed range query, however
            # large the table, and rows added during the run are picked up at the end.
            while batch := list(rows.filter(pk__gt=last_pk)[:batch_size]):
                messages_bulk_index(batch)
                last_pk = batch[-1].pk
                indexed += len(batch)
                progress.update(len(batch))
        self.stdout.write(f"Indexed {indexed} messages into {self._index_name()}.")

    def _index_name(self) -> str:
        from search.documents import MessageDocument

        return MessageDocument._index._name
