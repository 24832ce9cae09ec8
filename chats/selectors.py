from django.db.models import Max, QuerySet

from applications.models import Application
from chats.models import CHATS_NUMBER_INDEX, Chat
from chats.records import ChatRecord
from core.admin_pagination import capped_count
from core.errors import NotFound
from core.index_hints import index_force
from pipeline import keys
from pipeline.journal import pending, persisted_or_pending


def chat_list(*, application: Application) -> QuerySet[Chat]:
    """The application's chats, read through the (application, number) index."""
    return index_force(Chat.objects.filter(application_id=application.pk), CHATS_NUMBER_INDEX)


def chat_find(*, application: Application, number: int) -> Chat | None:
    return Chat.objects.filter(application=application, number=number).first()


def chat_created_with_key(*, token: str, key_hash: str, lowest: int) -> Chat | None:
    """The persisted chat created with this Idempotency-Key (its hash), if any.

    Only numbers from ``lowest`` up: the ones a lost window can have used (pipeline.numbering).
    """
    return Chat.objects.filter(
        application__token=token, number__gte=lowest, idempotency_key=key_hash
    ).first()


def chat_highest_number(*, application: Application) -> int:
    """The highest persisted chat number of an application, 0 if none (the allocator's reseed)."""
    return (
        Chat.objects.filter(application=application).aggregate(highest=Max("number"))["highest"]
        or 0
    )


def chat_pending(*, token: str, number: int) -> ChatRecord | None:
    """A chat that was accepted (201) but is not persisted yet."""
    return pending(ChatRecord, keys.chat_entry(token, number))


def chat_locate(*, application: Application, number: int) -> Chat:
    """A chat by number, persisted or accepted a moment ago (read your writes); NotFound when
    it is neither. An unsaved instance (``pk`` None) is a row still in the journal."""

    def journaled() -> Chat | None:
        record = chat_pending(token=application.token, number=number)
        return None if record is None else record.to_model()

    chat = persisted_or_pending(
        lambda: chat_find(application=application, number=number), journaled
    )
    if chat is None:
        raise NotFound(f"No chat {number} in this application.")
    return chat


def chat_ids_by_number(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The ids of the chats named by (application id, number), of those that exist."""
    if not pairs:
        return {}
    rows = Chat.objects.filter(
        application_id__in={app_id for app_id, _ in pairs},
        number__in={number for _, number in pairs},
    ).values_list("application_id", "number", "id")
    return {
        (app_id, number): chat_id for app_id, number, chat_id in rows if (app_id, number) in pairs
    }


def chats_of_application_count(application_id: int) -> int:
    """How many chats an application has, capped (core.admin_pagination.capped_count)."""
    return capped_count(Chat.objects.filter(application_id=application_id))


def chat_ids_of_application(*, application_id: int, after: int, limit: int) -> list[int]:
    """The ids of an application's chats above ``after``, by id: a walk in bounded steps."""
    return list(
        Chat.objects.filter(application_id=application_id, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
