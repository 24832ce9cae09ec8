"""The HTTP contract of /api/v1/apps (API.md): create, list, read, PATCH and PUT."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from applications.models import Application, token_is_well_formed
from applications.tests.factories import ApplicationFactory
from pipeline.numbering import counter_read
from tests.support.contract import (
    API,
    OPERATOR_PASSWORD,
    assert_timestamp,
    basic_credentials,
    error,
    iso,
)
from tests.support.internal_ids import assert_no_internal_ids, ids_made_distinctive, internal_ids

pytestmark = pytest.mark.django_db

UNKNOWN_TOKEN = "0" * 40
NAME_ERRORS = {
    "missing": ({}, "This field is required."),
    "blank": ({"name": ""}, "This field may not be blank."),
    "spaces": ({"name": "   "}, "This field may not be blank."),
    "white space": ({"name": " \t\n\u00a0\u3000"}, "This field may not be blank."),
    "null": ({"name": None}, "This field may not be null."),
    "number": ({"name": 42}, "Must be a string."),
    "float": ({"name": 4.2}, "Must be a string."),
    "true": ({"name": True}, "Must be a string."),
    "false": ({"name": False}, "Must be a string."),
    "list": ({"name": ["a"]}, "Must be a string."),
    "empty list": ({"name": []}, "Must be a string."),
    "object": ({"name": {"a": "b"}}, "Must be a string."),
    "256 chars": ({"name": "n" * 256}, "Ensure this field has no more than 255 characters."),
    "256 emoji": ({"name": "😀" * 256}, "Ensure this field has no more than 255 characters."),
    "lone surrogate": ({"name": "\ud800"}, "Must be valid Unicode text (no lone surrogates)."),
    # U+0000 is refused (Django's own validator): a NUL cannot be stored by every backend.
    "nul": ({"name": "a\u0000b"}, "Null characters are not allowed."),
}
UNICODE_NAMES = [
    "😀",
    "Ünïcödé ñame",
    "名前 🚀 اسم",
    "👩‍👩‍👧‍👦 family",  # a ZWJ sequence: seven code points, one glyph
    "e\u0301 (combining) vs \u00e9",
    "  surrounded by spaces  ",
    "tab\tand\nnewline",
    "🏳️‍🌈" * 36,
    "😀" * 255,  # 255 characters of 4 bytes each: fits, as the limit counts characters
    "n" * 255,
    "\u0007 bell, \u001b escape, \u007f delete",
]


def app_url(token: str) -> str:
    return f"{API}/apps/{token}"


def application_json(application: Application) -> dict:
    application.refresh_from_db()
    return {
        "token": application.token,
        "name": application.name,
        "chats_count": application.chats_count,
        "created_at": iso(application.created_at),
        "updated_at": iso(application.updated_at),
    }


# POST /apps


def test_create_returns_201_and_the_application(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{API}/apps", {"name": "my app"}, format="json")

    assert response.status_code == 201
    application = Application.objects.get()
    assert response.json() == application_json(application)
    assert response.json()["name"] == "my app"
    assert response.json()["chats_count"] == 0
    assert response["Content-Type"] == "application/json"
    assert token_is_well_formed(response.json()["token"])
    created_at = assert_timestamp(response.json()["created_at"])
    assert assert_timestamp(response.json()["updated_at"]) == created_at
    assert abs(timezone.now() - created_at) < timedelta(minutes=1)
    # Registered with the number allocator, so its first chat needs no SQL.
    assert counter_read(token=application.token).last == 0  # type: ignore[union-attr]


def test_create_tokens_are_unique_unguessable_and_url_safe(api):
    tokens = [
        api.post(f"{API}/apps", {"name": f"app {i}"}, format="json").json()["token"]
        for i in range(20)
    ]

    assert len(set(tokens)) == 20
    for token in tokens:
        # 40 lowercase hex digits: 160 random bits, nothing to escape in a URL.
        assert token_is_well_formed(token)
    assert sorted(Application.objects.values_list("token", flat=True)) == sorted(tokens)


def test_create_ignores_fields_the_client_may_not_set(api):
    response = api.post(
        f"{API}/apps",
        {"name": "app", "token": "a" * 40, "chats_count": 99, "created_at": "2000-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["token"] != "a" * 40
    assert body["chats_count"] == 0
    assert body["created_at"] != "2000-01-01T00:00:00Z"


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_create_stores_and_returns_any_unicode_exactly(api, name):
    response = api.post(f"{API}/apps", {"name": name}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == name
    token = response.json()["token"]
    assert Application.objects.get(token=token).name == name
    assert api.get(app_url(token)).json()["name"] == name


@pytest.mark.parametrize("payload,message", NAME_ERRORS.values(), ids=NAME_ERRORS.keys())
def test_create_with_a_bad_name_is_400_naming_the_field(api, payload, message):
    response = api.post(f"{API}/apps", json.dumps(payload), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error("validation_error", "Invalid input: name.", {"name": [message]})
    assert not Application.objects.exists()


@pytest.mark.parametrize("payload", ["[]", '"name"', "null", "42", '[{"name": "x"}]'])
def test_create_with_a_body_that_is_not_an_object_is_400(api, payload):
    response = api.post(f"{API}/apps", payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Application.objects.exists()


def test_create_with_no_body_is_400_naming_the_field(api):
    response = api.post(f"{API}/apps")

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: name.", {"name": ["This field is required."]}
    )


# GET /apps/{token}


def test_get_returns_the_application(api):
    application = ApplicationFactory(name="shown", chats_count=3)

    response = api.get(app_url(application.token))

    assert response.status_code == 200
    assert response.json() == application_json(application)
    assert response.json()["chats_count"] == 3


@pytest.mark.parametrize(
    "token",
    [
        UNKNOWN_TOKEN,  # well formed, unknown
        "f" * 40,
        "nope",  # malformed
        "0" * 39,
        "0" * 41,
        "g" * 40,
        "x" * 1000,
        "%00",
        "%F0%9F%98%80",
        "..",
        "1",
    ],
)
def test_get_an_unknown_token_is_404(api, token):
    ApplicationFactory()

    response = api.get(app_url(token))

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


def test_tokens_are_case_sensitive(api):
    """MySQL compares strings case-insensitively by default; a token must not."""
    application = ApplicationFactory()

    response = api.get(app_url(application.token.upper()))

    assert application.token != application.token.upper()
    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")


# GET /apps


def test_list_returns_a_page_of_applications_oldest_first(operator_api):
    start = timezone.now() - timedelta(hours=1)
    applications = [
        ApplicationFactory(name=f"app {i}", created_at=start + timedelta(seconds=i))
        for i in range(3)
    ]

    response = operator_api.get(f"{API}/apps")

    assert response.status_code == 200
    assert response.json() == {
        "results": [application_json(application) for application in applications],
        "next": None,
        "previous": None,
    }


def test_list_with_no_applications_is_an_empty_page(operator_api):
    response = operator_api.get(f"{API}/apps")

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


# GET /apps is for operators only: it shows every tenant's token.


def test_list_without_credentials_is_401_asking_for_basic_auth(api):
    ApplicationFactory()

    response = api.get(f"{API}/apps")

    assert response.status_code == 401
    assert response.json() == error(
        "not_authenticated", "Authentication credentials were not provided."
    )
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


@pytest.mark.parametrize(
    "authorization",
    [
        basic_credentials("operator", "wrong password"),
        basic_credentials("nobody", OPERATOR_PASSWORD),
        "Basic not-base64!",
    ],
    ids=["wrong password", "unknown user", "garbage"],
)
def test_list_with_wrong_credentials_is_401(api, operator, authorization):
    application = ApplicationFactory()

    response = api.get(f"{API}/apps", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert application.token not in response.content.decode()


def test_list_for_a_user_who_is_not_staff_is_403(api, django_user_model):
    django_user_model.objects.create_user(username="tenant", password="pw", is_staff=False)
    ApplicationFactory()

    by_basic = api.get(f"{API}/apps", HTTP_AUTHORIZATION=basic_credentials("tenant", "pw"))
    api.login(username="tenant", password="pw")
    by_session = api.get(f"{API}/apps")

    for response in (by_basic, by_session):
        assert response.status_code == 403
        assert response.json() == error(
            "permission_denied", "You do not have permission to perform this action."
        )


def test_list_for_a_staff_user_by_basic_auth_or_admin_session(api, operator_api, operator):
    application = ApplicationFactory()

    by_basic = operator_api.get(f"{API}/apps")
    api.force_login(operator)
    by_session = api.get(f"{API}/apps")

    assert by_basic.status_code == by_session.status_code == 200
    assert by_basic.json() == by_session.json()
    assert [app["token"] for app in by_basic.json()["results"]] == [application.token]


def test_an_inactive_staff_user_is_refused(api, operator):
    operator.is_active = False
    operator.save()

    response = api.get(
        f"{API}/apps", HTTP_AUTHORIZATION=basic_credentials("operator", OPERATOR_PASSWORD)
    )

    assert response.status_code == 401


def test_creating_needs_no_credentials_and_ignores_any(api):
    """POST /apps is how a tenant gets its token: no authentication runs there at all."""
    response = api.post(
        f"{API}/apps",
        {"name": "mine"},
        format="json",
        HTTP_AUTHORIZATION=basic_credentials("nobody", "nothing"),
    )

    assert response.status_code == 201


def test_no_response_to_a_tenant_carries_another_tenants_token(
    api, django_capture_on_commit_callbacks
):
    """Everything one tenant can call, success or error, shows its own token at most."""
    with django_capture_on_commit_callbacks(execute=True):
        mine = api.post(f"{API}/apps", {"name": "mine"}, format="json").json()["token"]
        other = api.post(f"{API}/apps", {"name": "other"}, format="json").json()["token"]
    chats = f"{API}/apps/{mine}/chats"
    responses = [
        api.get(app_url(mine)),
        api.patch(app_url(mine), {"name": "renamed"}, format="json"),
        api.put(app_url(mine), {"name": "renamed"}, format="json"),
        api.post(chats),
        api.get(chats),
        api.get(f"{chats}/1"),
        api.post(f"{chats}/1/messages", {"body": "hello"}, format="json"),
        api.get(f"{chats}/1/messages"),
        api.get(f"{chats}/1/messages/1"),
        api.get(f"{chats}/1/messages/search", {"q": "hello"}),
        api.get(f"{chats}/9"),
        api.post(f"{chats}/1/messages", {"body": ""}, format="json"),
        api.get(app_url(UNKNOWN_TOKEN)),
        api.get(f"{API}/apps"),
        api.post(f"{API}/apps", {"name": "third"}, format="json"),
    ]

    for response in responses:
        texts = [response.content.decode(), *(f"{k}: {v}" for k, v in response.items())]
        assert not any(other in text for text in texts), response


# PATCH and PUT /apps/{token}


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_renames_the_application(api, method):
    application = ApplicationFactory(
        name="before", created_at=timezone.now() - timedelta(days=1), chats_count=2
    )
    created_at = application.created_at

    response = getattr(api, method)(app_url(application.token), {"name": "after 🎉"}, format="json")

    assert response.status_code == 200
    assert response.json() == application_json(application)
    assert response.json()["name"] == "after 🎉"
    assert response.json()["token"] == application.token
    assert response.json()["chats_count"] == 2
    assert response.json()["created_at"] == iso(created_at)
    assert assert_timestamp(response.json()["updated_at"]) > created_at
    assert Application.objects.get().name == "after 🎉"
    assert api.get(app_url(application.token)).json() == response.json()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_cannot_change_the_token_or_the_counter(api, method):
    application = ApplicationFactory(name="before")
    payload = {"name": "after", "token": "a" * 40, "chats_count": 7}

    response = getattr(api, method)(app_url(application.token), payload, format="json")

    assert response.status_code == 200
    assert response.json()["token"] == application.token
    assert response.json()["chats_count"] == 0
    assert Application.objects.get().token == application.token


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_update_stores_any_unicode_exactly(api, method, name):
    application = ApplicationFactory()

    response = getattr(api, method)(app_url(application.token), {"name": name}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == name
    assert Application.objects.get().name == name


def test_patch_with_no_name_changes_nothing(api):
    application = ApplicationFactory(name="kept")
    before = application_json(application)

    response = api.patch(app_url(application.token), {}, format="json")

    assert response.status_code == 200
    assert response.json() == before
    assert application_json(application) == before


def test_put_with_no_name_is_400_naming_the_field(api):
    application = ApplicationFactory(name="kept")

    response = api.put(app_url(application.token), {}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "validation_error", "Invalid input: name.", {"name": ["This field is required."]}
    )
    assert Application.objects.get().name == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    "payload,message",
    [value for key, value in NAME_ERRORS.items() if key != "missing"],
    ids=[key for key in NAME_ERRORS if key != "missing"],
)
def test_update_with_a_bad_name_is_400_naming_the_field(api, method, payload, message):
    application = ApplicationFactory(name="kept")

    response = getattr(api, method)(
        app_url(application.token), json.dumps(payload), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == error("validation_error", "Invalid input: name.", {"name": [message]})
    assert Application.objects.get().name == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, "nope"])
def test_update_an_unknown_token_is_404(api, method, token):
    ApplicationFactory(name="kept")

    response = getattr(api, method)(app_url(token), {"name": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No application with this token.")
    assert Application.objects.get().name == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_malformed_json_is_400(api, method):
    application = ApplicationFactory(name="kept")

    response = getattr(api, method)(
        app_url(application.token), '{"name": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == error("malformed_json", "The request body is not valid JSON.")
    assert Application.objects.get().name == "kept"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_with_form_data_is_415(api, method):
    application = ApplicationFactory(name="kept")

    response = getattr(api, method)(
        app_url(application.token), "name=x", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert response.json() == error(
        "unsupported_media_type",
        'Unsupported media type "application/x-www-form-urlencoded" in request.',
    )
    assert Application.objects.get().name == "kept"


# 405


@pytest.mark.parametrize(
    "method,path",
    [
        ("put", "/apps"),
        ("patch", "/apps"),
        ("delete", "/apps"),
        ("delete", "/apps/{token}"),
        ("post", "/apps/{token}"),
    ],
)
def test_unsupported_methods_are_405(api, method, path):
    application = ApplicationFactory(name="kept")

    response = getattr(api, method)(API + path.format(token=application.token))

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", f'Method "{method.upper()}" not allowed.')
    assert "Allow" in response
    assert Application.objects.get().name == "kept"


# No internal id


def test_no_internal_id_in_any_application_response(
    operator_api, django_capture_on_commit_callbacks
):
    ids_made_distinctive()
    ApplicationFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        created = operator_api.post(f"{API}/apps", {"name": "new"}, format="json")
    token = created.json()["token"]
    responses = [
        created,
        operator_api.get(app_url(token)),
        operator_api.patch(app_url(token), {"name": "renamed"}, format="json"),
        operator_api.put(app_url(token), {"name": "renamed again"}, format="json"),
        operator_api.get(f"{API}/apps?limit=1"),
        operator_api.get(f"{API}/apps?limit=2"),
        operator_api.post(f"{API}/apps", {"name": ""}, format="json"),
        operator_api.get(app_url(UNKNOWN_TOKEN)),
    ]
    # Follow the cursor links too: opaque, but they must not carry an id either.
    page = responses[4].json()
    while page["next"]:
        response = operator_api.get(page["next"])
        responses.append(response)
        page = response.json()
    back = operator_api.get(page["previous"]) if page["previous"] else None
    if back is not None:
        responses.append(back)

    ids = internal_ids()
    assert ids
    assert min(ids) > 7_000_000_000
    for response in responses:
        assert_no_internal_ids(response, ids=ids)
    assert len(responses) > 8


def test_error_bodies_are_json_even_for_an_empty_object(api):
    response = api.post(f"{API}/apps", json.dumps({}), content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
