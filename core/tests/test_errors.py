"""Bad input and the one error shape (API.md, "Errors" and "Bad input"), across every endpoint.

The client here enforces CSRF checks, as a real client (curl, a mobile app) does not send a
CSRF token: Django's test client skips the check unless told otherwise.
"""

import json

import pytest
from django.test import RequestFactory
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from chats.tests.factories import ChatFactory
from core.errors import bad_request_view, not_found_view, server_error_view
from messages_app.models import Message
from messages_app.tests.factories import MessageFactory
from tests.support.contract import API, ContractClient, error
from tests.support.tasks import queued_tasks

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
NOT_FOUND = error("not_found", "No such resource.")
MALFORMED = error("malformed_json", "The request body is not valid JSON.")
TOO_LARGE = error("payload_too_large", "The request body is larger than 1 MiB.")
METHODS = ["get", "post", "put", "patch", "delete"]


@pytest.fixture
def api() -> ContractClient:
    return ContractClient(enforce_csrf_checks=True)


@pytest.fixture
def message() -> Message:
    return MessageFactory(chat=ChatFactory(number=1), number=1, body="kept")


@pytest.fixture
def token(message) -> str:
    return message.chat.application.token


def write_endpoints(token: str) -> list[tuple[str, str]]:
    """Every endpoint that reads a request body, with its method."""
    return [
        ("post", f"{API}/apps"),
        ("patch", f"{API}/apps/{token}"),
        ("put", f"{API}/apps/{token}"),
        ("post", f"{API}/apps/{token}/chats"),
        ("post", f"{API}/apps/{token}/chats/1/messages"),
        ("patch", f"{API}/apps/{token}/chats/1/messages/1"),
        ("put", f"{API}/apps/{token}/chats/1/messages/1"),
        ("post", f"{API}/apps/{token}/chats/1/messages/search"),
    ]


def send(api, method: str, url: str, body: bytes | str, content_type: str = "application/json"):
    if method == "get":  # the test client would turn a GET's data into a query string
        return api.get(url)
    return getattr(api, method)(url, body, content_type=content_type)


def assert_nothing_changed(message: Message) -> None:
    message.refresh_from_db()
    assert message.body == "kept"
    assert message.chat.application.name.startswith("application")
    assert queued_tasks() == []


# The envelope


def test_the_handlers_of_django_answer_in_the_envelope():
    request = RequestFactory().get("/anything")

    for view, status, body in (
        (not_found_view, 404, NOT_FOUND),
        (bad_request_view, 400, error("bad_request", "The request could not be understood.")),
        (server_error_view, 500, error("internal_error", "An unexpected error occurred.")),
    ):
        response = view(request) if view is server_error_view else view(request, None)
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content) == body


def test_validation_errors_name_every_bad_field(api, token):
    response = api.post(
        f"{API}/apps/{token}/chats/1/messages", {"body": 1, "extra": 2}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: body.", {"body": ["Must be a string."]}
    )


# 404: unknown paths and numbers that are not positive integers

# Paths outside the contract, each a different way to miss it. Under /api/ the catch-all
# route answers them (chatapi/urls.py); elsewhere Django's handler404 does.
UNKNOWN_PATHS = [
    "/nope",
    "/api",
    "/api/",
    "/api/v1",
    "/api/v1/",
    "/api/v2/apps",
    "/api/v1/applications",
    "/api/v1/apps/",  # no trailing slashes in the contract
    "/api/v1/apps/{token}/",
    "/api/v1/apps/{token}/chats/",
    "/api/v1/apps/{token}/chats/1/",
    "/api/v1/apps/{token}/chats/1/messages/",
    "/api/v1/apps/{token}/chats/1/messages/1/",
    "/api/v1/apps/{token}/chats/1/messages/1/extra",
    "/api/v1/apps/{token}/messages",
    "/api/v1/apps/{token}/chats/1/chats",
    "/api/v1/APPS",
]


def view_of(path: str):
    """The view Django routes ``path`` to, or None when no route matches (handler404)."""
    try:
        return resolve(path).func
    except Resolver404:
        return None


def test_a_path_outside_the_contract_reaches_no_view_of_the_api():
    routed = {path: view_of(path.format(token="t0ken")) for path in UNKNOWN_PATHS}

    assert routed == {
        path: None if not path.startswith("/api/") else not_found_view for path in UNKNOWN_PATHS
    }


def test_an_unknown_path_is_404_in_the_envelope_whatever_the_method(api, token):
    """One path per way of answering: the catch-all (it is exempt from CSRF, or a POST would
    get Django's 403 page), handler404, and ``/api``, which gets no slash appended and no
    redirect (APPEND_SLASH is off)."""
    for path in ("/api/v1/applications", f"/api/v1/apps/{token}/", "/nope", "/api"):
        for method in METHODS:
            response = getattr(api, method)(path)
            assert response.status_code == 404, (method, path)
            assert response.json() == NOT_FOUND, (method, path)


# Every route with a number in its path. What the converter refuses is pinned by
# core/tests/test_converters.py; here, each route uses it and refuses before anything runs.
ROUTES_WITH_A_NUMBER = [
    "/api/v1/apps/{token}/chats/{n}",
    "/api/v1/apps/{token}/chats/{n}/messages",
    "/api/v1/apps/{token}/chats/{n}/messages/1",
    "/api/v1/apps/{token}/chats/1/messages/{n}",
    "/api/v1/apps/{token}/chats/{n}/messages/search",
]


@pytest.mark.parametrize("template", ROUTES_WITH_A_NUMBER)
def test_a_number_the_converter_refuses_is_404_on_every_route_whatever_the_method(
    api, message, token, template
):
    """Refused by the pattern (``0``), after URL decoding (``%20``) and by the range check
    (2**63): a 404 before the view, so never a 405 for a method the route lacks, and with a
    body that would be valid nothing is written or queued."""
    for number in ("0", "%20", str(2**63)):
        url = template.format(token=token, n=number)
        for method in METHODS:
            response = send(api, method, url, '{"body": "x", "query": "x"}')
            assert response.status_code == 404, (method, url)
            assert response.json() == NOT_FOUND, (method, url)
    assert_nothing_changed(message)


def test_the_largest_number_is_a_regular_404(api, token):
    largest = 2**63 - 1

    chat = api.get(f"{API}/apps/{token}/chats/{largest}")
    message = api.get(f"{API}/apps/{token}/chats/1/messages/{largest}")
    post = api.post(f"{API}/apps/{token}/chats/{largest}/messages", {"body": "x"}, format="json")

    assert chat.status_code == message.status_code == post.status_code == 404
    assert chat.json() == error("not_found", f"No chat {largest} in this application.")
    assert message.json() == error("not_found", f"No message {largest} in chat 1.")
    assert post.json() == error("not_found", f"No chat {largest} in this application.")


def test_unknown_api_paths_are_json_even_with_debug_on(api, settings):
    settings.DEBUG = True

    response = api.get(f"{API}/nope")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# 405


@pytest.mark.parametrize(
    "method,path",
    [
        ("put", "/apps"),
        ("patch", "/apps"),
        ("delete", "/apps"),
        ("post", "/apps/{token}"),
        ("delete", "/apps/{token}"),
        ("put", "/apps/{token}/chats"),
        ("patch", "/apps/{token}/chats"),
        ("delete", "/apps/{token}/chats"),
        ("post", "/apps/{token}/chats/1"),
        ("put", "/apps/{token}/chats/1"),
        ("patch", "/apps/{token}/chats/1"),
        ("delete", "/apps/{token}/chats/1"),
        ("put", "/apps/{token}/chats/1/messages"),
        ("patch", "/apps/{token}/chats/1/messages"),
        ("delete", "/apps/{token}/chats/1/messages"),
        ("post", "/apps/{token}/chats/1/messages/1"),
        ("delete", "/apps/{token}/chats/1/messages/1"),
        ("put", "/apps/{token}/chats/1/messages/search"),
        ("patch", "/apps/{token}/chats/1/messages/search"),
        ("delete", "/apps/{token}/chats/1/messages/search"),
    ],
)
def test_an_unsupported_method_is_405(api, message, token, method, path):
    body = '{"body": "x", "name": "x", "query": "x"}'
    response = send(api, method, API + path.format(token=token), body)

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')
    assert method.upper() not in response["Allow"]
    assert_nothing_changed(message)


def test_an_unsupported_method_on_the_schema_and_the_docs_is_405():
    """Not API endpoints: the schema answers in its own media type, the docs in HTML."""
    api = APIClient(enforce_csrf_checks=True)
    schema = api.post("/api/schema/?format=json", "{}", content_type="application/json")
    docs = api.post("/api/docs/", "{}", content_type="application/json")

    assert schema.status_code == 405
    assert json.loads(schema.content) == error("method_not_allowed", 'Method "POST" not allowed.')
    assert docs.status_code == 405


# 413


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_body_over_1_mib_is_413_on_every_write_endpoint(api, message, token, content_type):
    body = json.dumps({"name": "n" * MiB, "body": "b", "query": "q"})

    for method, url in write_endpoints(token):
        response = send(api, method, url, body, content_type)
        assert response.status_code == 413, url
        assert response.json() == TOO_LARGE, url
    assert_nothing_changed(message)


def test_a_body_of_1_mib_and_one_byte_is_413(api, token):
    body = '{"body": "' + "x" * (MiB + 1 - len('{"body": ""}')) + '"}'
    assert len(body) == MiB + 1

    response = api.post(
        f"{API}/apps/{token}/chats/1/messages", body, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def test_a_body_of_exactly_1_mib_is_read(api, token):
    body = '{"body": "' + "x" * (MiB - len('{"body": ""}')) + '"}'
    assert len(body) == MiB

    response = api.post(
        f"{API}/apps/{token}/chats/1/messages", body, content_type="application/json"
    )

    # Read and judged on its content: over MESSAGE_BODY_MAX_LENGTH, not over the size limit.
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "body": ["Ensure this field has no more than 10000 characters."]
    }


def test_an_invalid_content_length_is_400(api):
    response = api.generic(
        "POST", f"{API}/apps", b"{}", content_type="application/json", CONTENT_LENGTH="abc"
    )

    assert response.status_code == 400
    assert response.json() == error("bad_request", "Invalid Content-Length.")


# 415


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/octet-stream",
    ],
)
def test_an_unsupported_content_type_is_415_on_every_write_endpoint(
    api, message, token, content_type
):
    for method, url in write_endpoints(token):
        response = send(api, method, url, '{"name": "x", "body": "x", "query": "x"}', content_type)
        assert response.status_code == 415, url
        assert response.json() == error(
            "unsupported_media_type", f'Unsupported media type "{content_type}" in request.'
        ), url
    assert_nothing_changed(message)


def test_json_with_a_charset_is_accepted(api, token):
    response = api.post(
        f"{API}/apps/{token}/chats/1/messages",
        b'{"body": "x"}',
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 201


# 400 for malformed JSON


@pytest.mark.parametrize(
    "body",
    [
        "{",
        '{"name": "x"',
        "{'name': 'x'}",
        '{"name": "x",}',
        '{"name": "x"} trailing',
        "name=x",
        "NaN",
        '{"name": Infinity}',
        b'{"name": "\xc3\x28"}',  # invalid UTF-8
        "[" * 100_000,  # nested deeper than Python's recursion limit, well under 1 MiB
        '{"a":' * 50_000 + "1" + "}" * 50_000,
    ],
    ids=lambda body: repr(body[:20]),
)
def test_malformed_json_is_400_on_every_write_endpoint(api, message, token, body):
    for method, url in write_endpoints(token):
        response = send(api, method, url, body)
        assert response.status_code == 400, url
        assert response.json() == MALFORMED, url
    assert_nothing_changed(message)


# Other client mistakes: still a 4xx in the envelope


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png"])
def test_an_unacceptable_accept_header_is_406(api, token, accept):
    response = api.get(f"{API}/apps/{token}", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert response.json() == error(
        "not_acceptable", "Could not satisfy the request Accept header."
    )


@pytest.mark.parametrize("path", ["/chats", "/chats/1/messages"])
def test_a_create_over_the_rate_limit_is_429(api, token, settings, path):
    settings.THROTTLE_CREATE_RATE = "2/minute"
    url = f"{API}/apps/{token}{path}"

    statuses = [api.post(url, {"body": "x"}, format="json").status_code for _ in range(3)]
    response = api.post(url, {"body": "x"}, format="json")

    assert statuses == [201, 201, 429]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0
    # Reads are not limited.
    assert api.get(f"{API}/apps/{token}/chats/1").status_code == 200
