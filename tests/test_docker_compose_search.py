"""docker-compose.yml and search: nothing waits for Elasticsearch, and the search queue is consumed.

Read as data, as tests/test_docker_compose.py does (no Docker engine runs where the tests run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

COMPOSE = Path(settings.BASE_DIR) / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _queues(spec: dict[str, Any]) -> set[str]:
    command = spec["command"]
    return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else {"celery"}


def test_no_application_service_waits_for_elasticsearch(services):
    for name, spec in services.items():
        if spec.get("image") == "chatapi:local" or "build" in spec:
            assert "elasticsearch" not in spec.get("depends_on", {}), name


@pytest.mark.parametrize("profile", [None, "cluster"])
def test_every_queue_has_a_worker(services, profile):
    workers = [
        spec
        for spec in services.values()
        if "worker" in spec.get("command", [])
        and ((profile in spec.get("profiles", [])) if profile else not spec.get("profiles"))
    ]
    consumed = set().union(*(_queues(spec) for spec in workers))
    assert {"celery", settings.SEARCH_QUEUE} <= consumed


def test_the_default_stack_drains_search_in_a_worker_of_its_own(services):
    assert _queues(services["worker"]) == {"celery"}
    assert _queues(services["search-worker"]) == {settings.SEARCH_QUEUE}
