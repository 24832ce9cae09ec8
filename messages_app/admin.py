"""The admin of messages: listed and searched in bounded time at any table size, edited through
the service, never added or deleted here.

Messages are created through the API only (their numbers come from the Redis allocator). An edit
goes through messages_app.services.message_update, like a PATCH: ``updated_at`` moves, a later
edit is never overwritten, and the search index follows. No list is a JOIN: chats and
applications come by two small IN queries per page, and every filter resolves to chat ids first,
so each page is a range of an index (``(chat, number)``, or the primary key).
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from applications.models import Application, token_is_well_formed
from chats.models import Chat
from core.admin_pagination import CappedChangeListMixin, CappedCountPaginator
from messages_app.models import Message
from messages_app.services import message_update

PREVIEW_LENGTH = 80
# An application with more chats than this is searched by token and chat number instead.
TOKEN_SEARCH_MAX_CHATS = 10_000


class ApplicationFilter(admin.SimpleListFilter):
    """The newest applications; any other is found by its token in the search box."""

    title = "application (newest 20)"
    parameter_name = "application"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        newest = Application.objects.order_by("-id")[:20]
        return [(str(application.pk), str(application)) for application in newest]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        chat_ids = Chat.objects.filter(application_id=int(value)).values_list("pk")
        return queryset.filter(chat_id__in=list(chat_ids[:TOKEN_SEARCH_MAX_CHATS]))


class MessageForm(forms.ModelForm):
    class Meta:
        model = Message
        fields = ("body",)

    def clean_body(self) -> str:
        # What the API accepts (messages_app.apis.MessageInputSerializer).
        body = self.cleaned_data["body"]
        if not body.strip():
            raise forms.ValidationError("The body may not be blank.")
        if len(body) > settings.MESSAGE_BODY_MAX_LENGTH:
            raise forms.ValidationError(
                f"At most {settings.MESSAGE_BODY_MAX_LENGTH} characters (it has {len(body)})."
            )
        if "\x00" in body:
            raise forms.ValidationError("NUL characters are not allowed.")
        return body


def _single_chat(request: HttpRequest) -> int | None:
    """The chat the list is narrowed to (its "messages" link), if it is one."""
    value = request.GET.get("chat__id__exact", "")
    return int(value) if value.isdigit() else None


@admin.register(Message)
class MessageAdmin(CappedChangeListMixin, admin.ModelAdmin):
    form = MessageForm
    list_display = ("number", "chat_link", "preview", "created_at", "updated_at")
    list_filter = (ApplicationFilter,)
    search_fields = ("=chat__application__token",)
    search_help_text = (
        "An application's token (40 hex characters); a token and a chat number "
        "('<token> 7'), then optionally words of the body ('<token> 7 hello'); or, on a chat's "
        "messages (its 'messages' link), words of the body. A body search reads the chat's "
        f"newest {settings.SEARCH_SQL_SCAN_WINDOW:,} messages."
    )
    fields = ("chat_link", "number", "body", "created_at", "updated_at")
    readonly_fields = ("chat_link", "number", "created_at", "updated_at")
    ordering = ("-id",)
    sortable_by = ()
    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        # Two small IN queries per page instead of a JOIN that MariaDB sorts whole (20 s at
        # ten million rows).
        return super().get_queryset(request).prefetch_related("chat__application")

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # Narrowed to chats: their newest messages first, along the (chat, number) index. The
        # primary key would be walked from the table's end to find an old chat's rows.
        narrowed = _single_chat(request) or request.GET.get("application")
        terms = request.GET.get("q", "").split()
        if narrowed or (terms and token_is_well_formed(terms[0])):
            return ("-chat_id", "-number")
        return ("-id",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        terms = search_term.split()
        if not terms:
            return queryset, False
        chat_id = _single_chat(request)
        words = terms
        if token_is_well_formed(terms[0]):
            application_id = (
                Application.objects.filter(token=terms[0]).values_list("pk", flat=True).first()
            )
            if application_id is None:  # no such token: no messages
                return queryset.none(), False
            if len(terms) == 1:
                chat_ids = Chat.objects.filter(application_id=application_id).values_list("pk")
                return queryset.filter(chat_id__in=list(chat_ids[:TOKEN_SEARCH_MAX_CHATS])), False
            if not terms[1].isdigit():
                return queryset.none(), False
            chat_id = (
                Chat.objects.filter(application_id=application_id, number=int(terms[1]))
                .values_list("pk", flat=True)
                .first()
            )
            if chat_id is None:
                return queryset.none(), False
            queryset, words = queryset.filter(chat_id=chat_id), terms[2:]
        elif chat_id is None:
            # Words of the body over every chat would read the whole table.
            return queryset.none(), False
        if words:
            highest = (
                Message.objects.filter(chat_id=chat_id).aggregate(highest=Max("number"))["highest"]
                or 0
            )
            queryset = queryset.filter(number__gt=highest - settings.SEARCH_SQL_SCAN_WINDOW)
            for word in words:
                queryset = queryset.filter(body__icontains=word)
        return queryset, False

    @admin.display(description="chat")
    def chat_link(self, message: Message) -> str:
        chat = message.chat
        url = reverse("admin:messages_app_message_changelist")
        return format_html(
            '<a href="{}?chat__id__exact={}">chat {} of {}</a>',
            url,
            chat.pk,
            chat.number,
            chat.application,
        )

    @admin.display(description="body")
    def preview(self, message: Message) -> str:
        body = message.body
        return body if len(body) <= PREVIEW_LENGTH else body[: PREVIEW_LENGTH - 1] + "…"

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        chat = Chat.objects.select_related("application").get(pk=obj.chat_id)
        saved = message_update(
            application=chat.application,
            chat_number=chat.number,
            number=obj.number,
            body=form.cleaned_data["body"],
        )
        obj.body, obj.updated_at = saved.body, saved.updated_at

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The API deletes no message; one deleted here would stay in the search index.
        return False
