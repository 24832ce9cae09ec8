"""``GET /metrics``: the Prometheus text format, for operators only.

Access: the credentials of a Django staff user by HTTP Basic, or ``Authorization: Bearer
<METRICS_TOKEN>`` when that setting is set; 401 in the error envelope otherwise. A scraper
should use the token: HTTP Basic checks a password hash on every scrape, which costs what the
hasher was configured to cost (Django's PBKDF2: a large part of a second).
"""

import base64
import binascii
import hmac

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from core.metrics.exposition import web_exposition


def _bearer_ok(credentials: str) -> bool:
    token = settings.METRICS_TOKEN
    return bool(token) and hmac.compare_digest(credentials.encode(), token.encode())


def _basic_ok(request: HttpRequest, credentials: str) -> bool:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, colon, password = decoded.partition(":")
    if not colon:
        return False
    user = authenticate(request, username=username, password=password)
    return user is not None and user.is_active and user.is_staff


def authorized(request: HttpRequest) -> bool:
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer":
        return _bearer_ok(credentials)
    if scheme == "basic":
        return _basic_ok(request, credentials)
    return False


def _error(status: int, code: str, message: str) -> JsonResponse:
    """The API's error envelope (API.md, "Errors"), without importing the project's errors."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        response["Allow"] = "GET, HEAD"
        return response
    if not authorized(request):
        response = _error(
            401,
            "not_authenticated",
            "Metrics need a staff user's credentials or the metrics token.",
        )
        response["WWW-Authenticate"] = 'Basic realm="metrics"'
        return response
    return HttpResponse(web_exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
