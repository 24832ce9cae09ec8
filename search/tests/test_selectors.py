"""messages_search on the SQL backend: order, keyset pages, scoping, edits, query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.models import Chat
from core.errors import ApiError
from messages_app.models import Message
from messages_app.services import message_update
from search.selectors import messages_search

pytestmark = pytest.mark.django_db


def _search(chat: Chat, query: str, *, limit: int = 50, cursor: str | None = None):
    return messages_search(
        application=chat.application, chat=chat, query=query, limit=limit, cursor=cursor
    )


def test_newest_match_first(chat_factory) -> None:
    chat = chat_factory(["hello", "nope", "HELLO", "hell no", "yes"])

    page = _search(chat, "hel")

    assert [m.number for m in page.messages] == [4, 3, 1]
    assert [m.body for m in page.messages] == ["hell no", "HELLO", "hello"]


def test_next_and_previous_visit_every_match_once(chat_factory) -> None:
    chat = chat_factory([f"match {n}" if n % 3 else f"other {n}" for n in range(1, 12)])
    matching = [n for n in range(11, 0, -1) if n % 3]  # 11 10 8 7 5 4 2 1

    seen, cursor, pages = [], None, []
    while True:
        page = _search(chat, "match", limit=3, cursor=cursor)
        pages.append(page)
        seen += [m.number for m in page.messages]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == matching
    assert [[m.number for m in p.messages] for p in pages] == [[11, 10, 8], [7, 5, 4], [2, 1]]
    assert pages[0].previous_cursor is None

    back, cursor = [], pages[-1].previous_cursor
    while cursor is not None:
        page = _search(chat, "match", limit=3, cursor=cursor)
        back = [m.number for m in page.messages] + back
        cursor = page.previous_cursor
    assert back == [11, 10, 8, 7, 5, 4]


def test_a_page_backwards_knows_its_next(chat_factory) -> None:
    chat = chat_factory(["m"] * 5)
    last = _search(chat, "m", limit=2, cursor=_search(chat, "m", limit=2).next_cursor)

    previous = _search(chat, "m", limit=2, cursor=last.previous_cursor)

    assert [m.number for m in previous.messages] == [5, 4]
    assert previous.previous_cursor is None
    assert [
        m.number for m in _search(chat, "m", limit=2, cursor=previous.next_cursor).messages
    ] == [
        3,
        2,
    ]


def test_only_the_chat_asked_for(chat_factory) -> None:
    chat = chat_factory(["hello from one"])
    other = chat_factory(["hello from two"], application=chat.application)

    assert [m.body for m in _search(chat, "hello").messages] == ["hello from one"]
    assert [m.body for m in _search(other, "hello").messages] == ["hello from two"]


def test_a_chat_not_persisted_yet_has_no_results(chat_factory, django_assert_num_queries) -> None:
    chat = chat_factory(["hello"])
    pending = Chat(number=99, created_at=timezone.now(), updated_at=timezone.now())

    with django_assert_num_queries(0):
        page = messages_search(
            application=chat.application, chat=pending, query="hello", limit=50, cursor=None
        )

    assert page.messages == [] and page.next_cursor is None and page.previous_cursor is None


def test_an_edit_is_searchable_once_persisted(chat_factory) -> None:
    chat = chat_factory(["the old text"])

    message_update(
        application=chat.application, chat_number=chat.number, number=1, body="NEW words"
    )

    assert [m.body for m in _search(chat, "new wor").messages] == ["NEW words"]
    assert _search(chat, "old").messages == []


def test_two_queries_for_a_first_page(chat_factory, django_assert_num_queries) -> None:
    """The chat's highest number (one index lookup: where the scan window starts), the page."""
    chat = chat_factory(["abc"] * 60)

    with django_assert_num_queries(2):
        page = _search(chat, "b c a", limit=50)

    assert len(page.messages) == 50


def test_two_queries_for_a_later_page(chat_factory, django_assert_num_queries) -> None:
    """The page itself, and one row to learn whether a previous page exists."""
    chat = chat_factory(["abc"] * 60)
    cursor = _search(chat, "abc", limit=50).next_cursor

    with django_assert_num_queries(2):
        page = _search(chat, "abc", limit=50, cursor=cursor)

    assert [m.number for m in page.messages] == list(range(10, 0, -1))
    assert page.next_cursor is None and page.previous_cursor is not None


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "e30", "eyJiIjoiZWxhc3RpY3NlYXJjaCIsImQiOiJuIiwiayI6WzEuMCwzXX0", "Zm9v!!"],
)
def test_a_bad_cursor_is_a_400_naming_it(chat_factory, cursor: str) -> None:
    chat = chat_factory(["hello"])

    with pytest.raises(ApiError) as raised:
        _search(chat, "hello", cursor=cursor)

    assert raised.value.status_code == 400
    assert list(raised.value.fields) == ["cursor"]


def test_messages_edited_to_match_appear_and_edited_away_disappear(chat_factory) -> None:
    chat = chat_factory(["alpha", "beta"])
    later = timezone.now() + timedelta(minutes=1)
    Message.objects.filter(chat=chat, number=1).update(body="gamma", updated_at=later)
    Message.objects.filter(chat=chat, number=2).update(body="alphabet", updated_at=later)

    assert [m.number for m in _search(chat, "alpha").messages] == [2]


def _follow(chat: Chat, query: str, *, limit: int, forward: bool = True, cursor=None) -> list:
    """Every page from ``cursor`` on, following next (or previous), as lists of numbers."""
    pages = []
    while True:
        page = _search(chat, query, limit=limit, cursor=cursor)
        pages.append([m.number for m in page.messages])
        cursor = page.next_cursor if forward else page.previous_cursor
        if cursor is None:
            return pages


@pytest.fixture
def small_window(settings):
    """First windows of 5 numbers, and no time budget: each request scans exactly one."""
    settings.SEARCH_SQL_SCAN_WINDOW = 20  # a first window of 5
    settings.SEARCH_SQL_TIME_BUDGET_MS = 0


def test_a_bounded_scan_still_visits_every_match_once_in_order(chat_factory, small_window) -> None:
    bodies = [("hit" if n in (2, 3, 9, 17, 18, 19, 20) else "miss") + f" {n}" for n in range(1, 24)]
    chat = chat_factory(bodies)

    pages = _follow(chat, "hit", limit=2)

    # Windows of 5 numbers from the newest (23): 19-23, 14-18, 9-13, 4-8, 1-3.
    assert pages == [[20, 19], [18, 17], [9], [], [3, 2]]
    assert sum(pages, []) == [20, 19, 18, 17, 9, 3, 2]


def test_a_bounded_scan_pages_back_to_the_newest_match(chat_factory, small_window) -> None:
    bodies = [("hit" if n in (2, 3, 9, 17, 18, 19, 20) else "miss") + f" {n}" for n in range(1, 24)]
    chat = chat_factory(bodies)
    first = _search(chat, "hit", limit=2)
    last_cursor = first.next_cursor
    while (page := _search(chat, "hit", limit=2, cursor=last_cursor)).next_cursor is not None:
        last_cursor = page.next_cursor

    back = _follow(chat, "hit", limit=2, forward=False, cursor=page.previous_cursor)

    assert sorted(sum(back, []), reverse=True) == [20, 19, 18, 17, 9]


def test_an_absent_term_costs_one_window_per_request(
    chat_factory, small_window, django_assert_max_num_queries
) -> None:
    chat = chat_factory([f"body {n}" for n in range(1, 13)])

    with django_assert_max_num_queries(2):
        page = _search(chat, "absent")

    assert page.messages == [] and page.next_cursor is not None
    assert _follow(chat, "absent", limit=50) == [[], [], []]  # 8-12, 3-7, 1-2


def test_each_search_query_reads_a_bounded_range_of_numbers(chat_factory, small_window) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    chat = chat_factory([f"body {n}" for n in range(1, 40)])

    with CaptureQueriesContext(connection) as queries:
        _search(chat, "absent")

    (search,) = [q["sql"].replace('"', "`") for q in queries if "LIKE" in q["sql"]]
    assert "`number` > 34" in search and "`number` < 40" in search  # numbers 35 to 39
