"""Liveness and readiness probes for load balancers and orchestrators."""

from collections.abc import Callable
from functools import wraps

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_redis import get_redis_connection

from core.errors import error_body
from core.redis_client import redis_connection, redis_is_cluster
from search.backends import search_backend


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    """The cache's Redis (REDIS_URL), and the cluster too when the pipeline runs on one."""
    get_redis_connection("default").ping()
    if redis_is_cluster():
        redis_connection().ping()


def _search() -> None:
    search_backend().ping()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "redis": _redis,
    "search": _search,
}


def _probe(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """GET and HEAD only, any other method a 405 in the error envelope (not a CSRF 403)."""

    @csrf_exempt
    @wraps(view)
    def probe(request: HttpRequest) -> JsonResponse:
        if request.method not in ("GET", "HEAD"):
            message = f'Method "{request.method}" not allowed.'
            response = JsonResponse(error_body("method_not_allowed", message), status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    return probe


@_probe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests; says nothing of its dependencies."""
    return JsonResponse({"status": "ok"})


@_probe
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers; otherwise 503 naming the ones that do not."""
    down = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            down.append(name)
    if down:
        body = error_body("not_ready", f"Not ready: {', '.join(down)} did not answer.")
        body["checks"] = {name: name not in down for name in CHECKS}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": dict.fromkeys(CHECKS, True)})
