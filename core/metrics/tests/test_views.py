"""GET /metrics: who may read it, and what it answers (in this process: single-process mode)."""

import base64

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"
NOT_AUTHENTICATED = {
    "error": {
        "code": "not_authenticated",
        "message": "Metrics need a staff user's credentials or the metrics token.",
    }
}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        username="ops", password="ops password", is_staff=True
    )


@pytest.fixture
def token_set(settings):
    settings.METRICS_TOKEN = TOKEN


def refused(response) -> bool:
    return (
        response.status_code == 401
        and response.json() == NOT_AUTHENTICATED
        and response["WWW-Authenticate"] == 'Basic realm="metrics"'
    )


def test_without_credentials_401_in_the_error_envelope(client, token_set):
    assert refused(client.get("/metrics"))


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}x",
        "Bearer ",
        f"Token {TOKEN}",
        "Basic !!!not base64",
        basic("ops", "wrong password"),
        basic("nobody", "ops password"),
        "Basic " + base64.b64encode(b"no colon").decode(),
    ],
)
def test_wrong_credentials_401(client, staff, token_set, authorization):
    assert refused(client.get("/metrics", HTTP_AUTHORIZATION=authorization))


def test_a_bearer_token_is_refused_when_no_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer "))
    assert refused(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"))


def test_a_user_who_is_not_staff_401(client):
    get_user_model().objects.create_user(username="user", password="user password")
    assert refused(client.get("/metrics", HTTP_AUTHORIZATION=basic("user", "user password")))


def test_the_bearer_token_reads_the_text_format(client, token_set):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "chatapi_http_request_duration_seconds",
        "chatapi_creates_accepted",
        "chatapi_journal_backlog",
        "chatapi_journal_oldest_age_seconds",
        "chatapi_dead_letters",
        "chatapi_journal_read_ok",
    } <= names


def test_a_staff_user_reads_it_by_http_basic(client, staff):
    response = client.get("/metrics", HTTP_AUTHORIZATION=basic("ops", "ops password"))
    assert response.status_code == 200


def test_head_is_allowed_and_other_methods_are_405_in_the_envelope(client, token_set):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.head("/metrics", **auth).status_code == 200
    response = client.post("/metrics", **auth)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "POST" not allowed.'}
    }
