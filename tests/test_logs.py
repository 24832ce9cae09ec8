"""The logs an operator reads, from real gunicorn, Celery worker and beat processes.

- no line shows an application token in full: gunicorn's access log and Django's own lines
  ("Not Found: /api/v1/apps/<token>/...") cut it to its first 8 characters;
- every line of a request carries its request id, the one answered in ``X-Request-ID``;
- ``LOG_FORMAT=json``: one JSON object per line;
- quiet by default: no line per scheduled drain from the worker or beat.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.http import HttpApi
from tests.support.processes import ServiceProcess, server_start

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ACCESS_LOG = ("--access-logfile", "-", "--log-level", "info")


def call(
    server: HttpApi, method: str, path: str, body: dict | None = None, **headers: str
) -> tuple[int, str, dict]:
    """Status, the answered X-Request-ID, and the JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **headers} if payload else headers
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, response.getheader("X-Request-ID"), json.loads(raw or b"null")
    finally:
        connection.close()


@pytest.fixture
def gunicorn(
    service_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., tuple[ServiceProcess, HttpApi]]]:
    started: list[ServiceProcess] = []

    def start(*args: str, **env: str) -> tuple[ServiceProcess, HttpApi]:
        process, server = server_start({**service_env, **env}, tmp_path, *args)
        started.append(process)
        return process, server

    yield start
    for process in started:
        process.stop()


def traffic(server: HttpApi) -> tuple[str, dict[str, str]]:
    """Calls that put a token in paths (and errors Django logs); the token, ids by call."""
    token = call(server, "POST", "/api/v1/apps", {"name": "logged"})[2]["token"]
    ids = {
        "chat": call(server, "POST", f"/api/v1/apps/{token}/chats")[1],
        "app": call(server, "GET", f"/api/v1/apps/{token}")[1],
        "missing chat": call(server, "GET", f"/api/v1/apps/{token}/chats/9")[1],
        "upper": call(server, "GET", f"/api/v1/apps/{token.upper()}")[1],
        "bad limit": call(server, "GET", f"/api/v1/apps/{token}/chats?limit=x&t={token}")[1],
        "proxy": call(
            server, "GET", f"/api/v1/apps/{token}/chats/8", **{"X-Request-ID": "proxy-42"}
        )[1],
    }
    return token, ids


def stopped_log(process: ServiceProcess) -> str:
    process.stop()  # flushes and closes the log
    return process.log()


def test_no_log_line_shows_a_token_in_full(gunicorn):
    process, server = gunicorn(*ACCESS_LOG)

    token, ids = traffic(server)
    log = stopped_log(process)

    assert token not in log
    assert token.upper() not in log
    assert f"/api/v1/apps/{token[:8]}…/chats/9" in log  # Django's "Not Found" line
    access = [line for line in log.splitlines() if '"GET /api/v1/apps/' in line]
    assert len(access) == 5
    assert all(f"{token[:8]}…" in line or f"{token.upper()[:8]}…" in line for line in access)
    for request_id in ids.values():
        assert request_id in log  # every access line ends with the request id
    assert ids["proxy"] == "proxy-42"


def test_json_logs_are_one_object_per_line_with_the_request_id(gunicorn):
    process, server = gunicorn(*ACCESS_LOG, LOG_FORMAT="json")

    token, ids = traffic(server)
    log = stopped_log(process)

    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all(isinstance(record, dict) for record in records)
    assert token not in log
    by_id: dict[str, list[dict]] = {}
    for record in records:
        by_id.setdefault(record.get("request_id", "-"), []).append(record)
    missing_chat = by_id[ids["missing chat"]]
    # Django's warning and gunicorn's access line, both with the id the client was answered.
    assert {record["logger"] for record in missing_chat} == {"django.request", "gunicorn.access"}
    access = next(record for record in missing_chat if record["logger"] == "gunicorn.access")
    assert access["status"] == 404
    assert access["method"] == "GET"
    assert access["path"] == f"/api/v1/apps/{token[:8]}…/chats/9"
    assert access["duration_ms"] > 0
    assert {record["logger"] for record in by_id["proxy-42"]} == {
        "django.request",
        "gunicorn.access",
    }
    assert any(record["logger"] == "gunicorn.error" for record in records)  # "Booting worker"
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)


def _ticks(*logs: str) -> int:
    return sum(log.count("Sending due task") + log.count("journal_sweep_task[") for log in logs)


def test_the_worker_and_beat_write_no_line_per_scheduled_drain(celery_workers, celery_beat):
    """Beat queues a sweep of the journal every second here; by default neither process logs it."""
    worker = celery_workers(LOG_FORMAT="json")
    beat = celery_beat(JOURNAL_DRAIN_EVERY_SECONDS="1")
    time.sleep(4)

    assert _ticks(worker.log(), beat.log()) == 0
    assert "beat: Starting" in beat.log()
    json_lines = [line for line in worker.log().splitlines() if line.startswith("{")]
    assert any(json.loads(line)["message"].endswith(" ready.") for line in json_lines)


def test_log_level_info_brings_the_drain_lines_back(celery_workers, celery_beat):
    """The same run with LOG_LEVEL=INFO: what the default leaves out, for a curious operator."""
    worker = celery_workers(LOG_LEVEL="INFO")
    beat = celery_beat(JOURNAL_DRAIN_EVERY_SECONDS="1", LOG_LEVEL="INFO")
    time.sleep(4)

    assert beat.log().count("Sending due task") >= 2
    assert worker.log().count("journal_sweep_task[") >= 2


def test_no_line_shows_a_token_in_full_with_debug_on(tmp_path):
    """chatapi.settings.local (DEBUG on, what scripts/run.sh runs): Django's own default
    configuration would add a console handler to the "django" logger that bypasses the
    redaction. A path that 404s before any query, so no database is needed."""
    import os
    import sys

    from tests.support.harness.process import command_run

    token = "t0ken" * 8
    code = (
        "import django; django.setup(); from django.test import Client; "
        f"print(Client().get('/api/v1/apps/{token}/chats/0').status_code)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapi.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3",
    }
    done = command_run([sys.executable, "-c", code], env=env, check=True)

    assert done.stdout.strip() == "404"
    assert f"Not Found: /api/v1/apps/{token[:8]}…/chats/0" in done.stderr
    assert token not in done.stderr + done.stdout
