from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"

    def ready(self) -> None:
        """Tell the engine how chats are written and counted, and applications how they go."""
        from applications.deletion import dependent_register
        from applications.models import Application
        from chats.records import ChatRecord
        from chats.selectors import chats_of_application_count
        from chats.services import chats_count_refresh, chats_of_application_delete, chats_persist
        from pipeline.counters import APPLICATIONS, counter_register
        from pipeline.registry import kind_register

        kind_register(ChatRecord, persist=chats_persist)
        counter_register(
            APPLICATIONS,
            parent=Application,
            refresh=lambda ids: chats_count_refresh(application_ids=ids),
        )
        dependent_register(
            "chats", count=chats_of_application_count, delete=chats_of_application_delete
        )
