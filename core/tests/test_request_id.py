"""``X-Request-ID`` on every response, kept from the request when a proxy set a sane one."""

import re

import pytest

from tests.support.contract import API

pytestmark = pytest.mark.django_db

FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/healthz"),
        ("post", f"{API}/apps"),
        ("get", f"{API}/apps/{'0' * 40}"),
        ("get", f"{API}/apps"),  # 401
        ("delete", f"{API}/apps"),  # 405
        ("get", "/api/nothing/here"),  # 404 from the catch-all
        ("get", "/api/schema/"),
    ],
)
def test_every_response_carries_a_fresh_request_id(api_client, method, path):
    first = getattr(api_client, method)(path)
    second = getattr(api_client, method)(path)

    assert FRESH.fullmatch(first["X-Request-ID"])
    assert FRESH.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_413_carries_one_too(api_client, token):
    response = api_client.post(
        f"{API}/apps/{token}/chats", "x", content_type="application/json", CONTENT_LENGTH="2000000"
    )

    assert response.status_code == 413
    assert FRESH.fullmatch(response["X-Request-ID"])


@pytest.mark.parametrize(
    "given",
    [
        "6f1c1a52-3c1e-4d0e-9d76-2b1c0f5d8a11",
        "Root=1-5f84c7a4-e0bd0e7b9a2b5b1c6d7e8f90",
        "nginx:0123456789abcdef",
        "a",
        "x" * 128,
    ],
)
def test_a_sane_request_id_from_a_proxy_is_kept(api_client, given):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=given)

    assert response["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    ["", "has space", "x" * 129, 'quote"', "new\nline", "tab\t", "é", "<script>", "a;b"],
)
def test_anything_else_is_replaced(api_client, given):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=given)

    assert FRESH.fullmatch(response["X-Request-ID"])
