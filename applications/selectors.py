from django.db.models import QuerySet

from applications.models import Application, NumberReservation, token_is_well_formed
from core.errors import NotFound


def application_list() -> QuerySet[Application]:
    return Application.objects.all()


def application_get(*, token: str) -> Application:
    if token_is_well_formed(token):
        application = Application.objects.filter(token=token).first()
        if application is not None:
            return application
    raise NotFound("No application with this token.")


def number_reservation_get(*, application: Application, chat_number: int) -> int:
    """The highest number reserved for a counter (pipeline.numbering), 0 if none."""
    found = (
        NumberReservation.objects.filter(application=application, chat_number=chat_number)
        .values_list("highest", flat=True)
        .first()
    )
    return found or 0


def application_ids_by_token(*, tokens: set[str]) -> dict[str, int]:
    """The ids of the applications that still exist among these tokens."""
    return dict(Application.objects.filter(token__in=tokens).values_list("token", "id"))
