from django.apps import AppConfig


class MessagesAppConfig(AppConfig):
    name = "messages_app"
    verbose_name = "Messages"

    def ready(self) -> None:
        """Tell the engine how messages and edits are written and counted, and applications how
        they go."""
        from applications.deletion import dependent_register
        from chats.models import Chat
        from messages_app.records import EditRecord, MessageRecord
        from messages_app.selectors import messages_of_application_count
        from messages_app.services import (
            message_edit_replay,
            messages_count_refresh,
            messages_of_application_delete,
            messages_persist,
        )
        from pipeline.counters import CHATS, counter_register
        from pipeline.registry import kind_register

        kind_register(MessageRecord, persist=messages_persist)
        kind_register(EditRecord, replay=message_edit_replay)
        counter_register(
            CHATS, parent=Chat, refresh=lambda ids: messages_count_refresh(chat_ids=ids)
        )
        dependent_register(
            "messages",
            count=messages_of_application_count,
            delete=messages_of_application_delete,
        )
