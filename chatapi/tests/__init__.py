"""What every response of the HTTP contract (API.md) must satisfy, shared by the contract tests.

``ContractClient`` checks each response it returns: no internal identifier in the body, the
headers or the page links; the one error shape on every 4xx; never a 5xx. The tests on top of
it then assert the exact status and body of their own case.
"""

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.db import connection
from django.http import HttpResponse
from django.test import TestCase
from rest_framework.test import APIClient

from applications.models import Application
from chatapi.celery import app as celery_app
from chats.models import Chat
from messages_app.models import Message

API = "/api/v1"

# The contract: "no id, pk, app_id, chat_id, application keys in any response body, header or
# link".
INTERNAL_KEYS = frozenset({"id", "pk", "app_id", "chat_id", "application", "application_id"})

ERROR_CODE = re.compile(r"[a-z]+(_[a-z]+)*")
ISO_8601_WITH_ZONE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})"
)

# Internal ids far from any number, count or page size a test uses, so that finding one of
# them in a response is never a coincidence (see ids_made_distinctive).
DISTINCTIVE_ID_BASE = {Application: 7_310_000_000, Chat: 7_320_000_000, Message: 7_330_000_000}


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


def json_keys(value: Any) -> Iterator[str]:
    """Every key of every object nested anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from json_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_keys(item)


def json_items(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of every object nested anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from json_items(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_items(item)


def cursor_text(value: str) -> str:
    """The decoded text of an opaque cursor (base64, URL-safe or not), or the value itself."""
    try:
        return base64.b64decode(value.encode("ascii"), altchars=b"-_").decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return value


def link_params(url: str) -> list[tuple[str, str]]:
    """The query parameters of a page link, with any cursor also decoded, as "cursor*"."""
    params = []
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        params.append((name, value))
        if name == "cursor":
            params.append(("cursor*", cursor_text(value)))
    return params


def internal_ids() -> set[int]:
    """Every primary key and foreign key value of every row of ours that exists right now."""
    ids: set[int] = set()
    ids.update(Application.objects.values_list("pk", flat=True))
    for chat_id, application_id in Chat.objects.values_list("pk", "application_id"):
        ids.update((chat_id, application_id))
    for message_id, chat_id in Message.objects.values_list("pk", "chat_id"):
        ids.update((message_id, chat_id))
    return ids


def ids_made_distinctive() -> None:
    """Make every row created from now on in this test get a long, unmistakable id.

    Inserting a row with a high id and deleting it moves the auto-increment counter past it
    (InnoDB and SQLite's AUTOINCREMENT both keep the high-water mark), so later rows, whether
    created by a factory or by the services, get ids no number or count in a test can equal.
    """
    now = datetime.now(UTC)
    base = DISTINCTIVE_ID_BASE
    app = Application.objects.create(
        pk=base[Application], name="id bump", created_at=now, updated_at=now
    )
    chat = Chat.objects.create(
        pk=base[Chat], application=app, number=1, created_at=now, updated_at=now
    )
    Message.objects.create(
        pk=base[Message], chat=chat, number=1, body="id bump", created_at=now, updated_at=now
    )
    app.delete()  # cascades to the chat and the message
    if connection.vendor == "sqlite":
        # SQLite reuses max(rowid) + 1 unless the table is AUTOINCREMENT, which Django's are;
        # this only checks that the high-water mark held.
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'applications'")
            assert cursor.fetchone()[0] >= base[Application]


def assert_no_internal_ids(response: HttpResponse, *, ids: Iterable[int] = ()) -> None:
    """No internal identifier in the body's keys, the headers or the page links.

    ``ids``, when given, are internal id values (made long by ``ids_made_distinctive``) that
    must not appear anywhere in the raw body, a header or a decoded link.
    """
    texts = [f"{name}: {value}" for name, value in response.items()]
    for name, _ in response.items():
        assert name.lower().replace("-", "_") not in INTERNAL_KEYS, name
    if _is_json(response):
        body = json.loads(response.content)
        leaked = set(json_keys(body)) & INTERNAL_KEYS
        assert not leaked, f"internal keys {leaked} in {body}"
        texts.append(response.content.decode("utf-8"))
        if isinstance(body, dict):
            for link_name in ("next", "previous"):
                link = body.get(link_name)
                if link is None:
                    continue
                assert isinstance(link, str), link
                params = link_params(link)
                for name, value in params:
                    assert name.lower() not in INTERNAL_KEYS, link
                    texts.append(f"{name}={value}")
    for value in ids:
        for text in texts:
            assert str(value) not in text, f"internal id {value} in {text!r}"


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def assert_error_shape(response: HttpResponse) -> None:
    assert _is_json(response), response.get("Content-Type")
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
        if _is_json(response):
            for key, value in json_items(json.loads(response.content)):
                if key.endswith("_at"):
                    assert_timestamp(value)
        return response


def queued_tasks() -> list[tuple[str, list[Any], dict[str, Any]]]:
    """Take every task the API queued off the real broker (the test Redis), oldest first.

    Read with kombu, Celery's own transport library, as a worker would; each message is
    acknowledged, so the tasks are the caller's to run (``run_task``) in any order it likes.
    """
    tasks = []
    with celery_app.connection_for_write() as broker:
        queue = broker.SimpleQueue(celery_app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, kwargs, _embed = message.decode()
                tasks.append((message.headers["task"], args, kwargs))
                message.ack()
        finally:
            queue.close()
    return tasks


def run_task(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Run one task body in this process, committing as a worker would (on-commit hooks run)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        celery_app.tasks[name](*args, **kwargs)


def run_queued_tasks() -> list[str]:
    """Run what the API queued, as a worker would: in order, until the queue is empty.

    A task that raises stops the run and the exception propagates to the test. Returns the
    names of the tasks run.
    """
    names = []
    while tasks := queued_tasks():
        for name, args, kwargs in tasks:
            run_task(name, args, kwargs)
            names.append(name)
    return names
