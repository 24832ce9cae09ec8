"""The admin of chats: read-only, listed without JOINs, never deleted on their own.

Chats are created through the API only (their numbers come from the Redis allocator), so there
is no Add button and nothing to edit. A chat cannot be deleted alone: the allocator would go on
accepting messages for it (applications.deletion); its application is deleted instead.
"""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from applications.models import Application, token_is_well_formed
from chats.models import Chat
from core.admin_pagination import CappedChangeListMixin, CappedCountPaginator


@admin.register(Chat)
class ChatAdmin(CappedChangeListMixin, admin.ModelAdmin):
    list_display = ("number", "application_link", "messages_count", "messages", "created_at")
    list_filter = ("created_at",)
    search_fields = ("=application__token",)
    search_help_text = (
        "An application's token (40 hex characters), optionally followed by a chat number."
    )
    fields = (
        "application_link",
        "number",
        "messages_count",
        "messages",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    ordering = ("-id",)
    sortable_by = ()
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chat]:
        # Two small IN queries per page instead of a JOIN that MariaDB may sort whole.
        return super().get_queryset(request).prefetch_related("application")

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        if "application__id__exact" in request.GET:  # the (application, number) index
            return ("-application_id", "-number")
        return ("-id",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Chat], search_term: str
    ) -> tuple[QuerySet[Chat], bool]:
        terms = search_term.split()
        if not terms:
            return queryset, False
        if not token_is_well_formed(terms[0]) or len(terms) > 2:
            return queryset.none(), False
        application_id = (
            Application.objects.filter(token=terms[0]).values_list("pk", flat=True).first()
        )
        if application_id is None:  # no such token: no chats
            return queryset.none(), False
        queryset = queryset.filter(application_id=application_id)
        if len(terms) == 2:
            if not terms[1].isdigit():
                return queryset.none(), False
            queryset = queryset.filter(number=int(terms[1]))
        return queryset, False

    @admin.display(description="application")
    def application_link(self, chat: Chat) -> str:
        url = reverse("admin:applications_application_change", args=[chat.application_id])
        return format_html('<a href="{}">{}</a>', url, chat.application)

    @admin.display(description="messages")
    def messages(self, chat: Chat) -> str:
        url = reverse("admin:messages_app_message_changelist")
        return format_html('<a href="{}?chat__id__exact={}">messages</a>', url, chat.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        (chat,) = objs
        refusal = (
            "A chat is not deleted on its own: the number allocator would go on accepting "
            "messages for it. Delete its application instead (its delete page, or python "
            f"manage.py application_delete {chat.application.token})."
        )
        return [], {}, set(), [refusal]

    def delete_model(self, request: HttpRequest, obj: Chat) -> None:
        raise PermissionDenied("chats are deleted with their application")
