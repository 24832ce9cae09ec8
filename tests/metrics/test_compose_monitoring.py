"""docker-compose.yml's `monitoring` profile, read as data (no Docker engine runs here): a
pinned Prometheus with deploy/prometheus, whose targets are the ports and hosts the app
services really use."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((BASE / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def scrape_targets() -> dict[str, list[str]]:
    config = yaml.safe_load((BASE / "deploy" / "prometheus" / "prometheus.yml").read_text())
    return {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }


def test_prometheus_runs_in_the_monitoring_profile_only_with_the_deploy_files(compose):
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert prometheus["image"] == "prom/prometheus:v2.53.1"
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert prometheus["secrets"] == ["metrics-token"]
    assert compose["secrets"]["metrics-token"] == {"environment": "METRICS_TOKEN"}
    for name, spec in compose["services"].items():
        assert "prometheus" not in spec.get("depends_on", {}), name


def test_the_targets_are_the_ports_the_worker_and_beat_serve(compose, scrape_targets):
    services = compose["services"]
    assert scrape_targets["chatapi-worker"] == [
        f"worker:{services['worker']['environment']['METRICS_WORKER_PORT']}"
    ]
    assert scrape_targets["chatapi-beat"] == [
        f"beat:{services['beat']['environment']['METRICS_BEAT_PORT']}"
    ]
    assert services["worker"]["environment"]["METRICS_ADDR"] == "0.0.0.0"  # noqa: S104


def test_each_web_replica_is_a_target_and_an_allowed_host(compose, scrape_targets):
    web = compose["services"]["web"]
    replicas = web["deploy"]["replicas"]
    expected = [f"chatapi-web-{index}:8000" for index in range(1, replicas + 1)]
    assert scrape_targets["chatapi-web"] == expected
    allowed = web["environment"]["ALLOWED_HOSTS"].removeprefix("${ALLOWED_HOSTS:-").rstrip("}")
    assert {target.split(":")[0] for target in expected} <= set(allowed.split(","))


def test_the_image_sets_the_multiprocess_directory():
    assert "ENV PROMETHEUS_MULTIPROC_DIR=/tmp/chatapi-metrics" in (BASE / "Dockerfile").read_text()


def test_the_example_env_keeps_the_web_replicas_allowed():
    lines = (BASE / ".env.example").read_text().splitlines()
    allowed = next(line for line in lines if line.startswith("ALLOWED_HOSTS="))
    hosts = set(allowed.removeprefix("ALLOWED_HOSTS=").split(","))
    assert {"chatapi-web-1", "chatapi-web-2"} <= hosts
    assert "METRICS_TOKEN=" in lines


def test_the_dashboard_names_only_metrics_the_service_serves():
    from prometheus_client.metrics import MetricWrapperBase

    from core.metrics import instruments
    from pipeline.metrics import JournalCollector

    served = {family.name for family in JournalCollector().describe()}
    for value in vars(instruments).values():
        if isinstance(value, MetricWrapperBase) and not value._labelvalues:
            served.add(value._name)
    dashboard = json.loads((BASE / "deploy" / "grafana" / "chatapi-dashboard.json").read_text())
    named = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            named |= {
                re.sub(r"_(total|bucket|count|sum)$", "", name)
                for name in re.findall(r"chatapi_[a-z_]+", target["expr"])
            }
    assert named <= served, named - served
