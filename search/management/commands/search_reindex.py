"""Rebuild the search index from the database, in batches, with a progress bar.

Safe to run again, and while the API and the workers run: document ids are derived from the
message's public identity and every write is versioned by ``updated_at`` (search.documents), so
a second run rewrites the same documents and a message edited meanwhile keeps its newer text.

At database speed: messages are walked by primary key (a range of it per batch, no JOIN and no
sort, search.indexing.messages_batch_for_index), the next batch is read while the current one
is sent, and each batch is one bulk request. Ctrl-C stops it between two batches and says where
it stopped; ``--after`` starts from there.
"""

import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from messages_app.models import Message
from search.indexing import (
    index_ensure,
    index_recreate,
    messages_batch_for_index,
    messages_bulk_index,
)

# The Elasticsearch client logs every request at INFO: one line per batch, ten thousand lines
# for ten million messages. Kept at WARNING unless asked for (-v 2).
CLIENT_LOGGERS = ("elastic_transport.transport", "elasticsearch")


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
        parser.add_argument(
            "--after",
            type=int,
            default=0,
            metavar="ID",
            help="Start after this message id (where an interrupted run stopped).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self,
        *args: Any,
        batch_size: int,
        recreate: bool,
        after: int,
        no_progress: bool,
        verbosity: int,
        **options: Any,
    ) -> None:
        if not settings.ELASTICSEARCH_URL:
            raise CommandError(
                "ELASTICSEARCH_URL is not set: the SQL backend searches the messages table "
                "itself and has no index to rebuild."
            )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if after < 0:
            raise CommandError("--after must be a message id (0 or more).")
        quieted = {name: logging.getLogger(name).level for name in CLIENT_LOGGERS}
        if verbosity < 2:
            for name in CLIENT_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        try:
            self._reindex(
                batch_size=batch_size, recreate=recreate, after=after, bar=not no_progress
            )
        finally:
            for name, level in quieted.items():
                logging.getLogger(name).setLevel(level)

    def _reindex(self, *, batch_size: int, recreate: bool, after: int, bar: bool) -> None:
        if recreate:
            index_recreate()
        else:
            index_ensure()
        # The highest id, for the bar: a COUNT(*) would read the whole table first.
        highest = Message.objects.aggregate(highest=Max("pk"))["highest"] or 0
        progress = tqdm(
            total=max(0, highest - after),
            unit="id",
            disable=not bar,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        indexed, last_pk = 0, after
        # One bulk request in flight while the next batch is read: the database and
        # Elasticsearch work at the same time. Reads stay on this thread (its connection).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reindex-sender")
        sending: tuple[Future, list[Message]] | None = None

        def sent() -> None:
            nonlocal indexed, last_pk
            if sending is None:
                return
            future, batch = sending
            future.result()  # a failed bulk request stops the run here
            progress.update(min(batch[-1].pk, highest) - min(last_pk, highest))
            last_pk, indexed = batch[-1].pk, indexed + len(batch)
            progress.set_postfix(messages=indexed, refresh=False)

        try:
            # Client log lines go above the bar (tqdm.write) instead of through it.
            with progress, logging_redirect_tqdm():
                batch = messages_batch_for_index(after_pk=after, size=batch_size)
                # Rows added during the run are picked up at the end: the walk goes on past the
                # highest id seen at the start until a batch comes back empty.
                while batch:
                    sent()
                    future = pool.submit(messages_bulk_index, batch, ensure_index=False)
                    sending = (future, batch)
                    batch = messages_batch_for_index(after_pk=batch[-1].pk, size=batch_size)
                sent()
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            self.stderr.write(
                f"Interrupted after {indexed} messages, up to message id {last_pk}. Every batch "
                "sent is complete and the index is versioned: it is safe to run again, and "
                f"`--after {last_pk}` goes on from there."
            )
            raise CommandError("interrupted", returncode=130) from None
        finally:
            pool.shutdown(wait=False)
        self.stdout.write(f"Indexed {indexed} messages into {self._index_name()}.")

    def _index_name(self) -> str:
        from search.documents import MessageDocument

        return MessageDocument._index._name
