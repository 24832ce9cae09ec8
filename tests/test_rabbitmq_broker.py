"""RabbitMQ as the Celery broker: the service's guarantees with ``CELERY_BROKER_URL=amqp://``.

The same processes as tests/test_end_to_end.py (two gunicorn servers, real prefork workers),
pointed at a vhost of this session's own on the shared RabbitMQ (``rabbitmq_vhost``) instead of
the test Redis; Redis still holds the numbering and the journal. What differs from Redis is how
the broker gets a task back from a worker that died: RabbitMQ requeues what the worker's
connection held the moment that connection closes (no visibility timeout), including the
countdown (ETA) tasks a worker holds unacknowledged until they are due.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Producer

from chats.models import Chat
from messages_app.models import Message
from pipeline.journal import journal_count
from tests.rabbitmq import Vhost
from tests.support.harness.process import command_run
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def broker_url(rabbitmq_vhost: Vhost) -> str:
    """Every server, worker and beat of this module uses RabbitMQ (tests/__init__.py)."""
    return rabbitmq_vhost.url


def celery_conf_for(url: str) -> dict[str, Any]:
    """The broker options our settings give Celery for ``url``, read in a fresh interpreter
    (settings are read once per process, and this one's broker is the test Redis)."""
    code = (
        "import json, django; django.setup()\n"
        "from chatapi.celery import app\n"
        "c = app.conf\n"
        "print(json.dumps({'transport_options': c.broker_transport_options,\n"
        "  'transport': c.broker_transport, 'heartbeat': c.broker_heartbeat,\n"
        "  'acks_late': c.task_acks_late, 'reject_on_worker_lost': c.task_reject_on_worker_lost,\n"
        "  'retry_policy': c.task_publish_retry_policy, 'connect_timeout':\n"
        "  c.broker_connection_timeout}))\n"
    )
    env = {"DJANGO_SETTINGS_MODULE": "chatapi.settings.test", "CELERY_BROKER_URL": url}
    out = command_run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**_base_env(), **env},
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CELERY_"))}


def test_an_amqp_broker_gets_confirms_and_none_of_the_redis_options(rabbitmq_vhost):
    conf = celery_conf_for(rabbitmq_vhost.url)
    assert conf["transport_options"] == {"confirm_publish": True}
    assert conf["transport"] is None  # kombu's own py-amqp transport, not core.broker
    assert conf["heartbeat"] == 30
    assert conf["acks_late"] and conf["reject_on_worker_lost"]
    assert conf["retry_policy"]["max_retries"] == 2
    redis_conf = celery_conf_for(settings.REDIS_URL)
    assert redis_conf["transport"] == "core.broker:Transport"
    assert {"visibility_timeout", "global_keyprefix"} <= set(redis_conf["transport_options"])
    assert "confirm_publish" not in redis_conf["transport_options"]

    # What confirm_publish buys: a message the broker refuses (here: to an exchange that does
    # not exist) raises in the publisher, on the same call, instead of being dropped silently.
    with Connection(rabbitmq_vhost.url, transport_options=conf["transport_options"]) as conn:
        producer = Producer(
            conn.channel(), exchange=Exchange("no-such-exchange"), auto_declare=False
        )
        with pytest.raises(conn.channel_errors, match="NOT_FOUND"):
            producer.publish({"x": 1}, routing_key="x", declare=[])


def test_a_countdown_task_held_by_a_killed_worker_is_redelivered(celery_workers, rabbitmq_vhost):
    """A worker holds a countdown (ETA) task unacknowledged until it is due; killed, RabbitMQ
    puts it back in the queue at once, for the next worker (acks_late, reject_on_worker_lost)."""
    # On connecting, a worker queues a journal drain now and one PERSIST_LEASE_SECONDS later
    # (pipeline/worker_steps.py); with 120 s, this worker holds the second one for two minutes.
    worker = celery_workers(PERSIST_LEASE_SECONDS="120")
    wait_until(
        lambda: rabbitmq_vhost.queue_messages() == (0, 1),
        timeout=20,
        interval=0.3,
        what="the worker to hold the countdown drain, unacknowledged",
    )
    worker.kill()
    wait_until(
        lambda: rabbitmq_vhost.queue_messages() == (1, 0),
        timeout=20,
        interval=0.3,
        what="RabbitMQ to requeue the drain the killed worker held",
    )
    celery_workers()
    # The next worker takes it (and holds it until due, like the first); its own drains too.
    wait_until(
        lambda: rabbitmq_vhost.queue_messages()[0] == 0,
        timeout=20,
        interval=0.3,
        what="the next worker to take the requeued drain",
    )


def test_a_worker_killed_mid_burst_on_rabbitmq_loses_nothing(
    api_servers, celery_workers, rabbitmq_vhost, say
):
    """Every client's answer is recorded; the chats and messages in SQL are exactly the 201s."""
    api = api_servers[0]
    token = api.post("/api/v1/apps", {"name": "rabbit"})["token"]
    chats = [api.post(f"/api/v1/apps/{token}/chats")["number"] for _ in range(3)]
    first_worker = celery_workers()
    heartbeats = {row["timeout"] for row in rabbitmq_vhost.connections()}
    burst = 300
    answers: list[tuple[str, int, Any]] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        server = api_servers[index % 2]
        if index % 10 == 0:
            kind, status, data = "chat", *server.call("POST", f"/api/v1/apps/{token}/chats")
        else:
            chat = chats[index % len(chats)]
            body = {"body": f"burst {index} ✓"}
            path = f"/api/v1/apps/{token}/chats/{chat}/messages"
            kind, status, data = "message", *server.call("POST", path, body)
            data = {"chat": chat, "sent": body["body"], "answer": data}
        with lock:
            answers.append((kind, status, data))

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(create, index) for index in range(burst)]
        # Killed while it has written some rows and others wait in the journal.
        wait_until(
            lambda: Message.objects.count() >= 20 and journal_count() > 0,
            timeout=15,
            interval=0.005,
            what="20 rows persisted and more pending",
        )
        first_worker.kill()
        persisted_at_kill = Message.objects.count()
        pending_at_kill = journal_count()
        for future in futures:
            future.result()

    say(
        f"RabbitMQ: SIGKILL with {persisted_at_kill} messages persisted and {pending_at_kill} "
        f"rows in the journal; worker heartbeats negotiated: {sorted(heartbeats)}"
    )
    assert "30" in heartbeats  # CELERY_BROKER_HEARTBEAT on the worker's connections
    assert pending_at_kill > 0  # the kill really left accepted rows unwritten
    statuses = sorted({status for _, status, _ in answers})
    assert statuses == [201], statuses

    celery_workers()  # queues drains now and after the lease (a countdown task on RabbitMQ)
    wait_until(
        lambda: journal_count() == 0,
        timeout=60,
        interval=0.1,
        what="every accepted row to be persisted",
    )

    told_chats = set(chats) | {data["number"] for kind, _, data in answers if kind == "chat"}
    told_messages = {
        (data["chat"], data["answer"]["number"], data["answer"]["body"])
        for kind, _, data in answers
        if kind == "message"
    }
    assert all(
        data["sent"] == data["answer"]["body"] for kind, _, data in answers if kind == "message"
    )
    stored_chats = list(
        Chat.objects.filter(application__token=token).values_list("number", flat=True)
    )
    stored_messages = list(
        Message.objects.filter(chat__application__token=token).values_list(
            "chat__number", "number", "body"
        )
    )
    assert len(stored_chats) == len(set(stored_chats))
    assert set(stored_chats) == told_chats == set(range(1, len(told_chats) + 1))
    assert len(stored_messages) == len(set(stored_messages)) == len(told_messages)
    assert set(stored_messages) == told_messages
    # Per chat, the numbers told are exactly 1..n: none skipped, none repeated.
    for chat in chats:
        numbers = sorted(number for c, number, _ in told_messages if c == chat)
        assert numbers == list(range(1, len(numbers) + 1))
