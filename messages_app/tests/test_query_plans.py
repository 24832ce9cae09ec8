"""The plan of a page of messages, pinned with EXPLAIN: reads cost the same at any depth.

Every page must be a range on the (chat, number) unique index that starts where the page starts:
``chat_id = ? AND number > ?`` read as one range on both columns. MariaDB's optimizer, left to
itself, picks ``ref`` on ``chat_id`` alone for pages whose range it estimates as large as the
chat, and reads the chat from its end (core.index_hints). These tests run on both databases.
"""

import json
import re

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from chats.tests.factories import ChatFactory
from core.pagination import number_page_rows
from messages_app.models import MESSAGES_NUMBER_INDEX, Message
from messages_app.selectors import message_list

# ANALYZE TABLE commits on MySQL: the test cannot run inside a transaction it rolls back.
pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 2000


@pytest.fixture
def chat():
    now = timezone.now()
    chat = ChatFactory(number=1)
    other = ChatFactory(application=chat.application, number=2)
    Message.objects.bulk_create(
        [
            Message(chat=owner, number=n, body=f"m {n}", created_at=now, updated_at=now)
            for owner in (chat, other)
            for n in range(1, MESSAGES + 1)
        ],
        batch_size=1000,
    )
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE TABLE messages")
            cursor.fetchall()
    return chat


def page_queries(chat) -> dict[str, QuerySet]:
    rows = message_list(chat=chat)
    return {
        "first page": rows.order_by("number")[:51],
        "after, shallow": rows.filter(number__gt=10).order_by("number")[:51],
        "after, deep": rows.filter(number__gt=MESSAGES - 100).order_by("number")[:51],
        "before, deep": rows.filter(number__lt=MESSAGES - 10).order_by("-number")[:51],
        "before, shallow": rows.filter(number__lt=100).order_by("-number")[:51],
        "range": rows.filter(number__gt=10, number__lt=MESSAGES - 10).order_by("number")[:51],
        "is there a previous page": rows.filter(number__lt=MESSAGES - 10)[:1],
    }


def mysql_plan(queryset: QuerySet) -> dict:
    plan = json.loads(queryset.explain(format="json"))
    if isinstance(plan, str):  # Django hands MariaDB's JSON over as a JSON string
        plan = json.loads(plan)
    block = plan["query_block"]
    (step,) = block.get("nested_loop", [block])
    return step["table"]


def test_every_page_starts_where_it_starts_on_the_chat_number_index(chat):
    for name, queryset in page_queries(chat).items():
        # The first page has no bound on the number: reading the chat from its start is right.
        parts = ["chat_id"] if name == "first page" else ["chat_id", "number"]
        if connection.vendor == "mysql":
            table = mysql_plan(queryset)
            assert table["key"] == MESSAGES_NUMBER_INDEX, (name, table)
            assert table["used_key_parts"] == parts, (name, table)
            assert table["access_type"] == ("ref" if len(parts) == 1 else "range"), (name, table)
            assert "filesort" not in json.dumps(table), (name, table)
        else:
            plan = queryset.explain()
            # SQLite names the index of a unique constraint sqlite_autoindex_messages_<n>.
            bound = r"\(chat_id=\?\)" if len(parts) == 1 else r"\(chat_id=\? AND number[<>]\?"
            assert re.search(rf"SEARCH messages USING INDEX \S+ {bound}", plan), (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)


def test_the_page_reader_reads_the_hinted_rows(chat):
    rows = number_page_rows(message_list(chat=chat), after=None, before=MESSAGES - 10, limit=50)

    assert [m.number for m in rows] == list(range(MESSAGES - 11, MESSAGES - 62, -1))
    assert {m.chat_id for m in rows} == {chat.pk}
