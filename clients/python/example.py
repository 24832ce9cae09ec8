"""A first hour with the chat API, through the Python client generated from its OpenAPI schema.

    openapi-python-client generate --url http://127.0.0.1:8000/api/schema/?format=json \
        --config clients/python/openapi-python-client.yaml
    PYTHONPATH=chat-api-client python clients/python/example.py http://127.0.0.1:8000

CI generates the client, type-checks it and this script with ``mypy --strict``, and runs it
against a live server (tests/clients/test_python_client.py). Every call is typed: a success
is a model (``Application``, ``Chat``, ``Message``, ``MessagePage``), an error is ``ApiError``
(the schema's ``Error``).
"""

import sys
import time
import uuid

from chat_api_client import Client
from chat_api_client.api.applications import applications_create
from chat_api_client.api.chats import chats_create, chats_get
from chat_api_client.api.messages import messages_create, messages_list
from chat_api_client.api.search import search_messages
from chat_api_client.models import (
    ApiError,
    Application,
    ApplicationCreate,
    Chat,
    Message,
    MessageCreate,
    MessagePage,
    SearchPage,
)

BODIES = ["Hello, World!", "Hello again 👋", "How are you?", "Fine, thanks.", "Bye, world"]


def main(base_url: str) -> None:
    client = Client(base_url=base_url, raise_on_unexpected_status=True)

    application = applications_create.sync(client=client, body=ApplicationCreate(name="demo"))
    assert isinstance(application, Application), application
    token = application.token
    print(f"application {application.name!r}: token {token[:8]}…")

    chat = chats_create.sync(token, client=client)
    assert isinstance(chat, Chat), chat
    print(f"chat {chat.number}")

    numbers = []
    for body in BODIES:
        message = messages_create.sync(token, chat.number, client=client, body=MessageCreate(body))
        assert isinstance(message, Message), message
        numbers.append(message.number)
    print(f"messages {numbers}")

    # The same Idempotency-Key twice: one message, the same answer.
    key = str(uuid.uuid4())
    first = messages_create.sync(
        token, chat.number, client=client, body=MessageCreate("once"), idempotency_key=key
    )
    again = messages_create.sync(
        token, chat.number, client=client, body=MessageCreate("once"), idempotency_key=key
    )
    assert isinstance(first, Message) and isinstance(again, Message)
    assert again.number == first.number
    print(f"idempotent replay: message {again.number} both times")

    # Lists show persisted messages: wait for the worker, then page through with `next`.
    wanted = len(BODIES) + 1
    deadline = time.monotonic() + 20
    while True:
        page = messages_list.sync(token, chat.number, client=client, limit=2)
        assert isinstance(page, MessagePage), page
        everything = _all_pages(client, page)
        if len(everything) == wanted or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [message.number for message in everything] == list(range(1, wanted + 1))
    print(f"paged with next, 2 a page: {[message.number for message in everything]}")

    found = search_messages.sync(token, chat.number, client=client, q="ell wor")
    assert isinstance(found, SearchPage), found
    print(f"search 'ell wor': {sorted(message.body for message in found.results)}")

    missing = chats_get.sync_detailed(token, 999, client=client)
    assert missing.status_code == 404 and isinstance(missing.parsed, ApiError)
    print(f"404 {missing.parsed.error.code}: {missing.parsed.error.message}")

    blank = messages_create.sync_detailed(token, chat.number, client=client, body=MessageCreate(""))
    assert blank.status_code == 400 and isinstance(blank.parsed, ApiError)
    fields = blank.parsed.error.fields
    assert fields and fields["body"] == ["This field may not be blank."]
    print(f"400 {blank.parsed.error.code}: body: {fields['body'][0]}")


def _all_pages(client: Client, page: MessagePage) -> list[Message]:
    """Every message from ``page`` on, following each ``next`` link as it is."""
    messages = list(page.results)
    while isinstance(page.next_, str):
        response = client.get_httpx_client().get(page.next_)
        response.raise_for_status()
        page = MessagePage.from_dict(response.json())
        messages.extend(page.results)
    return messages


if __name__ == "__main__":
    main(sys.argv[1])
