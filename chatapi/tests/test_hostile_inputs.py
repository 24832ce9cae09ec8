"""Hostile input: what an attacker or a broken client sends, answered 4xx and never 5xx.

core/tests/test_errors.py already covers the plain cases on every write endpoint (malformed
JSON, invalid UTF-8 once, ``[`` nested 100,000 deep, a body of 1 MiB and of 1 MiB + 1 byte,
unsupported content types, bad numbers in paths on every route); the endpoint tests cover each
field's validation. This file adds what those leave out: large and deep input that is *well-formed*,
deep nesting inside opaque cursors, NUL and surrogates wherever text enters (bodies, keys,
query strings, headers, paths), more broken encodings, integers past 64 bits in bodies and
query strings, lookalike content types, and a wrong type sent to every text field (the values
the text field refuses are unit-tested in test_serializer_fields.py).

``ContractClient`` fails any test that gets a 5xx or an error outside the envelope.
"""

import base64
import json
from urllib.parse import quote

import pytest
from django.conf import settings

from chats.tests.factories import ChatFactory
from messages_app.models import Message
from messages_app.tests.factories import MessageFactory
from tests.support.contract import API, error
from tests.support.tasks import queued_tasks

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
MAX_NUMBER = 2**63 - 1
MALFORMED = error("malformed_json", "The request body is not valid JSON.")
NOT_FOUND = error("not_found", "No such resource.")


@pytest.fixture
def message() -> Message:
    return MessageFactory(chat=ChatFactory(number=1), number=1, body="kept")


@pytest.fixture
def token(message) -> str:
    return message.chat.application.token


def chat_url(token: str) -> str:
    return f"{API}/apps/{token}/chats"


def messages_url(token: str) -> str:
    return f"{API}/apps/{token}/chats/1/messages"


def search_url(token: str) -> str:
    return f"{API}/apps/{token}/chats/1/messages/search"


def post_raw(api, url: str, body: bytes | str, content_type: str = "application/json", **extra):
    return api.generic("POST", url, body, content_type=content_type, **extra)


def assert_nothing_written(message: Message) -> None:
    message.refresh_from_db()
    assert message.body == "kept"
    assert Message.objects.count() == 1
    assert queued_tasks() == []


def padded(prefix: str, suffix: str, size: int, filler: str = "0,") -> str:
    """``prefix + filler * n + suffix`` exactly ``size`` bytes long (ASCII filler)."""
    room = size - len(prefix) - len(suffix)
    text = prefix + filler * (room // len(filler)) + suffix
    return text[: len(prefix)] + " " * (size - len(text)) + text[len(prefix) :]


# Large but well-formed: read, judged on content, no 413 and no 500.


def test_a_chat_create_with_a_1_mib_object_of_ignored_keys_is_201(api, token):
    keys = ",".join(f'"k{index}":{index}' for index in range(70_000))
    body = padded("{" + keys, "}", MiB, filler=" ")
    assert len(body.encode()) == MiB

    response = post_raw(api, chat_url(token), body)

    assert response.status_code == 201
    # Chat 1 is the fixture's, written straight to SQL: Redis rebuilds the counter past it
    # and the reserve (pipeline.numbering).
    assert response.json()["number"] == 1 + settings.REDIS_RESTART_NUMBER_GAP + 1


def test_an_application_with_a_1_mib_ignored_array_is_201(api):
    body = padded('{"name": "big", "pad": [', "0]}", MiB)
    assert len(body) == MiB

    response = post_raw(api, f"{API}/apps", body)

    assert response.status_code == 201
    assert response.json()["name"] == "big"


def test_a_message_body_that_is_a_1_mib_array_is_400_naming_body(api, message, token):
    body = padded('{"body": [', "0]}", MiB - 1)

    response = post_raw(api, messages_url(token), body)

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: body.", {"body": ["Must be a string."]}
    )
    assert_nothing_written(message)


def test_a_body_of_1_mib_and_one_byte_is_413_even_when_it_is_valid_json(api, message, token):
    body = padded('{"body": "x", "pad": [', "0]}", MiB + 1)

    response = post_raw(api, messages_url(token), body)

    assert response.status_code == 413
    assert response.json() == error("payload_too_large", "The request body is larger than 1 MiB.")
    assert_nothing_written(message)


def test_a_content_length_that_understates_a_huge_body_reads_only_what_it_declares(
    api, message, token
):
    """Django reads no further than Content-Length: the rest of a lying body is never parsed."""
    body = '{"body": "short"}' + " " * (2 * MiB)

    response = post_raw(api, messages_url(token), body, CONTENT_LENGTH="17")

    assert response.status_code == 201
    assert response.json()["body"] == "short"


# Deep nesting that is well-formed (balanced), in a body or inside a field.


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"body": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"body": "x", "extra": ' + '{"a":' * 50_000 + "null" + "}" * 50_000 + "}",
    ],
    ids=["balanced brackets", "inside body", "inside an extra key"],
)
@pytest.mark.parametrize("endpoint", ["chats", "messages", "apps", "search"])
def test_deeply_nested_well_formed_json_is_400_not_a_recursion_error(
    api, message, token, body, endpoint
):
    url = {
        "chats": chat_url(token),
        "messages": messages_url(token),
        "apps": f"{API}/apps",
        "search": search_url(token),
    }[endpoint]

    response = post_raw(api, url, body)

    assert response.status_code == 400
    assert response.json() == MALFORMED
    assert_nothing_written(message)


def cursor_of(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode()


HOSTILE_CURSORS = {
    "deeply nested": "[" * 5_000 + "]" * 5_000,
    "nested object": '{"b":' * 5_000 + "1" + "}" * 5_000,
    "5000-digit number": "1" * 5_000,
    "number past 64 bits": json.dumps({"b": "sql", "d": "n", "k": [2**64]}),
    "negative": json.dumps({"b": "sql", "d": "n", "k": [-1]}),
    "float": json.dumps({"b": "sql", "d": "n", "k": [1e308]}),
    "NUL": json.dumps({"b": "sql\u0000", "d": "n", "k": [1]}),
    "lone surrogate": '{"b": "\\ud800", "d": "n", "k": [1]}',
    "year 1 far east": json.dumps(["0001-01-01T00:00:00+23:59", "a" * 40, False]),
    "year 9999 far west": json.dumps(["9999-12-31T23:59:59-23:59", "a" * 40, True]),
    "not a list": json.dumps("x"),
    "wrong arity": json.dumps([1]),
}


@pytest.mark.parametrize("payload", HOSTILE_CURSORS.values(), ids=HOSTILE_CURSORS.keys())
@pytest.mark.parametrize("endpoint", ["apps", "search"])
def test_a_forged_cursor_is_400_naming_cursor(operator_api, token, payload, endpoint):
    url = f"{API}/apps" if endpoint == "apps" else f"{search_url(token)}?q=kept"
    separator = "&" if "?" in url else "?"

    response = operator_api.get(f"{url}{separator}cursor={quote(cursor_of(payload))}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["cursor"]


# NUL characters and bytes, wherever text enters.


@pytest.mark.parametrize(
    "body",
    [b'{"body": "a\x00b"}', b'{"body": "x"}\x00', b'\x00{"body": "x"}', b'{"bo\x00dy": "x"}'],
    ids=["raw NUL in a string", "after the object", "before it", "in a key"],
)
def test_a_raw_nul_byte_in_the_json_is_malformed(api, message, token, body):
    response = post_raw(api, messages_url(token), body)

    assert response.status_code == 400
    assert response.json() == MALFORMED
    assert_nothing_written(message)


def test_an_escaped_nul_in_a_search_query_is_400_naming_it(api, token):
    posted = api.post(search_url(token), {"query": "ke\u0000pt"}, format="json")
    got = api.get(f"{search_url(token)}?q=ke%00pt")

    assert posted.status_code == got.status_code == 400
    assert posted.json()["error"]["fields"] == {"query": ["Null characters are not allowed."]}
    assert got.json()["error"]["fields"] == {"q": ["Null characters are not allowed."]}


def test_a_nul_in_a_key_that_is_ignored_is_harmless(api, token):
    response = api.post(messages_url(token), {"body": "x", "\u0000": "y"}, format="json")

    assert response.status_code == 201
    assert response.json()["body"] == "x"


@pytest.mark.parametrize("name", ["limit", "after", "before"])
def test_a_nul_in_a_query_parameter_is_400(api, token, name):
    response = api.get(f"{messages_url(token)}?{name}=1%00")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [name]


@pytest.mark.parametrize(
    "write,path",
    [
        ("patch", "/apps/{token}%00"),
        ("patch", "/apps/%00{token}"),
        ("post", "/apps/{token}%00/chats"),
        ("post", "/apps/{token}/chats/1%00/messages"),
        ("patch", "/apps/{token}/chats/1/messages/1%00"),
        ("post", "/apps/{token}/chats/%00/messages"),
    ],
)
def test_a_nul_in_a_path_is_404(api, message, token, write, path):
    url = API + path.format(token=token)

    read = api.get(url)
    written = getattr(api, write)(url, {"body": "x", "name": "x"}, format="json")

    assert read.status_code == written.status_code == 404
    assert read.json()["error"]["code"] == written.json()["error"]["code"] == "not_found"
    assert_nothing_written(message)


def test_a_nul_in_the_idempotency_key_is_400_naming_the_header(api, message, token):
    response = api.post(
        messages_url(token), {"body": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="a\x00b"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert_nothing_written(message)


# Broken encodings.


@pytest.mark.parametrize(
    "body",
    [
        b'{"body": "\xc0\xaf"}',  # overlong encoding of "/"
        b'{"body": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 (CESU-8)
        b'{"body": "\xe2\x82"}',  # truncated sequence
        b'{"body": "caf\xe9"}',  # Latin-1
        b'{"body": "\xf4\x90\x80\x80"}',  # past U+10FFFF
        b'{"body": "\xff\xfe"}',
        b"\xef\xbb\xbf" + b'{"body": "x"}',  # a UTF-8 byte order mark
        '{"body": "x"}'.encode("utf-16"),
        '{"body": "x"}'.encode("utf-32-le"),
    ],
    ids=[
        "overlong",
        "cesu-8",
        "truncated",
        "latin-1",
        "past U+10FFFF",
        "ff fe",
        "bom",
        "utf-16",
        "utf-32",
    ],
)
def test_a_body_that_is_not_utf8_json_is_400(api, message, token, body):
    response = post_raw(api, messages_url(token), body)

    assert response.status_code == 400
    assert response.json() == MALFORMED
    assert_nothing_written(message)


def test_a_declared_charset_other_than_utf8_does_not_break_the_parser(api, message, token):
    response = post_raw(
        api,
        messages_url(token),
        '{"body": "é"}'.encode("latin-1"),
        "application/json; charset=latin-1",
    )

    assert response.status_code in (201, 400, 415)
    assert response.status_code != 500


@pytest.mark.parametrize("raw", ["%FF", "%C0%AF", "%ED%A0%80"])
def test_invalid_utf8_in_a_path_is_404(api, token, raw):
    response = api.get(f"{API}/apps/{token}/chats/{raw}")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("raw", ["%FF", "%C0%AF", "%ED%A0%80", "1%FF"])
@pytest.mark.parametrize("name", ["limit", "after", "before"])
def test_invalid_utf8_in_a_paging_parameter_is_400(api, token, raw, name):
    response = api.get(f"{messages_url(token)}?{name}={raw}")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [name]


@pytest.mark.parametrize("raw", ["%FF", "%ED%A0%80", "ke%FFpt"])
def test_invalid_utf8_in_a_search_query_finds_nothing_or_is_400(api, token, raw):
    response = api.get(f"{search_url(token)}?q={raw}")

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["results"] == []


# Lone surrogates: JSON can carry them, UTF-8 (and so the database) cannot.


def test_a_lone_surrogate_in_a_search_query_is_400_naming_it(api, token):
    response = post_raw(api, search_url(token), '{"query": "\\ud800"}')

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "query": ["Must be valid Unicode text (no lone surrogates)."]
    }


@pytest.mark.parametrize("text", ["\\ud800", "\\udfff", "a\\udc00\\ud800b", "\\ud800\\ud800"])
@pytest.mark.parametrize("field,url", [("body", "messages"), ("name", "apps")])
def test_lone_surrogates_written_as_json_escapes_are_400(api, message, token, text, field, url):
    url = messages_url(token) if url == "messages" else f"{API}/apps/{token}"
    method = "POST" if field == "body" else "PATCH"

    response = api.generic(method, url, f'{{"{field}": "{text}"}}', content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert_nothing_written(message)


def test_a_surrogate_pair_written_as_json_escapes_is_one_emoji(api, token):
    response = post_raw(api, messages_url(token), '{"body": "\\ud83d\\ude00 ok"}')

    assert response.status_code == 201
    assert response.json()["body"] == "😀 ok"


def test_a_lone_surrogate_in_an_ignored_key_is_harmless(api, token):
    chat = post_raw(api, chat_url(token), '{"\\ud800": "\\udfff"}')
    message = post_raw(api, messages_url(token), '{"body": "x", "\\ud800": 1}')

    assert chat.status_code == message.status_code == 201


def test_a_lone_surrogate_in_a_key_of_an_error_is_named_safely(api, token):
    """Only the known field is named; an unknown key with a surrogate never reaches the output."""
    response = post_raw(api, messages_url(token), '{"body": 1, "\\ud800": 1}')

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["body"]


# Integers past 64 bits.


BIG_NUMBERS = {
    "2**63": str(2**63),
    "2**64": str(2**64),
    "-2**64": str(-(2**64)),
    "10**30": str(10**30),
    "1e400 (infinite)": "1e400",
    "-1e400": "-1e400",
    "1e-400": "1e-400",
}


@pytest.mark.parametrize("number", BIG_NUMBERS.values(), ids=BIG_NUMBERS.keys())
@pytest.mark.parametrize("field", ["body", "name", "query"])
def test_a_number_past_64_bits_in_a_body_is_400_naming_the_field(
    api, message, token, number, field
):
    url, method = {
        "body": (messages_url(token), "POST"),
        "name": (f"{API}/apps/{token}", "PUT"),
        "query": (search_url(token), "POST"),
    }[field]

    response = api.generic(method, url, f'{{"{field}": {number}}}', content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", f"Invalid input: {field}.", {field: ["Must be a string."]}
    )
    assert_nothing_written(message)


def test_an_integer_of_5000_digits_is_malformed_json(api, message, token):
    """Python refuses to convert integers past 4300 digits (CVE-2020-10735): a 400, not a 500."""
    response = post_raw(api, messages_url(token), '{"body": ' + "7" * 5_000 + "}")

    assert response.status_code == 400
    assert response.json() == MALFORMED
    assert_nothing_written(message)


# Past 64 bits: 20 digits or more. (Between 2**63 and 2**64 a value is read and names
# nothing: test_pagination.py pins that those page as expected, with no 500.)
PAST_64_BITS = [str(2**64), str(2**64 + 1), str(10**20), "0" + str(2**64), str(2**128)]


@pytest.mark.parametrize("value", PAST_64_BITS)
@pytest.mark.parametrize("name", ["limit", "after", "before"])
@pytest.mark.parametrize("kind", ["chats", "messages"])
def test_a_paging_number_past_64_bits_is_400(api, token, value, name, kind):
    url = chat_url(token) if kind == "chats" else messages_url(token)

    response = api.get(url, {name: value})

    assert response.status_code == 400
    assert response.json() == error(
        "bad_request",
        f"Invalid query parameter: {name}.",
        {name: ["Must be a non-negative integer."]},
    )


@pytest.mark.parametrize("value", PAST_64_BITS)
def test_a_limit_past_64_bits_is_400_on_applications_and_search(operator_api, token, value):
    apps = operator_api.get(f"{API}/apps", {"limit": value})
    search = operator_api.get(search_url(token), {"q": "kept", "limit": value})

    assert apps.status_code == search.status_code == 400
    assert list(apps.json()["error"]["fields"]) == ["limit"]
    assert list(search.json()["error"]["fields"]) == ["limit"]


@pytest.mark.parametrize("value", [str(MAX_NUMBER), str(MAX_NUMBER + 1), "9" * 19])
@pytest.mark.parametrize("name", ["after", "before"])
def test_the_largest_19_digit_numbers_still_page(api, token, name, value):
    response = api.get(messages_url(token), {name: value})

    assert response.status_code == 200
    expected = [] if name == "after" else [1]
    assert [item["number"] for item in response.json()["results"]] == expected


# Content types that look like JSON.


@pytest.mark.parametrize(
    "content_type",
    [
        "application/jsonx",
        "application/json-patch+json",
        "application/vnd.api+json",
        "application/merge-patch+json",
        "text/json",
        "json",
        "application/",
        "application/json, text/plain",
    ],
)
def test_a_lookalike_of_json_is_415(api, message, token, content_type):
    response = post_raw(api, messages_url(token), '{"body": "x"}', content_type)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert_nothing_written(message)


@pytest.mark.parametrize(
    "content_type", ["application/json", "Application/JSON", "application/json; charset=UTF-8"]
)
def test_json_is_accepted_in_any_case_and_with_a_charset(api, token, content_type):
    response = post_raw(api, messages_url(token), '{"body": "x"}', content_type)

    assert response.status_code == 201


def test_a_body_without_a_content_type_is_415(api, message, token):
    response = api.generic("POST", messages_url(token), b'{"body": "x"}', content_type="")

    assert response.status_code == 415
    assert_nothing_written(message)


def test_a_get_with_a_body_of_any_type_ignores_the_body(api, token):
    response = api.generic("GET", messages_url(token), b"\x00\xff junk", content_type="image/png")

    assert response.status_code == 200
    assert [item["number"] for item in response.json()["results"]] == [1]


# Every text field is the contract's text field. Which values it refuses, and how, is pinned
# by core/tests/test_serializer_fields.py; here each field refuses through the API.

TEXT_FIELDS = {
    "POST apps name": ("POST", "/apps", "name"),
    "PUT apps name": ("PUT", "/apps/{token}", "name"),
    "PATCH apps name": ("PATCH", "/apps/{token}", "name"),
    "POST message body": ("POST", "/apps/{token}/chats/1/messages", "body"),
    "PUT message body": ("PUT", "/apps/{token}/chats/1/messages/1", "body"),
    "PATCH message body": ("PATCH", "/apps/{token}/chats/1/messages/1", "body"),
    "POST search query": ("POST", "/apps/{token}/chats/1/messages/search", "query"),
}


@pytest.mark.parametrize("endpoint", TEXT_FIELDS.values(), ids=TEXT_FIELDS.keys())
def test_every_text_field_refuses_null_and_a_non_string_naming_it(api, message, token, endpoint):
    """Null, and a number, which DRF's own CharField would store as text; an unknown key with
    the same value is not named."""
    method, path, field = endpoint

    for value, message_text in (
        ("null", "This field may not be null."),
        ("1.5", "Must be a string."),
    ):
        payload = f'{{"{field}": {value}, "other": {value}}}'
        response = api.generic(
            method, API + path.format(token=token), payload, content_type="application/json"
        )
        assert response.status_code == 400, value
        assert response.json() == error(
            "validation_error", f"Invalid input: {field}.", {field: [message_text]}
        ), value
    assert_nothing_written(message)
    message.chat.application.refresh_from_db()
    assert message.chat.application.name.startswith("application")


@pytest.mark.parametrize(
    "value",
    ["x", "1", "a" * 300, "1" * 40, "é", "\u00a0", ""],
)
def test_a_query_string_parameter_of_the_wrong_type_is_400(api, token, value):
    """``limit`` and friends come as strings; anything that is not digits is refused."""
    for name in ("limit", "after", "before"):
        if value.isdigit() and len(value) <= 19:
            continue
        response = api.get(messages_url(token), {name: value})
        assert response.status_code == 400, (name, value)
        assert list(response.json()["error"]["fields"]) == [name]
