"""Hard cases of the write engine: Redis refusing, timing out, full or partly down.

Each test states the behaviour the README and the API contract promise. Tests that
need a Redis configured in a way the shared test Redis must not be (min-replicas-to-write,
maxmemory, cluster mode, DEBUG SLEEP) start a private redis-server on a free port (the process
harness of tests/support/harness) and kill it at the end.
"""

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
    from core import redis_client

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
    """redis-py's cluster client retries any command, EVALSHA included, after a TimeoutError,
    as often as its Retry allows (core/redis_client.py builds it with none). A create whose
    script ran but whose reply came later than REDIS_SOCKET_TIMEOUT must not run again: the
    client would get a 201 for a second number while the first one is journaled too, a chat
    (or a duplicate message) never answered 201 (API.md: "A chat or message exists only if its
    creation was answered 201")."""
    from chats.services import chat_create
    from core.errors import ServiceUnavailable

    with cluster_of_one(tmp_path, timeout=0.3) as node:
        application = ApplicationFactory()
        application_register(token=application.token)
        warm = keys.chat_entry(application.token, chat_create(token=application.token).number)

        def stall() -> None:  # a slow server: an fsync stall, a big command, a busy script
            time.sleep(0.05)
            redis.Redis(port=node.connection_pool.connection_kwargs["port"]).execute_command(
                "DEBUG", "SLEEP", "0.5"
            )

        staller = threading.Thread(target=stall)
        staller.start()
        time.sleep(0.1)
        try:
            number = chat_create(token=application.token).number
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
    """A Redis that refuses to write answers an error reply that redis-py raises as
    ResponseError ("NOREPLICAS Not enough good replicas to write.") or its subclass
    OutOfMemoryError, neither of them a connection error (core.errors.REDIS_UNAVAILABLE). The
    create must answer the contract's 503 with Retry-After, not 500 internal_error
    (core.errors.REDIS_REFUSALS)."""
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
    """lua/claim.lua writes (ZADD XX, HINCRBY) before it returns anything, and a script
    without the ``allow-oom`` flag is refused with OOM once Redis is at maxmemory with
    noeviction (the README's recommended policy). The journal is what fills Redis while the
    database is slow or down; once it is full, a refused claim would fail every drain (and
    ``manage.py drain_journal``, whose journal_make_due is a ZADD) at its first step, so
    nothing would be written to SQL or cleared, and the journal could not shrink until an
    operator raised maxmemory by hand. Clearing (HDEL/ZREM) is allowed under OOM; only the claim
    could be in the way."""
    from chats.models import Chat
    from chats.services import chat_create
    from pipeline.drain import journal_drain
    from pipeline.tasks import FOLLOW_UPS

    with cluster_of_one(tmp_path, timeout=2.0) as node:
        application = ApplicationFactory()
        application_register(token=application.token)
        number = chat_create(token=application.token).number
        empty = (keys.partition_of(application.token) + 1) % settings.REDIS_PARTITIONS
        journal_drain(
            empty, batch_size=10, follow_ups=FOLLOW_UPS, time_budget_seconds=5
        )  # claim.lua is loaded
        node.config_set("maxmemory", "1")  # full: noeviction is the default policy

        journal_drain(
            keys.partition_of(application.token),
            batch_size=10,
            follow_ups=FOLLOW_UPS,
            time_budget_seconds=5,
        )

        assert Chat.objects.filter(application=application, number=number).exists()
        assert node.hlen(keys.journal_entries_key(keys.partition_of(application.token))) == 0


@pytest.mark.django_db
def test_replaying_edit_letters_while_the_broker_is_down_keeps_them(redis_clean, monkeypatch):
    """pipeline.dead_letters.dead_letters_replay takes the letters out of Redis
    (lua/requeue.lua HDELs every letter, edits included) and queues one message_edit_task per
    edit letter. Publishing may fail (RabbitMQ down or blocked, the broker Redis unreachable:
    kombu raises OperationalError after its publish retries); the edit letters must then still
    be there, in ``dead_letters list``, not lost with every edit letter of the same replay
    after the failing one."""
    from datetime import datetime

    from kombu.exceptions import OperationalError

    from messages_app.records import EditRecord
    from messages_app.tasks import message_edit_task
    from pipeline.dead_letters import (
        dead_letter_from_record,
        dead_letters_list,
        dead_letters_replay,
    )

    token = "c" * 40
    letter_ids = [
        dead_letter_from_record(
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


@pytest.mark.django_db(transaction=True)
def test_a_retry_whose_key_redis_lost_finds_its_row_even_if_it_was_edited(redis_clean):
    """messages_app.services.message_replay rebuilds the first call's record from the persisted
    row, whose body may have been edited since. Compared with the retry's body, that edit would
    answer 422 idempotency_key_reused to a client retrying with the same key and the same body.
    README (failure table): after a loss that takes the key's record, "a retry finds its
    persisted row" among the last 3 x R numbers."""
    from chats.services import chat_create
    from core.errors import IdempotencyKeyReused
    from messages_app.services import message_create, message_update
    from pipeline.drain import journal_drain
    from pipeline.tasks import FOLLOW_UPS

    application = ApplicationFactory()
    application_register(token=application.token)
    chat = chat_create(token=application.token).number
    first = message_create(
        token=application.token, chat_number=chat, content={"body": "hello"}, idempotency_key="K"
    )
    journal_drain(
        keys.partition_of(application.token),
        batch_size=10,
        follow_ups=FOLLOW_UPS,
        time_budget_seconds=5,
    )
    message_update(application=application, chat_number=chat, number=first.number, body="edited")
    redis_clean.flushdb()  # Redis loses its data (the README's FLUSHALL / no-AOF restart row)

    try:
        again = message_create(
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
    """pipeline.journal.partitions_due (beat's sweep, every JOURNAL_DRAIN_EVERY_SECONDS, and
    drain_queue_after_connect) reads the clocks of all REDIS_PARTITIONS partitions in one
    ClusterPipeline, which raises as soon as one node cannot answer. While one master is down
    (before its replica takes over, or for good if it has none: the README runs the cluster
    with cluster-require-full-coverage no so that "the other masters never refused") the sweep
    must still queue the drains of the live masters' partitions, or rows whose drain was lost
    or whose lease ran out there would wait until the dead master is back. The same holds for
    journal_count (manage.py drain_journal) and dead_letters_list."""
    from redis.crc import key_slot

    from chats.services import chat_create
    from core import redis_client
    from pipeline.tasks import journal_sweep
    from tests.redis_cluster import LocalRedisCluster

    cluster = LocalRedisCluster(masters=3).start()
    try:
        with override_settings(REDIS_CLUSTER_NODES=cluster.nodes_setting().split(",")):
            redis_client._cluster.cache_clear()
            application = ApplicationFactory()
            application_register(token=application.token)
            chat_create(token=application.token)  # due now, as if its drain had been lost
            partition = keys.partition_of(application.token)
            home = cluster.master_of_slot(key_slot(keys.journal_clock_key(partition).encode()))
            other = next(node for node in cluster.masters() if node.port != home.port)
            cluster.kill(other)
            time.sleep(3)  # node timeout 1 s: the cluster marks it failed

            assert partition in journal_sweep()
    finally:
        redis_client._cluster.cache_clear()
        cluster.stop()
