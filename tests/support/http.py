"""A JSON client of a live server, over ``http.client``.

Dependency-free (no Django, no pytest), so the history checker's client processes import it too.
"""

from __future__ import annotations

import http.client
import json
from typing import Any


def json_exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Send ``body`` as JSON (if any), asking for JSON; the status and the raw answer."""
    send = {"Accept": "application/json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        send["Content-Type"] = "application/json"
    connection.request(method, path, body=payload, headers=send)
    response = connection.getresponse()
    return response.status, response.read()


class HttpApi:
    """A JSON client of one server; a new connection per call, so threads can share it."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            status, raw = json_exchange(connection_, method, path, body, headers)
            return status, json.loads(raw) if raw else None
        finally:
            connection_.close()

    def post(self, path: str, body: Any = None, expect: int = 201) -> Any:
        status, data = self.call("POST", path, body)
        assert status == expect, (status, data)
        return data

    def get(self, path: str, expect: int = 200) -> Any:
        status, data = self.call("GET", path)
        assert status == expect, (status, data)
        return data

    def patch(self, path: str, body: Any, expect: int = 200) -> Any:
        status, data = self.call("PATCH", path, body)
        assert status == expect, (status, data)
        return data
