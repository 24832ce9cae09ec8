from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from chatapi import health
from chatapi.converters import PositiveNumberConverter
from chatapi.errors import not_found_view

register_converter(PositiveNumberConverter, "number")

SCHEMA_JSON = "/api/schema/?format=json"

api_v1 = [
    path("", include("applications.urls")),
    path("", include("chats.urls")),
    path("", include("search.urls")),
    path("", include("messages_app.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both read the JSON form, which a browser shows when the page's schema link is clicked.
    path("api/docs/", SpectacularSwaggerView.as_view(url=SCHEMA_JSON), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url=SCHEMA_JSON, template_name="chatapi/redoc.html"),
        name="redoc",
    ),
    # A browser pointed at the server lands on the documentation.
    path("", RedirectView.as_view(pattern_name="docs"), name="home"),
    path("admin/", admin.site.urls),
    # Any other path under the API is a JSON 404 even with DEBUG on (Django's debug 404 page
    # would otherwise answer in HTML).
    re_path(r"^api/", not_found_view),
]

handler400 = "chatapi.errors.bad_request_view"
handler404 = "chatapi.errors.not_found_view"
handler500 = "chatapi.errors.server_error_view"
