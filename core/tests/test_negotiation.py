"""The lean negotiation chooses what DRF's would, for every Accept header, 406 included."""

import pytest
from django.http import Http404
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.negotiation import FirstRendererNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html, application/json;q=0.9, */*;q=0.8",
    "application/vnd.oai.openapi",
    "application/vnd.oai.openapi+json",
    "application/yaml",
    "text/html",
    "image/png",
    "",
]
RENDERER_SETS = {
    "the API's": [JSONRenderer()],
    "the schema's": [renderer() for renderer in SpectacularAPIView.renderer_classes],
}


def choice(negotiation, accept, renderers, query=""):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/apps{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return "406"
    except Http404:  # a ?format= no renderer has
        return "404"
    return type(renderer), media_type


@pytest.mark.parametrize("query", ["", "?format=json", "?format=yaml", "?format=nope"])
@pytest.mark.parametrize("renderers", RENDERER_SETS.values(), ids=RENDERER_SETS.keys())
@pytest.mark.parametrize("accept", ACCEPTS)
def test_it_chooses_what_drf_chooses(accept, renderers, query):
    ours = choice(FirstRendererNegotiation(), accept, renderers, query)
    assert ours == choice(DefaultContentNegotiation(), accept, renderers, query)


def test_the_api_answers_an_unacceptable_accept_with_406(client):
    response = client.get("/api/v1/apps/nope/chats", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
