"""A request id for every request: in the ``X-Request-ID`` response header and in every log line.

A proxy in front may have set one already (nginx's ``$request_id``, a load balancer's trace
id); it is kept when it is sane, so that one id follows a request through every log. Anything
else (missing, too long, characters that would garble a log line) is replaced by a fresh one.
"""

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# Letters, digits and the punctuation trace ids use (UUIDs, "Root=1-5f84c7a4-...", "abc:def");
# no white space, quotes or control characters.
_SANE = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")

# The id of the request this thread (or task) is serving, "-" outside any request.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def request_id_from(request: HttpRequest) -> str:
    # META rather than request.headers, which copies every header into a dict of its own.
    given = request.META.get(META_KEY, "")
    return given if _SANE.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so that every answer carries the id, the 413s included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Kept until the response is finished, not just until it leaves the middleware: Django
        # logs a 4xx or 5xx ("Not Found: ...") after the whole middleware chain returned.
        request_id = request_id_from(request)
        current_request_id.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _request_id_forget(**kwargs: object) -> None:
    current_request_id.set("-")
