"""The probes, the OpenAPI schema and its Swagger UI (API.md, "Also served")."""

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from chatapi.tests import INTERNAL_KEYS, error

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/apps/{token}"
CHAT = TOKEN + "/chats/{chat_number}"
# Every endpoint of the contract and its methods, as the schema must describe them.
CONTRACT_PATHS = {
    "/api/v1/apps": {"get", "post"},
    TOKEN: {"get", "patch", "put"},
    TOKEN + "/chats": {"get", "post"},
    CHAT: {"get"},
    CHAT + "/messages": {"get", "post"},
    CHAT + "/messages/{number}": {"get", "patch", "put"},
    CHAT + "/messages/search": {"get", "post"},
}
PAGED = [
    ("/api/v1/apps", "get"),
    (TOKEN + "/chats", "get"),
    (CHAT + "/messages", "get"),
    (CHAT + "/messages/search", "get"),
    (CHAT + "/messages/search", "post"),
]
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a Redis that is down


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


# /healthz and /readyz


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_get_and_head(client, path):
    get = client.get(path)
    head = client.head(path)

    assert get.status_code == head.status_code == 200
    assert get["Content-Type"] == "application/json"
    assert head.content == b""


def test_healthz_says_the_process_is_up(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_runs_no_sql_and_touches_no_dependency(client, django_assert_num_queries, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_says_every_dependency_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": True, "redis": True, "search": True},
    }


def test_readyz_is_503_naming_redis_when_redis_is_down(client, settings):
    """Redis really down (a port nothing listens on), not a mock."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert "redis" in body["error"]["message"]
    assert "database" not in body["error"]["message"]
    assert body["checks"] == {"database": True, "redis": False, "search": True}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_probes_refuse_other_methods_with_405(client, path, method):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')


# /api/schema/


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert re.fullmatch(r"3\.\d+\.\d+", schema["openapi"])
    validate_schema(schema)  # against the OpenAPI 3 JSON schema shipped with drf-spectacular
    assert schema["info"]["title"]
    assert schema["info"]["version"]


def test_the_default_schema_is_the_same_document_in_yaml():
    response = APIClient().get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    validate_schema(document)
    json_document = json.loads(APIClient().get("/api/schema/?format=json").content)
    assert document == json_document


def test_the_schema_describes_every_endpoint_of_the_contract(schema):
    described = {
        path: {method for method in operations if method != "parameters"}
        for path, operations in schema["paths"].items()
    }

    assert described == CONTRACT_PATHS


@pytest.mark.parametrize("path,method", PAGED)
def test_the_schema_describes_lists_as_pages(schema, path, method):
    response = schema["paths"][path][method]["responses"]["200"]
    page = resolve(schema, response["content"]["application/json"]["schema"])

    assert page["type"] == "object"
    assert set(page["properties"]) == {"results", "next", "previous"}
    assert page["properties"]["results"]["type"] == "array"
    assert page["properties"]["next"]["nullable"] is True
    assert page["properties"]["previous"]["nullable"] is True


@pytest.mark.parametrize(
    "path,method,component,fields",
    [
        ("/api/v1/apps", "post", "ApplicationOutput", {"token", "name", "chats_count"}),
        (TOKEN + "/chats", "post", "ChatOutput", {"number", "messages_count"}),
        (CHAT + "/messages", "post", "MessageOutput", {"number", "body"}),
    ],
)
def test_the_schema_describes_the_shapes_of_the_contract(schema, path, method, component, fields):
    created = schema["paths"][path][method]["responses"]["201"]["content"]["application/json"]
    shape = resolve(schema, created["schema"])

    assert created["schema"]["$ref"].endswith(f"/{component}")
    assert set(shape["properties"]) == fields | {"created_at", "updated_at"}
    assert shape["properties"]["created_at"]["format"] == "date-time"
    assert shape["properties"]["updated_at"]["format"] == "date-time"


def test_the_schema_describes_errors_in_the_envelope(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            if "{" in path:
                assert "404" in statuses, (path, method)
            for status, response in operation["responses"].items():
                if status.startswith("4") or status.startswith("5"):
                    reference = response["content"]["application/json"]["schema"]["$ref"]
                    assert reference.endswith("/Error"), (path, method, status)
    envelope = schema["components"]["schemas"]["Error"]
    assert set(envelope["properties"]) == {"error"}


def test_the_schema_shows_no_internal_id(schema):
    names = set()
    for component in schema["components"]["schemas"].values():
        names |= set(component.get("properties", {}))
    for operations in schema["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                names |= {parameter["name"] for parameter in operation.get("parameters", [])}

    assert not names & INTERNAL_KEYS
    assert {"token", "number", "chat_number"} <= names


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


# /api/docs/


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_the_docs_are_swagger_ui_served_without_a_cdn():
    client = Client()
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "SwaggerUIBundle" in page
    assert '"/api/schema/"' in page
    parser = _Assets()
    parser.feed(page)
    assert len(parser.urls) >= 4  # the favicon, the stylesheet and two scripts at least
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url  # no other host: no CDN
        assert parts.path.startswith("/static/"), url
    for cdn in ("cdn", "jsdelivr", "unpkg", "cloudflare", "googleapis", "http://", "https://"):
        assert cdn not in page.lower(), cdn


def test_every_asset_of_the_docs_is_served_by_the_project():
    client = Client()
    parser = _Assets()
    parser.feed(client.get("/api/docs/").content.decode())
    scripts = [url for url in parser.urls if url.endswith(".js")]
    styles = [url for url in parser.urls if url.endswith(".css")]

    assert scripts
    assert styles
    for url in parser.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        content = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(content) > 100, url
        if url.endswith(".js"):
            assert "javascript" in asset["Content-Type"], url
        if url.endswith(".css"):
            assert asset["Content-Type"].startswith("text/css"), url
