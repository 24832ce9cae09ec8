"""Hard cases an outside review of the write pipeline found: each failed before its fix.

Each test states the behaviour the README and the API contract promise. Tests that
need a Redis configured in a way the shared test Redis must not be (min-replicas-to-write,
maxmemory, cluster mode, DEBUG SLEEP) start a private redis-server on a free port (the process
harness of tests/support/harness) and kill it at the end.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from applications.tests.factories import ApplicationFactory
from pipeline import keys, scripts
from pipeline.numbering import application_register
from tests.support.harness.redis import RedisServer


@contextmanager
def private_redis(directory: Path, *options: str, cluster: bool = False) -> Iterator[int]:
    """A redis-server of this test only, on a free port; yields the port."""
    directory.mkdir(parents=True, exist_ok=True)
    # 15 s is Redis's own default node timeout: a cluster of one never fails over.
    server = RedisServer(
        directory, *options, aof=False, cluster_node_timeout_ms=15000 if cluster else None
    )
    server.start()
    try:
        client = server.client()
        if cluster:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            for _ in range(100):
                if b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"):
                    break
                time.sleep(0.05)
        yield server.port
    finally:
        server.kill()


@contextmanager
def cluster_of_one(directory: Path, timeout: float) -> Iterator[redis.Redis]:
    """The pipeline pointed at a one-node Redis Cluster of this test (all 16384 slots)."""
    from chatapi import redis_client

    with (
        private_redis(directory, "--enable-debug-command", "yes", cluster=True) as port,
        override_settings(REDIS_CLUSTER_NODES=[f"127.0.0.1:{port}"], REDIS_SOCKET_TIMEOUT=timeout),
    ):
        redis_client._cluster.cache_clear()
        try:
            yield redis.Redis(port=port)
        finally:
            redis_client._cluster.cache_clear()


@pytest.mark.django_db
def test_a_cluster_create_whose_reply_timed_out_is_not_allocated_twice(tmp_path):
    """Bug: RedisCluster is built with Retry(..., 3) (chatapi/redis_client.py:34), and
    redis-py's cluster client retries any command, EVALSHA included, after a TimeoutError.
    A create whose script ran but whose reply came later than REDIS_SOCKET_TIMEOUT is run
    again: the client gets a 201 for the second number while the first one is journaled too,
    a chat (or a duplicate message) that was never answered 201 (API.md: "A chat or message
    exists only if its creation was answered 201")."""
    from chatapi.errors import ServiceUnavailable
    from pipeline.accept import chat_accept

    with cluster_of_one(tmp_path, timeout=0.3) as node:
        application = ApplicationFactory()
        application_register(token=application.token)
        warm = keys.chat_entry(application.token, chat_accept(token=application.token).number)

        def stall() -> None:  # a slow server: an fsync stall, a big command, a busy script
            time.sleep(0.05)
            redis.Redis(port=node.connection_pool.connection_kwargs["port"]).execute_command(
                "DEBUG", "SLEEP", "0.5"
            )

        staller = threading.Thread(target=stall)
        staller.start()
        time.sleep(0.1)
        try:
            number = chat_accept(token=application.token).number
            answered = [keys.chat_entry(application.token, number)]
        except ServiceUnavailable:
            answered = None  # outcome unknown: allowed to be 0 or 1 chat
        staller.join()

        journal = sorted(
            scripts.text(name)
            for name in node.hkeys(keys.journal_entries_key(keys.partition_of(application.token)))
        )
        journal.remove(warm)
        if answered is None:
            assert len(journal) <= 1
        else:
            assert journal == answered


@pytest.mark.django_db
@pytest.mark.parametrize(
    "refusal",
    [
        # docker-compose's cluster nodes run with min-replicas-to-write 1: a master whose
        # replica is down or lagging refuses writes (README: "it refuses writes (503)").
        ("min-replicas-to-write", "1"),
        # README: "maxmemory-policy noeviction": a full Redis refuses writes with OOM.
        ("maxmemory", "1"),
    ],
    ids=["NOREPLICAS", "OOM"],
)
def test_a_create_refused_by_redis_is_a_503_not_a_500(tmp_path, refusal):
    """Bug: chatapi/errors.py:55 REDIS_UNAVAILABLE lists ConnectionError, TimeoutError and the
    cluster errors, but a Redis that refuses to write answers an error reply that redis-py
    raises as ResponseError ("NOREPLICAS Not enough good replicas to write.") or its subclass
    OutOfMemoryError. Neither is caught by redis_unavailable_as_503 nor by the exception
    handler, so the create answers 500 internal_error instead of the contract's 503 with
    Retry-After."""
    from rest_framework.test import APIClient

    with cluster_of_one(tmp_path, timeout=2.0) as node:
        application = ApplicationFactory()
        application_register(token=application.token)
        node.config_set(*refusal)

        response = APIClient(raise_request_exception=False).post(
            f"/api/v1/apps/{application.token}/chats"
        )

        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response["Retry-After"]


@pytest.mark.django_db(transaction=True)
def test_a_full_redis_can_still_drain_its_journal(tmp_path):
    """Bug: lua/claim.lua writes (ZADD XX, HINCRBY) before it returns anything, and a script
    without the ``allow-oom`` flag is refused with OOM once Redis is at maxmemory with
    noeviction (the README's recommended policy). The journal is what fills Redis while the
    database is slow or down; once it is full, every drain (and ``manage.py drain_journal``,
    whose journal_make_due is a ZADD) fails at its first step, so nothing is ever written to
    SQL and nothing is ever cleared: creates fail and the journal cannot shrink until an
    operator raises maxmemory by hand. Clearing (HDEL/ZREM) is allowed under OOM; only the claim
    is in the way."""
    from chats.models import Chat
    from pipeline.accept import chat_accept
    from pipeline.drain import journal_drain

    with cluster_of_one(tmp_path, timeout=2.0) as node:
        application = ApplicationFactory()
        application_register(token=application.token)
        number = chat_accept(token=application.token).number
        empty = (keys.partition_of(application.token) + 1) % settings.REDIS_PARTITIONS
        journal_drain(empty, batch_size=10, time_budget_seconds=5)  # claim.lua is loaded
        node.config_set("maxmemory", "1")  # full: noeviction is the default policy

        journal_drain(keys.partition_of(application.token), batch_size=10, time_budget_seconds=5)

        assert Chat.objects.filter(application=application, number=number).exists()
        assert node.hlen(keys.journal_entries_key(keys.partition_of(application.token))) == 0


@pytest.mark.django_db
def test_replaying_edit_letters_while_the_broker_is_down_keeps_them(redis_clean, monkeypatch):
    """Bug: pipeline/dead_letters.py dead_letters_replay takes the letters out of Redis first
    (lua/requeue.lua HDELs every letter, edits included) and only then publishes one
    message_edit_task per edit letter. If publishing fails (RabbitMQ down or blocked, the broker
    Redis unreachable: kombu raises OperationalError after its publish retries), the exception
    escapes after the letters are gone: the edits are lost for good, with every other edit
    letter of the same replay after the failing one. The operator sees a traceback and
    ``dead_letters list`` no longer shows them."""
    from datetime import datetime

    from kombu.exceptions import OperationalError

    from pipeline.dead_letters import dead_letter_from_edit, dead_letters_list, dead_letters_replay
    from pipeline.records import EditRecord
    from pipeline.tasks import message_edit_task

    token = "c" * 40
    letter_ids = [
        dead_letter_from_edit(
            EditRecord(
                token=token,
                chat_number=1,
                number=number,
                body=f"edit {number}",
                updated_at=datetime.fromisoformat("2026-12-01T10:00:00+00:00"),
            ),
            RuntimeError("its message never came"),
        )
        for number in (1, 2)
    ]

    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(message_edit_task, "delay", broker_down)

    try:
        dead_letters_replay(letter_ids)
    except OperationalError:
        pass  # an error is fine; losing the letters is not

    assert sorted(dead_letters_list()) == sorted(letter_ids)  # still there to replay later


@pytest.mark.django_db
def test_a_legacy_letter_of_a_row_with_a_broken_payload_does_not_break_the_listing(redis_clean):
    """Bug: pipeline/dead_letters.py _legacy decodes an old letter's args through
    MessageRecord.from_journal, and the old drain (messages_app/services.py _dead_letter before
    the pipeline package) built those args with ``payload.get(...)``: a row dead-lettered
    because its payload lacked a field has None there. datetime.fromisoformat(None) raises
    TypeError inside dead_letters_list, so ``manage.py dead_letters list`` and ``replay`` crash
    for every letter, not just this one, and none can be replayed after the upgrade."""
    from io import StringIO

    from django.core.management import call_command

    token = "d" * 40
    at = "2026-12-01T10:00:00+00:00"
    old = {
        "task": "messages_app.tasks.message_persist_task",
        "args": [token, 1, 2, "a body", at, None],  # its payload had no updated_at
        "kwargs": {},
        "error": "KeyError: 'updated_at'",
        "at": 1.0,
    }
    fine = {**old, "args": [token, 1, 3, "fine", at, at], "error": "IntegrityError: x", "at": 2.0}
    letters = keys.dead_letters_key(keys.partition_of(token))
    redis_clean.hset(letters, mapping={"broken": json.dumps(old), "fine": json.dumps(fine)})

    out = StringIO()
    call_command("dead_letters", "list", stdout=out)

    assert "2 dead letters." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_rows_accepted_before_redis_partitions_changed_are_still_persisted(redis_clean):
    """Bug: the README says of REDIS_PARTITIONS "changing it moves applications to other
    partitions, whose counters are then reseeded with a jump of the reserve", as if a jump were
    the whole cost. But the journal entries (and dead letters) already written stay under their
    old ``{pN}`` tag, and every reader recomputes the partition from the token with the new
    count: drains and the sweep iterate range(REDIS_PARTITIONS) (journal.py partitions_due,
    _each_partition), journal_clear/journal_move and journal_get use keys.entry_partition.
    An entry in a partition >= the new count is never drained, not even by
    ``manage.py drain_journal`` (which also reports "0 rows were pending"), and its chat is a
    404; an entry in a partition < the new count is written, then "cleared" from another
    partition's hash, and re-written forever. A 201 is lost (API.md: "eventually persisted
    exactly once")."""
    from io import StringIO

    from django.core.management import call_command

    from chats.models import Chat
    from pipeline.accept import chat_accept

    # A token whose partition under the default 256 is past the new count of 16.
    token = next(t for t in (f"{n:040x}" for n in range(1000)) if keys.partition_of(t) >= 16)
    application = ApplicationFactory(token=token)
    application_register(token=token)
    number = chat_accept(token=token).number

    with override_settings(REDIS_PARTITIONS=16):  # the operator changes it, workers restart
        out = StringIO()
        call_command("drain_journal", stdout=out)

        assert Chat.objects.filter(application=application, number=number).exists(), out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_retry_whose_key_redis_lost_finds_its_row_even_if_it_was_edited(redis_clean):
    """Bug (narrow): pipeline/accept.py message_replay rebuilds the first call's record from the
    persisted row, resetting updated_at "as the first call answered it: before any edit" but
    keeping the row's current body; message_accept then compares content() and answers 422
    idempotency_key_reused to a client retrying with the same key and the same body, because
    someone edited the message meanwhile. README (failure table): after a loss that takes the
    key's record, "a retry finds its persisted row" among the last 3 x R numbers."""
    from chatapi.errors import IdempotencyKeyReused
    from pipeline.accept import chat_accept, message_accept
    from pipeline.drain import journal_drain
    from pipeline.edits import message_update

    application = ApplicationFactory()
    application_register(token=application.token)
    chat = chat_accept(token=application.token).number
    first = message_accept(
        token=application.token, chat_number=chat, content={"body": "hello"}, idempotency_key="K"
    )
    journal_drain(keys.partition_of(application.token), batch_size=10, time_budget_seconds=5)
    message_update(application=application, chat_number=chat, number=first.number, body="edited")
    redis_clean.flushdb()  # Redis loses its data (the README's FLUSHALL / no-AOF restart row)

    try:
        again = message_accept(
            token=application.token,
            chat_number=chat,
            content={"body": "hello"},
            idempotency_key="K",
        )
    except IdempotencyKeyReused:
        pytest.fail("a retry with the same key and body was answered 422")
    assert again.number == first.number


@pytest.mark.django_db
def test_the_sweep_still_drains_the_partitions_of_live_masters_when_one_master_is_down():
    """Bug: journal.py partitions_due (beat's sweep, every JOURNAL_DRAIN_EVERY_SECONDS, and
    drain_queue_after_connect) reads the clocks of all REDIS_PARTITIONS partitions in one
    ClusterPipeline, which raises as soon as one node cannot answer. While one master is down
    (before its replica takes over, or for good if it has none: the README runs the cluster
    with cluster-require-full-coverage no so that "the other masters never refused") the sweep
    queues no drain at all, for any partition: rows whose drain was lost or whose lease ran
    out on the live masters wait until the dead master is back. The same one-pipeline pattern
    makes journal_count (manage.py drain_journal) and dead_letters_list fail."""
    from redis.crc import key_slot

    from chatapi import redis_client
    from pipeline.accept import chat_accept
    from pipeline.drain import journal_sweep
    from tests.redis_cluster import LocalRedisCluster

    cluster = LocalRedisCluster(masters=3).start()
    try:
        with override_settings(REDIS_CLUSTER_NODES=cluster.nodes_setting().split(",")):
            redis_client._cluster.cache_clear()
            application = ApplicationFactory()
            application_register(token=application.token)
            chat_accept(token=application.token)  # due now, as if its drain had been lost
            partition = keys.partition_of(application.token)
            home = cluster.master_of_slot(key_slot(keys.journal_clock_key(partition).encode()))
            other = next(node for node in cluster.masters() if node.port != home.port)
            cluster.kill(other)
            time.sleep(3)  # node timeout 1 s: the cluster marks it failed

            assert partition in journal_sweep()
    finally:
        redis_client._cluster.cache_clear()
        cluster.stop()
