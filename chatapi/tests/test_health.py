"""The probes /healthz and /readyz (API.md, "Also served"); the schema: test_openapi.py."""

import pytest
from django.test import Client

from tests.support.contract import error

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a Redis that is down


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


# /healthz and /readyz


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_get_and_head(client, path):
    get = client.get(path)
    head = client.head(path)

    assert get.status_code == head.status_code == 200
    assert get["Content-Type"] == "application/json"
    assert head.content == b""


def test_healthz_says_the_process_is_up(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_runs_no_sql_and_touches_no_dependency(client, django_assert_num_queries, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_says_every_dependency_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": True, "redis": True, "search": True},
    }


def test_readyz_is_503_naming_redis_when_redis_is_down(client, settings):
    """Redis really down (a port nothing listens on), not a mock."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert "redis" in body["error"]["message"]
    assert "database" not in body["error"]["message"]
    assert body["checks"] == {"database": True, "redis": False, "search": True}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_probes_refuse_other_methods_with_405(client, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')
