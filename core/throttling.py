"""Rate limits on the create endpoints, per application token.

The counts live in Django's cache, which is Redis (django-redis), so every web server shares
them. Off unless THROTTLE_CREATE_RATE is set (e.g. "600/minute"); docker-compose sets it.
https://www.django-rest-framework.org/api-guide/throttling/
"""

from collections.abc import Sequence

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
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


class CreateRateLimited(APIView):
    """A create view: the rate limit above, and no throttle object at all when no rate is set
    (DRF builds one per request otherwise, only to find it has nothing to count)."""

    throttle_classes: Sequence[type[BaseThrottle]] = [ApplicationCreateRateThrottle]

    def get_throttles(self) -> list[BaseThrottle]:
        if not settings.THROTTLE_CREATE_RATE:
            return []
        return super().get_throttles()
