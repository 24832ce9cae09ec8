"""The HTTP contract of /api/v1/apps/{token}/chats/{number}/messages (API.md)."""

import json
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.test import TestCase
from django.utils import timezone

from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from messages_app.edits import MessageNotPersistedYet
from messages_app.models import Message
from messages_app.records import MessageRecord
from messages_app.services import messages_persist
from messages_app.tests.factories import MessageFactory
from pipeline import keys
from tests.support.contract import API, assert_timestamp, error, iso
from tests.support.internal_ids import assert_no_internal_ids, ids_made_distinctive, internal_ids
from tests.support.tasks import queued_tasks, run_queued_tasks, run_task

pytestmark = pytest.mark.django_db


def persist_as_read(token: str, chat: int, number: int, body: str, created_at: str) -> None:
    """Write a message as a drain that read its journal entry at creation writes it."""
    at = datetime.fromisoformat(created_at)
    record = MessageRecord(
        token=token, chat_number=chat, number=number, body=body, created_at=at, updated_at=at
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        messages_persist(records=[record])


UNKNOWN_TOKEN = "0" * 40
MAX = settings.MESSAGE_BODY_MAX_LENGTH
DRAIN = "pipeline.tasks.journal_drain_task"
MESSAGE_EDIT = "messages_app.tasks.message_edit_task"

BODY_ERRORS = {
    "missing": ({}, "This field is required."),
    "blank": ({"body": ""}, "This field may not be blank."),
    "spaces": ({"body": "   "}, "This field may not be blank."),
    "white space": ({"body": "\n\t \u2003\u3000"}, "This field may not be blank."),
    "null": ({"body": None}, "This field may not be null."),
    "number": ({"body": 7}, "Must be a string."),
    "float": ({"body": 0.5}, "Must be a string."),
    "true": ({"body": True}, "Must be a string."),
    "false": ({"body": False}, "Must be a string."),
    "list": ({"body": ["hi"]}, "Must be a string."),
    "object": ({"body": {"text": "hi"}}, "Must be a string."),
    "over the limit": (
        {"body": "b" * (MAX + 1)},
        f"Ensure this field has no more than {MAX} characters.",
    ),
    "emoji over the limit": (
        {"body": "😀" * (MAX + 1)},
        f"Ensure this field has no more than {MAX} characters.",
    ),
    "lone surrogate": ({"body": "a\udfffb"}, "Must be valid Unicode text (no lone surrogates)."),
    # U+0000 is refused (Django's own validator): a NUL cannot be stored by every backend.
    "nul": ({"body": "a\u0000b"}, "Null characters are not allowed."),
}
UNICODE_BODIES = [
    "Hello, World!",
    "😀",
    "🎉 emoji 🚀 everywhere 👍🏽",
    "👩‍👩‍👧‍👦",  # a ZWJ sequence
    "🏳️‍🌈 flag, 🇯🇵 regional indicators",
    "Ελληνικά, русский, עברית, العربية, 中文, 日本語, 한국어, हिन्दी",
    "e\u0301 combining vs \u00e9 precomposed",  # must not be normalised
    "  leading and trailing spaces  ",
    "line one\nline two\r\nline three\ttabbed",
    "\u200b zero width space, \u2028 line separator, \u2029 paragraph separator",
    "\ufeff byte order mark",
    "quotes \" ' and backslash \\ and <html> & entities &amp;",
    "\U0001f600\U0001f4a9\U0010fffd astral and private use",
    "\u0007 bell \u001b escape \u007f delete",
    "b" * MAX,  # exactly at the limit
    "😀" * MAX,  # exactly at the limit, 4 bytes a character
]


@pytest.fixture
def chat(api, token) -> int:
    """A chat created through the API and persisted, as the worker would."""
    number = api.post(f"{API}/apps/{token}/chats").json()["number"]
    run_queued_tasks()
    return number


def messages_url(token: str, chat_number: int) -> str:
    return f"{API}/apps/{token}/chats/{chat_number}/messages"


def post_json(api, url, payload, **extra):
    """Send ``payload`` as JSON text (json.dumps escapes what a renderer could not encode)."""
    return api.post(url, json.dumps(payload), content_type="application/json", **extra)


def message_json(message: Message) -> dict:
    message.refresh_from_db()
    return {
        "number": message.number,
        "body": message.body,
        "created_at": iso(message.created_at),
        "updated_at": iso(message.updated_at),
    }


def stored_message(token: str, chat_number: int, number: int) -> Message:
    return Message.objects.get(
        chat__application__token=token, chat__number=chat_number, number=number
    )


# POST .../messages


def test_create_returns_201_with_the_number_and_the_body(api, token, chat):
    response = api.post(messages_url(token, chat), {"body": "Hello"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"number", "body", "created_at", "updated_at"}
    assert body["number"] == 1
    assert body["body"] == "Hello"
    assert assert_timestamp(body["created_at"]) == assert_timestamp(body["updated_at"])
    assert abs(timezone.now() - assert_timestamp(body["created_at"])) < timedelta(minutes=1)
    assert response["Content-Type"] == "application/json"


def test_create_runs_no_sql(api, token, chat, django_assert_num_queries):
    with django_assert_num_queries(0):
        first = api.post(messages_url(token, chat), {"body": "one"}, format="json")
        second = api.post(messages_url(token, chat), {"body": "two"}, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["number"], second.json()["number"]) == (1, 2)


@pytest.fixture
def redis_round_trips(monkeypatch):
    """The first command name of each send to a Redis server (a pipeline is one send, one
    round trip): the real client sends it, this only writes the name down."""
    sent: list[str] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def recorded(connection, command, check_health=True):
        packed = command if isinstance(command, list | tuple) else [command]
        blob = b"".join(bytes(part) for part in packed)
        # RESP: "*<n>\r\n$<len>\r\n<NAME>\r\n...": the name is the third line.
        sent.append(blob.split(b"\r\n")[2].decode())
        return send(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", recorded)
    return sent


def test_a_create_is_one_redis_round_trip(api, token, chat, redis_round_trips):
    """The allocator's script is the whole of a create: one EVALSHA, nothing else, once the
    interval's drain request is queued (the first create of an interval also publishes it)."""
    url = messages_url(token, chat)
    assert api.post(url, {"body": "warm"}, format="json").status_code == 201
    for body in ("one", "two", "three"):
        redis_round_trips.clear()
        assert api.post(url, {"body": body}, format="json").status_code == 201
        assert redis_round_trips == ["EVALSHA"]
    redis_round_trips.clear()
    assert api.post(f"{API}/apps/{token}/chats").status_code == 201
    assert redis_round_trips == ["EVALSHA"]


def test_create_in_a_chat_not_persisted_yet_runs_no_sql(api, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        chat_number = api.post(f"{API}/apps/{token}/chats").json()["number"]
        response = api.post(messages_url(token, chat_number), {"body": "hi"}, format="json")

    assert response.status_code == 201
    assert response.json()["number"] == 1


def test_numbers_start_at_1_in_every_chat(api, token):
    chats = [api.post(f"{API}/apps/{token}/chats").json()["number"] for _ in range(3)]

    numbers = {
        chat: [
            api.post(messages_url(token, chat), {"body": "x"}, format="json").json()["number"]
            for _ in range(chat + 1)
        ]
        for chat in chats
    }

    assert numbers == {1: [1, 2], 2: [1, 2, 3], 3: [1, 2, 3, 4]}


def test_create_is_persisted_once_with_its_number_body_and_time(api, token, chat):
    created = [
        api.post(messages_url(token, chat), {"body": f"message {i}"}, format="json").json()
        for i in range(3)
    ]
    assert not Message.objects.exists()  # nothing written on the request path

    run_queued_tasks()

    messages = Message.objects.filter(chat__application__token=token).order_by("number")
    assert [message_json(message) for message in messages] == created
    for body in created:
        assert api.get(f"{messages_url(token, chat)}/{body['number']}").json() == body


def test_create_in_a_chat_accepted_but_not_persisted_yet(api, token):
    chat = api.post(f"{API}/apps/{token}/chats").json()

    response = api.post(messages_url(token, chat["number"]), {"body": "early"}, format="json")

    assert response.status_code == 201
    assert response.json()["number"] == 1
    assert not Chat.objects.exists()
    run_queued_tasks()
    # Both rows are persisted, once each, with the chat's own time.
    assert api.get(f"{API}/apps/{token}/chats/{chat['number']}").json() == chat
    assert api.get(f"{messages_url(token, chat['number'])}/1").json() == response.json()
    assert Chat.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_message_persisted_before_its_chat_leaves_one_chat_with_the_chat_time(api, token):
    chat = api.post(f"{API}/apps/{token}/chats").json()
    message = api.post(messages_url(token, chat["number"]), {"body": "m"}, format="json").json()
    # One drain (of the application's partition) was asked for, whatever the number of rows
    # accepted meanwhile.
    [drain] = queued_tasks()
    assert drain == (DRAIN, [keys.partition_of(token)], {})

    persist_as_read(token, chat["number"], 1, "m", message["created_at"])  # the message first
    run_task(*drain)  # then the journal, chat included
    persist_as_read(token, chat["number"], 1, "m", message["created_at"])  # and again

    assert api.get(f"{API}/apps/{token}/chats/{chat['number']}").json() == chat
    assert api.get(f"{messages_url(token, chat['number'])}/1").json() == message
    assert Chat.objects.count() == 1
    assert Message.objects.count() == 1


def test_numbers_continue_past_the_reserve_when_redis_lost_the_chat(api):
    """A persisted chat whose counter Redis lost is rebuilt from SQL plus the reserve."""
    chat = ChatFactory(number=2)
    for number in (1, 2, 3):
        MessageFactory(chat=chat, number=number)

    response = api.post(messages_url(chat.application.token, 2), {"body": "x"}, format="json")

    assert response.status_code == 201
    assert response.json()["number"] == 3 + settings.REDIS_RESTART_NUMBER_GAP + 1


@pytest.mark.parametrize("body", UNICODE_BODIES)
def test_any_unicode_is_stored_and_returned_exactly(api, token, chat, body):
    created = post_json(api, messages_url(token, chat), {"body": body})
    assert created.status_code == 201
    assert created.json()["body"] == body
    pending = api.get(f"{messages_url(token, chat)}/1")
    assert pending.json()["body"] == body

    run_queued_tasks()

    assert stored_message(token, chat, 1).body == body
    assert api.get(f"{messages_url(token, chat)}/1").json() == created.json()
    assert api.get(messages_url(token, chat)).json()["results"] == [created.json()]


@pytest.mark.parametrize("payload,message", BODY_ERRORS.values(), ids=BODY_ERRORS.keys())
def test_create_with_a_bad_body_is_400_naming_the_field(api, token, chat, payload, message):
    response = post_json(api, messages_url(token, chat), payload)

    assert response.status_code == 400
    assert response.json() == error("validation_error", "Invalid input: body.", {"body": [message]})
    # Nothing was accepted, and no number was used up.
    assert queued_tasks() == []
    assert api.post(messages_url(token, chat), {"body": "x"}, format="json").json()["number"] == 1


@pytest.mark.parametrize("payload", ["[]", '"body"', "null", "1", '[{"body": "x"}]'])
def test_create_with_a_body_that_is_not_an_object_is_400(api, token, chat, payload):
    response = api.post(messages_url(token, chat), payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert queued_tasks() == []


def test_create_with_no_request_body_is_400_naming_the_field(api, token, chat):
    response = api.post(messages_url(token, chat))

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: body.", {"body": ["This field is required."]}
    )


@pytest.mark.parametrize(
    "payload", ['{"body": "x"', '{"body": "x",}', "{body: 1}", '{"body": NaN}']
)
def test_create_with_malformed_json_is_400(api, token, chat, payload):
    response = api.post(messages_url(token, chat), payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error("malformed_json", "The request body is not valid JSON.")
    assert queued_tasks() == []


def test_create_with_invalid_utf8_is_400(api, token, chat):
    response = api.post(
        messages_url(token, chat), b'{"body": "\xff\xfe"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_create_with_an_unsupported_content_type_is_415(api, token, chat, content_type):
    response = api.post(messages_url(token, chat), "body=hello", content_type=content_type)

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_media_type", f'Unsupported media type "{content_type}" in request.'
    )
    assert queued_tasks() == []


def test_create_with_multipart_form_data_is_415(api, token, chat):
    response = api.post(messages_url(token, chat), {"body": "hello"}, format="multipart")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "e" * 40, "nope", "E" * 40])
def test_create_for_an_unknown_token_is_404(api, token_in_path):
    ChatFactory(number=1)

    response = api.post(messages_url(token_in_path, 1), {"body": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")
    assert queued_tasks() == []


@pytest.mark.parametrize("persisted", [True, False])
def test_create_in_an_unknown_chat_is_404(api, token, persisted):
    api.post(f"{API}/apps/{token}/chats")
    if persisted:
        run_queued_tasks()

    response = api.post(messages_url(token, 2), {"body": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 2 in this application.")
    assert [name for name, _, _ in queued_tasks()] == ([] if persisted else [DRAIN])


def test_create_in_an_unknown_chat_of_an_application_redis_forgot_is_404(api):
    chat = ChatFactory(number=1)

    response = api.post(messages_url(chat.application.token, 2), {"body": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 2 in this application.")


# Idempotency-Key


def test_a_retry_with_the_same_idempotency_key_answers_the_same_and_creates_nothing(
    api, token, chat
):
    url = messages_url(token, chat)
    first = api.post(url, {"body": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    retry = api.post(url, {"body": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    other = api.post(url, {"body": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="m-2")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert (first.json()["number"], other.json()["number"]) == (1, 2)
    run_queued_tasks()
    assert list(Message.objects.values_list("number", "body").order_by("number")) == [
        (1, "once"),
        (2, "once"),
    ]


def test_an_idempotency_key_belongs_to_one_chat(api, token, chat):
    other_chat = api.post(f"{API}/apps/{token}/chats").json()["number"]
    api.post(messages_url(token, other_chat), {"body": "first"}, format="json")

    here = api.post(
        messages_url(token, chat), {"body": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    there = api.post(
        messages_url(token, other_chat), {"body": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert here.json()["number"] == 1
    assert there.status_code == 201
    assert there.json()["number"] == 2


def test_a_reused_idempotency_key_with_another_body_creates_nothing(api, token, chat):
    url = messages_url(token, chat)
    first = api.post(url, {"body": "one"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    reused = api.post(url, {"body": "two"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert first.status_code == 201
    assert 400 <= reused.status_code < 500 or reused.json() == first.json()
    run_queued_tasks()
    assert list(Message.objects.values_list("number", "body")) == [(1, "one")]


@pytest.mark.parametrize("key", ["", "k" * 256, "new\x7fline", "\u00fcber"])
def test_an_invalid_idempotency_key_is_400(api, token, chat, key):
    response = api.post(
        messages_url(token, chat), {"body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request",
        "Invalid Idempotency-Key header.",
        {"Idempotency-Key": ["Must be 1 to 255 printable ASCII characters."]},
    )
    assert queued_tasks() == []


# GET .../messages/{number}


def test_get_returns_the_message(api):
    message = MessageFactory(number=5, body="stored 😀")
    token = message.chat.application.token

    response = api.get(f"{messages_url(token, message.chat.number)}/5")

    assert response.status_code == 200
    assert response.json() == message_json(message)
    assert_timestamp(response.json()["created_at"])
    assert_timestamp(response.json()["updated_at"])


def test_get_a_message_accepted_but_not_persisted_yet(api, token, chat):
    created = api.post(messages_url(token, chat), {"body": "in flight"}, format="json").json()

    response = api.get(f"{messages_url(token, chat)}/{created['number']}")

    assert not Message.objects.exists()
    assert response.status_code == 200
    assert response.json() == created


def test_get_a_message_of_a_chat_not_persisted_yet(api, token):
    chat_number = api.post(f"{API}/apps/{token}/chats").json()["number"]
    created = api.post(messages_url(token, chat_number), {"body": "x"}, format="json").json()

    response = api.get(f"{messages_url(token, chat_number)}/1")

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("number", [2, 3, 1000, 2**63 - 1])
def test_get_an_unknown_message_is_404(api, number):
    message = MessageFactory(number=1)

    response = api.get(
        f"{messages_url(message.chat.application.token, message.chat.number)}/{number}"
    )

    assert response.status_code == 404
    assert response.json() == error(
        "not_found", f"No message {number} in chat {message.chat.number}."
    )


def test_get_an_unknown_message_of_a_chat_not_persisted_yet_is_404(api, token):
    chat_number = api.post(f"{API}/apps/{token}/chats").json()["number"]

    response = api.get(f"{messages_url(token, chat_number)}/1")

    assert response.status_code == 404
    assert response.json() == error("not_found", f"No message 1 in chat {chat_number}.")


def test_get_a_message_of_an_unknown_chat_is_404(api):
    message = MessageFactory(chat=ChatFactory(number=1), number=1)

    response = api.get(f"{messages_url(message.chat.application.token, 2)}/1")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 2 in this application.")


def test_get_a_message_of_another_applications_chat_is_404(api):
    MessageFactory(chat=ChatFactory(number=1), number=1)
    other = ApplicationFactory()

    response = api.get(f"{messages_url(other.token, 1)}/1")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 1 in this application.")


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "nope"])
def test_get_a_message_of_an_unknown_token_is_404(api, token_in_path):
    MessageFactory(chat=ChatFactory(number=1), number=1)

    response = api.get(f"{messages_url(token_in_path, 1)}/1")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.0", str(2**63), str(2**64), "+1"])
def test_a_number_in_the_path_that_is_not_a_positive_integer_is_404(api, number):
    message = MessageFactory(chat=ChatFactory(number=1), number=1)
    token = message.chat.application.token

    for url in (
        f"{messages_url(token, 1)}/{number}",
        f"{messages_url(token, number)}/1",
        messages_url(token, number),
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert response.json() == error("not_found", "No such resource."), url


# GET .../messages


def test_list_returns_the_messages_ordered_by_number(api):
    chat = ChatFactory(number=1)
    messages = [MessageFactory(chat=chat, number=n) for n in (2, 3, 1)]
    MessageFactory(chat=ChatFactory(application=chat.application, number=2), number=4)

    response = api.get(messages_url(chat.application.token, 1))

    assert response.status_code == 200
    assert response.json() == {
        "results": [message_json(m) for m in sorted(messages, key=lambda m: m.number)],
        "next": None,
        "previous": None,
    }


def test_list_after_and_before(api):
    chat = ChatFactory(number=1)
    messages = {n: MessageFactory(chat=chat, number=n) for n in range(1, 8)}
    url = messages_url(chat.application.token, 1)

    def numbers(query: str) -> list[int]:
        response = api.get(f"{url}?{query}")
        assert response.status_code == 200
        return [item["number"] for item in response.json()["results"]]

    assert numbers("after=5") == [6, 7]
    assert numbers("after=0") == [1, 2, 3, 4, 5, 6, 7]
    assert numbers("after=7") == []
    assert numbers("before=3") == [1, 2]
    assert numbers("before=1") == []
    assert numbers("after=2&before=6") == [3, 4, 5]
    assert api.get(f"{url}?after=6").json()["results"] == [message_json(messages[7])]


def test_list_of_a_chat_with_no_messages_is_an_empty_page(api, token, chat):
    response = api.get(messages_url(token, chat))

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


def test_list_of_a_chat_not_persisted_yet_is_200(api, token):
    chat_number = api.post(f"{API}/apps/{token}/chats").json()["number"]

    response = api.get(messages_url(token, chat_number))

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


def test_list_of_an_unknown_chat_is_404(api, token, chat):
    response = api.get(messages_url(token, chat + 1))

    assert response.status_code == 404
    assert response.json() == error("not_found", f"No chat {chat + 1} in this application.")


@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "nope"])
def test_list_of_an_unknown_token_is_404(api, token_in_path):
    response = api.get(messages_url(token_in_path, 1))

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


# PATCH and PUT .../messages/{number}


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_edits_a_persisted_message(api, method):
    message = MessageFactory(body="before", created_at=timezone.now() - timedelta(hours=1))
    created_at = message.created_at
    url = f"{messages_url(message.chat.application.token, message.chat.number)}/{message.number}"

    response = getattr(api, method)(url, {"body": "after ✅"}, format="json")

    assert response.status_code == 200
    assert response.json() == message_json(message)
    assert response.json()["number"] == message.number
    assert response.json()["body"] == "after ✅"
    assert response.json()["created_at"] == iso(created_at)
    assert assert_timestamp(response.json()["updated_at"]) > created_at
    assert api.get(url).json() == response.json()


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("body", UNICODE_BODIES)
def test_update_stores_any_unicode_exactly(api, method, body):
    message = MessageFactory(body="before")
    url = f"{messages_url(message.chat.application.token, message.chat.number)}/{message.number}"

    response = getattr(api, method)(
        url, json.dumps({"body": body}), content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["body"] == body
    message.refresh_from_db()
    assert message.body == body


def test_patch_with_no_body_changes_nothing(api):
    message = MessageFactory(body="kept")
    before = message_json(message)
    url = f"{messages_url(message.chat.application.token, message.chat.number)}/{message.number}"

    response = api.patch(url, {}, format="json")

    assert response.status_code == 200
    assert response.json() == before
    assert message_json(message) == before


def test_put_with_no_body_is_400_naming_the_field(api):
    message = MessageFactory(body="kept")
    url = f"{messages_url(message.chat.application.token, message.chat.number)}/{message.number}"

    response = api.put(url, {}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: body.", {"body": ["This field is required."]}
    )
    message.refresh_from_db()
    assert message.body == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    "payload,message",
    [value for key, value in BODY_ERRORS.items() if key != "missing"],
    ids=[key for key in BODY_ERRORS if key != "missing"],
)
def test_update_with_a_bad_body_is_400_naming_the_field(api, method, payload, message):
    stored = MessageFactory(body="kept")
    url = f"{messages_url(stored.chat.application.token, stored.chat.number)}/{stored.number}"

    response = getattr(api, method)(url, json.dumps(payload), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error("validation_error", "Invalid input: body.", {"body": [message]})
    stored.refresh_from_db()
    assert stored.body == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_malformed_json_is_400(api, method):
    stored = MessageFactory(body="kept")
    url = f"{messages_url(stored.chat.application.token, stored.chat.number)}/{stored.number}"

    response = getattr(api, method)(url, '{"body": "x', content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error("malformed_json", "The request body is not valid JSON.")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_an_unsupported_content_type_is_415(api, method):
    stored = MessageFactory(body="kept")
    url = f"{messages_url(stored.chat.application.token, stored.chat.number)}/{stored.number}"

    response = getattr(api, method)(url, "body=x", content_type="text/plain")

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_media_type", 'Unsupported media type "text/plain" in request.'
    )


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_an_unknown_message_is_404(api, method):
    stored = MessageFactory(number=1, body="kept")
    url = f"{messages_url(stored.chat.application.token, stored.chat.number)}/2"

    response = getattr(api, method)(url, {"body": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", f"No message 2 in chat {stored.chat.number}.")
    assert Message.objects.count() == 1


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_a_message_of_an_unknown_chat_is_404(api, method):
    stored = MessageFactory(chat=ChatFactory(number=1), number=1, body="kept")

    response = getattr(api, method)(
        f"{messages_url(stored.chat.application.token, 2)}/1", {"body": "x"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == error("not_found", "No chat 2 in this application.")
    stored.refresh_from_db()
    assert stored.body == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("token_in_path", [UNKNOWN_TOKEN, "nope"])
def test_update_a_message_of_an_unknown_token_is_404(api, method, token_in_path):
    stored = MessageFactory(chat=ChatFactory(number=1), number=1, body="kept")

    response = getattr(api, method)(
        f"{messages_url(token_in_path, 1)}/1", {"body": "x"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")
    stored.refresh_from_db()
    assert stored.body == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_a_message_not_persisted_yet_and_the_edit_survives_persistence(
    api, token, chat, method
):
    url = messages_url(token, chat)
    created = api.post(url, {"body": "original"}, format="json").json()

    edited = getattr(api, method)(f"{url}/1", {"body": "edited 🎯"}, format="json")

    assert edited.status_code == 200
    assert edited.json()["number"] == 1
    assert edited.json()["body"] == "edited 🎯"
    assert edited.json()["created_at"] == created["created_at"]
    assert assert_timestamp(edited.json()["updated_at"]) >= assert_timestamp(created["updated_at"])
    assert api.get(f"{url}/1").json() == edited.json()
    assert not Message.objects.exists()

    # The journal already carries the edit when the drain writes it; the edit task runs after.
    tasks = queued_tasks()
    assert [name for name, _, _ in tasks] == [DRAIN, MESSAGE_EDIT]
    for name, args, kwargs in tasks:
        run_task(name, args, kwargs)

    assert stored_message(token, chat, 1).body == "edited 🎯"
    assert api.get(f"{url}/1").json() == edited.json()


def test_an_edit_that_reaches_the_worker_before_its_message_waits_for_it(api, token, chat):
    url = messages_url(token, chat)
    created = api.post(url, {"body": "original"}, format="json").json()
    edited = api.patch(f"{url}/1", {"body": "edited"}, format="json").json()
    drain, edit = queued_tasks()

    with pytest.raises(MessageNotPersistedYet):
        run_task(*edit)  # Celery retries it with backoff
    persist_as_read(token, chat, 1, "original", created["created_at"])  # read before the edit
    run_task(*edit)
    persist_as_read(token, chat, 1, "original", created["created_at"])  # does not undo the edit
    run_task(*drain)

    assert stored_message(token, chat, 1).body == "edited"
    assert api.get(f"{url}/1").json() == edited


def test_the_last_of_several_edits_of_a_message_not_persisted_yet_wins(api, token, chat):
    url = messages_url(token, chat)
    api.post(url, {"body": "v1"}, format="json")
    api.patch(f"{url}/1", {"body": "v2"}, format="json")
    last = api.put(f"{url}/1", {"body": "v3"}, format="json").json()

    run_queued_tasks()

    assert stored_message(token, chat, 1).body == "v3"
    assert api.get(f"{url}/1").json() == last


def test_an_edit_of_a_persisted_message_is_applied_at_once(api, token, chat):
    url = messages_url(token, chat)
    api.post(url, {"body": "original"}, format="json")
    run_queued_tasks()

    edited = api.patch(f"{url}/1", {"body": "edited"}, format="json")

    assert edited.status_code == 200
    assert stored_message(token, chat, 1).body == "edited"
    assert api.get(f"{url}/1").json() == edited.json()


# 405


@pytest.mark.parametrize(
    "method,path",
    [
        ("put", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/1"),
        ("delete", "/1"),
    ],
)
def test_unsupported_methods_are_405(api, method, path):
    message = MessageFactory(chat=ChatFactory(number=1), number=1, body="kept")

    response = getattr(api, method)(messages_url(message.chat.application.token, 1) + path)

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')
    message.refresh_from_db()
    assert message.body == "kept"


# No internal id


def test_no_internal_id_in_any_message_response(api):
    ids_made_distinctive()
    chat = ChatFactory(number=1)
    token = chat.application.token
    for number in (1, 2, 3):
        MessageFactory(chat=chat, number=number)
    url = messages_url(token, 1)
    responses = [
        api.post(url, {"body": "new"}, format="json"),
        api.post(url, {"body": "keyed"}, format="json", HTTP_IDEMPOTENCY_KEY="k"),
        api.get(f"{url}/4"),
        api.patch(f"{url}/4", {"body": "edited pending"}, format="json"),
        api.get(f"{url}/1"),
        api.patch(f"{url}/1", {"body": "edited"}, format="json"),
        api.put(f"{url}/2", {"body": "replaced"}, format="json"),
        api.get(url),
        api.get(f"{url}?limit=1"),
        api.get(f"{url}?limit=1&after=1"),
        api.get(f"{url}?limit=1&before=3"),
        api.get(f"{url}/99"),
        api.post(url, {"body": ""}, format="json"),
    ]
    run_queued_tasks()
    responses.append(api.get(f"{url}?limit=2"))
    responses.append(api.get(f"{url}/4"))
    search = api.get(f"{url}/search", {"q": "e", "limit": 1})
    while search.json()["next"]:
        responses.append(search)
        search = api.get(search.json()["next"])
    responses.append(search)
    responses.append(api.post(f"{url}/search?limit=2", {"query": "e"}, format="json"))

    assert Message.objects.count() == 5
    ids = internal_ids()
    assert len(ids) == 1 + 1 + 5
    assert min(ids) > 7_000_000_000
    for response in responses:
        assert_no_internal_ids(response, ids=ids)
    assert all(response.json()["next"] for response in responses[8:11])
    assert len(responses) > 20  # the search pages were walked
