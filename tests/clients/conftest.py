"""A live server for the clients: one gunicorn and one Celery worker on the test database."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http import HttpApi
from tests.support.processes import ServiceProcess, server_start


@pytest.fixture
def live_server_url(
    service_env: dict[str, str], celery_worker: ServiceProcess, tmp_path: Path
) -> Iterator[str]:
    process, server = server_start(service_env, tmp_path)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        process.stop()


@pytest.fixture
def live_server(live_server_url: str) -> HttpApi:
    return HttpApi(int(live_server_url.rsplit(":", 1)[1]))
