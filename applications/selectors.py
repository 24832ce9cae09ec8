from django.db.models import Max, QuerySet

from applications.models import Application, token_is_well_formed
from chatapi.errors import NotFound


def application_list() -> QuerySet[Application]:
    return Application.objects.all()


def application_get(*, token: str) -> Application:
    if token_is_well_formed(token):
        application = Application.objects.filter(token=token).first()
        if application is not None:
            return application
    raise NotFound("No application with this token.")


def application_highest_chat_number(token: str) -> int | None:
    """The highest persisted chat number, 0 if none, None if there is no such application.

    Used only to re-seed the Redis allocator after Redis lost the application's counter.
    """
    found = (
        Application.objects.filter(token=token)
        .annotate(highest=Max("chats__number"))
        .values_list("highest", flat=True)
        .first()
    )
    if found is None and not Application.objects.filter(token=token).exists():
        return None
    return found or 0
