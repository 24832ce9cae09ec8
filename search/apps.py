from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.backends.signals import connection_created


class SearchConfig(AppConfig):
    name = "search"

    def ready(self) -> None:
        from applications.signals import application_deleting
        from messages_app.signals import messages_edited, messages_persisted
        from search.backends.sql import sqlite_functions_register
        from search.receivers import on_application_deleting, on_messages_written

        connection_created.connect(sqlite_functions_register, dispatch_uid="search-sqlite-fold")
        # The write services send these inside their transactions: the outbox rows commit with
        # the rows they name (search.receivers, search.outbox).
        messages_persisted.connect(on_messages_written, dispatch_uid="search-outbox-persisted")
        messages_edited.connect(on_messages_written, dispatch_uid="search-outbox-edited")
        application_deleting.connect(on_application_deleting, dispatch_uid="search-outbox-removal")
        setting_changed.connect(_elasticsearch_reconfigure, dispatch_uid="search-es-settings")


def _elasticsearch_reconfigure(*, setting: str, value: Any, **kwargs: Any) -> None:
    """Point the client registry at the new ELASTICSEARCH_DSL when a test overrides it."""
    if setting == "ELASTICSEARCH_DSL":
        from elasticsearch.dsl.connections import connections

        connections.configure(**(value or {}))
