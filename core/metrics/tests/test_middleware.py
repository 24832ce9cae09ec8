"""The HTTP requests' series: labelled by the route's template, a fixed method set and the
status, never by anything in the path."""

import pytest
from django.test import Client
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db

SERIES = "chatapi_http_request_duration_seconds_count"


def count(route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value(SERIES, labels) or 0.0


def test_a_request_is_counted_under_its_route_template_not_its_path(token):
    client = Client()
    route = "api/v1/apps/<str:token>/chats"
    before = count(route, "POST", 201)

    assert (
        client.post(
            f"/api/v1/apps/{token}/chats", "{}", content_type="application/json"
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/apps/{token}/chats", "{}", content_type="application/json"
        ).status_code
        == 201
    )

    assert count(route, "POST", 201) == before + 2
    exposed = "\n".join(
        f"{sample.labels}" for metric in REGISTRY.collect() for sample in metric.samples
    )
    assert token not in exposed


def test_a_path_matching_no_route_is_unmatched_and_an_unknown_method_other():
    client = Client()
    before = count("unmatched", "other", 404)

    response = client.generic("FROBNICATE", "/no/such/path/12345")

    assert response.status_code == 404
    assert count("unmatched", "other", 404) == before + 1
    exposed = "\n".join(
        f"{sample.labels}" for metric in REGISTRY.collect() for sample in metric.samples
    )
    assert "FROBNICATE" not in exposed
    assert "12345" not in exposed
