"""The HTTP contract of /api/v1/apps/{token}/chats (API.md)."""

import json

import pytest
from django.conf import settings
from django.core.management import call_command

from applications.models import Application
from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from messages_app.tests.factories import MessageFactory
from tests.support.contract import API, assert_timestamp, error, iso
from tests.support.internal_ids import assert_no_internal_ids, ids_made_distinctive, internal_ids
from tests.support.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db

UNKNOWN_TOKEN = "0" * 40


def chats_url(token: str) -> str:
    return f"{API}/apps/{token}/chats"


def chat_json(chat: Chat) -> dict:
    chat.refresh_from_db()
    return {
        "number": chat.number,
        "messages_count": chat.messages_count,
        "created_at": iso(chat.created_at),
        "updated_at": iso(chat.updated_at),
    }


# POST /apps/{token}/chats


def test_create_returns_201_with_the_number(api, token):
    response = api.post(chats_url(token))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"number", "messages_count", "created_at", "updated_at"}
    assert body["number"] == 1
    assert body["messages_count"] == 0
    assert assert_timestamp(body["created_at"]) == assert_timestamp(body["updated_at"])
    assert response["Content-Type"] == "application/json"


def test_create_runs_no_sql(api, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        first = api.post(chats_url(token))
        second = api.post(chats_url(token), {}, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["number"], second.json()["number"]) == (1, 2)


def test_numbers_start_at_1_and_follow_each_other_in_every_application(api, token):
    other = api.post(f"{API}/apps", {"name": "other"}, format="json").json()["token"]

    numbers = [api.post(chats_url(token)).json()["number"] for _ in range(5)]
    other_numbers = [api.post(chats_url(other)).json()["number"] for _ in range(3)]

    assert numbers == [1, 2, 3, 4, 5]
    assert other_numbers == [1, 2, 3]


@pytest.mark.parametrize(
    "payload", [None, {}, {"number": 99}, {"messages_count": 5, "anything": [1, 2]}]
)
def test_create_accepts_no_body_or_any_object(api, token, payload):
    if payload is None:
        response = api.post(chats_url(token))
    else:
        response = api.post(chats_url(token), payload, format="json")

    assert response.status_code == 201
    assert response.json()["number"] == 1
    assert response.json()["messages_count"] == 0


def test_create_is_persisted_once_with_its_number_and_time(api, token):
    created = [api.post(chats_url(token)).json() for _ in range(3)]
    assert not Chat.objects.exists()  # nothing written on the request path

    run_queued_tasks()

    application = Application.objects.get(token=token)
    chats = list(Chat.objects.filter(application=application).order_by("number"))
    assert [chat_json(chat) for chat in chats] == created
    for body in created:
        assert api.get(f"{chats_url(token)}/{body['number']}").json() == body


def test_numbers_continue_past_the_reserve_when_redis_lost_the_application(api):
    """Redis lost the counter (pipeline.numbering): chats 4 and more may have been handed out
    and lost, so the counter is rebuilt from SQL plus the reserve, and the reserve recorded."""
    application = ApplicationFactory()
    for number in (1, 2, 3):
        ChatFactory(application=application, number=number)

    response = api.post(chats_url(application.token))

    assert response.status_code == 201
    assert response.json()["number"] == 3 + settings.REDIS_RESTART_NUMBER_GAP + 1
    assert api.post(chats_url(application.token)).json()["number"] == (
        3 + settings.REDIS_RESTART_NUMBER_GAP + 2
    )
    assert application.number_reservations.get(chat_number=0).highest == (
        3 + settings.REDIS_RESTART_NUMBER_GAP
    )


def test_get_a_chat_accepted_but_not_persisted_yet(api, token):
    created = api.post(chats_url(token)).json()

    response = api.get(f"{chats_url(token)}/{created['number']}")

    assert not Chat.objects.exists()
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "f" * 40, "nope", "F" * 40, "x" * 300])
def test_create_for_an_unknown_token_is_404(api, token_in_path, django_assert_max_num_queries):
    ApplicationFactory()

    first = api.post(chats_url(token_in_path))
    # An unknown token is remembered in Redis: asking again does not reach SQL.
    with django_assert_max_num_queries(0):
        again = api.post(chats_url(token_in_path))

    for response in (first, again):
        assert response.status_code == 404
        assert response.json() == error("not_found", "No application with this token.")
    assert not Chat.objects.exists()


def test_create_for_an_unknown_token_is_404_even_with_an_idempotency_key(api):
    response = api.post(chats_url(UNKNOWN_TOKEN), HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


def test_tokens_are_case_sensitive(api, token):
    response = api.post(chats_url(token.upper()))

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


@pytest.mark.parametrize("payload", ["[]", '"chat"', "null", "0", "true", "[{}]"])
def test_create_with_a_body_that_is_not_an_object_is_400(api, token, payload):
    response = api.post(chats_url(token), payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request", "The request body must be a JSON object or empty."
    )
    assert api.post(chats_url(token)).json()["number"] == 1  # no number was used up


@pytest.mark.parametrize("payload", ["{", "{'a': 1}", "{}}", "NaN", '{"a": NaN}', "\x00"])
def test_create_with_malformed_json_is_400(api, token, payload):
    response = api.post(chats_url(token), payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error("malformed_json", "The request body is not valid JSON.")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "text/html"],
)
def test_create_with_an_unsupported_content_type_is_415(api, token, content_type):
    response = api.post(chats_url(token), "a=b", content_type=content_type)

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_media_type", f'Unsupported media type "{content_type}" in request.'
    )


def test_create_with_multipart_form_data_is_415(api, token):
    response = api.post(chats_url(token), {"a": "b"}, format="multipart")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


# GET /apps/{token}/chats/{number}


def test_get_returns_the_chat(api):
    chat = ChatFactory(number=3, messages_count=2)

    response = api.get(f"{chats_url(chat.application.token)}/3")

    assert response.status_code == 200
    assert response.json() == chat_json(chat)
    assert response.json()["number"] == 3
    assert response.json()["messages_count"] == 2
    assert_timestamp(response.json()["created_at"])
    assert_timestamp(response.json()["updated_at"])


@pytest.mark.parametrize("number", [2, 4, 99, 2**63 - 1])
def test_get_an_unknown_chat_is_404(api, number):
    chat = ChatFactory(number=3)

    response = api.get(f"{chats_url(chat.application.token)}/{number}")

    assert response.status_code == 404
    assert response.json() == error("not_found", f"No chat {number} in this application.")


def test_get_the_chat_of_another_application_is_404(api):
    chat = ChatFactory(number=1)
    other = ApplicationFactory()

    response = api.get(f"{chats_url(other.token)}/1")

    assert chat.application != other
    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 1 in this application.")


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "nope"])
def test_get_a_chat_of_an_unknown_token_is_404(api, token_in_path):
    ChatFactory(number=1)

    response = api.get(f"{chats_url(token_in_path)}/1")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.5", "1e3", str(2**63), str(2**64), "%201"])
def test_get_a_chat_number_that_is_not_a_positive_integer_is_404(api, number):
    chat = ChatFactory(number=1)

    response = api.get(f"{chats_url(chat.application.token)}/{number}")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No such resource.")


# GET /apps/{token}/chats


def test_list_returns_the_chats_ordered_by_number(api):
    application = ApplicationFactory()
    chats = [ChatFactory(application=application, number=n) for n in (3, 1, 2)]
    ChatFactory(number=4)  # another application's

    response = api.get(chats_url(application.token))

    assert response.status_code == 200
    assert response.json() == {
        "results": [chat_json(chat) for chat in sorted(chats, key=lambda chat: chat.number)],
        "next": None,
        "previous": None,
    }


def test_list_of_an_application_with_no_chats_is_an_empty_page(api, token):
    response = api.get(chats_url(token))

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "nope"])
def test_list_of_an_unknown_token_is_404(api, token_in_path):
    response = api.get(chats_url(token_in_path))

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


# Counters


def test_counters_are_recomputed_by_refresh_counts(api, token):
    for _ in range(3):
        api.post(chats_url(token))
    api.post(f"{chats_url(token)}/2/messages", {"body": "a"}, format="json")
    api.post(f"{chats_url(token)}/2/messages", {"body": "b"}, format="json")
    run_queued_tasks()

    call_command("refresh_counts")

    assert api.get(f"{API}/apps/{token}").json()["chats_count"] == 3
    counts = [chat["messages_count"] for chat in api.get(chats_url(token)).json()["results"]]
    assert counts == [0, 2, 0]
    assert api.get(f"{chats_url(token)}/2").json()["messages_count"] == 2


# Idempotency-Key


def test_a_retry_with_the_same_idempotency_key_answers_the_same_and_creates_nothing(api, token):
    first = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY="retry-1")
    retry = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY="retry-1")
    other = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY="retry-2")
    plain = api.post(chats_url(token))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert first.json()["number"] == 1
    assert other.json()["number"] == 2
    assert plain.json()["number"] == 3
    run_queued_tasks()
    assert list(Chat.objects.values_list("number", flat=True).order_by("number")) == [1, 2, 3]


def test_an_idempotency_key_belongs_to_one_application(api, token):
    other = api.post(f"{API}/apps", {"name": "other"}, format="json").json()["token"]
    api.post(chats_url(other))

    first = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY="shared")
    elsewhere = api.post(chats_url(other), HTTP_IDEMPOTENCY_KEY="shared")

    assert first.json()["number"] == 1
    assert elsewhere.status_code == 201
    assert elsewhere.json()["number"] == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tkey", "caf\u00e9"])
def test_an_invalid_idempotency_key_is_400(api, token, key):
    response = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request",
        "Invalid Idempotency-Key header.",
        {"Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."]},
    )
    assert api.post(chats_url(token)).json()["number"] == 1


@pytest.mark.parametrize("key", ["k", "k" * 255, "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"])
def test_a_valid_idempotency_key_is_accepted(api, token, key):
    response = api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 201
    assert api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY=key).json() == response.json()


# 405


@pytest.mark.parametrize(
    "method,path",
    [
        ("put", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/1"),
        ("put", "/1"),
        ("patch", "/1"),
        ("delete", "/1"),
    ],
)
def test_unsupported_methods_are_405(api, method, path):
    chat = ChatFactory(number=1)

    response = getattr(api, method)(chats_url(chat.application.token) + path)

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')
    assert Chat.objects.count() == 1


# No internal id


def test_no_internal_id_in_any_chat_response(api):
    ids_made_distinctive()
    application = ApplicationFactory()
    token = application.token
    for number in (1, 2, 3):
        MessageFactory(chat=ChatFactory(application=application, number=number))
    pending = api.post(chats_url(token))
    responses = [
        api.post(chats_url(token)),
        api.post(chats_url(token), HTTP_IDEMPOTENCY_KEY="k"),
        api.get(f"{chats_url(token)}/{pending.json()['number']}"),
        api.get(f"{chats_url(token)}/1"),
        api.get(chats_url(token)),
        api.get(f"{chats_url(token)}?limit=1"),
        api.get(f"{chats_url(token)}?limit=1&after=1"),
        api.get(f"{chats_url(token)}?limit=1&before=3"),
        api.get(f"{chats_url(token)}/99"),
        api.post(chats_url(token), "[]", content_type="application/json"),
    ]
    run_queued_tasks()
    responses.append(api.get(f"{chats_url(token)}?limit=2"))

    assert Chat.objects.count() == 6
    ids = internal_ids()
    assert len(ids) == 1 + 6 + 3
    assert min(ids) > 7_000_000_000
    for response in [pending, *responses]:
        assert_no_internal_ids(response, ids=ids)
    links = [response.json().get("next") for response in responses[5:8]]
    assert all(links), links


def test_a_chat_body_is_json_with_exactly_the_contract_fields(api, token):
    created = api.post(chats_url(token))
    run_queued_tasks()

    for body in (
        created.json(),
        api.get(f"{chats_url(token)}/1").json(),
        api.get(chats_url(token)).json()["results"][0],
    ):
        assert json.loads(json.dumps(body)) == body
        assert set(body) == {"number", "messages_count", "created_at", "updated_at"}
