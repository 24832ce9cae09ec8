"""Entries and letters outside their own partition are moved into it (pipeline.legacy)."""

import json
import os

import pytest
from django.conf import settings
from django.test import override_settings

from core.redis_client import redis_key
from pipeline import keys
from pipeline.journal import journal_get
from pipeline.legacy import misplaced_move

TOKEN = "e" * 40
PAYLOAD = {
    "body": "kept",
    "created_at": "2026-12-01T10:00:00+00:00",
    "updated_at": "2026-12-01T10:00:00+00:00",
}


@pytest.mark.skipif(
    os.environ.get("TEST_REDIS_TOPOLOGY") == "cluster",
    reason="the layout before partitions was standalone Redis only: a cluster has none to move",
)
def test_the_journal_and_letters_of_the_layout_before_partitions_move_into_them(redis_clean):
    entry = keys.message_entry(TOKEN, 1, 2)
    letter = {"entry": entry, "payload": json.dumps(PAYLOAD), "error": "x", "at": 1.0}
    redis_clean.hset(redis_key("pending"), entry, json.dumps(PAYLOAD))
    redis_clean.zadd(redis_key("pending", "by_time"), {entry: 123.0})
    redis_clean.hset(redis_key("pending", "attempts"), entry, 1)
    redis_clean.hset(redis_key("dead-letters"), "L", json.dumps(letter))

    assert misplaced_move() == 2
    assert misplaced_move() == 0  # nothing left to move

    partition = keys.partition_of(TOKEN)
    assert journal_get(entry) == PAYLOAD
    assert redis_clean.zscore(keys.journal_clock_key(partition), entry) == 123.0  # due as it was
    assert redis_clean.hget(keys.dead_letters_key(partition), "L") is not None
    for old in ("pending", "pending:by_time", "pending:attempts", "dead-letters"):
        assert not redis_clean.exists(redis_key(*old.split(":")))


def test_a_change_of_redis_partitions_moves_entries_to_their_new_partition(redis_clean):
    entry = keys.chat_entry(TOKEN, 1)
    misplaced_move()  # the count in use is recorded
    old = keys.partition_of(TOKEN)
    redis_clean.hset(keys.journal_entries_key(old), entry, json.dumps({"created_at": "now"}))
    redis_clean.zadd(keys.journal_clock_key(old), {entry: 5.0})

    with override_settings(REDIS_PARTITIONS=settings.REDIS_PARTITIONS // 2 + 1):
        new = keys.partition_of(TOKEN)
        assert new != old
        assert misplaced_move() == 1
        assert redis_clean.hexists(keys.journal_entries_key(new), entry)
        assert redis_clean.zscore(keys.journal_clock_key(new), entry) == 5.0
        assert not redis_clean.hexists(keys.journal_entries_key(old), entry)
        assert misplaced_move() == 0
