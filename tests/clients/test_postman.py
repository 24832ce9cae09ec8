"""docs/chat-api.postman_collection.json runs green with newman against a live server.

newman (Postman's command-line runner, from npm) is installed by scripts/test.sh into
var/node; set NEWMAN to use another. Without it the test is skipped on a developer's
machine, and fails in CI (CI=true), where scripts/test.sh always installs it.
"""

import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.harness.process import command_run

pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
]

DOCS = Path(settings.BASE_DIR) / "docs"
NEWMAN = Path(
    os.environ.get("NEWMAN") or Path(settings.BASE_DIR) / "var/node/node_modules/.bin/newman"
)


@pytest.fixture
def newman() -> Path:
    if not NEWMAN.exists():
        message = f"newman is not installed at {NEWMAN} (scripts/test.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return NEWMAN


def test_the_postman_collection_runs_green(newman, live_server_url, tmp_path):
    collection = json.loads((DOCS / "chat-api.postman_collection.json").read_text())
    requests = [item for folder in collection["item"] for item in folder["item"]]
    report = tmp_path / "newman.json"

    done = command_run(
        [
            str(newman),
            "run",
            str(DOCS / "chat-api.postman_collection.json"),
            "--environment",
            str(DOCS / "chat-api.postman_environment.json"),
            "--env-var",
            f"baseUrl={live_server_url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["requests"] == {"total": len(requests), "pending": 0, "failed": 0}
    assert stats["assertions"]["failed"] == 0
    assert stats["assertions"]["total"] == len(requests)  # one test per request, all ran
