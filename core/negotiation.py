"""Content negotiation: DRF's, answered at once for the Accept headers nearly every request has.

DRF parses the Accept header and matches every media type it lists against every renderer,
for every request; on a create that costs about a tenth of the view's own time. A request that
accepts anything (no Accept header, or ``*/*``) or names the first renderer's media type
exactly gets what DRF would choose, the first renderer, without the parse. Anything else
(a list, parameters, a ``?format=``) goes through DRF's negotiation, 406 included.
https://www.django-rest-framework.org/api-guide/content-negotiation/
"""

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

ANYTHING = "*/*"


class FirstRendererNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = renderers if isinstance(renderers, list) else list(renderers)
        override = self.settings.URL_FORMAT_OVERRIDE
        format_given = format_suffix or (override and request.query_params.get(override))
        if renderers and not format_given:
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", ANYTHING)
            if accept == ANYTHING or accept == first.media_type:
                return first, first.media_type
        selected: Any = super().select_renderer(request, renderers, format_suffix)
        return selected
