"""A Python client generated from the live schema works as a client developer would use it.

openapi-python-client generates the client from ``/api/schema/?format=json`` of a running
server; ``mypy --strict`` checks the generated package and ``clients/python/example.py``
together; then the script runs against the same server (a Celery worker persists what it
creates) and says what it saw, line by line.
"""

import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.harness.process import command_run

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
]

CLIENTS = Path(settings.BASE_DIR) / "clients" / "python"
BIN = Path(sys.executable).parent
EXPECTED_OUTPUT = [
    "application 'demo': token {token8}…",
    "chat 1",
    "messages [1, 2, 3, 4, 5]",
    "idempotent replay: message 6 both times",
    "paged with next, 2 a page: [1, 2, 3, 4, 5, 6]",
    "search 'ell wor': ['Hello, World!']",
    "404 not_found: No chat 999 in this application.",
    "400 validation_error: body: This field may not be blank.",
]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = command_run([str(arg) for arg in args], cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_generated_client_type_checks_and_runs(live_server_url, tmp_path):
    with urllib.request.urlopen(f"{live_server_url}/api/schema/?format=json") as response:  # noqa: S310
        (tmp_path / "schema.json").write_bytes(response.read())
    run(
        BIN / "openapi-python-client",
        "generate",
        "--path",
        "schema.json",
        "--config",
        CLIENTS / "openapi-python-client.yaml",
        cwd=tmp_path,
    )
    package = tmp_path / "chat-api-client"
    assert (package / "chat_api_client" / "api" / "messages" / "messages_create.py").exists()

    run(
        BIN / "mypy",
        "--strict",
        "--cache-dir",
        tmp_path / "mypy-cache",
        package / "chat_api_client",
        CLIENTS / "example.py",
        cwd=tmp_path,
        env={"MYPYPATH": str(package), "PATH": str(BIN)},
    )

    output = run(
        sys.executable,
        CLIENTS / "example.py",
        live_server_url,
        cwd=tmp_path,
        env={"PYTHONPATH": str(package), "PYTHONIOENCODING": "utf-8"},
    )
    lines = output.splitlines()
    token8 = lines[0].split("token ", 1)[1][:8]
    assert lines == [line.format(token8=token8) for line in EXPECTED_OUTPUT]
