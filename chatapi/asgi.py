"""The ASGI entry point of the stream process (events/worker.py): the live event streams, and
the rest of the project's URLs too (a stream process answers /healthz for its probes).

The events paths get a handler of their own (``_StreamHandler``): Django's, without the
project's middleware (sync-only: each would be run in a thread) and without the per-request
thread context (asgiref's ThreadSensitiveContext, which keeps one OS thread alive per request
for as long as the request lasts, i.e. per open stream). The views' few sync calls (a lookup
when a stream opens) run on the process's one shared sync thread instead, so an idle stream
costs a coroutine and a socket, not a thread and a database connection.
"""

import os
import re
from typing import Any

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

django_application = get_asgi_application()  # sets Django up

EVENTS_PATH = re.compile(r"/api/v1/apps/[^/]+/(?:chats/[^/]+/)?events")


class _StreamHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # (The stubs do not declare BaseHandler._get_response_async.)
        get_response = self._get_response_async  # type: ignore[attr-defined]
        self._middleware_chain = convert_exception_to_response(get_response)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.handle(scope, receive, send)


_streams = _StreamHandler()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and EVENTS_PATH.fullmatch(scope["path"]):
        await _streams(scope, receive, send)
    else:
        await django_application(scope, receive, send)
