"""The OpenAPI document states the limits the server enforces (what schemathesis found it did
not): a client generated from it, or a fuzzer, never sends a request the server must refuse."""

import json

import pytest
from django.core.management import call_command

APPS = "/api/v1/apps"
CHATS = APPS + "/{token}/chats"
MESSAGES = CHATS + "/{chat_number}/messages"
SEARCH = MESSAGES + "/search"
NON_BLANK = {"type": "string", "minLength": 1, "pattern": r"\S"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(path))
    return json.loads(path.read_text())


def _parameter(schema: dict, path: str, method: str, name: str) -> dict:
    (found,) = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
    return found["schema"]


@pytest.mark.parametrize(
    ("path", "method"),
    [(APPS, "get"), (CHATS, "get"), (MESSAGES, "get"), (SEARCH, "get"), (SEARCH, "post")],
)
def test_limit_is_at_least_1(schema, path, method) -> None:
    limit = _parameter(schema, path, method, "limit")

    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 2**63 - 1)


@pytest.mark.parametrize(("path", "name"), [(CHATS, "after"), (MESSAGES, "before")])
def test_after_and_before_are_not_negative(schema, path, name) -> None:
    assert _parameter(schema, path, "get", name)["minimum"] == 0


@pytest.mark.parametrize(
    ("component", "field", "longest"),
    [
        ("ApplicationCreate", "name", 255),
        ("ApplicationPatch", "name", 255),
        ("MessageCreate", "body", 10000),
        ("MessagePatch", "body", 10000),
        ("SearchQuery", "query", 1000),
    ],
)
def test_text_fields_are_neither_empty_nor_blank_nor_too_long(
    schema, component, field, longest
) -> None:
    properties = schema["components"]["schemas"][component]["properties"][field]

    assert {key: properties[key] for key in NON_BLANK} == NON_BLANK
    assert properties["maxLength"] == longest


def test_the_search_query_parameter_states_its_limits(schema) -> None:
    q = _parameter(schema, SEARCH, "get", "q")

    assert q == {**NON_BLANK, "maxLength": 1000}


@pytest.mark.parametrize("path", [CHATS, MESSAGES])
def test_the_idempotency_key_is_printable_ascii_up_to_255(schema, path) -> None:
    key = _parameter(schema, path, "post", "Idempotency-Key")

    assert key == {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_search_documents_query_too_complex_and_complete(schema, method) -> None:
    operation = schema["paths"][SEARCH][method]
    page = schema["components"]["schemas"]["SearchPage"]

    assert "`query_too_complex`" in operation["responses"]["400"]["description"]
    assert "limit" in schema["components"]["schemas"]["ErrorDetail"]["properties"]
    assert page["properties"]["complete"]["type"] == "boolean"
    assert "complete" in page["required"]
