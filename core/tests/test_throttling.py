"""Rate limits on the create endpoints, per application token (core.throttling).

The counts live in the real test Redis (Django's cache is django-redis), as in production,
where every web server shares them; the autouse ``redis_clean`` fixture empties it per test.
"""

import pytest

from pipeline.journal import journal_count
from tests.support.contract import API, ContractClient, error
from tests.support.tasks import queued_tasks

pytestmark = pytest.mark.django_db

RATE_LIMITED = "rate_limited"


def new_application(api: ContractClient, django_capture_on_commit_callbacks) -> str:
    """An application created through the API, so that the allocator knows it."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{API}/apps", {"name": "throttled"}, format="json")
    assert response.status_code == 201
    return response.json()["token"]


@pytest.fixture
def token(api, django_capture_on_commit_callbacks) -> str:
    return new_application(api, django_capture_on_commit_callbacks)


@pytest.fixture
def three_per_minute(settings) -> None:
    settings.THROTTLE_CREATE_RATE = "3/minute"


def chats_url(token: str) -> str:
    return f"{API}/apps/{token}/chats"


def messages_url(token: str, chat: int = 1) -> str:
    return f"{API}/apps/{token}/chats/{chat}/messages"


def assert_throttled(response) -> None:
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert response.json() == error(
        RATE_LIMITED, f"Request was throttled. Expected available in {wait} seconds."
    )


def test_without_a_rate_nothing_is_throttled(api, token, settings):
    settings.THROTTLE_CREATE_RATE = None

    numbers = [api.post(chats_url(token)).json()["number"] for _ in range(30)]

    assert numbers == list(range(1, 31))


def test_chat_creation_past_the_rate_is_429_with_retry_after(api, token, three_per_minute):
    numbers = [api.post(chats_url(token)).json()["number"] for _ in range(3)]

    response = api.post(chats_url(token))

    assert numbers == [1, 2, 3]
    assert_throttled(response)
    # The refused request allocated nothing and journaled nothing.
    assert journal_count() == 3
    assert {name for name, _, _ in queued_tasks()} == {"pipeline.tasks.journal_drain_task"}


def test_message_creation_past_the_rate_is_429(api, token, settings):
    chat = api.post(chats_url(token)).json()["number"]
    settings.THROTTLE_CREATE_RATE = "2/minute"
    numbers = [
        api.post(messages_url(token, chat), {"body": "hi"}, format="json").json()["number"]
        for _ in range(2)
    ]

    response = api.post(messages_url(token, chat), {"body": "hi"}, format="json")

    assert numbers == [1, 2]
    assert_throttled(response)
    settings.THROTTLE_CREATE_RATE = None
    # Number 3 was not used up by the refused request.
    assert api.post(messages_url(token, chat), {"body": "x"}, format="json").json()["number"] == 3


def test_chats_and_messages_of_one_application_share_its_budget(api, token, three_per_minute):
    api.post(chats_url(token))
    api.post(messages_url(token), {"body": "a"}, format="json")
    api.post(messages_url(token), {"body": "b"}, format="json")

    assert_throttled(api.post(chats_url(token)))
    assert_throttled(api.post(messages_url(token), {"body": "c"}, format="json"))


def test_reads_are_never_throttled(api, token, three_per_minute):
    for _ in range(3):
        api.post(chats_url(token))
    assert_throttled(api.post(chats_url(token)))

    for url in (chats_url(token), f"{chats_url(token)}/1", messages_url(token)):
        for _ in range(5):
            assert api.get(url).status_code == 200, url
    assert api.get(f"{API}/apps/{token}").status_code == 200


def test_edits_and_application_creation_are_not_throttled(
    api, token, three_per_minute, django_capture_on_commit_callbacks
):
    chat = api.post(chats_url(token)).json()["number"]
    api.post(messages_url(token, chat), {"body": "x"}, format="json")
    api.post(messages_url(token, chat), {"body": "y"}, format="json")
    assert_throttled(api.post(chats_url(token)))

    for _ in range(5):
        response = api.patch(f"{messages_url(token, chat)}/1", {"body": "z"}, format="json")
        assert response.status_code == 200
        response = api.patch(f"{API}/apps/{token}", {"name": "renamed"}, format="json")
        assert response.status_code == 200
    tokens = {new_application(api, django_capture_on_commit_callbacks) for _ in range(5)}
    assert len(tokens) == 5


def test_each_token_has_its_own_budget(
    api, token, three_per_minute, django_capture_on_commit_callbacks
):
    other = new_application(api, django_capture_on_commit_callbacks)
    for _ in range(3):
        api.post(chats_url(token))
    assert_throttled(api.post(chats_url(token)))

    numbers = [api.post(chats_url(other)).json()["number"] for _ in range(3)]

    assert numbers == [1, 2, 3]
    assert_throttled(api.post(chats_url(other)))
    assert_throttled(api.post(chats_url(token)))


def test_an_idempotent_retry_past_the_rate_is_throttled_too(api, token, three_per_minute):
    """A retry is a request like any other: it is counted, and refused past the rate."""
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-1"}
    first = api.post(chats_url(token), **headers)
    for _ in range(2):
        assert api.post(chats_url(token), **headers).json() == first.json()

    assert_throttled(api.post(chats_url(token), **headers))


def test_the_count_is_kept_in_redis_so_every_web_server_shares_it(
    api, token, three_per_minute, redis_clean
):
    for _ in range(3):
        api.post(chats_url(token))

    keys = [key.decode() for key in redis_clean.scan_iter("*throttle_create*")]
    assert len(keys) == 1 and keys[0].endswith(f"throttle_create_{token}"), keys
    assert_throttled(ContractClient().post(chats_url(token)))


def test_the_budget_comes_back_once_the_window_has_passed(api, token, settings, redis_clean):
    settings.THROTTLE_CREATE_RATE = "2/minute"
    for _ in range(2):
        api.post(chats_url(token))
    assert_throttled(api.post(chats_url(token)))

    # The window slides: forget the history, as 60 seconds of waiting would.
    for key in redis_clean.scan_iter("*throttle_create*"):
        redis_clean.delete(key)

    assert api.post(chats_url(token)).json()["number"] == 3
