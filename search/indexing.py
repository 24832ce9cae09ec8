"""Keeping the Elasticsearch index in step with the database: the outbox drain, and the reindex.

Every create and edit is recorded in the outbox (search.models) in its own transaction
(search.outbox). ``outbox_drain`` sends what it holds, in bulk, and deletes a row only once the
engine acknowledged its write; an engine that cannot be reached, or that refuses a document,
leaves the rows for the next drain (queued after each commit and by beat, search.tasks). One
drain runs at a time (a Redis lock, held for ``DRAIN_LOCK_SECONDS`` and renewed per batch), so
an application's documents are dropped only after every write of it that was read before.

Each write carries the row as it is when the drain reads it and ``updated_at`` as an external
version, so an older snapshot never overwrites a newer one. No write asks for ``refresh``: a
document is searchable after the index's next refresh (1 second by default). With the SQL
backend the table is the index and nothing is recorded or sent.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from elasticsearch import ApiError, TransportError
from redis.exceptions import LockError

from applications.models import Application
from chats.models import Chat
from core.redis_client import redis_connection, redis_key
from messages_app.models import Message
from search.models import PendingApplicationRemoval, PendingMessage

logger = logging.getLogger(__name__)

# The reindex command's bulk requests: a batch of a thousand documents at database speed.
BULK_TIMEOUT_SECONDS = 60.0
# A drain killed with the lock held (SIGKILL, a lost host) blocks the next ones this long.
DRAIN_LOCK_SECONDS = 20
# 409 on an external version: the index holds this message at the same or a newer version.
# That is the versioning at work (a second drain, a reindex meanwhile), not a failure.
ALREADY_CURRENT = 409

MessageKey = tuple[int, int]


@dataclass(frozen=True)
class DrainOutcome:
    """What one drain did: messages acknowledged, applications removed, and whether it left
    rows behind because its time ran out, or because the engine failed or refused some."""

    sent: int = 0
    removed_applications: int = 0
    out_of_time: bool = False
    failed: bool = False
    skipped: bool = False  # another drain held the lock


def outbox_drain(*, seconds: float | None = None) -> DrainOutcome:
    """Send the outbox to the engine, in bulk, for at most ``seconds`` (SEARCH_DRAIN_SECONDS).

    One drain at a time. A drain that finds the lock taken leaves a "drain again" mark for the
    one holding it, which goes round once more before it stops, and checks the mark again
    after it let go of the lock: rows committed while a drain was running never wait for
    beat's sweep. Never raises for the engine: an outage ends the drain, rows still pending.
    """
    if not settings.ELASTICSEARCH_URL:
        return DrainOutcome()
    redis = redis_connection()
    again = redis_key("search", "drain-again")
    redis.set(again, 1, ex=DRAIN_LOCK_SECONDS)
    deadline = time.monotonic() + (settings.SEARCH_DRAIN_SECONDS if seconds is None else seconds)
    done = DrainOutcome(skipped=True)
    while True:
        lock = redis.lock(redis_key("search", "drain-lock"), timeout=DRAIN_LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            return done
        try:
            while redis.delete(again):
                done = _drain_round(done, deadline=deadline, renew=lock.reacquire)
                if done.failed or done.out_of_time:
                    return done
        finally:
            try:
                lock.release()
            except LockError:  # held past its timeout and taken by another drain meanwhile
                pass
        if not redis.exists(again):
            return done


def _drain_round(
    before: DrainOutcome, *, deadline: float, renew: Callable[[], object]
) -> DrainOutcome:
    """One pass over the outbox, added to what the drain did before it."""
    sent = removed = 0
    try:
        index_ensure()
        sent, out_of_time, refused = _messages_drain(deadline=deadline, renew=renew)
        removed = _removals_drain()
    except (ApiError, TransportError) as exc:
        # The engine is down, hung (a timeout) or refusing: what was acknowledged is gone from
        # the outbox, the rest waits for the next drain.
        logger.warning("search outbox drain stopped: %r; the rest stays pending", exc)
        out_of_time, refused = False, True
    return DrainOutcome(
        sent=before.sent + sent,
        removed_applications=before.removed_applications + removed,
        out_of_time=out_of_time,
        failed=refused,
    )


def _messages_drain(*, deadline: float, renew: Callable[[], object]) -> tuple[int, bool, bool]:
    """Batches of outbox rows, oldest first: how many messages were sent, whether time ran
    out with rows left, and whether the engine refused some."""
    batch_size = settings.SEARCH_DRAIN_BATCH
    after_pk, sent, refused = 0, 0, False
    while True:
        if time.monotonic() > deadline:
            return sent, True, refused
        rows = list(
            PendingMessage.objects.filter(pk__gt=after_pk)
            .order_by("pk")
            .values_list("pk", "chat_id", "number")[:batch_size]
        )
        if not rows:
            return sent, False, refused
        after_pk = rows[-1][0]
        done = messages_index(keys={(chat_id, number) for _, chat_id, number in rows})
        acknowledged = [pk for pk, chat_id, number in rows if (chat_id, number) in done]
        PendingMessage.objects.filter(pk__in=acknowledged).delete()
        sent += len(done)
        # Refused rows stay behind (after_pk moves past them): the next drain tries them again.
        refused = refused or len(acknowledged) < len(rows)
        renew()
        if len(rows) < batch_size:
            return sent, False, refused


def _removals_drain() -> int:
    """Drop the documents of every application whose rows are all gone; how many.

    An application still there is still being deleted: its messages may yet be indexed, so
    its row waits (a deletion interrupted halfway waits, visibly, until it is run again).
    """
    pending = list(PendingApplicationRemoval.objects.order_by("pk"))
    if not pending:
        return 0
    alive = set(
        Application.objects.filter(pk__in={row.application_id for row in pending}).values_list(
            "pk", flat=True
        )
    )
    gone = {row.token for row in pending if row.application_id not in alive}
    for token in sorted(gone):
        application_unindex(token=token)
        PendingApplicationRemoval.objects.filter(token=token).delete()
    return len(gone)


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


def messages_index(*, keys: Iterable[Sequence[int]]) -> set[MessageKey]:
    """Send the messages named by (chat id, number), as they are now, in one bulk request.

    Returns the keys the engine acknowledged, with those that have no row (deleted since):
    there is nothing to send for them. A document the engine refused is left out, and a
    transport error (the engine down, a timeout) is raised: nothing is acknowledged then.
    """
    numbers_by_chat: dict[int, set[int]] = defaultdict(set)
    for chat_id, number in keys:
        numbers_by_chat[chat_id].add(number)
    if not numbers_by_chat:
        return set()
    condition = Q()
    for chat_id, numbers in numbers_by_chat.items():
        condition |= Q(chat_id=chat_id, number__in=sorted(numbers))
    messages = list(messages_for_index().filter(condition))
    wanted = {
        (chat_id, number) for chat_id, numbers in numbers_by_chat.items() for number in numbers
    }
    refused = _bulk_send(messages, timeout=settings.SEARCH_INDEX_TIMEOUT)
    from search.documents import MessageDocument

    return wanted - {
        (message.chat_id, message.number)
        for message in messages
        if MessageDocument.generate_id(message) in refused
    }


def messages_bulk_index(messages: Sequence[Message], *, ensure_index: bool = True) -> None:
    """Send ``messages`` (with their chat and application loaded) in one bulk request.

    For the reindex command: ``ensure_index=False`` skips the check that the index exists (a
    request of its own), for callers that made sure of it once. Raises ``BulkIndexError`` when
    Elasticsearch refuses a document, and a transport error when it cannot be reached.
    """
    if not messages:
        return
    from elasticsearch.helpers import BulkIndexError

    if ensure_index:
        index_ensure()
    refused = _bulk_send(messages, timeout=BULK_TIMEOUT_SECONDS)
    if refused:
        raise BulkIndexError(f"{len(refused)} document(s) failed to index.", list(refused.values()))


def _bulk_send(messages: Sequence[Message], *, timeout: float) -> dict[str, dict]:
    """One bulk request; the refused documents by id, with the engine's answer for each.

    A 400 for the whole request (one action the engine cannot even parse) is split in halves
    and sent again, down to that one document, which is then refused alone: one bad row never
    holds back the others.
    """
    if not messages:
        return {}
    from elasticsearch import BadRequestError
    from elasticsearch.helpers import bulk

    from search.backends.elasticsearch import es_client
    from search.documents import MessageDocument

    try:
        _ok, errors = bulk(
            es_client().options(request_timeout=timeout, max_retries=0),
            MessageDocument().get_actions(messages, "index"),
            chunk_size=len(messages),
            max_chunk_bytes=200 * 1024 * 1024,
            raise_on_error=False,
        )
    except BadRequestError as exc:
        if len(messages) == 1:
            document_id = MessageDocument.generate_id(messages[0])
            logger.warning("the search engine refused document %s: %s", document_id, exc)
            return {document_id: {"status": 400, "error": str(exc)}}
        half = len(messages) // 2
        return {
            **_bulk_send(messages[:half], timeout=timeout),
            **_bulk_send(messages[half:], timeout=timeout),
        }
    refused: dict[str, dict] = {}
    for error in errors if isinstance(errors, list) else []:
        for item in error.values():
            if item.get("status") != ALREADY_CURRENT:
                refused[str(item.get("_id"))] = item
    if refused:
        first = next(iter(refused.values()))
        logger.warning(
            "the search engine refused %d of %d documents, e.g. %s",
            len(refused),
            len(messages),
            first.get("error"),
        )
    return refused


def index_ensure() -> None:
    """Create the index with its mapping if it does not exist.

    Without this, the first bulk request to a missing index would create it with mappings
    guessed from the documents, and search would silently stop matching inside words.
    """
    from elasticsearch import BadRequestError

    from search.backends.elasticsearch import es_client
    from search.documents import MessageDocument

    # The drain's short timeout, no retry: a hung engine holds a drain for one request.
    client = es_client().options(request_timeout=settings.SEARCH_INDEX_TIMEOUT, max_retries=0)
    index = MessageDocument._index
    if index.exists(using=client):
        return
    try:
        index.create(using=client)
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
    """Remove every document of an application from the index (its rows are gone).

    Makes what was indexed so far visible to the delete first (a refresh), so a write sent a
    moment ago is removed too. Raises if the engine does not acknowledge the request: the
    outbox row stays and the next drain asks again. The engine deletes in the background.
    """
    from search.backends.elasticsearch import es_client, index_name

    client = es_client().options(request_timeout=settings.SEARCH_INDEX_TIMEOUT, max_retries=0)
    client.indices.refresh(index=index_name())
    client.delete_by_query(
        index=index_name(),
        query={"prefix": {"chat": f"{token}-"}},
        conflicts="proceed",
        wait_for_completion=False,
    )
