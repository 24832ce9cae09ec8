"""Where a create's CPU goes: the WSGI application in one process, no HTTP server, no client.

    .venv/bin/python bench/profile_create.py [--requests 2000] [--top 10] [--sort cumulative]

Production settings on a throwaway SQLite file (a create touches no SQL; the application and
the chat are created through the API first) and Redis db 8 under a key prefix of its own,
removed at the end. It prints the CPU time (``time.process_time``) per request of
``GET /healthz`` (the framework's floor), ``POST .../chats`` and ``POST .../messages``, then
the top entries of a cProfile of the message creates by their own time, and the calls made
per create. Two reference views, served only here, show what the frameworks cost before any
of our work: a plain Django view and a DRF ``APIView`` that each parse the same JSON body and
answer it with a 201. The figures of record are in docs/benchmarks.md ("Where a create's CPU goes").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per figure [2000]")
    parser.add_argument("--top", type=int, default=10, help="profile entries printed [10]")
    parser.add_argument(
        "--sort", default="tottime", help="pstats order: tottime (own time), cumulative [tottime]"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8", help="[db 8]")
    return parser.parse_args()


def configure(database: Path, redis_url: str, prefix: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="chatapi.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore:No directory at",
    )
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reference_routes() -> None:
    """The project's URLs plus the two reference views, for this process only."""
    from django.conf import settings
    from django.http import HttpRequest, JsonResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    @csrf_exempt
    def plain(request: HttpRequest) -> JsonResponse:
        return JsonResponse(json.loads(request.body), status=201)

    class Framework(APIView):
        def post(self, request: Request) -> Response:
            return Response(request.data, status=201)

    urls = types.ModuleType("profile_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("reference/django", plain),
        path("reference/drf", Framework.as_view()),
        path("", include("chatapi.urls")),
    ]
    settings.ROOT_URLCONF = urls


class Wsgi:
    """Calls the project's WSGI application as gunicorn would, with a prepared environ."""

    def __init__(self) -> None:
        from chatapi.wsgi import application

        self.application = application

    def environ(self, method: str, path: str, body: bytes) -> dict:
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "CONTENT_TYPE": "application/json" if body else "",
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    def call(self, method: str, path: str, data: dict | None = None) -> tuple[int, bytes]:
        body = json.dumps(data).encode() if data is not None else b""
        status: list[str] = []
        chunks = self.application(
            self.environ(method, path, body), lambda s, _h, _e=None: status.append(s)
        )
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return int(status[0].split()[0]), content


def expect(answer: tuple[int, bytes], status: int) -> bytes:
    if answer[0] != status:
        raise RuntimeError(f"expected {status}, got {answer[0]}: {answer[1][:300]!r}")
    return answer[1]


def cpu_per_request(requests: Iterable[Callable[[], object]]) -> tuple[float, int]:
    calls = list(requests)
    start = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - start) / len(calls) * 1000, len(calls)


def main() -> None:
    args = arguments()
    prefix = f"chatapi-profile-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="chatapi-profile-") as tmp:
        configure(Path(tmp) / "db.sqlite3", args.redis_url, prefix)
        try:
            run(args)
        finally:
            import redis

            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)


def run(args: argparse.Namespace) -> None:
    reference_routes()
    wsgi = Wsgi()
    token = json.loads(expect(wsgi.call("POST", "/api/v1/apps", {"name": "profile"}), 201))["token"]
    chats = f"/api/v1/apps/{token}/chats"
    expect(wsgi.call("POST", chats), 201)
    messages = f"{chats}/1/messages"
    body = {"body": "hello world, a message of an ordinary length"}

    def create_message() -> None:
        expect(wsgi.call("POST", messages, body), 201)

    def create_chat() -> None:
        expect(wsgi.call("POST", chats), 201)

    def healthz() -> None:
        expect(wsgi.call("GET", "/healthz"), 200)

    def plain_django() -> None:
        expect(wsgi.call("POST", "/reference/django", body), 201)

    def plain_drf() -> None:
        expect(wsgi.call("POST", "/reference/drf", body), 201)

    n = args.requests
    calls = {
        "GET /healthz (the floor)": healthz,
        "POST a Django view (reference)": plain_django,
        "POST a DRF APIView (reference)": plain_drf,
        "POST chats": create_chat,
        "POST messages": create_message,
    }
    for call in calls.values():  # warm: imports, scripts loaded
        for _ in range(50):
            call()
    print(f"CPU per request, {n} each, one process (ms), and the floor / it:")
    floor = None
    for name, call in calls.items():
        cost, _ = cpu_per_request([call] * n)
        floor = floor or cost
        print(f"  {name:34} {cost:.3f}  {floor / cost:.2f}")

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(n):
        create_message()
    profile.disable()
    stats = pstats.Stats(profile)
    print(f"\nfunction calls per message create: {stats.total_calls / n:.0f}")  # type: ignore[attr-defined]
    print(f"top {args.top} by {args.sort} over {n} message creates (cProfile, CPU time):")
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
