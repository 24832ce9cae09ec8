"""The numbering invariants (pipeline.numbering) against real Redis faults, one fault at a time.

Each drill is an outside report's reproduction, step by step, with a real gunicorn, a real
Celery worker and a redis-server of the drill's own (AOF, ``appendfsync everysec``): a clean
restart must not bring never-created chats to life (I2); a power loss (SIGKILL and the AOF cut
back to a size it had before) and a failover to a replica that missed writes must not hand a
number out twice (I1). The randomised mixture of all faults is the history checker's
(tests/history).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from chats.models import Chat
from messages_app.models import Message
from tests.drills.conftest import REDIS_SERVER, Drill, DrillRedis, closed_port
from tests.drills.test_fault_drills import new_application
from tests.support.http import HttpApi
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API = "/api/v1"
R = settings.REDIS_RESTART_NUMBER_GAP


def chat_numbers(token: str) -> list[int]:
    return sorted(Chat.objects.filter(application__token=token).values_list("number", flat=True))


def message_numbers(token: str, chat: int) -> list[int]:
    return sorted(
        Message.objects.filter(chat__application__token=token, chat__number=chat).values_list(
            "number", flat=True
        )
    )


def bodies(token: str, chat: int) -> dict[int, str]:
    return dict(
        Message.objects.filter(chat__application__token=token, chat__number=chat).values_list(
            "number", "body"
        )
    )


def wait_for_rows(drill: Drill, token: str, chats: int, messages: dict[int, int]) -> None:
    def done() -> bool:
        # A worker that exited on the Redis fault is restarted, as a supervisor would.
        drill.restart_exited_workers()
        return len(chat_numbers(token)) >= chats and all(
            len(message_numbers(token, chat)) >= count for chat, count in messages.items()
        )

    wait_until(done, timeout=20, what="the rows to be persisted")


def assert_never_created(web: HttpApi, token: str, number: int) -> None:
    """A chat number never handed out: a 404 to every request, and nothing created."""
    chat = f"{API}/apps/{token}/chats/{number}"
    assert web.call("GET", chat)[0] == 404
    status, data = web.call("POST", f"{chat}/messages", {"body": "ghost?"})
    assert (status, data["error"]["code"]) == (404, "not_found"), data
    assert web.call("GET", chat)[0] == 404
    assert web.call("GET", f"{chat}/messages/1")[0] == 404


def test_a_clean_restart_brings_no_chat_to_life(drill_redis: DrillRedis, drill: Drill):
    web = drill.web()
    drill.worker()
    token = new_application(web)
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 1

    drill_redis.shutdown()
    drill_redis.start()

    # The counter jumped past the reserve: the numbers it skipped were never handed out.
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 1 + R + 1
    for ghost in (2, 500, R, R + 1):
        assert_never_created(web, token, ghost)
    assert web.post(f"{API}/apps/{token}/chats/1/messages", {"body": "real"})["number"] == 1 + R
    wait_for_rows(drill, token, 2, {1: 1})
    time.sleep(1)  # anything the ghost requests could have queued has had time to land
    assert chat_numbers(token) == [1, 1 + R + 1]


def test_a_power_loss_after_the_worker_persisted_repeats_no_number(
    drill_redis: DrillRedis, drill: Drill
):
    """The second that the AOF lost had been persisted by the worker: chat 2 and its
    message 1 of the old application, and chat 1 of a new one. None is handed out again."""
    web = drill.web()
    drill.worker()
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    fresh = new_application(web)
    wait_for_rows(drill, token, 1, {})
    time.sleep(1.5)  # the AOF holds both applications before the size is noted
    noted = drill_redis.aof_size()

    assert web.post(f"{API}/apps/{token}/chats")["number"] == 2
    assert web.post(f"{API}/apps/{token}/chats/2/messages", {"body": "lost second"})["number"] == 1
    assert web.post(f"{API}/apps/{fresh}/chats")["number"] == 1
    wait_for_rows(drill, token, 2, {2: 1})
    wait_for_rows(drill, fresh, 1, {})

    drill_redis.kill()
    assert drill_redis.cut_aof(noted) > 0
    drill_redis.start()
    drill.restart_exited_workers()

    again = web.post(f"{API}/apps/{token}/chats/2/messages", {"body": "after"})["number"]
    assert again == 1 + R + 1
    assert web.post(f"{API}/apps/{fresh}/chats")["number"] == 1 + R + 1
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 2 + R + 1
    wait_for_rows(drill, token, 3, {2: 2})
    # The fresh application sits in another partition, drained on its own.
    wait_for_rows(drill, fresh, 2, {})
    assert bodies(token, 2) == {1: "lost second", again: "after"}
    assert chat_numbers(fresh) == [1, 1 + R + 1]


def test_a_power_loss_before_the_worker_persisted_loses_the_second_and_its_chat(
    drill_redis: DrillRedis, drill: Drill
):
    """With the worker stopped, the lost second's chat is gone with its journal entry: it is
    a 404 (the documented loss window), and its number is not handed out again."""
    web = drill.web()
    worker = drill.worker()
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    wait_for_rows(drill, token, 1, {})
    drill.stop_worker(worker)
    time.sleep(1.5)
    noted = drill_redis.aof_size()

    assert web.post(f"{API}/apps/{token}/chats")["number"] == 2
    assert web.post(f"{API}/apps/{token}/chats/2/messages", {"body": "lost"})["number"] == 1

    drill_redis.kill()
    assert drill_redis.cut_aof(noted) > 0
    drill_redis.start()
    drill.worker()

    assert_never_created(web, token, 2)
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 1 + R + 1
    assert web.post(f"{API}/apps/{token}/chats/1/messages", {"body": "kept"})["number"] == 1 + R
    wait_for_rows(drill, token, 2, {1: 1})
    assert chat_numbers(token) == [1, 1 + R + 1]


@pytest.fixture
def replica(drill_redis: DrillRedis, tmp_path: Path):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = DrillRedis(tmp_path / "replica", "--replicaof", "127.0.0.1", str(drill_redis.port))
    server.directory.mkdir()
    server.start()
    wait_until(
        lambda: server.client().info("replication").get("master_link_status") == "up",
        timeout=10,
        what="the replica to sync",
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_failover_to_a_replica_that_missed_writes_repeats_no_number(
    drill_redis: DrillRedis, replica: DrillRedis, drill: Drill
):
    """The replica's link is cut, the master takes writes the worker persists, then the
    replica is promoted and the service pointed at it: it has the old counters, and a new
    replication ID, so every counter is re-checked against SQL before it is used."""
    web = drill.web()
    drill.worker()
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    web.post(f"{API}/apps/{token}/chats/1/messages", {"body": "replicated"})
    master = drill_redis.client()
    wait_until(
        lambda: (
            replica.client().info("replication")["master_repl_offset"]
            >= master.info("replication")["master_repl_offset"]
        ),
        timeout=10,
        what="the replica to catch up",
    )
    # Cut the link: the replica now follows a master that does not exist, keeping its data.
    replica.client().replicaof("127.0.0.1", str(closed_port()))
    missed = [
        web.post(f"{API}/apps/{token}/chats/1/messages", {"body": f"missed {i}"})["number"]
        for i in range(3)
    ]
    assert missed == [2, 3, 4]
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 2
    wait_for_rows(drill, token, 2, {1: 4})

    replica.client().replicaof("NO", "ONE")
    drill_redis.kill()
    promoted = drill.web(REDIS_URL=replica.url, CELERY_BROKER_URL=replica.url)
    drill.worker(REDIS_URL=replica.url, CELERY_BROKER_URL=replica.url)

    after = promoted.post(f"{API}/apps/{token}/chats/1/messages", {"body": "after"})["number"]
    assert after == 4 + R + 1
    assert promoted.post(f"{API}/apps/{token}/chats")["number"] == 2 + R + 1
    assert_never_created(promoted, token, 3)
    wait_for_rows(drill, token, 3, {1: 5})
    assert message_numbers(token, 1) == [1, 2, 3, 4, after]
    with pytest.raises(redis.ConnectionError):
        master.ping()


def test_a_retry_after_a_power_loss_finds_the_row_its_key_made(
    drill_redis: DrillRedis, drill: Drill
):
    """A client whose create was answered just before the machine crashed retries with the
    same Idempotency-Key: the key's record went with the AOF's last second, the row did not.
    The retry gets that row back; nothing is created twice."""
    web = drill.web()
    drill.worker()
    token = new_application(web)
    web.post(f"{API}/apps/{token}/chats")
    wait_for_rows(drill, token, 1, {})
    time.sleep(1.5)
    noted = drill_redis.aof_size()

    key = {"Idempotency-Key": "pk1"}
    path = f"{API}/apps/{token}/chats/1/messages"
    first = web.call("POST", path, {"body": "once"}, headers=key)
    chat = web.call("POST", f"{API}/apps/{token}/chats", headers={"Idempotency-Key": "ck1"})
    assert (first[0], first[1]["number"], chat[0], chat[1]["number"]) == (201, 1, 201, 2)
    wait_for_rows(drill, token, 2, {1: 1})

    drill_redis.kill()
    assert drill_redis.cut_aof(noted) > 0
    drill_redis.start()

    assert web.call("POST", path, {"body": "once"}, headers=key) == first
    again = web.call("POST", f"{API}/apps/{token}/chats", headers={"Idempotency-Key": "ck1"})
    assert again == chat
    assert web.post(f"{API}/apps/{token}/chats")["number"] == 2 + R + 1
    wait_for_rows(drill, token, 3, {1: 1})
    assert bodies(token, 1) == {1: "once"}
    assert chat_numbers(token) == [1, 2, 2 + R + 1]
