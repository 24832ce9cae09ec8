from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from chatapi import health
from core.converters import PositiveNumberConverter
from core.errors import not_found_view
from core.metrics.views import metrics_view

register_converter(PositiveNumberConverter, "number")

# The apps' routes use the converter: imported once it is registered.
import applications.urls  # noqa: E402
import chats.urls  # noqa: E402
import events.urls  # noqa: E402
import messages_app.urls  # noqa: E402
import search.urls  # noqa: E402

SCHEMA_JSON = "/api/schema/?format=json"

# Every app's routes in one list, not an include() each: a request is matched against one
# resolver under /api/v1/, instead of descending through one per app (a create's resolution
# took a tenth of its view's time). The search route comes before the message routes.
api_v1 = [
    *applications.urls.urlpatterns,
    *chats.urls.urlpatterns,
    *events.urls.urlpatterns,
    *search.urls.urlpatterns,
    *messages_app.urls.urlpatterns,
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
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

handler400 = "core.errors.bad_request_view"
handler404 = "core.errors.not_found_view"
handler500 = "core.errors.server_error_view"
