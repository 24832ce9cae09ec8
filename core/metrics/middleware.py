"""Counting and timing every HTTP request by its route template, method and status."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client.metrics import Histogram

from core.metrics.instruments import HTTP_REQUESTS, METHODS

# A request that matched no route (Django's 404 before any view).
UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    """Observes each request in ``chatapi_http_request_duration_seconds``.

    The route is the template Django's resolver matched (``api/v1/apps/<str:token>/chats``),
    never the path: a path holds tokens and numbers, which would leak them and make a series
    per chat. A method outside ``METHODS`` is "other", for the same reason.

    The labelled series are kept in a dict of this middleware's, one per (route, method,
    status): ``labels()`` takes the metric's lock and builds its key on every call, a dict
    lookup does neither.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._series: dict[tuple[str, str, int], Histogram] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        key = (route, method, response.status_code)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = HTTP_REQUESTS.labels(route, method, str(key[2]))
        series.observe(time.perf_counter() - started)
        return response
