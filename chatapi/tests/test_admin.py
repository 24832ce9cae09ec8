"""Django admin at /admin/ (API.md, "Also served"): usable by staff on tables of any size."""

import re

import pytest
from django.test import Client

from applications.tests.factories import ApplicationFactory
from chats.tests.factories import ChatFactory
from messages_app.tests.factories import MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def message():
    application = ApplicationFactory(name="Acme 🚀")
    chats = [ChatFactory(application=application, number=n) for n in (1, 2, 3)]
    for number in (1, 2):
        MessageFactory(chat=chats[0], number=number, body=f"hello {number} 😀")
    return MessageFactory(chat=chats[1], number=1, body="the one")


def selects(html: str) -> dict[str, int]:
    """Each <select> of a page by name, with how many <option>s it has."""
    found = {}
    for match in re.finditer(r"<select[^>]*name=\"([^\"]+)\"[^>]*>(.*?)</select>", html, re.S):
        found[match.group(1)] = match.group(2).count("<option")
    return found


@pytest.mark.parametrize(
    "model", ["applications/application", "chats/chat", "messages_app/message"]
)
def test_a_superuser_can_open_each_changelist(staff, message, model):
    response = staff.get(f"/admin/{model}/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_changelists_show_the_rows(staff, message):
    assert "Acme 🚀" in staff.get("/admin/applications/application/").content.decode()
    chats = staff.get("/admin/chats/chat/").content.decode()
    assert chats.count('class="action-select"') == 3
    messages = staff.get("/admin/messages_app/message/").content.decode()
    assert messages.count('class="action-select"') == 3


def test_the_changelists_search_by_token(staff, message):
    token = message.chat.application.token
    ChatFactory(number=9)  # another application's

    for model, rows in (
        ("applications/application", 1),
        ("chats/chat", 3),
        ("messages_app/message", 3),
    ):
        response = staff.get(f"/admin/{model}/", {"q": token})
        assert response.status_code == 200, model
        assert response.content.decode().count('class="action-select"') == rows, model


def test_a_superuser_can_open_the_change_page_of_an_application(staff, message):
    application = message.chat.application

    response = staff.get(f"/admin/applications/application/{application.pk}/change/")

    assert response.status_code == 200
    assert application.token in response.content.decode()


@pytest.mark.parametrize(
    "model,field",
    [("chats/chat", "application"), ("messages_app/message", "chat")],
)
def test_the_change_pages_do_not_list_every_parent_in_a_select(staff, message, model, field):
    # Enough parents that a <select> of them would be obvious; a real table has millions.
    for _ in range(5):
        MessageFactory()
    obj = message if field == "chat" else message.chat

    response = staff.get(f"/admin/{model}/{obj.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert field not in selects(html)
    assert re.search(rf'<input[^>]*name="{field}"', html)  # a raw id input instead
    assert all(count < 5 for count in selects(html).values()), selects(html)


@pytest.mark.parametrize("model", ["chats/chat", "messages_app/message"])
def test_the_add_pages_do_not_list_every_parent_in_a_select(staff, message, model):
    response = staff.get(f"/admin/{model}/add/")

    assert response.status_code == 200
    assert "application" not in selects(response.content.decode())
    assert "chat" not in selects(response.content.decode())


def test_the_admin_requires_a_login(message):
    response = Client().get("/admin/applications/application/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
