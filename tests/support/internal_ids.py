"""The contract's "no internal identifier in any response body, header or link".

``assert_no_internal_ids`` checks a response's keys, headers and page links (cursors decoded);
with ``ids_made_distinctive`` in a test, the ids of its rows are long numbers that may not
appear anywhere in what the API sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.db import connection
from django.http import HttpResponse

from applications.models import Application
from chats.models import Chat
from messages_app.models import Message

# The contract: "no id, pk, app_id, chat_id, application keys in any response body, header or
# link".
INTERNAL_KEYS = frozenset({"id", "pk", "app_id", "chat_id", "application", "application_id"})

# Internal ids far from any number, count or page size a test uses, so that finding one of
# them in a response is never a coincidence (see ids_made_distinctive).
DISTINCTIVE_ID_BASE = {Application: 7_310_000_000, Chat: 7_320_000_000, Message: 7_330_000_000}


def is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


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
    if is_json(response):
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
