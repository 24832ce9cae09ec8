"""Keeping the Elasticsearch index in step with the messages table.

The write services' signals reach ``search.tasks.messages_index_later`` once their transaction
has committed, naming the messages by (chat id, number) because
``bulk_create(ignore_conflicts=True)`` returns no ids on MySQL; rows written together are
indexed together, in one task and one bulk request. The task reads the rows as they are when it
runs, so a late task indexes the latest text, and each write carries ``updated_at`` as an
external version, so an older snapshot never overwrites a newer one. No write asks for
``refresh``: a document is searchable after the index's next refresh (1 second by default).
With the SQL backend the table is the index and nothing is done.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db.models import Q, QuerySet

from applications.models import Application
from chats.models import Chat
from messages_app.models import Message

logger = logging.getLogger(__name__)

BULK_TIMEOUT_SECONDS = 60.0
# Documents per bulk request.
BULK_CHUNK = 500


def messages_for_index() -> QuerySet[Message]:
    return Message.objects.select_related("chat__application")


def messages_batch_for_index(*, after_pk: int, size: int) -> list[Message]:
    """The next ``size`` messages by primary key, with their chats and applications loaded.

    No JOIN: MariaDB may drive a JOIN from the small chats table and sort the whole of the
    messages to find the next thousand by id. Three indexed reads instead: a range of the
    primary key, then the batch's chats and their applications by id (each once per batch).
    """
    batch = list(Message.objects.filter(pk__gt=after_pk).order_by("pk")[:size])
    chats = Chat.objects.in_bulk({message.chat_id for message in batch})
    applications = Application.objects.in_bulk({chat.application_id for chat in chats.values()})
    for chat in chats.values():
        chat.application = applications[chat.application_id]
    for message in batch:
        message.chat = chats[message.chat_id]
    return batch


def messages_index(*, keys: Iterable[Sequence[int]]) -> int:
    """Index the messages named by (chat id, number), as they are now; how many were sent."""
    numbers_by_chat: dict[int, set[int]] = defaultdict(set)
    for chat_id, number in keys:
        numbers_by_chat[chat_id].add(number)
    if not numbers_by_chat:
        return 0
    condition = Q()
    for chat_id, numbers in numbers_by_chat.items():
        condition |= Q(chat_id=chat_id, number__in=sorted(numbers))
    messages = list(messages_for_index().filter(condition))
    messages_bulk_index(messages)
    return len(messages)


def messages_bulk_index(messages: Sequence[Message], *, ensure_index: bool = True) -> None:
    """Send ``messages`` (with their chat and application loaded) in one bulk request.

    ``ensure_index=False`` skips the check that the index exists (a request of its own), for
    callers that made sure of it once (the reindex command).

    Raises ``BulkIndexError`` when Elasticsearch refuses a document, and a transport error when
    it cannot be reached: the task retries the whole batch, which is idempotent.
    """
    if not messages:
        return
    from elasticsearch.helpers import bulk

    from search.backends.elasticsearch import es_client
    from search.documents import MessageDocument

    if ensure_index:
        index_ensure()
    bulk(
        es_client().options(request_timeout=BULK_TIMEOUT_SECONDS),
        MessageDocument().get_actions(messages, "index"),
        chunk_size=max(BULK_CHUNK, len(messages)),
        # 409: the index already holds this message at the same or a newer version. That is
        # the versioning at work (a stale task, a second reindex), not a failure.
        ignore_status=(409,),
    )


def index_ensure() -> None:
    """Create the index with its mapping if it does not exist.

    Without this, the first bulk request to a missing index would create it with mappings
    guessed from the documents, and search would silently stop matching inside words.
    """
    from elasticsearch import BadRequestError

    from search.documents import MessageDocument

    index = MessageDocument._index
    if index.exists():
        return
    try:
        index.create()
    except BadRequestError as exc:  # created by another worker in between
        if exc.error != "resource_already_exists_exception":
            raise
    logger.info("created search index %s", index._name)


def index_recreate() -> None:
    """Delete the index (or the indices behind the alias of that name) and create it afresh."""
    from search.backends.elasticsearch import es_client
    from search.documents import MessageDocument

    index = MessageDocument._index
    client = es_client()
    if client.indices.exists_alias(name=index._name):
        for concrete in client.indices.get_alias(name=index._name):
            client.indices.delete(index=concrete)
    else:
        client.indices.delete(index=index._name, ignore_unavailable=True)
    index.create()


def application_unindex(*, token: str) -> None:
    """Remove every document of an application (deleted from the database) from the index.

    Best effort, and never raises: the rows are gone either way, and a token that answers 404
    is never searched; ``search_reindex --recreate`` drops what is left.
    """
    if not settings.ELASTICSEARCH_URL:
        return
    from search.backends.elasticsearch import es_client, index_name

    try:
        es_client().options(request_timeout=BULK_TIMEOUT_SECONDS).delete_by_query(
            index=index_name(),
            query={"prefix": {"chat": f"{token}-"}},
            conflicts="proceed",
            wait_for_completion=False,
        )
    except Exception:
        logger.exception("could not remove application %s… from the search index", token[:8])
