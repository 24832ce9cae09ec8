"""Django admin at /admin/ (API.md, "Also served"): safe and bounded at any size.

Real database and real Redis throughout: the admin's writes go through the same services as the
API, so what is checked here is what the API then answers.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications import deletion
from applications.models import Application, token_is_well_formed
from applications.tests.factories import ApplicationFactory
from chats.models import Chat
from chats.tests.factories import ChatFactory
from core import admin_pagination
from messages_app.models import Message
from messages_app.tests.factories import MessageFactory
from pipeline import keys
from pipeline.numbering import application_known
from search.models import PendingMessage
from tests.support.contract import API

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client) -> Client:
    return admin_client


@pytest.fixture
def message():
    application = ApplicationFactory(name="Acme 🚀")
    chats = [ChatFactory(application=application, number=n) for n in (1, 2, 3)]
    for number in (1, 2):
        MessageFactory(chat=chats[0], number=number, body=f"hello {number} 😀")
    return MessageFactory(chat=chats[1], number=1, body="the one")


def rows(html: str) -> int:
    """How many rows a change list shows."""
    body = re.search(r'<table id="result_list">.*?<tbody>(.*?)</tbody>', html, re.S)
    return 0 if body is None else body.group(1).count("<tr")


CHANGELISTS = ["applications/application", "chats/chat", "messages_app/message"]


@pytest.mark.parametrize("model", CHANGELISTS)
def test_a_superuser_can_open_each_changelist(staff, message, model):
    response = staff.get(f"/admin/{model}/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_changelists_show_the_rows(staff, message):
    assert "Acme 🚀" in staff.get("/admin/applications/application/").content.decode()
    assert rows(staff.get("/admin/chats/chat/").content.decode()) == 3
    assert rows(staff.get("/admin/messages_app/message/").content.decode()) == 3


def test_the_changelists_search_by_token(staff, message):
    token = message.chat.application.token
    ChatFactory(number=9)  # another application's

    for model, count in zip(CHANGELISTS, (1, 3, 3), strict=True):
        response = staff.get(f"/admin/{model}/", {"q": token})
        assert response.status_code == 200, model
        assert rows(response.content.decode()) == count, model


def test_messages_are_searched_by_token_and_chat_number_and_body(staff, message):
    token = message.chat.application.token
    url = "/admin/messages_app/message/"

    assert rows(staff.get(url, {"q": f"{token} 1"}).content.decode()) == 2
    assert rows(staff.get(url, {"q": f"{token} 1 HELLO 2"}).content.decode()) == 1
    assert rows(staff.get(url, {"q": f"{token} 7"}).content.decode()) == 0
    chat_id = message.chat_id
    assert rows(staff.get(url, {"chat__id__exact": chat_id, "q": "one"}).content.decode()) == 1
    # Words of a body over every chat would read the whole table: nothing, and no error.
    assert rows(staff.get(url, {"q": "hello"}).content.decode()) == 0


def test_the_search_box_says_what_it_searches(staff, message):
    for model in CHANGELISTS:
        html = staff.get(f"/admin/{model}/").content.decode()
        assert 'class="help"' in html and "token" in html, model


def test_a_message_row_previews_its_body_and_links_to_its_chat(staff, message):
    MessageFactory(chat=message.chat, number=2, body="x" * 500)

    html = staff.get("/admin/messages_app/message/").content.decode()

    assert "x" * 79 + "…" in html and "x" * 80 not in html
    assert f"?chat__id__exact={message.chat_id}" in html


def test_applications_link_to_their_chats_and_chats_to_their_messages(staff, message):
    application = message.chat.application

    apps = staff.get("/admin/applications/application/").content.decode()
    chats = staff.get("/admin/chats/chat/", {"application__id__exact": application.pk})

    assert f"/admin/chats/chat/?application__id__exact={application.pk}" in apps
    assert rows(chats.content.decode()) == 3
    assert f"/admin/messages_app/message/?chat__id__exact={message.chat_id}" in (
        chats.content.decode()
    )


def test_a_messages_link_lists_that_chat_only(staff, message):
    response = staff.get("/admin/messages_app/message/", {"chat__id__exact": message.chat_id})

    assert rows(response.content.decode()) == 1


# --- bounded queries -------------------------------------------------------------------------


BOUNDED_PAGES = [
    "/admin/applications/application/",
    "/admin/chats/chat/",
    "/admin/messages_app/message/",
    "/admin/messages_app/message/?p=2",
    "/admin/messages_app/message/?q={token}",
    "/admin/messages_app/message/?q={token}+1+hello",
    "/admin/messages_app/message/?chat__id__exact={chat}",
    "/admin/messages_app/message/?application={application}",
    "/admin/chats/chat/?q={token}",
    "/admin/chats/chat/?application__id__exact={application}",
]


@pytest.mark.parametrize("page", BOUNDED_PAGES)
def test_no_changelist_joins_counts_the_whole_table_or_sorts_it(staff, message, page):
    for number in range(3, 120):  # more than a page
        MessageFactory(chat=message.chat, number=number)
    application = message.chat.application
    url = page.format(token=application.token, chat=message.chat_id, application=application.pk)

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url)

    assert response.status_code == 200
    ours = [q["sql"] for q in queries if re.search(r"\b(messages|chats|applications)\b", q["sql"])]
    for sql in ours:
        assert " JOIN " not in sql, sql
        if "COUNT(" in sql:
            assert "LIMIT 10001" in sql, sql  # the capped paginator's
    assert len(queries) <= 12, [q["sql"] for q in queries]


def test_past_the_count_cap_the_paginator_says_more_than(staff, message, monkeypatch):
    monkeypatch.setattr(admin_pagination, "COUNT_CAP", 2)

    html = staff.get("/admin/messages_app/message/").content.decode()

    assert "More than 2 messages" in html
    assert "search or filter to reach the others" in html


def test_a_page_past_the_cap_says_why_and_shows_the_last_one(staff, message, monkeypatch):
    monkeypatch.setattr(admin_pagination, "COUNT_CAP", 2)
    for number in range(3, 10):
        MessageFactory(chat=message.chat, number=number)

    response = staff.get("/admin/messages_app/message/", {"p": "50", "q": ""}, follow=True)

    ((location, status),) = response.redirect_chain
    assert status == 302 and "p=1" in location
    assert "Only the first 2 rows of this list are paged" in response.content.decode()


def test_columns_do_not_sort_the_whole_table(staff, message):
    html = staff.get("/admin/messages_app/message/").content.decode()

    assert "sortable" not in html


# --- add -------------------------------------------------------------------------------------


def test_adding_an_application_goes_through_the_service(
    staff, api, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post("/admin/applications/application/add/", {"name": "Added 🚀"})

    assert response.status_code == 302, response.content.decode()[:2000]
    application = Application.objects.get(name="Added 🚀")
    assert token_is_well_formed(application.token)
    assert application.created_at == application.updated_at
    assert timezone.now() - application.created_at < timedelta(minutes=1)
    # Redis knows it: its first chat is numbered without a look at SQL.
    assert application_known(token=application.token)
    with django_assert_num_queries(0):
        created = api.post(f"{API}/apps/{application.token}/chats")
    assert created.status_code == 201 and created.json()["number"] == 1


def test_the_add_page_asks_only_for_a_name(staff):
    html = staff.get("/admin/applications/application/add/").content.decode()

    assert 'name="name"' in html
    assert 'name="token"' not in html and 'name="created_at"' not in html


def test_the_change_page_of_an_application_shows_it_read_only_but_its_name(staff, message):
    application = message.chat.application

    html = staff.get(f"/admin/applications/application/{application.pk}/change/").content
    html = html.decode()

    assert application.token in html
    assert re.search(r'<input[^>]*name="name"', html)
    assert not re.search(r'<input[^>]*name="(token|created_at|chats_count)"', html)
    assert f"/admin/chats/chat/?application__id__exact={application.pk}" in html


def test_the_change_page_of_a_chat_is_read_only(staff, message):
    html = staff.get(f"/admin/chats/chat/{message.chat_id}/change/").content.decode()

    assert not re.search(r"<(input|select|textarea)[^>]*name=\"(number|application)", html)
    assert f"?chat__id__exact={message.chat_id}" in html


def test_renaming_an_application_moves_its_updated_at(staff, message):
    application = message.chat.application
    before = application.updated_at

    response = staff.post(
        f"/admin/applications/application/{application.pk}/change/", {"name": "Renamed"}
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.name == "Renamed" and application.updated_at > before


@pytest.mark.parametrize("model", ["chats/chat", "messages_app/message"])
def test_chats_and_messages_are_created_through_the_api_only(staff, message, model):
    assert staff.get(f"/admin/{model}/add/").status_code == 403
    assert f"/admin/{model}/add/" not in staff.get(f"/admin/{model}/").content.decode()


# --- edit ------------------------------------------------------------------------------------


def test_editing_a_message_goes_through_the_service(
    staff, message, settings, django_capture_on_commit_callbacks
):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"  # only recorded here, never sent
    created, updated = message.created_at, message.updated_at
    url = f"/admin/messages_app/message/{message.pk}/change/"

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url, {"body": "edited ✏️", "number": 99, "created_at": "2000-01-01"})

    assert response.status_code == 302, response.content.decode()[:2000]
    message.refresh_from_db()
    assert message.body == "edited ✏️"
    assert message.updated_at > updated
    assert (message.number, message.created_at) == (1, created)  # read-only
    # The search index follows, as after a PATCH: the edit is in the search outbox.
    assert list(PendingMessage.objects.values_list("chat_id", "number")) == [(message.chat_id, 1)]


def test_an_edit_page_shows_number_and_timestamps_read_only(staff, message):
    html = staff.get(f"/admin/messages_app/message/{message.pk}/change/").content.decode()

    assert re.search(r'<textarea[^>]*name="body"', html)
    for field in ("number", "created_at", "updated_at", "chat", "token"):
        assert not re.search(rf'<(input|select)[^>]*name="{field}"', html), field


def test_a_blank_body_is_refused(staff, message):
    response = staff.post(f"/admin/messages_app/message/{message.pk}/change/", {"body": "   "})

    assert response.status_code == 200  # the form again, with its error
    message.refresh_from_db()
    assert message.body == "the one"


def test_an_admin_edit_survives_a_late_persist_of_the_journal_entry(
    staff, token, api, django_capture_on_commit_callbacks
):
    """The row was written, its journal entry not yet cleared (the drain's lease ran out):
    the entry is written again after the edit, and must not bring the old body back."""
    from pipeline.journal import journal_claim
    from pipeline.registry import records_persist

    api.post(f"{API}/apps/{token}/chats")
    api.post(f"{API}/apps/{token}/chats/1/messages", {"body": "first"}, format="json")
    claims = journal_claim(keys.partition_of(token), limit=10, lease_seconds=30)
    records_persist(
        [c.record() for c in claims]
    )  # written; on-commit (which clears the journal) not run
    row = Message.objects.get(chat__application__token=token, number=1)

    staff.post(f"/admin/messages_app/message/{row.pk}/change/", {"body": "edited"})
    with django_capture_on_commit_callbacks(execute=True):
        records_persist(
            [c.record() for c in claims]
        )  # the same entries, claimed again after their lease

    row.refresh_from_db()
    assert row.body == "edited"
    assert api.get(f"{API}/apps/{token}/chats/1/messages/1").json()["body"] == "edited"


# --- delete ----------------------------------------------------------------------------------


def test_the_delete_page_of_an_application_counts_instead_of_listing(staff, message):
    application = message.chat.application

    html = staff.get(f"/admin/applications/application/{application.pk}/delete/").content
    html = html.decode()

    assert "3 chats" in html and "3 messages" in html
    assert "hello 1" not in html and "message 1" not in html and "chat 1" not in html


def test_deleting_a_small_application_deletes_it_and_its_token_answers_404(
    staff, api, token, django_capture_on_commit_callbacks
):
    application = Application.objects.get(token=token)
    chat = ChatFactory(application=application, number=1)
    MessageFactory(chat=chat, number=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            f"/admin/applications/application/{application.pk}/delete/", {"post": "yes"}
        )

    assert response.status_code == 302
    assert not Application.objects.filter(pk=application.pk).exists()
    assert not Chat.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.filter(chat_id=chat.pk).exists()
    assert not application_known(token=token)
    assert api.post(f"{API}/apps/{token}/chats").status_code == 404


def test_a_large_application_is_refused_with_the_command_to_run(staff, message, monkeypatch):
    monkeypatch.setattr(deletion, "ADMIN_DELETE_MAX", 4)  # it has 3 chats and 3 messages
    application = message.chat.application
    url = f"/admin/applications/application/{application.pk}/delete/"

    html = staff.get(url).content.decode()
    staff.post(url, {"post": "yes"})

    assert f"manage.py application_delete {application.token}" in html
    assert Application.objects.filter(pk=application.pk).exists()
    assert Message.objects.count() == 3


def test_a_chat_is_not_deleted_on_its_own(staff, message):
    url = f"/admin/chats/chat/{message.chat_id}/delete/"

    html = staff.get(url).content.decode()
    staff.post(url, {"post": "yes"})

    assert "Delete its application instead" in html and "the one" not in html
    assert Chat.objects.filter(pk=message.chat_id).exists()
    assert Message.objects.filter(pk=message.pk).exists()


def test_messages_are_not_deleted_in_the_admin(staff, message):
    assert staff.get(f"/admin/messages_app/message/{message.pk}/delete/").status_code == 403


def test_no_bulk_delete_action_lists_every_related_row(staff, message):
    for model in CHANGELISTS:
        html = staff.get(f"/admin/{model}/").content.decode()
        assert "delete_selected" not in html, model


def test_the_admin_requires_a_login(message):
    response = Client().get("/admin/applications/application/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_application_delete_command_deletes_in_batches(
    api, token, monkeypatch, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setattr(deletion, "DELETE_BATCH", 2)
    application = Application.objects.get(token=token)
    for number in (1, 2, 3):
        chat = ChatFactory(application=application, number=number)
        for message_number in range(1, 6):
            MessageFactory(chat=chat, number=message_number)
    out = StringIO()

    call_command("application_delete", token, "--yes", "--no-progress", stdout=out)

    assert "3 chats and 15 messages" in out.getvalue()
    assert not Application.objects.filter(token=token).exists()
    assert not Message.objects.exists() and not Chat.objects.exists()
    assert api.post(f"{API}/apps/{token}/chats").status_code == 404
