"""A real Prometheus scrapes a running stack: gunicorn with four workers (GET /metrics, by the
Bearer token) and a Celery prefork worker (its own metrics port); the figures it stores are
exactly what the test caused, whichever gunicorn worker answered each scrape.

Every process is real (tests/support/processes.py); Prometheus is Debian's, started on a free
port with a one-second scrape interval (tests/support/harness/prometheus.py).
"""

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness.prometheus import PROMETHEUS, LocalPrometheus
from tests.support.http import HttpApi
from tests.support.processes import ServiceProcess, free_port, server_start
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed"),
]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "scrape-token-e2e-3f9c2a"
CHATS = 12
MESSAGES = 30  # in chat 1
SCRAPES = 40


def metrics_text(port: int, authorization: str | None) -> tuple[int, str]:
    """One scrape on a new connection (so any of gunicorn's workers may answer it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": authorization} if authorization else {}
        connection.request("GET", "/metrics", headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def processes_that_answered_scrapes(directory: Path) -> set[int]:
    """The gunicorn workers whose own value files count a ``GET /metrics`` answered."""
    pids = set()
    for file in directory.glob("histogram_*.db"):
        values = MmapedDict(str(file), read_mode=True)
        try:
            for key, value, _ in values.read_all_values():
                _, sample, labels, _ = json.loads(key)
                # A histogram keeps its buckets and its sum per process (the count is derived).
                if sample.endswith("_sum") and labels.get("route") == "metrics" and value > 0:
                    pids.add(int(file.stem.rsplit("_", 1)[1]))
        finally:
            values.close()
    return pids


@pytest.fixture
def stack(service_env, celery_workers, tmp_path) -> Iterator[tuple[HttpApi, ServiceProcess, int]]:
    env = {
        **service_env,
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web-metrics"),
    }
    server, api = server_start(env, tmp_path, "--workers", "4")
    worker_port = free_port()
    worker = celery_workers(
        METRICS_TOKEN=TOKEN,
        METRICS_WORKER_PORT=str(worker_port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "worker-metrics"),
    )
    try:
        yield api, worker, worker_port
    finally:
        server.stop()


@pytest.fixture
def prometheus(stack, tmp_path) -> Iterator[LocalPrometheus]:
    api, _, worker_port = stack
    local = LocalPrometheus(
        {
            "chatapi-web": (f"127.0.0.1:{api.port}", TOKEN),
            "chatapi-worker": (f"127.0.0.1:{worker_port}", None),
        },
        tmp_path / "prometheus",
    ).start()
    try:
        yield local
    finally:
        local.stop()


def test_prometheus_sees_every_create_and_every_persisted_row(stack, prometheus, say):
    api, _, _ = stack
    token = api.post("/api/v1/apps", {"name": "scraped"})["token"]
    accepted = 'chatapi_creates_accepted_total{job="chatapi-web",kind="%s"}'
    # Half the chats first, seen by Prometheus, so that the rest make a rate.
    for _ in range(CHATS // 2):
        api.post(f"/api/v1/apps/{token}/chats")
    wait_until(
        lambda: (
            prometheus.value('up{job="chatapi-web"}') == 1
            and prometheus.value('up{job="chatapi-worker"}') == 1
            and prometheus.value(accepted % "chat") == CHATS // 2
        ),
        timeout=30,
        interval=0.5,
        what="both jobs up and the first chats scraped",
    )
    for _ in range(CHATS - CHATS // 2):
        api.post(f"/api/v1/apps/{token}/chats")
    for number in range(MESSAGES):
        api.post(f"/api/v1/apps/{token}/chats/1/messages", {"body": f"message {number}"})

    # Counted by the web workers that accepted them (four processes, one sum).
    wait_until(
        lambda: (
            prometheus.value(accepted % "chat") == CHATS
            and prometheus.value(accepted % "message") == MESSAGES
        ),
        timeout=30,
        interval=0.5,
        what="the creates in Prometheus",
    )
    # Counted by the worker's pool processes that persisted them, served by its main process.
    persisted = 'sum(chatapi_rows_persisted_total{job="chatapi-worker",kind="%s"})'
    wait_until(
        lambda: (
            prometheus.value(persisted % "chat") == CHATS
            and prometheus.value(persisted % "message") == MESSAGES
            and prometheus.value('chatapi_journal_backlog{job="chatapi-web"}') == 0
        ),
        timeout=30,
        interval=0.5,
        what="the persisted rows in Prometheus and an empty journal",
    )
    route = (
        'chatapi_http_request_duration_seconds_count{job="chatapi-web",route="%s",'
        'method="POST",status="201"}'
    )
    assert prometheus.value(route % "api/v1/apps/<str:token>/chats") == CHATS
    assert (
        prometheus.value(route % "api/v1/apps/<str:token>/chats/<number:chat_number>/messages")
        == MESSAGES
    )
    assert (
        prometheus.value('sum(chatapi_drain_batch_rows_sum{job="chatapi-worker"})')
        == CHATS + MESSAGES
    )
    assert prometheus.value('chatapi_dead_letters{job="chatapi-web"}') == 0
    # A rate over the last minute saw the creates.
    rate = prometheus.value('sum(rate(chatapi_creates_accepted_total{job="chatapi-web"}[1m]))')
    assert rate is not None and rate > 0
    # Every scrape of every target since the start: no counter ever went down.
    for counter in (
        "chatapi_creates_accepted_total",
        "chatapi_rows_persisted_total",
        "chatapi_http_request_duration_seconds_count",
        "chatapi_drain_batch_rows_count",
    ):
        assert prometheus.query(f"resets({counter}[5m]) > 0") == [], counter
    # Every expression of the Grafana dashboard is valid PromQL over these series, and the
    # panels of what the test caused show it.
    dashboard = json.loads((DEPLOY / "grafana" / "chatapi-dashboard.json").read_text())
    answered = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expression = target["expr"].replace("$__rate_interval", "1m")
            answered[panel["title"]] = prometheus.query(expression)
    for title in (
        "Requests per second by route and status",
        "Creates accepted per second",
        "Rows persisted per second",
        "Journal backlog (rows not persisted yet)",
        "Oldest unpersisted row",
        "Dead letters",
        "Targets up",
    ):
        assert answered[title], title
    say(
        f"prometheus saw {CHATS} chats and {MESSAGES} messages accepted and persisted; "
        f"rate {rate:.2f}/s"
    )


def test_every_scrape_answers_the_sum_of_all_workers(stack, prometheus, tmp_path):
    api, _, _ = stack
    token = api.post("/api/v1/apps", {"name": "scraped"})["token"]
    for _ in range(CHATS):
        api.post(f"/api/v1/apps/{token}/chats")

    key = ("chatapi_creates_accepted_total", (("kind", "chat"),))
    requests_key = (
        "chatapi_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "metrics"), ("status", "200")),
    )
    seen_requests = []
    for _ in range(SCRAPES):
        status, text = metrics_text(api.port, f"Bearer {TOKEN}")
        assert status == 200
        figures = samples(text)
        # Four workers accepted the creates; a worker alone would show its share.
        assert figures[key] == CHATS
        seen_requests.append(figures.get(requests_key, 0))
        # No token, no application token, nothing a client chose, anywhere.
        assert TOKEN not in text and token not in text
        time.sleep(0.02)
    # Our scrapes and Prometheus's: counted by whichever worker answered, never going down.
    assert seen_requests == sorted(seen_requests)
    assert seen_requests[-1] >= SCRAPES - 1
    # ...and they were answered by several of the four workers, each of which showed the sum.
    assert len(processes_that_answered_scrapes(tmp_path / "web-metrics")) >= 2


def test_metrics_without_credentials_is_401_and_the_bearer_token_works(stack):
    api, _, worker_port = stack
    status, body = metrics_text(api.port, None)
    assert status == 401
    assert '"code": "not_authenticated"' in body or '"code":"not_authenticated"' in body
    assert metrics_text(api.port, "Bearer wrong")[0] == 401
    assert metrics_text(api.port, f"Bearer {TOKEN}")[0] == 200
    # The worker's own port answers the pool's figures.
    connection = http.client.HTTPConnection("127.0.0.1", worker_port, timeout=10)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    assert response.status == 200
    assert b"chatapi_drain_batch_rows" in response.read()
    connection.close()


def test_beat_serves_the_tasks_it_sent_on_its_own_port(celery_beat, tmp_path):
    port = free_port()
    celery_beat(
        METRICS_BEAT_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "beat-metrics"),
        JOURNAL_DRAIN_EVERY_SECONDS="1",
    )
    sent = ("chatapi_beat_tasks_sent_total", (("task", "pipeline.tasks.journal_sweep_task"),))

    def sweeps_sent() -> float:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode()
            connection.close()
        except OSError:
            return 0
        return samples(text).get(sent, 0)

    wait_until(lambda: sweeps_sent() >= 2, timeout=30, interval=0.5, what="beat's sweeps")


def test_a_killed_gunicorn_worker_takes_none_of_the_counts_with_it(service_env, tmp_path):
    env = {**service_env, "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
    server, api = server_start(env, tmp_path, "--workers", "3")
    key = ("chatapi_creates_accepted_total", (("kind", "chat"),))
    try:
        token = api.post("/api/v1/apps", {"name": "killed"})["token"]
        for _ in range(9):
            api.post(f"/api/v1/apps/{token}/chats")
        workers = server.children()
        assert len(workers) == 3

        victim = min(workers)
        server.child_kill(victim)  # a worker of the server this test started
        wait_until(
            lambda: len(server.children() - {victim}) == 3,
            timeout=30,
            interval=0.2,
            what="gunicorn to replace the killed worker",
        )

        for _ in range(20):  # whichever worker answers, the new one included
            assert samples(metrics_text(api.port, f"Bearer {TOKEN}")[1])[key] == 9
        for _ in range(3):
            api.post(f"/api/v1/apps/{token}/chats")
        for _ in range(20):
            assert samples(metrics_text(api.port, f"Bearer {TOKEN}")[1])[key] == 12
    finally:
        server.stop()
