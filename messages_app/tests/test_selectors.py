"""messages_app.selectors on the real database and Redis: a message persisted or still in the
journal, found either way.
"""

from collections.abc import Callable

import pytest
from django.utils import timezone

from applications.models import Application
from chatapi.celery import app as celery_app
from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from core.errors import NotFound
from messages_app import selectors
from messages_app.models import Message
from messages_app.records import MessageRecord
from messages_app.selectors import message_locate
from messages_app.services import message_create, messages_persist
from pipeline import keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to run queued tasks in-process, for tests of what a task body does."""

    def switch_on() -> None:
        monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
        monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    return switch_on


def part(application: Application) -> int:
    """The application's partition of the journal (pipeline.keys)."""
    return keys.partition_of(application.token)


def record(token: str, chat_number: int, number: int, body: str, at=None) -> MessageRecord:
    at = at or timezone.now()
    return MessageRecord(
        token=token,
        chat_number=chat_number,
        number=number,
        body=body,
        created_at=at,
        updated_at=at,
    )


def test_a_message_persisted_between_the_two_looks_is_found(
    application, monkeypatch, django_capture_on_commit_callbacks
):
    """message_locate racing the worker: chat and message rows commit and their journal entries go
    between the SQL look and the journal look. The persist is injected at exactly that point."""
    chat = chat_create(token=application.token)
    message = message_create(
        token=application.token, chat_number=chat.number, content={"body": "racy"}
    )
    journal_look = selectors.message_pending

    def worker_commits_first(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            chats_persist(
                records=[ChatRecord(token=application.token, number=1, created_at=chat.created_at)]
            )
            messages_persist(
                records=[record(application.token, 1, 1, "racy", at=message.created_at)]
            )
        return journal_look(**kwargs)

    monkeypatch.setattr(selectors, "message_pending", worker_commits_first)

    found = message_locate(application=application, chat_number=1, number=1)

    assert (found.pk, found.body) == (Message.objects.get().pk, "racy")


def test_message_locate_says_which_is_unknown(application):
    chat_create(token=application.token)  # chat 1, pending: no message 1 in it yet

    with pytest.raises(NotFound, match=r"^No message 1 in chat 1\.$"):
        message_locate(application=application, chat_number=1, number=1)
    with pytest.raises(NotFound, match=r"^No chat 2 in this application\.$"):
        message_locate(application=application, chat_number=2, number=1)
