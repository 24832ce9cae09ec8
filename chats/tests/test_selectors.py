"""chats.selectors on the real database and Redis: a chat persisted or still in the journal,
found either way.
"""

import pytest

from chats import selectors
from chats.models import Chat
from chats.records import ChatRecord
from chats.selectors import chat_locate
from chats.services import chat_create, chats_persist

pytestmark = pytest.mark.django_db


def test_a_chat_persisted_between_the_two_looks_is_found(
    application, monkeypatch, django_capture_on_commit_callbacks
):
    """chat_locate racing the worker: the row commits and the journal entry goes between its SQL
    look and its journal look. The worker's persist is injected at exactly that point."""
    chat = chat_create(token=application.token)
    journal_look = selectors.chat_pending

    def worker_commits_first(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            chats_persist(
                records=[ChatRecord(token=application.token, number=1, created_at=chat.created_at)]
            )
        return journal_look(**kwargs)

    monkeypatch.setattr(selectors, "chat_pending", worker_commits_first)

    found = chat_locate(application=application, number=1)

    assert (found.pk, found.number, found.created_at) == (
        Chat.objects.get().pk,
        1,
        chat.created_at,
    )
