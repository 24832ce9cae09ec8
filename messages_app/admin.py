from django.contrib import admin

from chatapi.admin_pagination import CappedCountPaginator
from messages_app.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("number", "chat", "created_at", "updated_at")
    list_select_related = ("chat",)
    search_fields = ("=chat__application__token",)
    raw_id_fields = ("chat",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-id",)
    paginator = CappedCountPaginator
    show_full_result_count = False
