"""Rate limits on the create endpoints, per application token.

The counts live in Django's cache, which is Redis (django-redis), so every web server shares
them. Off unless THROTTLE_CREATE_RATE is set (e.g. "600/minute"); docker-compose sets it.
https://www.django-rest-framework.org/api-guide/throttling/
"""

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class ApplicationCreateRateThrottle(SimpleRateThrottle):
    scope = "create"

    def get_rate(self) -> str | None:
        return settings.THROTTLE_CREATE_RATE or None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": view.kwargs.get("token", "")}
