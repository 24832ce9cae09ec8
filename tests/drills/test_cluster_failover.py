"""Failover drill on a real Redis Cluster: 3 masters, 3 replicas, one master lost mid-burst.

A gunicorn server and a Celery worker run the pipeline on the cluster (``REDIS_CLUSTER_NODES``;
the drill's own standalone Redis is their cache and broker). Applications are spread so that
every master holds some. Mid-burst, the replication link of one master's replica is cut (what
that master acknowledges from then on never reaches the replica: the loss window of
asynchronous replication), then the master is SIGKILLed and its replica takes over.

Every client records what it was told. Checked against the database:

- no number is handed out twice: every 201 of a chat has a number of its own, and every row
  in SQL is one of them, with its body (the promoted replica's counters are older than what
  the dead master answered; their replication ID changed, so they are reseeded past the
  reserve);
- no ghost chat: every chat row was answered 201, and the next chat number is a 404;
- the applications on the other masters got a 201 for every request, throughout;
- the dead master's applications got 503 only from the kill until the failover completed
  (how long is printed); the rows they were told 201 for and lost are only ones acknowledged
  after the cut (the documented window), and are counted.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import connection
from redis.cluster import key_slot

from chats.models import Chat
from messages_app.models import Message
from pipeline import keys
from tests.drills.conftest import Drill, http_call
from tests.redis_cluster import LocalRedisCluster, redis_cluster_replicated  # noqa: F401
from tests.support.http import HttpApi
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

APPLICATIONS = 9  # at least; more if a master has fewer than two
WRITERS_PER_APPLICATION = 2


@dataclass
class Answer:
    token: str
    body: str
    status: int
    number: int | None
    sent_at: float
    answered_at: float
    error: object = None  # the error envelope of an answer that is not a 201


@dataclass
class Burst:
    api: HttpApi
    tokens: list[str]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writer(self, token: str, writer: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            body = f"{token[:6]}-{writer}-{sequence}"
            key = str(uuid.uuid4())
            # A careful client: the same Idempotency-Key until the outcome is known (201),
            # for as long as the burst lasts.
            while True:
                sent = time.monotonic()
                status, data = http_call(
                    self.api,
                    "POST",
                    f"/api/v1/apps/{token}/chats/1/messages",
                    {"body": body},
                    **{"Idempotency-Key": key},
                )
                number = data.get("number") if status == 201 and data else None
                with self.lock:
                    error = None if status == 201 else data
                    answer = Answer(token, body, status, number, sent, time.monotonic(), error)
                    self.answers.append(answer)
                if status == 201 or self.stop.is_set():
                    break
                time.sleep(0.05)


def test_a_master_lost_mid_burst_repeats_no_number(
    redis_cluster_replicated: LocalRedisCluster,  # noqa: F811
    drill: Drill,
    celery_beat,
    settings,
    say,
):
    cluster = redis_cluster_replicated
    nodes = cluster.nodes_setting()
    settings.REDIS_CLUSTER_NODES = nodes.split(",")  # this process reads the journal too
    api = drill.web(REDIS_CLUSTER_NODES=nodes)
    drill.worker(REDIS_CLUSTER_NODES=nodes)
    # As in production: beat's sweep queues drains again for rows whose drain failed while
    # their master was down (a drain is not retried).
    celery_beat(**drill.environment(REDIS_CLUSTER_NODES=nodes, JOURNAL_DRAIN_EVERY_SECONDS="1"))

    def master_of(token: str) -> str:
        return cluster.master_of_slot(key_slot(keys.application_key(token).encode())).address

    # Applications until every master holds at least two (tokens are random).
    by_master: dict[str, list[str]] = {}
    tokens: list[str] = []
    while len(tokens) < APPLICATIONS or min(map(len, by_master.values()), default=0) < 2:
        assert len(tokens) < 60, by_master
        token = api.post("/api/v1/apps", {"name": f"app {len(tokens)}"})["token"]
        tokens.append(token)
        by_master.setdefault(master_of(token), []).append(token)
        api.post(f"/api/v1/apps/{token}/chats")
    victim_address = max(by_master, key=lambda address: len(by_master[address]))
    [victim] = [node for node in cluster.masters() if node.address == victim_address]
    [replica] = cluster.replicas_of(victim)
    victims = set(by_master[victim_address])

    burst = Burst(api, tokens)
    threads = [
        threading.Thread(target=burst.writer, args=(token, writer), daemon=True)
        for token in tokens
        for writer in range(WRITERS_PER_APPLICATION)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    cluster.cut_replication(replica)
    cut_at = time.monotonic()
    time.sleep(0.5)  # the victim acknowledges creates its replica never sees
    killed_at = cluster.kill(victim)  # when the signal went: answers can fail from then
    promoted, failover_seconds = cluster.wait_for_failover(victim)
    failed_over_at = time.monotonic()
    time.sleep(2.0)  # the burst goes on against the promoted replica
    burst.stop.set()
    for thread in threads:
        thread.join(timeout=60)

    from pipeline.journal import journal_count

    wait_until(lambda: journal_count() == 0, timeout=60, what="the journal to drain")

    answers = burst.answers
    ok = [a for a in answers if a.status == 201]
    refused = [a for a in answers if a.status != 201]
    # The other masters' applications: a 201 for every request, throughout.
    assert [a for a in refused if a.token not in victims] == []
    # The dead master's: refused only between the kill and the failover (and the client's
    # slot refresh just after it).
    assert all(a.token in victims for a in refused)
    late = [a for a in refused if a.sent_at > failed_over_at + 1.0 or a.answered_at < killed_at]
    assert late == [], (killed_at, failed_over_at, late[:5])
    assert {a.status for a in refused} <= {503}

    # No number handed out twice, per chat (one chat, number 1, per application).
    told: dict[str, dict[int, str]] = {}
    for answer in ok:
        assert answer.number is not None
        numbers = told.setdefault(answer.token, {})
        # A replay answers the same number for the same key: same body. Another body with a
        # number already told would be a number handed out twice.
        assert numbers.setdefault(answer.number, answer.body) == answer.body, answer
    rows = {
        (token, number): body
        for token, number, body in Message.objects.values_list(
            "chat__application__token", "number", "body"
        )
    }
    for (token, number), body in rows.items():
        assert told[token].get(number) == body, (token, number, body)  # every row was a 201
    lost = [
        (token, number)
        for token, numbers in told.items()
        for number in numbers
        if (token, number) not in rows
    ]
    # Lost: only the victim's, acknowledged after the cut.
    acknowledged_at = {(a.token, a.number): a.answered_at for a in ok}
    for token, number in lost:
        assert token in victims, (token, number)
        assert acknowledged_at[(token, number)] > cut_at, (token, number)

    # No ghost chat: one chat per application, and chat 2 was never created.
    assert sorted(Chat.objects.values_list("application__token", "number")) == sorted(
        (token, 1) for token in tokens
    )
    for token in tokens:
        assert http_call(api, "GET", f"/api/v1/apps/{token}/chats/2")[0] == 404
    connection.close()
    refused_for = max((a.answered_at for a in refused), default=killed_at) - killed_at
    say(
        f"drill cluster failover: {len(ok)} creates acknowledged ({len(rows)} rows checked) over "
        f"3 masters; failover {failover_seconds:.1f}s after the SIGKILL; the dead master's "
        f"{len(victims)} applications were refused {len(refused)} times, for "
        f"{refused_for:.1f}s after the kill; the others never; {len(lost)} acknowledged after "
        f"the cut lost with it; no number repeated, no ghost chat (promoted {promoted.address})"
    )
