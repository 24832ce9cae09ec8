"""The admin of applications: created through the service, deleted in bounded steps.

Adding an application goes through applications.services.application_create (token,
timestamps, and the allocator knows it, so its first chat needs no SQL); renaming through
application_update (``updated_at`` moves). Deleting shows counts, not rows, and is refused for
an application too large to delete within one request (applications.deletion).
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from applications.deletion import application_delete, application_deletion_summary
from applications.models import Application
from applications.services import application_create, application_update
from core.admin_pagination import CappedChangeListMixin, CappedCountPaginator


@admin.register(Application)
class ApplicationAdmin(CappedChangeListMixin, admin.ModelAdmin):
    list_display = ("name", "token", "chats_count", "chats", "created_at", "updated_at")
    list_filter = ("created_at",)
    search_fields = ("=token", "name")
    search_help_text = "An exact token (40 hex characters), or part of a name."
    readonly_fields = ("token", "chats_count", "chats", "created_at", "updated_at")
    ordering = ("-id",)
    # Sorting by another column would sort the whole table for every page.
    sortable_by = ()
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Application | None = None) -> tuple[str, ...]:
        if obj is None:  # the server makes the token and the timestamps
            return ("name",)
        return ("name", "token", "chats_count", "chats", "created_at", "updated_at")

    @admin.display(description="chats")
    def chats(self, application: Application) -> str:
        url = reverse("admin:chats_chat_changelist")
        return format_html(
            '<a href="{}?application__id__exact={}">{} chats</a>',
            url,
            application.pk,
            application.chats_count,
        )

    def save_model(self, request: HttpRequest, obj: Application, form: Any, change: bool) -> None:
        if change:
            saved = application_update(
                application=Application.objects.get(pk=obj.pk), name=form.cleaned_data["name"]
            )
        else:
            saved = application_create(name=form.cleaned_data["name"])
        # The admin goes on with ``obj`` (its log entry, its redirect): make it the saved row.
        for field in Application._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        # Its confirmation page lists every related row; the delete page of one counts them.
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        (application,) = objs
        summary = application_deletion_summary(application=application)
        counts = summary.described()
        rows = [f"{count} {name}" for name, count in counts.items()]
        if summary.too_large_for_the_admin:
            refusal = (
                f"{' and '.join(rows)}: too many to delete within one request. "
                f"Run: python manage.py application_delete {application.token}"
            )
            return [], counts, set(), [refusal]
        return [str(application), rows], counts, set(), []

    def delete_model(self, request: HttpRequest, obj: Application) -> None:
        application_delete(application=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for application in queryset:
            application_delete(application=application)
