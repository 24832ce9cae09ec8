"""The OpenAPI document, its Swagger UI and ReDoc (API.md, "Also served").

What a client developer (and a client generator) needs of the document: every operation
summarised and described, every response described (errors in the envelope, with the codes
they carry), examples, tags per resource, ``<resource>_<action>`` operation ids, domain
component names, no security requirement on public operations, Basic auth on the list of
applications.
"""

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema
from openapi_spec_validator import validate as openapi_spec_validate
from rest_framework.test import APIClient

from core.schema.errors import ERRORS
from tests.support.internal_ids import INTERNAL_KEYS

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
    "/healthz": {"get"},
    "/readyz": {"get"},
}
PAGED = [
    ("/api/v1/apps", "get"),
    (TOKEN + "/chats", "get"),
    (CHAT + "/messages", "get"),
    (CHAT + "/messages/search", "get"),
    (CHAT + "/messages/search", "post"),
]
OPERATION_IDS = {
    ("/api/v1/apps", "get"): "applications_list",
    ("/api/v1/apps", "post"): "applications_create",
    (TOKEN, "get"): "applications_get",
    (TOKEN, "put"): "applications_replace",
    (TOKEN, "patch"): "applications_update",
    (TOKEN + "/chats", "get"): "chats_list",
    (TOKEN + "/chats", "post"): "chats_create",
    (CHAT, "get"): "chats_get",
    (CHAT + "/messages", "get"): "messages_list",
    (CHAT + "/messages", "post"): "messages_create",
    (CHAT + "/messages/{number}", "get"): "messages_get",
    (CHAT + "/messages/{number}", "put"): "messages_replace",
    (CHAT + "/messages/{number}", "patch"): "messages_update",
    (CHAT + "/messages/search", "get"): "search_messages",
    (CHAT + "/messages/search", "post"): "search_messages_by_body",
    ("/healthz", "get"): "operations_health",
    ("/readyz", "get"): "operations_readiness",
}
COMPONENTS = {
    "Application",
    "ApplicationCreate",
    "ApplicationPatch",
    "ApplicationPage",
    "Chat",
    "ChatPage",
    "Message",
    "MessageCreate",
    "MessagePatch",
    "MessagePage",
    "SearchQuery",
    "SearchPage",
    "Error",
    "ErrorDetail",
    "ErrorLimit",
    "Health",
    "Readiness",
    "ReadinessChecks",
    "NotReady",
}
TAGS = {"applications", "chats", "messages", "search", "operations"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    return json.loads(response.content)


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


# Validity


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert re.fullmatch(r"3\.\d+\.\d+", schema["openapi"])
    openapi_spec_validate(schema)  # openapi-spec-validator, the reference validator
    validate_schema(schema)  # and the OpenAPI 3 JSON schema shipped with drf-spectacular
    assert schema["info"]["title"] == "Chat API"
    assert schema["info"]["version"]
    assert "Idempotency-Key" in schema["info"]["description"]


def test_the_default_schema_is_the_same_document_in_yaml(schema):
    response = APIClient().get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    openapi_spec_validate(document)
    assert document == schema


def test_the_schema_describes_every_endpoint_of_the_contract(schema):
    described = {
        path: {method for method in item if method != "parameters"}
        for path, item in schema["paths"].items()
    }

    assert described == CONTRACT_PATHS


# Operations: summary, description, tag, id


def test_every_operation_has_a_summary_a_description_and_one_resource_tag(schema):
    for path, method, operation in operations(schema):
        assert operation.get("summary", "").strip(), (path, method)
        assert len(operation.get("description", "")) > 20, (path, method)
        assert len(operation["tags"]) == 1, (path, method)
        assert operation["tags"][0] in TAGS, (path, method)
    assert {tag["name"] for tag in schema["tags"]} == TAGS
    assert all(tag["description"] for tag in schema["tags"])


def test_operation_ids_are_resource_underscore_action(schema):
    ids = {
        (path, method): operation["operationId"] for path, method, operation in operations(schema)
    }

    assert ids == OPERATION_IDS
    for (path, method), operation_id in ids.items():
        operation = schema["paths"][path][method]
        assert operation_id.split("_", 1)[0] == operation["tags"][0], operation_id


@pytest.mark.parametrize("path", [TOKEN + "/chats", CHAT + "/messages"])
def test_both_creates_say_a_503_means_the_outcome_is_unknown(schema, path):
    operation = schema["paths"][path]["post"]
    thing = "chat" if path.endswith("chats") else "message"

    assert f"the {thing} may or may not have been created" in operation["description"]
    assert "retry with the same `Idempotency-Key` to get exactly one" in operation["description"]
    assert "may or may not have been created" in operation["responses"]["503"]["description"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"Idempotency-Key"}


# Responses


def test_every_response_is_described(schema):
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            assert response.get("description", "").strip(), (path, method, status)


def test_every_error_is_the_envelope_with_the_codes_it_can_carry(schema):
    for path, method, operation in operations(schema):
        if "{" in path:
            assert "404" in operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == "/readyz":
                continue
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)
            codes = {case.code for case in ERRORS[int(status)].cases}
            for code in codes:
                assert f"`{code}`" in response["description"], (path, method, status, code)
            examples = [example["value"] for example in content["examples"].values()]
            assert {example["error"]["code"] for example in examples} == codes
    envelope = schema["components"]["schemas"]["Error"]
    assert set(envelope["properties"]) == {"error"}
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields", "limit"}
    assert set(detail["required"]) == {"code", "message"}


def test_every_429_and_503_documents_retry_after(schema):
    seen = 0
    for path, method, operation in operations(schema):
        for status in ("429", "503"):
            if status in operation["responses"] and path.startswith("/api/"):
                headers = operation["responses"][status]["headers"]
                assert headers["Retry-After"]["schema"]["type"] == "integer", (path, method)
                seen += 1
    assert seen >= 17  # a 503 on every API operation, a 429 on both creates


def test_the_application_list_documents_401_and_403(schema):
    responses = schema["paths"]["/api/v1/apps"]["get"]["responses"]

    assert {"401", "403"} <= set(responses)
    assert "WWW-Authenticate" in responses["401"]["description"]


@pytest.mark.parametrize("path,method", PAGED)
def test_the_schema_describes_lists_as_pages(schema, path, method):
    response = schema["paths"][path][method]["responses"]["200"]
    page = resolve(schema, response["content"]["application/json"]["schema"])

    assert page["type"] == "object"
    # A search page also says whether the server's time budget cut it short.
    extra = {"complete"} if path.endswith("/search") else set()
    assert set(page["properties"]) == {"results", "next", "previous"} | extra
    assert page["properties"]["results"]["type"] == "array"
    assert page["properties"]["next"]["nullable"] is True
    assert page["properties"]["previous"]["nullable"] is True


@pytest.mark.parametrize(
    "path,method,component,fields",
    [
        ("/api/v1/apps", "post", "Application", {"token", "name", "chats_count"}),
        (TOKEN + "/chats", "post", "Chat", {"number", "messages_count"}),
        (CHAT + "/messages", "post", "Message", {"number", "body"}),
    ],
)
def test_the_schema_describes_the_shapes_of_the_contract(schema, path, method, component, fields):
    created = schema["paths"][path][method]["responses"]["201"]["content"]["application/json"]
    shape = resolve(schema, created["schema"])

    assert created["schema"]["$ref"] == f"#/components/schemas/{component}"
    assert set(shape["properties"]) == fields | {"created_at", "updated_at"}
    assert shape["properties"]["created_at"]["format"] == "date-time"
    assert shape["properties"]["updated_at"]["format"] == "date-time"


def test_component_names_read_as_the_domain(schema):
    assert set(schema["components"]["schemas"]) == COMPONENTS
    requests = {
        (path, method): operation["requestBody"]["content"]["application/json"]["schema"]
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }
    assert requests[("/api/v1/apps", "post")]["$ref"].endswith("/ApplicationCreate")
    assert requests[(TOKEN, "patch")]["$ref"].endswith("/ApplicationPatch")
    assert requests[(CHAT + "/messages", "post")]["$ref"].endswith("/MessageCreate")
    assert requests[(CHAT + "/messages/search", "post")]["$ref"].endswith("/SearchQuery")


# Examples and parameters


def test_every_operation_has_examples_of_its_request_and_its_success(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            assert operation["requestBody"]["content"]["application/json"]["examples"], path
        success = next(status for status in operation["responses"] if status.startswith("2"))
        content = operation["responses"][success]["content"]["application/json"]
        assert content["examples"], (path, method)


def test_the_examples_are_shaped_like_their_schemas(schema):
    """Each success example has exactly the properties of its component (pages: of items)."""
    for path, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            content = response["content"]["application/json"]
            shape = resolve(schema, content["schema"])
            if "properties" not in shape or not status.startswith("2"):
                continue
            for example in content["examples"].values():
                assert set(example["value"]) == set(shape["properties"]), (path, status)
                if "results" in shape["properties"]:
                    item = resolve(schema, shape["properties"]["results"]["items"])
                    for row in example["value"]["results"]:
                        assert set(row) == set(item["properties"]), (path, status)


def test_path_parameters_are_described(schema):
    seen = set()
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            assert parameter.get("description", "").strip(), (path, method, parameter["name"])
            if parameter["in"] == "path":
                seen.add(parameter["name"])
                assert parameter["examples"], (path, parameter["name"])
            if parameter["name"] in ("chat_number", "number"):
                assert parameter["schema"]["type"] == "integer"
                assert parameter["schema"]["minimum"] == 1
    assert seen == {"token", "chat_number", "number"}


def test_the_schema_shows_no_internal_id(schema):
    names = set()
    for component in schema["components"]["schemas"].values():
        names |= set(component.get("properties", {}))
    for _, _, operation in operations(schema):
        names |= {parameter["name"] for parameter in operation.get("parameters", [])}

    assert not names & INTERNAL_KEYS
    assert {"token", "number", "chat_number"} <= names


# Security


def test_public_operations_carry_no_security_requirement(schema):
    assert "security" not in schema
    for path, method, operation in operations(schema):
        if (path, method) == ("/api/v1/apps", "get"):
            continue
        assert "security" not in operation, (path, method)


def test_the_application_list_declares_basic_auth_or_an_admin_session(schema):
    operation = schema["paths"]["/api/v1/apps"]["get"]

    assert operation["security"] == [{"basicAuth": []}, {"cookieAuth": []}]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["basicAuth"]["type"] == "http"
    assert schemes["basicAuth"]["scheme"] == "basic"
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert "staff" in schemes["basicAuth"]["description"]


# /api/docs/ (Swagger UI), /api/redoc/ (ReDoc), and /


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize(
    "path,marker,minimum",
    [
        ("/api/docs/", "SwaggerUIBundle", 4),  # the favicon, the stylesheet, two scripts
        ("/api/redoc/", "Redoc.init", 1),  # the standalone script
    ],
)
def test_the_docs_are_served_without_a_cdn(path, marker, minimum):
    client = Client()
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert marker in page
    # Swagger UI's page escapes "=" in its script.
    assert '"/api/schema/?format=json"' in page.replace("\\u003D", "=")
    parser = _Assets()
    parser.feed(page)
    assert len(parser.urls) >= minimum
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url  # no other host: no CDN
        assert parts.path.startswith("/static/"), url
    for cdn in ("cdn", "jsdelivr", "unpkg", "cloudflare", "googleapis", "http://", "https://"):
        assert cdn not in page.lower(), (path, cdn)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_every_asset_of_the_docs_is_served_by_the_project(path):
    client = Client()
    parser = _Assets()
    parser.feed(client.get(path).content.decode())
    scripts = [url for url in parser.urls if url.endswith(".js")]

    assert scripts
    for url in parser.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        content = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(content) > 100, url
        if url.endswith(".js"):
            assert "javascript" in asset["Content-Type"], url
        if url.endswith(".css"):
            assert asset["Content-Type"].startswith("text/css"), url


def test_the_root_redirects_to_the_docs():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/api/docs/"
