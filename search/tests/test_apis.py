"""The search endpoints over HTTP, on the SQL backend (Elasticsearch: test_elasticsearch.py)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from applications.tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def _url(chat) -> str:
    return f"/api/v1/apps/{chat.application.token}/chats/{chat.number}/messages/search"


def test_get_answers_a_page_of_messages(api_client, chat_factory) -> None:
    chat = chat_factory(["Hello, World!", "nothing", "hello"])

    response = api_client.get(_url(chat), {"q": "ell wor"})

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["previous"] is None
    assert [set(item) for item in body["results"]] == [
        {"number", "body", "created_at", "updated_at"}
    ]
    assert body["results"][0]["number"] == 1
    assert body["results"][0]["body"] == "Hello, World!"
    assert body["results"][0]["created_at"].endswith("Z")


def test_post_answers_the_same_as_get(api_client, chat_factory) -> None:
    chat = chat_factory(["hello 1", "hello 2", "hello 3"])

    got = api_client.get(_url(chat), {"q": "hello", "limit": 2})
    posted = api_client.post(f"{_url(chat)}?limit=2", {"query": "hello"}, format="json")

    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    assert [r["number"] for r in posted.json()["results"]] == [3, 2]


def test_following_next_visits_every_match_once(api_client, chat_factory) -> None:
    chat = chat_factory([f"hello {n}" if n % 2 else f"bye {n}" for n in range(1, 10)])

    numbers, url = [], f"http://testserver{_url(chat)}?q=HELLO&limit=2"
    while url:
        response = api_client.get(url)
        assert response.status_code == 200
        numbers += [item["number"] for item in response.json()["results"]]
        url = response.json()["next"]

    assert numbers == [9, 7, 5, 3, 1]


def test_links_carry_the_query_limit_and_cursor_only(api_client, chat_factory) -> None:
    chat = chat_factory(["a b"] * 3)

    first = api_client.post(f"{_url(chat)}?limit=1", {"query": "a  b"}, format="json").json()
    second = api_client.get(first["next"]).json()

    parts = urlsplit(first["next"])
    assert parts.path == _url(chat)
    assert set(parse_qs(parts.query)) == {"q", "limit", "cursor"}
    assert parse_qs(parts.query)["q"] == ["a  b"]
    assert [r["number"] for r in second["results"]] == [2]
    assert [r["number"] for r in api_client.get(second["previous"]).json()["results"]] == [3]


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "   \t"}, "q"), ({"q": "x" * 1001}, "q")],
)
def test_get_without_a_query_is_a_400_naming_q(api_client, chat_factory, params, field) -> None:
    chat = chat_factory(["hello"])

    response = api_client.get(_url(chat), params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]


@pytest.mark.parametrize(
    "payload", [{}, {"query": ""}, {"query": " \n"}, {"query": 7}, {"q": "hello"}]
)
def test_post_without_a_query_is_a_400_naming_query(api_client, chat_factory, payload) -> None:
    chat = chat_factory(["hello"])

    response = api_client.post(_url(chat), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["query"]


def test_post_of_malformed_json_is_a_400(api_client, chat_factory) -> None:
    chat = chat_factory(["hello"])

    response = api_client.post(_url(chat), "{", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"cursor": "x"}, "cursor")],
)
def test_bad_paging_parameters_are_400s(api_client, chat_factory, params, field) -> None:
    chat = chat_factory(["hello"])

    response = api_client.get(_url(chat), {"q": "hello", **params})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_limit_is_capped_at_200(api_client, chat_factory) -> None:
    chat = chat_factory(["m"] * 201)

    body = api_client.get(_url(chat), {"q": "m", "limit": 500}).json()

    assert len(body["results"]) == 200
    assert body["next"] is not None


def test_unknown_application_or_chat_is_a_404(api_client, chat_factory) -> None:
    chat = chat_factory(["hello"])
    base = f"/api/v1/apps/{chat.application.token}/chats"

    unknown_chat = api_client.get(f"{base}/{chat.number + 1}/messages/search", {"q": "hello"})
    unknown_app = api_client.get(
        f"/api/v1/apps/{'0' * 40}/chats/{chat.number}/messages/search", {"q": "hello"}
    )
    malformed = api_client.get(f"{base}/0/messages/search", {"q": "hello"})

    assert unknown_chat.status_code == unknown_app.status_code == malformed.status_code == 404
    assert unknown_chat.json()["error"]["code"] == "not_found"
    assert unknown_app.json()["error"]["code"] == "not_found"


def test_a_chat_accepted_but_not_persisted_yet_gives_an_empty_page(api_client) -> None:
    application = ApplicationFactory()
    created = api_client.post(f"/api/v1/apps/{application.token}/chats")
    assert created.status_code == 201

    response = api_client.get(
        f"/api/v1/apps/{application.token}/chats/{created.json()['number']}/messages/search",
        {"q": "hello"},
    )

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None, "complete": True}


def test_other_methods_are_405(api_client, chat_factory) -> None:
    chat = chat_factory(["hello"])

    assert api_client.put(_url(chat), {"query": "x"}, format="json").status_code == 405
    assert api_client.delete(_url(chat)).status_code == 405


@override_settings(ELASTICSEARCH_URL="")
def test_the_schema_documents_both_forms(api_client) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operations = schema["paths"]["/api/v1/apps/{token}/chats/{chat_number}/messages/search"]
    assert set(operations) == {"get", "post"}
    assert {p["name"] for p in operations["get"]["parameters"]} >= {"q", "limit", "cursor"}
    assert "503" in operations["get"]["responses"]
