from django.db.models import Max, QuerySet

from applications.models import Application
from chats.models import CHATS_NUMBER_INDEX, Chat
from core.index_hints import index_force


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
