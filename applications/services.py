import logging

import redis
from django.db import transaction
from django.utils import timezone

from applications.models import Application
from chatapi.counting import children_count_refresh
from chatapi.numbering import application_register
from chats.models import Chat

logger = logging.getLogger(__name__)


def _register_with_allocator(token: str) -> None:
    # Best effort: if Redis is down now, the allocator re-seeds this application from SQL on
    # its first chat instead (chatapi.numbering).
    try:
        application_register(token=token)
    except (redis.ConnectionError, redis.TimeoutError):
        logger.warning("could not register application %s… with Redis", token[:8])


def application_create(*, name: str) -> Application:
    now = timezone.now()
    with transaction.atomic():
        application = Application.objects.create(name=name, created_at=now, updated_at=now)
        transaction.on_commit(lambda: _register_with_allocator(application.token))
    return application


def application_update(*, application: Application, name: str | None) -> Application:
    if name is not None and name != application.name:
        application.name = name
        application.updated_at = timezone.now()
        application.save(update_fields=["name", "updated_at"])
    return application


def chats_count_refresh(*, application_ids: list[int] | None = None) -> int:
    """Recompute ``chats_count`` from the chats table, for some applications or all of them."""
    return children_count_refresh(
        parent=Application,
        child=Chat,
        link="application",
        field="chats_count",
        parent_ids=application_ids,
    )
