"""Seeding: many applications, chats and messages written straight to SQL, then told to Redis.

For benchmarks, demos and the scale tests: ten million messages in minutes, which the API (a
Lua script and a journal entry per message, then the drain) would take hours to persist. The
rows are consistent by construction: chats are numbered 1..n in each application, messages
1..n in each chat, the counters hold the exact counts, and the allocator is told the highest
numbers (pipeline.numbering.counters_restore), so the API numbers on from there.

Bodies are drawn from a fixed vocabulary of made-up six-letter words, so a word occurs in about
3 % of the messages (``COMMON_TERM``); ``RARE_TERM`` is appended to one message in
``RARE_EVERY`` of every chat, and ``ABSENT_TERM`` occurs nowhere: the three selectivities the
search benchmark measures.
"""

import random
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from applications.models import Application, token_generate
from chats.models import Chat
from pipeline.numbering import counters_restore

VOCABULARY_SIZE = 300
# Bodies are picked from a pool generated once: generating one per row would cost more than
# the INSERT. 2**16 distinct bodies keep every word's frequency at ~3 %.
BODY_POOL_BITS = 16
RARE_TERM = "qu4rtz"  # a digit: never one of the vocabulary's words
RARE_EVERY = 100_000
ABSENT_TERM = "n0where"
INSERT_BATCH = 10_000


def vocabulary(seed: int = 5) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    words: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        words.add("".join(rng.choices(string.ascii_lowercase, k=6)))
    return sorted(words)


COMMON_TERM = vocabulary()[0]


@dataclass(frozen=True)
class SeedPlan:
    """How many rows: ``largest_chat`` messages in the first chat, the rest spread evenly."""

    applications: int
    chats: int
    messages: int
    largest_chat: int = 0

    def chats_of(self, application_index: int) -> int:
        base, extra = divmod(self.chats, self.applications)
        return base + (1 if application_index < extra else 0)

    def messages_of(self, chat_index: int) -> int:
        """Messages of the chat at ``chat_index`` (0-based, over all applications)."""
        if self.largest_chat and chat_index == 0:
            return min(self.largest_chat, self.messages)
        rest = self.messages - (min(self.largest_chat, self.messages) if self.largest_chat else 0)
        others = self.chats - (1 if self.largest_chat else 0)
        if others <= 0:
            return 0
        base, extra = divmod(rest, others)
        index = chat_index - (1 if self.largest_chat else 0)
        return base + (1 if index < extra else 0)


@dataclass
class SeedResult:
    tokens: list[str] = field(default_factory=list)
    chats: int = 0
    messages: int = 0
    seconds: float = 0.0


def _bodies(seed: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    words = vocabulary()
    return [" ".join(rng.choices(words, k=rng.randint(6, 14))) for _ in range(1 << BODY_POOL_BITS)]


def _timestamp(moment: datetime) -> str:
    # How Django stores an aware datetime on both backends (UTC, no zone, microseconds).
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _message_rows(
    chat_id: int, count: int, bodies: list[str], rng: random.Random, start: datetime
) -> Iterator[list[tuple[int, int, str, str, str]]]:
    step = timedelta(milliseconds=1)
    for first in range(1, count + 1, INSERT_BATCH):
        last = min(first + INSERT_BATCH, count + 1)
        stamp = _timestamp(start + step * first)
        batch = []
        for number in range(first, last):
            body = bodies[rng.getrandbits(BODY_POOL_BITS)]
            if number % RARE_EVERY == RARE_EVERY // 2:
                body = f"{body} {RARE_TERM}"
            batch.append((chat_id, number, body, stamp, stamp))
        yield batch


def messages_seed(
    *, plan: SeedPlan, seed: int = 7, progress: Callable[[int], None] | None = None
) -> SeedResult:
    """Write the plan's rows, in transactions of ``INSERT_BATCH`` rows, and tell Redis.

    Each run adds new applications (fresh tokens), so it never collides with existing rows.
    """
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    bodies = _bodies(seed)
    result = SeedResult()
    now = timezone.now()
    start = now - timedelta(milliseconds=plan.messages + 1)
    chat_index = 0
    insert = (
        "INSERT INTO messages (chat_id, number, body, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s)"
    )
    for app_index in range(plan.applications):
        chats = plan.chats_of(app_index)
        counts = [plan.messages_of(chat_index + i) for i in range(chats)]
        with transaction.atomic():
            application = Application.objects.create(
                token=token_generate(),
                name=f"seeded {app_index + 1}",
                chats_count=chats,
                created_at=now,
                updated_at=now,
            )
            Chat.objects.bulk_create(
                [
                    Chat(
                        application=application,
                        number=number,
                        messages_count=counts[number - 1],
                        created_at=now,
                        updated_at=now,
                    )
                    for number in range(1, chats + 1)
                ],
                batch_size=1000,
            )
        chat_ids = dict(Chat.objects.filter(application=application).values_list("number", "id"))
        for number in range(1, chats + 1):
            for batch in _message_rows(chat_ids[number], counts[number - 1], bodies, rng, start):
                with transaction.atomic(), connection.cursor() as cursor:
                    # mysqlclient sends this as one multi-row INSERT per batch.
                    cursor.executemany(insert, batch)
                result.messages += len(batch)
                if progress is not None:
                    progress(len(batch))
        counters_restore(
            token=application.token,
            chats=chats,
            messages={number: counts[number - 1] for number in range(1, chats + 1)},
        )
        result.tokens.append(application.token)
        result.chats += chats
        chat_index += chats
    # Fresh statistics, as a table that grew over time would have. ANALYZE commits implicitly
    # on MySQL, so not inside a caller's transaction (a test's).
    if connection.vendor == "mysql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE TABLE applications, chats, messages")
            cursor.fetchall()
    result.seconds = time.monotonic() - started
    return result
