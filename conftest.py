"""Fixtures shared by every test: a clean test Redis, API clients, an operator, an application.

Tests talk to the real database named by DATABASE_URL and to a real Redis (database 15 of
REDIS_URL by default, see chatapi.settings.test); nothing of ours is mocked. The helpers are in
tests/support; its fixtures (the service's processes, ``say``) load below with ``pytest_plugins``.

With ``TEST_REDIS_TOPOLOGY=cluster`` the numbering, the journal, idempotency and the dead
letters run on a real 3-master Redis Cluster that the session starts on free ports
(tests/redis_cluster.py), as ``REDIS_CLUSTER_NODES`` selects in production; the cache and the
broker stay on REDIS_URL. scripts/test.sh runs the pipeline's tests and the end-to-end tests
that way too.
"""

import os
from collections.abc import Iterator

import pytest

# Before the first import of tests.support, so that its asserts explain themselves as a test's do.
pytest.register_assert_rewrite("tests.support")

from django.contrib.auth import get_user_model  # noqa: E402
from django_redis import get_redis_connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from core.redis_client import redis_connection  # noqa: E402
from tests.support.contract import (  # noqa: E402
    API,
    OPERATOR_PASSWORD,
    ContractClient,
    basic_credentials,
)

# The fixtures of tests/support (pytest reads pytest_plugins in the root conftest.py only).
pytest_plugins = ["tests.support.processes", "tests.support.terminal", "tests.redis_cluster"]


CLUSTER = os.environ.get("TEST_REDIS_TOPOLOGY", "standalone") == "cluster"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """scripts/test.sh runs the suite on MariaDB, then on SQLite: the tests whose outcome does
    not depend on the SQL database (real servers, a browser, a Prometheus, osmem) run in the
    first pass only, when it sets TEST_SKIP_BACKEND_INDEPENDENT for the second."""
    if os.environ.get("TEST_SKIP_BACKEND_INDEPENDENT") != "1":
        return
    skip = pytest.mark.skip(reason="backend-independent: run in this test.sh's MariaDB pass")
    for item in items:
        if item.get_closest_marker("backend_independent"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def redis_topology() -> Iterator[object]:
    """The Redis Cluster of a cluster run (None otherwise), for this process and its children."""
    if not CLUSTER:
        yield None
        return
    from django.conf import settings

    from tests.redis_cluster import LocalRedisCluster

    cluster = LocalRedisCluster(masters=3).start()
    os.environ["REDIS_CLUSTER_NODES"] = cluster.nodes_setting()
    settings.REDIS_CLUSTER_NODES = cluster.nodes_setting().split(",")
    try:
        yield cluster
    finally:
        cluster.stop()


def _redis_flush(topology: object) -> None:
    get_redis_connection("default").flushdb()  # the cache and the broker's queue
    if topology is not None:
        for master in topology.masters():  # type: ignore[attr-defined]
            master.client().flushall()


@pytest.fixture(autouse=True)
def redis_clean(redis_topology):
    """Each test starts with an empty test Redis (counters, journal, broker queue), and an
    empty cluster in a cluster run."""
    _redis_flush(redis_topology)
    yield redis_connection()
    _redis_flush(redis_topology)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api() -> ContractClient:
    """A client that checks, on every response, what the contract promises of all."""
    return ContractClient()


@pytest.fixture
def operator(db):
    """A Django staff user: who may list every application (``GET /apps``)."""
    return get_user_model().objects.create_user(
        username="operator", password=OPERATOR_PASSWORD, is_staff=True
    )


@pytest.fixture
def operator_api(operator) -> ContractClient:
    """A contract client that sends the operator's credentials by HTTP Basic on every call."""
    client = ContractClient()
    client.credentials(HTTP_AUTHORIZATION=basic_credentials("operator", OPERATOR_PASSWORD))
    return client


@pytest.fixture
def application():
    """An application as the API creates it: a row, and registered with the allocator."""
    from applications.tests.factories import ApplicationFactory
    from pipeline.numbering import application_register

    application = ApplicationFactory()
    application_register(token=application.token)
    return application


@pytest.fixture
def token(api, django_capture_on_commit_callbacks) -> str:
    """An application created through the API, so the allocator knows it (as in production)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{API}/apps", {"name": "app"}, format="json")
    assert response.status_code == 201
    return response.json()["token"]
