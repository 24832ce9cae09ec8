"""What every response of the HTTP contract (API.md) must satisfy, shared by the contract tests.

``ContractClient`` checks each response it returns: no internal identifier in the body, the
headers or the page links; the one error shape on every 4xx; never a 5xx; every ``*_at`` an
ISO 8601 timestamp with a zone. The tests on top of it then assert the exact status and body
of their own case, often with ``error()``, the contract's error body.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse
from rest_framework.test import APIClient

from tests.support.internal_ids import assert_no_internal_ids, is_json, json_items

API = "/api/v1"

ERROR_CODE = re.compile(r"[a-z]+(_[a-z]+)*")
ISO_8601_WITH_ZONE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})"
)

OPERATOR_PASSWORD = "operator password"


def basic_credentials(username: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def error(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The contract's error body."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


def iso(moment: datetime) -> str:
    """A timestamp as the API writes it: ISO 8601 in UTC, with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_timestamp(value: Any) -> datetime:
    assert isinstance(value, str), value
    assert ISO_8601_WITH_ZONE.fullmatch(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def assert_error_shape(response: HttpResponse) -> None:
    assert is_json(response), response.get("Content-Type")
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error_body = body["error"]
    assert set(error_body) in ({"code", "message"}, {"code", "message", "fields"}), body
    assert ERROR_CODE.fullmatch(error_body["code"]), body
    assert isinstance(error_body["message"], str), body
    assert error_body["message"].strip(), body
    if "fields" in error_body:
        assert isinstance(error_body["fields"], dict), body
        assert error_body["fields"], body
        for name, messages in error_body["fields"].items():
            assert isinstance(name, str), body
            assert isinstance(messages, list), body
            assert messages, body
            assert all(isinstance(message, str) and message for message in messages), body


class ContractClient(APIClient):
    """An API client that checks, on every response, what the contract promises of all."""

    def request(self, **request: Any) -> HttpResponse:
        response = super().request(**request)
        assert response.status_code < 500, (response.status_code, response.content[:2000])
        if response.status_code >= 400:
            assert_error_shape(response)
        assert_no_internal_ids(response)
        if is_json(response):
            for key, value in json_items(json.loads(response.content)):
                if key.endswith("_at"):
                    assert_timestamp(value)
        return response
