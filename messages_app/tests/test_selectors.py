"""messages_app.selectors on the real database and Redis: a message persisted or still in the
journal, found either way.
"""

import pytest

from chats.records import ChatRecord
from chats.services import chat_create, chats_persist
from core.errors import NotFound
from messages_app import selectors
from messages_app.models import Message
from messages_app.selectors import message_locate
from messages_app.services import message_create, messages_persist
from tests.support.records import record

pytestmark = pytest.mark.django_db


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
