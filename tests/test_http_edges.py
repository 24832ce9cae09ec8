"""Requests as real clients send them, against a real gunicorn.

- a body sent with ``Transfer-Encoding: chunked`` and no ``Content-Length`` (curl with
  ``-H 'Transfer-Encoding: chunked'``, Node's fetch with a stream, Go's http with an unknown
  length) is read, never "body: this field is required"; over 1 MiB it is a 413;
- a browser's ``Accept`` header gets JSON, never a 406.

Django's test client cannot send either (it always sets Content-Length), so the requests go
through a socket to gunicorn: with http.client, and raw bytes where the framing itself is
the point.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from tests.support.http import HttpApi

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
MIB = 1024 * 1024


def exchange(
    server: HttpApi,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request; with ``chunks`` the body goes out chunked, with no Content-Length."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = dict(headers or {})
        if chunks is not None:
            headers["Transfer-Encoding"] = "chunked"
            connection.request(
                method, path, body=iter(chunks), headers=headers, encode_chunked=True
            )
        else:
            connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_exchange(server: HttpApi, request: bytes) -> tuple[int, bytes]:
    """Bytes out, the status and the body of the answer back (the server closes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(api_servers: list[HttpApi]) -> HttpApi:
    return api_servers[0]


@pytest.fixture
def chat(server: HttpApi) -> str:
    token = server.post("/api/v1/apps", {"name": "edges"})["token"]
    server.post(f"/api/v1/apps/{token}/chats")
    return f"/api/v1/apps/{token}/chats/1"


# Transfer-Encoding: chunked


def test_a_chunked_message_is_read_and_stored_exactly(server, chat):
    text = "Hello, chunked 👋 " * 300  # several chunks, a multi-byte character split by one
    encoded = json.dumps({"body": text}, ensure_ascii=False).encode()
    pieces = [encoded[i : i + 1000] for i in range(0, len(encoded), 1000)]

    status, headers, body = exchange(
        server, "POST", f"{chat}/messages", headers=JSON, chunks=pieces
    )

    assert status == 201, body
    created = json.loads(body)
    assert created["body"] == text
    assert server.get(f"{chat}/messages/{created['number']}")["body"] == text


def test_a_chunked_application_create_and_message_edit_are_read(server, chat):
    created = exchange(
        server, "POST", "/api/v1/apps", headers=JSON, chunks=[b'{"name": "ch', b'unked"}']
    )
    server.post(f"{chat}/messages", {"body": "before"})
    edited = exchange(
        server, "PATCH", f"{chat}/messages/1", headers=JSON, chunks=[b'{"body": "after"}']
    )

    assert created[0] == 201 and json.loads(created[2])["name"] == "chunked"
    assert edited[0] == 200 and json.loads(edited[2])["body"] == "after"


def test_a_chunked_body_in_raw_bytes_is_read(server, chat):
    payload = b'{"body": "raw"}'
    request = (
        f"POST {chat}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)

    status, body = raw_exchange(server, request)

    assert status == 201, body
    assert json.loads(body)["body"] == "raw"


def test_an_empty_chunked_body_is_the_usual_400_naming_the_field(server, chat):
    status, _, body = exchange(server, "POST", f"{chat}/messages", headers=JSON, chunks=[])

    assert status == 400
    assert json.loads(body)["error"]["fields"] == {"body": ["This field is required."]}


def test_a_chunked_body_over_1_mib_is_413(server, chat):
    pieces = [b'{"body": "'] + [b"a" * 65536] * 17 + [b'"}']  # 1.06 MiB

    status, headers, body = exchange(
        server, "POST", f"{chat}/messages", headers=JSON, chunks=pieces
    )

    assert status == 413
    assert json.loads(body) == {
        "error": {
            "code": "payload_too_large",
            "message": "The request body is larger than 1 MiB.",
        }
    }
    assert headers["x-request-id"]
    assert server.get(f"{chat}/messages")["results"] == []


def test_a_chunked_body_of_exactly_1_mib_is_not_413(server, chat):
    filler = 1 * MIB - len(b'{"body": ""}')
    pieces = [b'{"body": "', b"a" * filler, b'"}']

    status, _, body = exchange(server, "POST", f"{chat}/messages", headers=JSON, chunks=pieces)

    # Read whole and parsed: the body is too long for a message, which is a 400, not a 413.
    assert status == 400, body[:200]
    assert list(json.loads(body)["error"]["fields"]) == ["body"]


@pytest.mark.parametrize(
    "framing",
    [b"zz\r\n{}\r\n0\r\n\r\n", b'5\r\n{"bod\r\n3\r\ny": 1}'],
    ids=["a chunk size that is not hex", "cut off before the last chunk"],
)
def test_a_malformed_chunked_body_is_400_in_the_envelope(server, chat, framing):
    head = (
        f"POST {chat}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + framing)
        sock.shutdown(socket.SHUT_WR)  # the client is done: the body ends mid-chunk
        received = b""
        while chunk := sock.recv(65536):
            received += chunk

    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {
        "error": {"code": "bad_request", "message": "The chunked request body is malformed."}
    }


# A browser's Accept header


@pytest.mark.parametrize(
    "method,suffix,expected",
    [
        ("GET", "", 200),
        ("GET", "/messages", 200),
        ("GET", "/messages/search?q=x", 200),
        ("GET", "/messages/99", 404),
        ("POST", "/messages", 201),
    ],
)
def test_a_browsers_accept_header_gets_json(server, chat, method, suffix, expected):
    body = b'{"body": "from a browser"}' if method == "POST" else None

    status, headers, content = exchange(
        server, method, chat + suffix, body, {**JSON, "Accept": BROWSER_ACCEPT}
    )

    assert status == expected, content
    assert headers["content-type"] == "application/json"
    json.loads(content)


def test_a_browser_opening_the_root_lands_on_the_docs(server):
    status, headers, _ = exchange(server, "GET", "/", headers={"Accept": BROWSER_ACCEPT})

    assert status == 302
    assert headers["location"] == "/api/docs/"
