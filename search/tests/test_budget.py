"""SQL search within a time budget: exact pages, cut where the budget says, chained by ``next``.

A budget of 0 ms lets each request scan exactly its first window (it always scans one: a quarter
of SEARCH_SQL_SCAN_WINDOW, 5 numbers here) and a budget of a minute lets it scan to the end, so
the pages are exact whatever the machine's speed. Runs
on whichever database DATABASE_URL names (SQLite and MariaDB in CI).
"""

import random

import pytest

from chats.models import Chat
from search.backends.base import cursor_decode
from search.backends.sql import SqlSearchBackend
from search.selectors import SearchPage, messages_search, search_budget_ms

pytestmark = pytest.mark.django_db

HITS = (2, 3, 9, 17, 18, 19, 20)
BODIES = [("hit" if n in HITS else "miss") + f" {n}" for n in range(1, 24)]


def _search(chat: Chat, *, limit: int = 2, cursor: str | None = None) -> SearchPage:
    return messages_search(
        application=chat.application, chat=chat, query="hit", limit=limit, cursor=cursor
    )


def _chain(chat: Chat, *, limit: int = 2, forward: bool = True, cursor=None) -> list[SearchPage]:
    pages = []
    while True:
        pages.append(page := _search(chat, limit=limit, cursor=cursor))
        cursor = page.next_cursor if forward else page.previous_cursor
        if cursor is None:
            return pages


def _numbers(pages: list[SearchPage]) -> list[list[int]]:
    return [[m.number for m in page.messages] for page in pages]


@pytest.fixture
def one_window_each(settings) -> None:
    settings.SEARCH_SQL_SCAN_WINDOW = 20  # a first window of 5
    settings.SEARCH_SQL_TIME_BUDGET_MS = 0
    settings.SEARCH_SQL_TIME_BUDGET_MAX_MS = 0


@pytest.fixture
def ample_budget(settings) -> None:
    settings.SEARCH_SQL_SCAN_WINDOW = 20  # a first window of 5
    settings.SEARCH_SQL_TIME_BUDGET_MS = 60_000
    settings.SEARCH_SQL_TIME_BUDGET_MAX_MS = 60_000


def test_a_budget_that_cuts_every_page_still_visits_every_match_once(
    chat_factory, one_window_each
) -> None:
    pages = _chain(chat_factory(BODIES))

    # First windows of 5 numbers from the newest (23): 19-23, 14-18, 9-13, 4-8, 1-3.
    assert _numbers(pages) == [[20, 19], [18, 17], [9], [], [3, 2]]
    # A page short of the limit says the budget cut it; the last one ran out of numbers.
    assert [page.complete for page in pages] == [True, True, False, False, True]


def test_an_ample_budget_fills_every_page(chat_factory, ample_budget) -> None:
    pages = _chain(chat_factory(BODIES))

    assert _numbers(pages) == [[20, 19], [18, 17], [9, 3], [2]]
    assert all(page.complete for page in pages)


def test_with_no_match_left_the_page_is_empty_complete_and_last(chat_factory, ample_budget) -> None:
    chat = chat_factory(BODIES)

    page = messages_search(application=chat.application, chat=chat, query="absent", limit=5)

    assert (page.messages, page.complete, page.next_cursor, page.previous_cursor) == (
        [],
        True,
        None,
        None,
    )


def test_previous_links_come_from_the_cursor_not_from_another_scan(
    chat_factory, one_window_each, django_assert_num_queries
) -> None:
    chat = chat_factory(BODIES)
    first = _search(chat)
    assert first.previous_cursor is None

    # The newest number, then one window: the same two queries with a previous link to make.
    with django_assert_num_queries(2):
        second = _search(chat, cursor=first.next_cursor)

    assert [m.number for m in second.messages] == [18, 17]
    assert second.previous_cursor is not None
    assert _numbers(_chain(chat, forward=False, cursor=second.previous_cursor)) == [[20, 19]]


def test_previous_from_the_last_page_visits_every_match_once(chat_factory, one_window_each) -> None:
    chat = chat_factory(BODIES)
    last = _chain(chat)[-1]

    back = _chain(chat, forward=False, cursor=last.previous_cursor)

    assert sorted(sum(_numbers(back), []), reverse=True) == [20, 19, 18, 17, 9]


def test_an_empty_page_cut_short_links_back_to_what_came_before_it(
    chat_factory, one_window_each
) -> None:
    chat = chat_factory(BODIES)
    empty = _chain(chat)[3]
    assert (empty.messages, empty.complete) == ([], False)

    back = _chain(chat, forward=False, cursor=empty.previous_cursor)

    # Nothing skipped between the empty page's start (9, the page before it) and the newest.
    assert sorted(sum(_numbers(back), []), reverse=True) == [20, 19, 18, 17, 9]


def test_each_page_cut_short_in_a_row_gets_a_larger_budget(chat_factory, settings) -> None:
    settings.SEARCH_SQL_SCAN_WINDOW = 20  # a first window of 5
    settings.SEARCH_SQL_TIME_BUDGET_MS = 0
    chat = chat_factory(BODIES)
    backend = SqlSearchBackend()

    cuts = [
        cursor_decode(page.next_cursor, backend=backend).cuts
        for page in _chain(chat)
        if page.next_cursor
    ]

    # Full pages start again from the first budget; each page cut short adds one.
    assert cuts == [0, 0, 1, 2]


def test_the_budget_grows_eight_times_per_page_cut_short_up_to_the_maximum(settings) -> None:
    settings.SEARCH_SQL_TIME_BUDGET_MS = 40
    settings.SEARCH_SQL_TIME_BUDGET_MAX_MS = 2500

    assert [search_budget_ms(cuts) for cuts in range(6)] == [40, 320, 2500, 2500, 2500, 2500]
    assert search_budget_ms(64) == 2500


def test_the_page_says_whether_it_is_complete_over_http(
    api_client, chat_factory, one_window_each
) -> None:
    chat = chat_factory(BODIES)
    url = f"http://testserver/api/v1/apps/{chat.application.token}/chats/{chat.number}"
    url += "/messages/search?q=hit&limit=2"

    seen = []
    while url:
        body = api_client.get(url).json()
        seen.append(([item["number"] for item in body["results"]], body["complete"]))
        url = body["next"]

    assert seen == [
        ([20, 19], True),
        ([18, 17], True),
        ([9], False),
        ([], False),
        ([3, 2], True),
    ]


def test_a_cursor_far_past_the_newest_message_scans_from_the_newest(
    chat_factory, one_window_each
) -> None:
    from search.backends.base import Position, cursor_encode

    chat = chat_factory(BODIES)
    far = cursor_encode(backend="sql", position=Position(key=(2**63 - 1,), forward=True))

    assert [m.number for m in _search(chat, cursor=far).messages] == [20, 19]


@pytest.mark.parametrize("seed", range(20))
def test_next_and_previous_chains_agree_whatever_the_cuts(chat_factory, settings, seed) -> None:
    """Random chats, windows and page sizes, every page cut after its first window: ``next``
    from the first page visits every match once, newest first, and ``previous`` from any page
    visits exactly the matches shown before that page."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    size = rng.randint(1, 40)
    hits = {n for n in range(1, size + 1) if rng.random() < 0.3}
    chat = chat_factory([("hit" if n in hits else "miss") + f" {n}" for n in range(1, size + 1)])
    settings.SEARCH_SQL_SCAN_WINDOW = 4 * rng.randint(1, 6)
    settings.SEARCH_SQL_TIME_BUDGET_MS = settings.SEARCH_SQL_TIME_BUDGET_MAX_MS = 0
    limit = rng.randint(1, 4)

    pages = _chain(chat, limit=limit)

    assert sum(_numbers(pages), []) == sorted(hits, reverse=True)
    shown: list[int] = []
    for page in pages:
        back: list[int] = []
        if page.previous_cursor is not None:
            previous = _chain(chat, limit=limit, forward=False, cursor=page.previous_cursor)
            back = sorted(sum(_numbers(previous), []), reverse=True)
        assert back == shown, (seed, limit, _numbers(pages))
        shown += [m.number for m in page.messages]


@pytest.mark.parametrize("seed", range(20))
def test_pages_read_backwards_link_forward_to_the_rest(chat_factory, settings, seed) -> None:
    """From the last page, ``previous`` until it is null visits every match above it once,
    and ``next`` from any of those pages visits exactly the matches below what it shows."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    size = rng.randint(1, 40)
    hits = {n for n in range(1, size + 1) if rng.random() < 0.3}
    chat = chat_factory([("hit" if n in hits else "miss") + f" {n}" for n in range(1, size + 1)])
    settings.SEARCH_SQL_SCAN_WINDOW = 4 * rng.randint(1, 6)
    settings.SEARCH_SQL_TIME_BUDGET_MS = settings.SEARCH_SQL_TIME_BUDGET_MAX_MS = 0
    limit = rng.randint(1, 4)
    last = _chain(chat, limit=limit)[-1]
    shown_last = [m.number for m in last.messages]

    backwards = (
        _chain(chat, limit=limit, forward=False, cursor=last.previous_cursor)
        if last.previous_cursor
        else []
    )

    above = sorted(hits - set(shown_last), reverse=True)
    assert sorted(sum(_numbers(backwards), []), reverse=True) == above
    for page in backwards:
        numbers = [m.number for m in page.messages]
        below = sorted((n for n in hits if not numbers or n < min(numbers)), reverse=True)
        if not numbers:
            continue  # an empty page cut short: where it points is covered by the test above
        forward = _chain(chat, limit=limit, cursor=page.next_cursor) if page.next_cursor else []
        assert sum(_numbers(forward), []) == below, (seed, limit, numbers)
