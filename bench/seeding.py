"""A chat of 100,000 messages for the read figures, written straight into SQL in batches.

Not through the API: this is the fixture of the read benchmark, not a measurement, and the
API would take minutes to persist that many one by one. Bodies are 6 to 14 words drawn from a
fixed vocabulary of 300 made-up six-letter words, so any one word occurs in about 3 % of the
messages and search terms have a known, moderate selectivity.
"""

from __future__ import annotations

import random
import string
import time
from datetime import UTC, datetime

VOCABULARY_SIZE = 300
BATCH = 5000


def vocabulary(seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        words.add("".join(rng.choices(string.ascii_lowercase, k=6)))
    return sorted(words)


def messages_seed(conn, *, chat_id: int, count: int, seed: int = 7) -> dict:
    """Insert messages 1..count into the chat; the rows and how long they took."""
    rng = random.Random(seed)
    words = vocabulary()
    # MariaDB stores DATETIME without a zone; Django (USE_TZ) reads it as UTC.
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    started = time.monotonic()
    with conn.cursor() as cursor:
        for first in range(1, count + 1, BATCH):
            rows = [
                (chat_id, number, " ".join(rng.choices(words, k=rng.randint(6, 14))), now, now)
                for number in range(first, min(first + BATCH, count + 1))
            ]
            # mysqlclient turns this into one multi-row INSERT per batch.
            cursor.executemany(
                "INSERT INTO messages (chat_id, number, body, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        # Fresh statistics, as a table that grew over time would have.
        cursor.execute("ANALYZE TABLE messages")
        cursor.fetchall()
    return {"messages": count, "seconds": round(time.monotonic() - started, 1)}


def search_queries(count: int = 20, seed: int = 11) -> list[str]:
    """Single vocabulary words: each matches about 3 % of the seeded chat (~3,000 messages)."""
    return random.Random(seed).sample(vocabulary(), count)
