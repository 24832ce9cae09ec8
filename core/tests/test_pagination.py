"""Pages (API.md): ``{"results", "next", "previous"}``, ``?limit=`` (default 50, at most 200),
``?after=`` / ``?before=``, and links that visit every item exactly once, in order."""

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from applications.models import Application
from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from messages_app.models import Message
from tests.support.contract import API, assert_timestamp, error
from tests.support.internal_ids import link_params

pytestmark = pytest.mark.django_db


def make_messages(count: int, *, numbers: list[int] | None = None) -> str:
    """A chat with ``count`` messages (numbered 1..count unless given); its messages URL."""
    chat = ChatFactory(number=1)
    now = timezone.now()
    Message.objects.bulk_create(
        Message(chat=chat, number=number, body=f"m{number}", created_at=now, updated_at=now)
        for number in (numbers or range(1, count + 1))
    )
    return f"{API}/apps/{chat.application.token}/chats/1/messages"


def make_chats(count: int) -> str:
    application = ApplicationFactory()
    now = timezone.now()
    Chat.objects.bulk_create(
        Chat(application=application, number=number, created_at=now, updated_at=now)
        for number in range(1, count + 1)
    )
    return f"{API}/apps/{application.token}/chats"


def make_applications(count: int, *, same_time: bool = False) -> list[str]:
    start = timezone.now() - timedelta(days=1)
    return [
        ApplicationFactory(
            name=f"app {i}", created_at=start if same_time else start + timedelta(seconds=i)
        ).token
        for i in range(count)
    ]


def numbers(page: dict) -> list[int]:
    return [item["number"] for item in page["results"]]


def walk(api, url: str, link: str) -> list[dict]:
    """Follow ``link`` ("next" or "previous") from ``url`` until it is null; every page."""
    pages = []
    while url is not None:
        response = api.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        url = pages[-1][link]
        assert len(pages) < 1000
    return pages


LIST_MAKERS: dict[str, Callable[[int], str]] = {"chats": make_chats, "messages": make_messages}


# limit


@pytest.mark.parametrize("kind", LIST_MAKERS)
def test_the_default_page_size_is_50(api, kind):
    url = LIST_MAKERS[kind](120)

    pages = walk(api, url, "next")

    assert [len(page["results"]) for page in pages] == [50, 50, 20]
    assert numbers(pages[0]) == list(range(1, 51))


@pytest.mark.parametrize("kind", LIST_MAKERS)
@pytest.mark.parametrize("limit,size", [(1, 1), (10, 10), (200, 200), (201, 200), (10**6, 200)])
def test_limit_sets_the_page_size_up_to_200(api, kind, limit, size):
    url = LIST_MAKERS[kind](250)

    page = api.get(f"{url}?limit={limit}").json()

    assert numbers(page) == list(range(1, size + 1))
    assert page["next"] is not None
    assert page["previous"] is None


def test_the_default_page_size_of_applications_is_50(operator_api):
    tokens = make_applications(51)

    pages = walk(operator_api, f"{API}/apps", "next")

    assert [len(page["results"]) for page in pages] == [50, 1]
    assert [app["token"] for page in pages for app in page["results"]] == tokens


def test_limit_of_applications_is_at_most_200(operator_api):
    now = timezone.now()
    Application.objects.bulk_create(
        Application(name=f"app {i}", created_at=now + timedelta(microseconds=i), updated_at=now)
        for i in range(201)
    )

    capped = operator_api.get(f"{API}/apps?limit=500").json()
    small = operator_api.get(f"{API}/apps?limit=3").json()

    assert len(capped["results"]) == 200
    assert capped["next"] is not None
    assert len(small["results"]) == 3


BAD_LIMITS = {
    "0": "Must be at least 1.",
    "00": "Must be at least 1.",
    "-1": "Must be a non-negative integer.",
    "abc": "Must be a non-negative integer.",
    "1.5": "Must be a non-negative integer.",
    "1e2": "Must be a non-negative integer.",
    "": "Must be a non-negative integer.",
    " 5": "Must be a non-negative integer.",
    "٣": "Must be a non-negative integer.",  # an Arabic-Indic digit: not ASCII
    "9" * 30: "Must be a non-negative integer.",
}


@pytest.mark.parametrize("path", ["/apps", "chats", "messages"])
@pytest.mark.parametrize("limit,message", BAD_LIMITS.items(), ids=list(BAD_LIMITS))
def test_an_invalid_limit_is_400(operator_api, path, limit, message):
    url = {"/apps": f"{API}/apps", "chats": make_chats(3), "messages": make_messages(3)}[path]

    response = operator_api.get(url, {"limit": limit})

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request", "Invalid query parameter: limit.", {"limit": [message]}
    )


@pytest.mark.parametrize("kind", LIST_MAKERS)
@pytest.mark.parametrize("name", ["after", "before"])
@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "9" * 30])
def test_an_invalid_after_or_before_is_400(api, kind, name, value):
    url = LIST_MAKERS[kind](3)

    response = api.get(url, {name: value})

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request",
        f"Invalid query parameter: {name}.",
        {name: ["Must be a non-negative integer."]},
    )


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


BAD_CURSORS = [
    "nope",
    "cD0x",  # DRF's own format, "p=1"
    "%%%",
    "",
    "cD0yMDI0LTAxLTAx" * 100,
    _encoded(["not a time", "a" * 40, False]),
    _encoded(["2024-01-01T00:00:00", "a" * 40, False]),  # no time zone
    _encoded(["2024-01-01T00:00:00Z", 1, False]),
    _encoded(["2024-01-01T00:00:00Z", "a" * 40, "no"]),
    _encoded(["2024-01-01T00:00:00Z", "a" * 40]),
    _encoded({"created_at": "2024-01-01T00:00:00Z"}),
    _encoded(None),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_an_invalid_cursor_is_400(operator_api, cursor):
    make_applications(3)

    response = operator_api.get(f"{API}/apps", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request", "Invalid query parameter: cursor.", {"cursor": ["Invalid cursor."]}
    )


# after and before


@pytest.mark.parametrize("kind", LIST_MAKERS)
def test_after_and_before_select_by_number(api, kind):
    url = LIST_MAKERS[kind](10)

    def listed(query: str) -> list[int]:
        return numbers(api.get(f"{url}?{query}").json())

    assert listed("after=0") == list(range(1, 11))
    assert listed("after=7") == [8, 9, 10]
    assert listed("after=10") == []
    assert listed(f"after={2**63 - 1}") == []
    # Nineteen digits, past what a signed 64-bit column (SQLite's) can hold: still no 500.
    assert listed("after=9999999999999999999") == []
    assert listed("before=9999999999999999999") == list(range(1, 11))
    assert listed("after=0&before=9999999999999999999&limit=2") == [1, 2]
    assert listed("before=4") == [1, 2, 3]
    assert listed("before=1") == []
    assert listed("before=11") == list(range(1, 11))
    assert listed("after=3&before=7") == [4, 5, 6]
    assert listed("after=3&before=4") == []
    assert listed("after=2&limit=3") == [3, 4, 5]
    # A page read backwards holds the items just below ``before``, still in ascending order.
    assert listed("before=9&limit=3") == [6, 7, 8]


def test_after_lets_a_client_catch_up_on_new_messages(api):
    url = make_messages(5)
    seen = numbers(api.get(url).json())
    chat = Chat.objects.get()
    now = timezone.now()
    Message.objects.bulk_create(
        Message(chat=chat, number=n, body="new", created_at=now, updated_at=now) for n in (6, 7)
    )

    new = api.get(f"{url}?after={seen[-1]}").json()

    assert seen == [1, 2, 3, 4, 5]
    assert numbers(new) == [6, 7]
    assert new["next"] is None


# Following next and previous


@pytest.mark.parametrize("kind", LIST_MAKERS)
@pytest.mark.parametrize(
    "count,limit", [(0, 5), (1, 1), (5, 5), (23, 5), (23, 1), (23, 50), (60, 7)]
)
def test_following_next_then_previous_visits_every_item_exactly_once(api, kind, count, limit):
    url = LIST_MAKERS[kind](count)

    forward = walk(api, f"{url}?limit={limit}", "next")
    visited = [number for page in forward for number in numbers(page)]
    backward = walk(api, forward[-1]["previous"], "previous") if forward[-1]["previous"] else []
    revisited = [number for page in reversed(backward) for number in numbers(page)]

    assert visited == list(range(1, count + 1))
    assert all(1 <= len(page["results"]) <= limit for page in forward if count)
    assert forward[0]["previous"] is None
    assert forward[-1]["next"] is None
    # Back from the last page: every item before it, once, each page in ascending order.
    assert revisited + numbers(forward[-1]) == list(range(1, count + 1))
    if backward:
        assert backward[-1]["previous"] is None
        assert all(numbers(page) == sorted(numbers(page)) for page in backward)


@pytest.mark.parametrize("kind", LIST_MAKERS)
@pytest.mark.parametrize("limit", [1, 2, 3, 6, 7])
def test_following_next_through_a_range_stays_in_the_range(api, kind, limit):
    url = LIST_MAKERS[kind](12)

    pages = walk(api, f"{url}?after=2&before=9&limit={limit}", "next")

    assert [n for page in pages for n in numbers(page)] == [3, 4, 5, 6, 7, 8]


def test_links_keep_the_limit_and_carry_only_numbers(api):
    url = make_messages(10)

    page = api.get(f"{url}?limit=3&after=2").json()

    assert numbers(page) == [3, 4, 5]
    for link, expected in (
        (page["next"], {"limit": ["3"], "after": ["5"]}),
        (page["previous"], {"limit": ["3"], "before": ["3"]}),
    ):
        parts = urlsplit(link)
        assert parts.scheme == "http"
        assert parts.path == url
        assert parse_qs(parts.query) == expected


def test_following_next_with_gaps_in_the_numbers(api):
    """Numbers with holes (rows still being persisted) page by number, not by position."""
    url = make_messages(0, numbers=[2, 3, 5, 8, 13, 21, 34])

    pages = walk(api, f"{url}?limit=2", "next")

    assert [numbers(page) for page in pages] == [[2, 3], [5, 8], [13, 21], [34]]


def test_items_persisted_while_paging_are_not_skipped_or_repeated(api):
    url = make_messages(0, numbers=[1, 2, 3, 6, 7])
    first = api.get(f"{url}?limit=2").json()
    chat = Chat.objects.get()
    now = timezone.now()
    # Rows 4 and 5 were accepted earlier and land now, behind the client's position or not.
    Message.objects.bulk_create(
        Message(chat=chat, number=n, body="late", created_at=now, updated_at=now) for n in (4, 5)
    )

    rest = walk(api, first["next"], "next")

    assert numbers(first) + [n for page in rest for n in numbers(page)] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("same_time", [False, True])
@pytest.mark.parametrize("count,limit", [(0, 3), (1, 3), (9, 3), (10, 3), (10, 1)])
def test_following_the_application_cursor_visits_every_application_once(
    operator_api, count, limit, same_time
):
    tokens = make_applications(count, same_time=same_time)

    forward = walk(operator_api, f"{API}/apps?limit={limit}", "next")
    visited = [app["token"] for page in forward for app in page["results"]]
    backward = (
        walk(operator_api, forward[-1]["previous"], "previous") if forward[-1]["previous"] else []
    )
    revisited = [app["token"] for page in reversed(backward) for app in page["results"]]
    last = [app["token"] for app in forward[-1]["results"]]

    assert sorted(visited) == sorted(tokens)
    assert len(visited) == count
    if not same_time:
        assert visited == tokens  # oldest first
    assert revisited + last == visited
    for page in forward + backward:
        for link in (page["next"], page["previous"]):
            if link:
                params = dict(link_params(link))
                assert set(params) == {"limit", "cursor", "cursor*"}
                # Opaque to clients, but made only of public values: a time and a token.
                created_at, token, backwards = json.loads(params["cursor*"])
                assert_timestamp(created_at)
                assert token in tokens
                assert isinstance(backwards, bool)


def test_the_messages_page_costs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    url = make_messages(300)

    with django_assert_max_num_queries(4):
        page = api.get(f"{url}?limit=200&after=50").json()

    assert numbers(page) == list(range(51, 251))
