"""Fixtures shared by every test: a clean test Redis and an API client.

Tests talk to the real database named by DATABASE_URL and to a real Redis (database 15 of
REDIS_URL by default, see chatapi.settings.test); nothing of ours is mocked.
"""

import pytest
from rest_framework.test import APIClient

from chatapi.redis_client import redis_connection


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
