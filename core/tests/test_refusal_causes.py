"""The ``cause`` label of ``chatapi_refusals_total``: every refusal the error handler answers is
counted under one of a fixed set of names (core.errors.refusal_cause)."""

import pytest
import redis
from django import db
from kombu.exceptions import OperationalError as KombuOperationalError
from prometheus_client import REGISTRY
from rest_framework import exceptions

from core.errors import (
    BacklogFull,
    NotFound,
    ServiceUnavailable,
    exception_handler,
    refusal_cause,
)


def caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (BacklogFull("full"), "backlog_full"),
        (exceptions.Throttled(), "throttled"),
        (redis.ConnectionError("down"), "redis_unavailable"),
        (redis.ResponseError("OOM command not allowed"), "redis_unavailable"),
        (caused(ServiceUnavailable("x"), redis.TimeoutError()), "redis_unavailable"),
        (db.OperationalError("gone away"), "database_unavailable"),
        (caused(ServiceUnavailable("x"), db.InterfaceError()), "database_unavailable"),
        (KombuOperationalError("no broker"), "broker_unavailable"),
        (ServiceUnavailable("search is down"), "other_unavailable"),
        (NotFound("no"), None),
        (exceptions.ValidationError({"name": ["bad"]}), None),
        (redis.ResponseError("WRONGTYPE"), None),
        (ValueError("a bug"), None),
    ],
)
def test_each_refusal_has_one_cause_from_the_fixed_set(error, cause):
    assert refusal_cause(error) == cause


def test_the_handler_counts_a_refusal_under_its_cause():
    def count() -> float:
        return REGISTRY.get_sample_value("chatapi_refusals_total", {"cause": "backlog_full"}) or 0

    before = count()
    response = exception_handler(BacklogFull("full"), {})
    assert response is not None and response.status_code == 503
    exception_handler(NotFound("no"), {})
    assert count() == before + 1
