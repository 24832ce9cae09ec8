"""Tasks that failed for good, kept in Redis to be listed and replayed by an operator.

A task that runs out of retries lands here with its arguments and last error, and is logged at
ERROR: never an endless loop, never silent. For the persist tasks the journal entry of the row
moves here in the same transaction, so beat stops re-queueing it (chatapi.pending) and the row's
data is still held until it is replayed (``manage.py dead_letters replay``).
"""

import json
import logging
import time
import uuid
from typing import Any

from chatapi.pending import pending_attempts_key, pending_data_key, pending_time_key
from chatapi.redis_client import redis_connection, redis_key

logger = logging.getLogger(__name__)


def _key() -> str:
    return redis_key("dead-letters")


def dead_letter_add(
    *, task: str, args: list[Any], kwargs: dict[str, Any], error: str, journal_field: str | None
) -> str:
    letter_id = uuid.uuid4().hex
    letter = {"task": task, "args": args, "kwargs": kwargs, "error": error, "at": time.time()}
    pipe = redis_connection().pipeline(transaction=True)
    pipe.hset(_key(), letter_id, json.dumps(letter))
    if journal_field:
        pipe.hdel(pending_data_key(), journal_field)
        pipe.zrem(pending_time_key(), journal_field)
        pipe.hdel(pending_attempts_key(), journal_field)
    pipe.execute()
    logger.error("task %s failed for good, dead letter %s: %s", task, letter_id, error)
    return letter_id


def dead_letters_list() -> dict[str, dict[str, Any]]:
    raw = redis_connection().hgetall(_key())
    letters = {
        (key.decode() if isinstance(key, bytes) else key): json.loads(value)
        for key, value in raw.items()
    }
    return dict(sorted(letters.items(), key=lambda item: item[1]["at"]))


def dead_letter_take(letter_id: str) -> dict[str, Any] | None:
    """Remove a letter and return it (None if another replay took it first)."""
    client = redis_connection()
    pipe = client.pipeline(transaction=True)
    pipe.hget(_key(), letter_id)
    pipe.hdel(_key(), letter_id)
    raw, removed = pipe.execute()
    return json.loads(raw) if raw is not None and removed else None
