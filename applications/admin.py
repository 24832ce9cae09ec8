from django.contrib import admin

from applications.models import Application
from chatapi.admin_pagination import CappedCountPaginator


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "token", "chats_count", "created_at", "updated_at")
    search_fields = ("=token", "name")
    readonly_fields = ("token", "chats_count", "created_at", "updated_at")
    ordering = ("-id",)
    paginator = CappedCountPaginator
    show_full_result_count = False
