import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.models import Application, NumberReservation
from applications.selectors import number_reservation_get
from core.errors import REDIS_UNAVAILABLE, NotFound, ServiceUnavailable
from pipeline.numbering import application_register, reserve, token_unknown_remember

logger = logging.getLogger(__name__)


def application_create(*, name: str) -> Application:
    """Create an application and make it known to the allocator, or neither.

    Registered before the commit: once the client has the token, its first chat needs no SQL
    and numbers from 1. Registering after the commit, best effort, would leave an application
    that Redis never knew looking like one whose counter Redis lost: its first chat would then
    jump by the allocator's reserve (pipeline.numbering). A token that Redis knows and SQL does
    not (the commit failed) was never given to anyone and is harmless.
    """
    now = timezone.now()
    with transaction.atomic():
        application = Application.objects.create(name=name, created_at=now, updated_at=now)
        try:
            application_register(token=application.token)
        except REDIS_UNAVAILABLE as exc:
            raise ServiceUnavailable(
                "Redis is unavailable, so the application was not created; retry."
            ) from exc
    return application


def application_update(*, application: Application, name: str | None) -> Application:
    if name is not None and name != application.name:
        application.name = name
        application.updated_at = timezone.now()
        application.save(update_fields=["name", "updated_at"])
    return application


def number_reservation_raise(*, application: Application, chat_number: int, highest: int) -> None:
    """Record that numbers up to ``highest`` of a counter may be handed out (pipeline.numbering).

    Raises the reservation, never lowers it. Statements in autocommit, not one transaction:
    concurrent reseeds of one counter (every request that met it after a restart) then neither
    deadlock on MariaDB's gap locks nor lose the highest value.
    """
    rows = NumberReservation.objects.filter(application=application, chat_number=chat_number)
    if rows.filter(highest__lt=highest).update(highest=highest) or rows.exists():
        return
    try:
        with transaction.atomic():
            NumberReservation.objects.create(
                application=application, chat_number=chat_number, highest=highest
            )
    except IntegrityError:  # created by a concurrent reseed meanwhile
        rows.filter(highest__lt=highest).update(highest=highest)


def application_to_reseed(*, token: str) -> Application:
    """The application whose counter the allocator asks to rebuild, or a remembered 404."""
    application = Application.objects.filter(token=token).first()
    if application is None:
        token_unknown_remember(token)
        raise NotFound("No application with this token.")
    return application


def counter_reseed(
    *, application: Application, chat_number: int, persisted: int, current: int | None
) -> int:
    """A safe new value for a counter Redis cannot vouch for (pipeline.numbering).

    Beyond every number that can have been handed out: the highest persisted, the highest
    reserved and what Redis still has, plus the allocator's reserve; reserved in SQL before it
    is returned. ``chat_number`` 0 is the application's chat counter.
    """
    reserved = number_reservation_get(application=application, chat_number=chat_number)
    seed = max(persisted, reserved, current or 0) + reserve()
    number_reservation_raise(application=application, chat_number=chat_number, highest=seed)
    return seed
