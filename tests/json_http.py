"""One JSON exchange over an ``http.client`` connection, for every test client of a live server.

Dependency-free (no Django, no pytest), so the history checker's client processes import it too.
"""

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
