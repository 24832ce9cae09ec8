"""scripts/run.sh as a developer runs it: the start, the banner, restarts, and every way it ends.

Each test runs the real script (``SKIP_INSTALL=1``: the suite's .venv as it is) with the
embedded settings, a SQLite file of its own, the drills' private Redis and a free port. Every
process the script starts inherits a marker in its environment, so that a test can find all of
them, children of children included, in /proc.

The tests that start the processes use SQLite whatever the suite's database, and run in
the SQLite pass only; the missing-database test needs a MySQL server and runs in the MariaDB
pass only.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.drills.conftest import DrillRedis
from tests.support.processes import free_port
from tests.support.sse import SseStream

RUN_SH = Path(settings.BASE_DIR) / "scripts" / "run.sh"
STOP_TIMEOUT = 10
MARK = "RUN_SH_TEST_MARK"

sqlite_pass_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="starts its own SQLite stack: once per CI run"
)


def marked_processes(mark: str) -> list[int]:
    """Live processes (zombies excluded) whose environment carries ``mark``."""
    wanted = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone, or a zombie
                continue
            if wanted in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def script_env(tmp_path: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    env.update(
        SKIP_INSTALL="1",
        DATABASE_URL=f"sqlite:///{tmp_path}/run.sqlite3",
        REDIS_URL=redis_url,
        PORT=str(free_port()),
        EVENTS_PORT=str(free_port()),
        WEB_PORT=str(free_port()),
        RUN_DIR=str(tmp_path / "run"),
        STOP_TIMEOUT=str(STOP_TIMEOUT),
    )
    env.update(extra)
    return env


@dataclass
class RunSh:
    """run.sh with its output in a pipe that this test reads and can close, like ``| tee``."""

    env: dict[str, str]
    mark: str = field(default_factory=lambda: uuid.uuid4().hex)
    output: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.env[MARK] = self.mark
        self.popen = subprocess.Popen(
            ["bash", str(RUN_SH)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        assert self.popen.stdout is not None
        self.fd: int | None = self.popen.stdout.fileno()

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def read_until(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text)
            if match:
                return match
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} in {timeout}s; output:\n{self.text}"
            assert self.fd is not None
            readable, _, _ = select.select([self.fd], [], [], min(remaining, 0.5))
            if readable:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.popen.wait(timeout=5)
                    pytest.fail(f"run.sh ended ({self.popen.returncode}) first:\n{self.text}")
                self.output += chunk

    def close_output(self) -> None:
        """What ``head`` does when it has its lines, or ``tee`` on Ctrl-C: the reader goes."""
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self.fd = None

    def wait_gone(self, timeout: float) -> int:
        """Wait for run.sh and everything it started to exit; its exit status."""
        status = self.popen.wait(timeout=timeout)
        deadline = time.monotonic() + 5
        while marked_processes(self.mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        return status

    def kill_all(self) -> None:
        for pid in marked_processes(self.mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.close_output()
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)


@pytest.fixture
def run_sh(drill_redis: DrillRedis, tmp_path: Path) -> Iterator[list[RunSh]]:
    started: list[RunSh] = []
    yield started
    for script in started:
        script.kill_all()


def start(run_sh: list[RunSh], env: dict[str, str]) -> RunSh:
    script = RunSh(env)
    run_sh.append(script)
    return script


def wait_for_banner(script: RunSh) -> str:
    """The banner's schema link, once run.sh says all its processes are up."""
    match = re.search(r"Schema\s+(\S+)\n", script.read_until(r"Database: .*\n", timeout=120).string)
    assert match, script.text
    return match.group(1)


@sqlite_pass_only
def test_banner_once_all_three_are_ready_then_closing_the_output_stops_everything(
    run_sh, drill_redis, tmp_path, say
):
    env = script_env(tmp_path, drill_redis.url)
    script = start(run_sh, env)
    started = time.monotonic()
    schema = wait_for_banner(script)
    banner_after = time.monotonic() - started

    port = env["PORT"]
    assert schema == f"http://127.0.0.1:{port}/api/schema/?format=json"
    # Printed only once web answered and both Celery processes said they were ready.
    assert (tmp_path / "run" / "worker.ready").exists()
    assert (tmp_path / "run" / "beat.ready").exists()
    with urllib.request.urlopen(schema, timeout=10) as response:  # noqa: S310 - our own URL
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
        assert b'"openapi"' in response.read(200)
    assert script.text.count("The chat API is up") == 1
    # Celery at WARNING when LOG_LEVEL is not set: no INFO line from worker or beat.
    assert not re.search(r"^\[(worker|beat)\].*\bINFO\b", script.text, re.MULTILINE), script.text

    # A worker that dies is started again, and said so; the stack does not stop.
    worker_pid = int(re.search(r"==> worker started \(pid (\d+)\)", script.text).group(1))
    os.kill(worker_pid, signal.SIGKILL)
    script.read_until(r"==> worker exited \(-9\); starting it again in 1s\n", timeout=10)
    script.read_until(r"==> worker started again \(pid \d+\)\n", timeout=10)
    script.read_until(r"==> worker is ready again\n", timeout=60)
    assert script.popen.poll() is None

    processes = len(marked_processes(script.mark))
    script.close_output()  # `scripts/run.sh | head -5` once head has its lines
    closed_at = time.monotonic()
    assert script.wait_gone(timeout=STOP_TIMEOUT + 20) == 0
    assert marked_processes(script.mark) == []
    say(
        f"run.sh: banner {banner_after:.1f}s after start; a SIGKILLed worker started again and "
        f"ready; output closed -> all {processes} processes gone in "
        f"{time.monotonic() - closed_at:.1f}s"
    )


@sqlite_pass_only
def test_rest_and_live_events_answer_on_the_one_port(run_sh, drill_redis, tmp_path, say):
    env = script_env(tmp_path, drill_redis.url)
    script = start(run_sh, env)
    wait_for_banner(script)
    port = int(env["PORT"])
    base = f"http://127.0.0.1:{port}"
    events_line = re.search(r"Events\s+(\S+)", script.text)
    assert events_line and events_line.group(1) == f"{base}/api/v1/apps/<token>/events"

    api = f"{base}/api/v1"
    with httpx.Client(timeout=30) as client:
        created = client.post(f"{api}/apps", json={"name": "one port"})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        shown = client.get(f"{api}/apps/{token}")
        assert shown.status_code == 200
        assert (shown.json()["token"], shown.json()["name"]) == (token, "one port")

        assert client.post(f"{api}/apps/{token}/chats").status_code == 201
        with (
            SseStream(port, f"/api/v1/apps/{token}/events") as app_stream,
            SseStream(port, f"/api/v1/apps/{token}/chats/1/events") as chat_stream,
        ):
            for stream in (app_stream, chat_stream):
                stream.wait_open()
                assert stream.status == 200, (stream.status, stream.error_body)
                assert stream.content_type.startswith("text/event-stream")
            # A stream follows once its first bytes (retry:) are read.
            deadline = time.monotonic() + 10
            while None in (app_stream.retry, chat_stream.retry) and time.monotonic() < deadline:
                time.sleep(0.01)
            message = client.post(f"{api}/apps/{token}/chats/1/messages", json={"body": "hi"})
            assert message.status_code == 201, message.text
            assert message.json()["number"] == 1
            # Through the proxy unbuffered: the event arrives while the streams stay open.
            received = [stream.wait_count(1) for stream in (app_stream, chat_stream)]

    for events in received:
        assert [
            (e.type, e.data["chat_number"], e.data["number"], e.data["body"]) for e in events
        ] == [("message.created", 1, 1, "hi")]
    say(f"run.sh: REST and both event streams answered on port {port} through the proxy")


@sqlite_pass_only
def test_ctrl_c_with_the_output_in_tee_leaves_no_process(run_sh, drill_redis, tmp_path, say):
    script = start(run_sh, script_env(tmp_path, drill_redis.url))
    wait_for_banner(script)
    processes = len(marked_processes(script.mark))

    # Ctrl-C in `scripts/run.sh | tee log`: SIGINT to the foreground job, which kills tee, so
    # everything run.sh says while stopping goes to a closed pipe.
    os.killpg(script.popen.pid, signal.SIGINT)
    script.close_output()
    stopped_at = time.monotonic()
    assert script.wait_gone(timeout=STOP_TIMEOUT + 20) == 0
    assert marked_processes(script.mark) == []
    say(
        f"run.sh | tee, Ctrl-C: all {processes} processes gone in "
        f"{time.monotonic() - stopped_at:.1f}s"
    )


@sqlite_pass_only
def test_piped_into_head_it_stops_everything_once_head_has_its_lines(drill_redis, tmp_path):
    env = script_env(tmp_path, drill_redis.url)
    mark = env[MARK] = uuid.uuid4().hex
    result = subprocess.run(
        ["bash", "-c", f"{RUN_SH} | head -6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT + 60,
    )
    # Nothing after migrate writes until the four are started, so head has exactly these.
    assert re.fullmatch(
        r"==> Redis answers at 127\.0\.0\.1:\d+\n"
        r"==> python manage\.py migrate\n"
        r"==> web started \(pid \d+\)\n"
        r"==> events started \(pid \d+\)\n"
        r"==> worker started \(pid \d+\)\n"
        r"==> beat started \(pid \d+\)\n",
        result.stdout,
    ), result.stdout
    # The pipeline ends when run.sh does: by then it has stopped all it started.
    assert (
        "==> our output was closed: stopping web, events, worker, beat and proxy" in result.stderr
    )
    assert marked_processes(mark) == []


@sqlite_pass_only
def test_a_process_that_exits_before_it_is_ready_stops_the_start(drill_redis, tmp_path):
    # A broker kombu has no transport for: the worker and beat exit as they start.
    env = script_env(tmp_path, drill_redis.url, CELERY_BROKER_URL="nosuchbroker://127.0.0.1/0")
    env[MARK] = mark = uuid.uuid4().hex
    result = subprocess.run(
        ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=STOP_TIMEOUT + 90
    )
    assert result.returncode == 1, result.stdout
    assert re.search(r"^==> (worker|beat) exited \(1\) before it was ready$", result.stdout, re.M)
    assert re.search(
        r"^==> (worker|beat) could not start: stopping web, events, worker, beat and proxy$",
        result.stdout,
        re.M,
    ), result.stdout
    assert "The chat API is up" not in result.stdout
    assert marked_processes(mark) == []


@sqlite_pass_only
@pytest.mark.parametrize("name", ["PORT", "EVENTS_PORT", "WEB_PORT"])
def test_a_busy_port_is_refused_before_migrating(drill_redis, tmp_path, name):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = script_env(tmp_path, drill_redis.url, **{name: str(port)})
        result = subprocess.run(
            ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: something already listens on 127.0.0.1:{port}; stop it or run with "
        f"{name}=<another port>\n"
    )
    assert "migrate" not in result.stdout
    assert not (tmp_path / "run.sqlite3").exists()


@sqlite_pass_only
def test_a_sqlite_database_that_cannot_be_opened_is_one_line(drill_redis, tmp_path):
    env = script_env(
        tmp_path, drill_redis.url, DATABASE_URL=f"sqlite:///{tmp_path}/missing/run.sqlite3"
    )
    result = subprocess.run(
        ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot open the sqlite database {tmp_path}/missing/run.sqlite3: "
        "unable to open database file\n"
    )


@pytest.mark.skipif(connection.vendor != "mysql", reason="needs a MySQL/MariaDB server")
def test_a_missing_mysql_database_is_one_line_naming_create_database(drill_redis, tmp_path):
    config = connection.settings_dict
    name = f"runsh_missing_{uuid.uuid4().hex[:8]}"
    host, port = config["HOST"] or "127.0.0.1", config["PORT"] or 3306
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    env = script_env(tmp_path, drill_redis.url, DATABASE_URL=f"mysql://{auth}@{host}:{port}/{name}")
    result = subprocess.run(
        ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=60
    )
    create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    command = f"mysql -h {host} -P {port} -u {config['USER']}" + (
        " -p" if config["PASSWORD"] else ""
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the database {name} does not exist on {host}:{port}; create it with: "
        f"{command} -e '{create}'\n"
    )
    assert "migrate" not in result.stdout

    # The command it names works, and then the database check passes.
    if shutil.which("mysql") and not config["PASSWORD"]:
        subprocess.run(["bash", "-c", f"{command} -e '{create}'"], check=True, timeout=30)
        try:
            check = subprocess.run(
                [sys.executable, "scripts/check_database.py"],
                cwd=settings.BASE_DIR,
                env={**env, "DJANGO_SETTINGS_MODULE": "chatapi.settings.local"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert (check.returncode, check.stderr) == (0, "")
        finally:
            subprocess.run(
                ["bash", "-c", f"{command} -e 'DROP DATABASE `{name}`;'"], check=True, timeout=30
            )
