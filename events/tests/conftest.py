"""A stream process per test (events/worker.py serving chatapi/asgi.py), beside the module's
two WSGI servers (``api_servers``), all on the test database and the test Redis.

Per test, not per module: every test starts on a flushed Redis (``redis_clean``), and a
process that followed the streams before the flush would rightly answer its next event with a
``reset``.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.http import HttpApi
from tests.support.processes import ServiceProcess, dump_logs_if_failed
from tests.support.streams import stream_process_start

KEEPALIVE_SECONDS = 1


@dataclass
class StreamServer:
    process: ServiceProcess
    port: int


@pytest.fixture
def stream_env(service_env: dict[str, str]) -> dict[str, str]:
    return {
        **service_env,
        "EVENTS_KEEPALIVE_SECONDS": str(KEEPALIVE_SECONDS),
        "EVENTS_READ_BLOCK_MS": "500",
    }


@pytest.fixture
def stream_server(
    request: pytest.FixtureRequest, stream_env: dict[str, str], tmp_path_factory
) -> Iterator[StreamServer]:
    failed_before = request.session.testsfailed
    process, port = stream_process_start(stream_env, tmp_path_factory.mktemp("stream"))
    try:
        yield StreamServer(process, port)
    finally:
        process.stop()
        dump_logs_if_failed(request, failed_before, [process])


@pytest.fixture
def web(api_servers: list[HttpApi]) -> HttpApi:
    return api_servers[0]
