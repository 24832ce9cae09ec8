"""Fixtures shared by every test: a clean test Redis, API clients, an operator, an application.

Tests talk to the real database named by DATABASE_URL and to a real Redis (database 15 of
REDIS_URL by default, see chatapi.settings.test); nothing of ours is mocked. The helpers are in
tests/support; its fixtures (the service's processes, ``say``) load below with ``pytest_plugins``.
"""

import pytest

# Before the first import of tests.support, so that its asserts explain themselves as a test's do.
pytest.register_assert_rewrite("tests.support")

from django.contrib.auth import get_user_model  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from chatapi.redis_client import redis_connection  # noqa: E402
from tests.support.contract import (  # noqa: E402
    API,
    OPERATOR_PASSWORD,
    ContractClient,
    basic_credentials,
)

# The fixtures of tests/support (pytest reads pytest_plugins in the root conftest.py only).
pytest_plugins = ["tests.support.processes", "tests.support.terminal"]


@pytest.fixture(autouse=True)
def redis_clean():
    """Each test starts with an empty test Redis database (counters, journal, broker queue)."""
    client = redis_connection()
    client.flushdb()
    yield client
    client.flushdb()


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
def token(api, django_capture_on_commit_callbacks) -> str:
    """An application created through the API, so the allocator knows it (as in production)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{API}/apps", {"name": "app"}, format="json")
    assert response.status_code == 201
    return response.json()["token"]
