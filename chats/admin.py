from django.contrib import admin

from chatapi.admin_pagination import CappedCountPaginator
from chats.models import Chat


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("number", "application", "messages_count", "created_at")
    list_select_related = ("application",)
    # An exact token lookup uses the unique index; no LIKE over millions of rows.
    search_fields = ("=application__token",)
    raw_id_fields = ("application",)
    readonly_fields = ("messages_count", "created_at", "updated_at")
    ordering = ("-id",)
    paginator = CappedCountPaginator
    show_full_result_count = False
