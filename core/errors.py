"""One error shape for every endpoint: ``{"error": {"code", "message", "fields"?}}``.

Domain code raises ``ApiError`` (or one of its subclasses); DRF's own exceptions and Django's
404 are mapped here too, so no view builds an error response by hand.
"""

from typing import Any

import redis
from django import db
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import (
    BusyLoadingError,
    ClusterError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.metrics.instruments import REFUSALS


class ApiError(Exception):
    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        # Machine-readable details beside ``code`` and ``message`` (a limit and its value).
        self.extra = extra


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class IdempotencyKeyReused(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"


class BacklogFull(ServiceUnavailable):
    """A counter holds as many unpersisted rows as it may (pipeline.numbering): nothing
    allocated."""

    code = "backlog_full"


# A dependency that is down is not the client's fault, and not a bug either: 503, retry later.
# What a Redis that cannot answer raises: down, hung, or (a cluster) failing over.
REDIS_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ClusterError, RedisClusterException)
# Error replies of a Redis that is up but will not take a write for now: no replica
# (min-replicas-to-write), full (noeviction), a read-only replica, loading, busy, a cluster
# slot being moved or down.
REDIS_REFUSALS = (
    "NOREPLICAS",
    "OOM",
    "READONLY",
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
)


# The ones redis-py raises as classes of their own (it drops the code from the message).
REDIS_REFUSAL_ERRORS = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, TryAgainError)


def redis_refuses(exc: BaseException) -> bool:
    """Whether a Redis error reply says "not now" (a 503), rather than a bug of ours."""
    if isinstance(exc, REDIS_REFUSAL_ERRORS):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(REDIS_REFUSALS)


UNAVAILABLE_ERRORS = (
    *REDIS_UNAVAILABLE,
    KombuOperationalError,
    ConnectionInterrupted,
    db.OperationalError,
    db.InterfaceError,
)


def unavailable(exc: BaseException) -> bool:
    """A dependency that is down or refusing for now: not the client's fault, not a bug."""
    return isinstance(exc, UNAVAILABLE_ERRORS) or redis_refuses(exc)


def _unavailable_message(exc: Exception) -> str:
    if isinstance(exc, db.Error):
        return "The database is unavailable; retry."
    if isinstance(exc, KombuOperationalError):
        return "The task broker is unavailable; retry."
    return "Redis is unavailable; retry."


def error_body(
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if extra:
        error.update(extra)
    return {"error": error}


_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("malformed_json", "The request body is not valid JSON."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", ""),
    exceptions.MethodNotAllowed: ("method_not_allowed", ""),
    exceptions.NotAcceptable: ("not_acceptable", ""),
    exceptions.Throttled: ("rate_limited", ""),
    exceptions.NotFound: ("not_found", ""),
}


def _flatten_fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(key): [str(item) for item in value] if isinstance(value, list) else [str(value)]
            for key, value in detail.items()
        }
    return {"non_field_errors": [str(item) for item in detail]}


def refusal_cause(exc: BaseException) -> str | None:
    """Why a request is refused for now (a 503, or a 429 when throttled): one of a fixed set
    of names (the metrics' ``cause`` label), or None for any other error."""
    if isinstance(exc, BacklogFull):
        return "backlog_full"
    if isinstance(exc, exceptions.Throttled):
        return "throttled"
    if isinstance(exc, ServiceUnavailable):
        exc = exc.__cause__ or exc
    elif not unavailable(exc):
        return None
    if isinstance(exc, db.Error):
        return "database_unavailable"
    if isinstance(exc, KombuOperationalError):
        return "broker_unavailable"
    if unavailable(exc):
        return "redis_unavailable"
    return "other_unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves in the one envelope."""
    cause = refusal_cause(exc)
    if cause is not None:
        REFUSALS.labels(cause=cause).inc()
    if isinstance(exc, ApiError):
        headers = {"Retry-After": "1"} if exc.status_code == 503 else None
        return Response(
            error_body(exc.code, exc.message, exc.fields, exc.extra),
            status=exc.status_code,
            headers=headers,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is larger than 1 MiB."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if unavailable(exc):
        return Response(
            error_body("service_unavailable", _unavailable_message(exc)),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if not isinstance(exc, exceptions.APIException):  # DRF's handler answers nothing else
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten_fields(exc.detail)
        names = ", ".join(sorted(fields))
        response.data = error_body("validation_error", f"Invalid input: {names}.", fields)
        return response
    code, message = next(
        ((c, m) for kind, (c, m) in _DRF_CODES.items() if isinstance(exc, kind)),
        (exc.default_code, ""),
    )
    response.data = error_body(code, message or str(exc.detail))
    return response


# Exempt from CSRF: as the catch-all route under /api/ it resolves like any view, and a POST
# to a path with a bad number would otherwise get Django's 403 HTML page instead of this 404.
@csrf_exempt
def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's handler404, for paths that match no route (including a malformed number)."""
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def server_error_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "An unexpected error occurred."), status=500)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(
        error_body("bad_request", "The request could not be understood."), status=400
    )
