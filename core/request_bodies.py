"""Request bodies sent with ``Transfer-Encoding: chunked``, made readable by Django.

A chunked body has no ``Content-Length``, and Django's WSGIRequest reads exactly
``CONTENT_LENGTH`` bytes of ``wsgi.input``, 0 when it is missing: the view would see an empty
body and answer "body: this field is required". gunicorn decodes the chunks itself and says,
with ``wsgi.input_terminated`` (gunicorn/http/wsgi.py), that ``wsgi.input`` ends where the
body ends, so reading it to the end is safe. This WSGI wrapper reads such a body, one byte
past the 1 MiB limit at most, and hands Django a stream with its ``Content-Length``; a body
over the limit then gets the usual 413 (core.middleware). A server that does not mark its
input terminated gets a 411: without a length, nothing says where the body ends.
"""

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _error(start_response: Callable[..., Any], status: str, code: str, message: str) -> list:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read(stream: Any, limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(65536, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def chunked_bodies_readable(application: WsgiApplication) -> WsgiApplication:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return application(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _error(
                start_response,
                "411 Length Required",
                "length_required",
                "Send the body with a Content-Length header.",
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        try:
            body = _read(environ["wsgi.input"], limit + 1)
        except Exception:  # the server's chunk parser: a malformed chunk, a cut connection
            return _error(
                start_response,
                "400 Bad Request",
                "bad_request",
                "The chunked request body is malformed.",
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return application(environ, start_response)

    return wrapped
